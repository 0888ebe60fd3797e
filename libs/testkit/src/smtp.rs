//! A tiny SMTP sink for tests: speaks enough SMTP (220, EHLO/HELO, MAIL, RCPT, DATA,
//! RSET, NOOP, QUIT) for lettre to hand it mail, and keeps what it got.

use std::{net::SocketAddr, sync::Arc};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::Mutex,
};

/// One message as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `RCPT TO` addresses, without angle brackets.
    pub rcpt: Vec<String>,
    /// The message after `DATA`, dot-stuffing undone.
    pub data: String,
}

/// The sink: its address and its mailbox.
#[derive(Clone)]
pub struct SmtpSink {
    /// Where it listens (loopback, a free port).
    pub addr: SocketAddr,
    /// Everything received, in order.
    pub mail: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    /// Starts listening; sessions run until the test's runtime ends.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mail = Arc::new(Mutex::new(Vec::new()));
        let sink = Self {
            addr,
            mail: mail.clone(),
        };
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let mail = mail.clone();
                tokio::spawn(async move {
                    let _ = session(socket, mail).await;
                });
            }
        });
        Ok(sink)
    }

    /// A copy of what was received so far.
    pub async fn messages(&self) -> Vec<Received> {
        self.mail.lock().await.clone()
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    mail: Arc<Mutex<Vec<Received>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut rcpt = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM") {
            rcpt.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO") {
            let addr = line[8..].trim().trim_start_matches(':').trim();
            rcpt.push(addr.trim_matches(|c| c == '<' || c == '>').to_owned());
            b"250 OK\r\n"
        } else if upper.starts_with("DATA") {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                // Undo dot-stuffing.
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            mail.lock().await.push(Received {
                rcpt: std::mem::take(&mut rcpt),
                data,
            });
            b"250 OK queued\r\n"
        } else if upper.starts_with("RSET") {
            rcpt.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}
