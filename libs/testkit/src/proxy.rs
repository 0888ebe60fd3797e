//! A TCP proxy a test controls, to make one process's dependency (say its
//! PostgreSQL) fail without touching the server other tests share.

use std::net::SocketAddr;

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards to the target.
    Up,
    /// Closes new connections at once and cuts open ones: the server is
    /// gone (connection refused or reset).
    Refuse,
    /// Accepts but never answers, and stops forwarding on open ones: the
    /// server hangs or the network drops packets. Connections held here
    /// are closed when the mode changes again.
    Blackhole,
}

/// A proxy on `127.0.0.1:<port>` in front of one target address.
pub struct TcpProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts a proxy to `target`, in `mode`.
    pub async fn start(target: SocketAddr, mode: Mode) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(mode);
        let task = tokio::spawn(accept(listener, target, rx));
        Ok(Self {
            addr,
            mode: tx,
            task,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches what the proxy does, for new and open connections.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, mode: watch::Receiver<Mode>) {
    while let Ok((inbound, _)) = listener.accept().await {
        let now = *mode.borrow();
        let mut changes = mode.clone();
        changes.mark_unchanged();
        match now {
            Mode::Refuse => drop(inbound),
            Mode::Blackhole => {
                tokio::spawn(async move {
                    let _held = inbound;
                    let _ = changes.changed().await;
                });
            }
            Mode::Up => {
                tokio::spawn(forward(inbound, target, changes));
            }
        }
    }
}

async fn forward(mut inbound: TcpStream, target: SocketAddr, mut changes: watch::Receiver<Mode>) {
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        return;
    };
    let cut = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => None,
        changed = changes.wait_for(|m| *m != Mode::Up) => changed.ok().map(|m| *m),
    };
    if cut == Some(Mode::Blackhole) {
        // Hold both ends silent until the partition heals, then cut.
        let _ = changes.changed().await;
    }
}
