//! A webhook receiver for processes under test: enough HTTP/1.1 (requests
//! with a `Content-Length` body, kept-alive connections) to answer every
//! request 200 and keep its headers and body.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::Mutex,
    task::JoinHandle,
};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Hook {
    /// `POST /hook`, as sent.
    pub request_line: String,
    /// Headers by lowercase name.
    pub headers: HashMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Hook {
    /// The header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

type Hooks = Arc<Mutex<Vec<Hook>>>;

/// The receiver, on a free loopback port; stops when dropped.
pub struct HookReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    hooks: Hooks,
    handle: JoinHandle<()>,
}

impl HookReceiver {
    /// Starts listening.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let hooks = Hooks::default();
        let kept = hooks.clone();
        let handle = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let _ = connection(socket, kept).await;
                });
            }
        });
        Ok(Self {
            addr,
            hooks,
            handle,
        })
    }

    /// `http://<addr>/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every request received so far, in order.
    pub async fn hooks(&self) -> Vec<Hook> {
        self.hooks.lock().await.clone()
    }
}

impl Drop for HookReceiver {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Serves one connection's requests until the client closes it.
async fn connection(socket: TcpStream, hooks: Hooks) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let length = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        hooks.lock().await.push(Hook {
            request_line: request_line.trim_end().to_owned(),
            headers,
            body,
        });
        write
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await?;
    }
}
