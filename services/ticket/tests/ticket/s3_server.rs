//! A real S3 server inside the test process: `s3s` speaking the S3 protocol
//! over HTTP/1.1 on 127.0.0.1:0, SigV4 authentication with a test key, and
//! `s3s-fs` keeping the objects in a temporary directory. The store under
//! test reaches it over a real connection, as it would reach MinIO.
//!
//! s3s-fs names a metadata file after the base64 of bucket and key, so keys
//! here stay under about 140 bytes (S3 itself takes 1024).

use std::path::PathBuf;

use hyper_util::rt::TokioIo;
use s3s::{auth::SimpleAuth, service::S3ServiceBuilder};
use switchboard_runtime::config::S3Settings;
use tokio::{net::TcpListener, task::JoinHandle};

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "switchboard-test-access";
/// Its secret.
pub const SECRET_KEY: &str = "switchboard-test-secret-0123456789";
/// The bucket every server starts with.
pub const BUCKET: &str = "desk-attachments";

/// A running S3 server; stops when dropped.
pub struct S3Server {
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub endpoint: String,
    root: tempfile::TempDir,
    accept: JoinHandle<()>,
}

impl S3Server {
    /// Starts a server with an empty [`BUCKET`].
    pub async fn start() -> anyhow::Result<Self> {
        let root = tempfile::tempdir()?;
        // s3s-fs keeps a bucket as a directory below its root.
        std::fs::create_dir(root.path().join(BUCKET))?;
        let fs = s3s_fs::FileSystem::new(root.path())
            .map_err(|e| anyhow::anyhow!("s3s-fs at {}: {e:?}", root.path().display()))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let accept = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let service = service.clone();
                tokio::spawn(async move {
                    // A client hanging up mid-request is not the test's concern.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Ok(Self {
            endpoint,
            root,
            accept,
        })
    }

    /// Settings that point the ticket service's S3 backend here.
    pub fn settings(&self) -> S3Settings {
        S3Settings {
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            endpoint: self.endpoint.clone(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.to_owned().into(),
            path_style: true,
        }
    }

    /// Where the server keeps the object under `key` on disk.
    pub fn object_file(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
