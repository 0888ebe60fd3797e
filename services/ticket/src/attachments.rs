//! The attachment object store: bytes by key. A local directory by default;
//! the trait is the seam for an S3-compatible store.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

/// Stores attachment bytes under keys the desk chooses.
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Writes `bytes` under `key` (a `/`-separated path of safe segments).
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), String>;
    /// Reads what `key` holds.
    async fn get(&self, key: &str) -> Result<Vec<u8>, String>;
}

/// Objects as files below one directory.
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, String> {
        // Keys are ours, but a filename from an email is part of them: refuse
        // anything that could leave the root.
        let safe = !key.is_empty()
            && key
                .split('/')
                .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'));
        if !safe {
            return Err(format!("unsafe object key `{key}`"));
        }
        Ok(self.root.join(Path::new(key)))
    }
}

#[async_trait]
impl ObjectStore for LocalDir {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), String> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| format!("create {}: {e}", dir.display()))?;
        }
        // Write then rename, so a reader never sees half a file.
        let tmp = path.with_extension("partial");
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(|e| format!("write {}: {e}", tmp.display()))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| format!("rename to {}: {e}", path.display()))
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, String> {
        let path = self.path(key)?;
        tokio::fs::read(&path)
            .await
            .map_err(|e| format!("read {}: {e}", path.display()))
    }
}

/// A filename reduced to characters that are safe in an object key.
pub fn safe_filename(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    match cleaned.trim_matches('.') {
        "" => "attachment".to_owned(),
        trimmed => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_round_trip_and_keys_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDir::new(dir.path());
        store.put("acme/t1/a.pdf", b"%PDF").await.unwrap();
        assert_eq!(store.get("acme/t1/a.pdf").await.unwrap(), b"%PDF");
        for bad in ["../x", "acme/../../x", "/etc/passwd", "a//b", ""] {
            assert!(store.put(bad, b"x").await.is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn filenames_are_reduced_to_safe_characters() {
        assert_eq!(safe_filename("Invoice 2026/11.pdf"), "Invoice_2026_11.pdf");
        assert_eq!(safe_filename("../../etc"), "_.._etc");
        assert_eq!(safe_filename(".."), "attachment");
        assert_eq!(safe_filename("Rechnung-Müller.pdf"), "Rechnung-Müller.pdf");
    }
}
