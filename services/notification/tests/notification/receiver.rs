//! A real HTTP webhook receiver (axum): answers 500 to its first
//! `fail_first` requests, 200 afterwards, and keeps every request.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use tokio::{net::TcpListener, sync::Mutex, task::JoinHandle};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub status: u16,
}

#[derive(Clone)]
struct Shared {
    fail_first: usize,
    seen: Arc<AtomicUsize>,
    hits: Arc<Mutex<Vec<Hit>>>,
}

/// The receiver; dropping it stops the server.
pub struct Receiver {
    pub addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    handle: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn hook(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = s.seen.fetch_add(1, Ordering::SeqCst);
    let status = if n < s.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    s.hits.lock().await.push(Hit {
        headers,
        body,
        status: status.as_u16(),
    });
    status
}

impl Receiver {
    /// Starts on `port` (0 for any).
    pub async fn start(port: u16, fail_first: usize) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let hits = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            fail_first,
            seen: Arc::new(AtomicUsize::new(0)),
            hits: hits.clone(),
        };
        let app = Router::new().route("/hook", post(hook)).with_state(shared);
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, hits, handle })
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub async fn hits(&self) -> Vec<Hit> {
        self.hits.lock().await.clone()
    }
}
