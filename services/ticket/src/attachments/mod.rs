//! The attachment object store: bytes by key, in a local directory or an
//! S3-compatible bucket, chosen by `attachments.backend`.

pub mod conformance;
mod local;
mod s3;

use std::sync::Arc;

use async_trait::async_trait;
use switchboard_runtime::config::{AttachmentBackend, AttachmentSettings};

pub use local::LocalDir;
pub use s3::S3Bucket;

/// Longest key, in bytes (S3's own limit).
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest segment of a key, in bytes (a file name on common file systems).
pub const MAX_SEGMENT_BYTES: usize = 255;

/// Why an object could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The key breaks the rules of [`check_key`].
    #[error("unsafe object key `{0}`")]
    BadKey(String),
    /// Nothing is stored under the key.
    #[error("no object under `{0}`")]
    NotFound(String),
    /// The store failed or refused; retrying may work.
    #[error("object store: {0}")]
    Backend(String),
    /// The store's settings cannot work.
    #[error("configuration error: {0}")]
    Config(String),
}

/// Stores attachment bytes under keys the desk chooses.
///
/// Keys follow [`check_key`] on every backend, so a key that one accepts
/// every other accepts too. A key is never also the folder of another key
/// (the desk's keys end in a fresh id and a file name).
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Writes `bytes` under `key`, replacing what was there.
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), ObjectError>;
    /// Reads what `key` holds; [`ObjectError::NotFound`] when nothing.
    async fn get(&self, key: &str) -> Result<Vec<u8>, ObjectError>;
    /// Removes what `key` holds; a key holding nothing is already removed.
    async fn delete(&self, key: &str) -> Result<(), ObjectError>;
}

/// The store `settings` select.
pub fn from_settings(settings: &AttachmentSettings) -> Result<Arc<dyn ObjectStore>, ObjectError> {
    Ok(match settings.backend {
        AttachmentBackend::Local => Arc::new(LocalDir::new(&settings.local_dir)),
        AttachmentBackend::S3 => Arc::new(S3Bucket::new(&settings.s3)?),
    })
}

/// A key is a `/`-separated path of non-empty segments, none `.` or `..`,
/// without `\` or control characters, within [`MAX_KEY_BYTES`] and
/// [`MAX_SEGMENT_BYTES`]. A file name from an email is part of every key, so
/// this is what keeps a key inside the directory or bucket.
pub fn check_key(key: &str) -> Result<(), ObjectError> {
    let safe = !key.is_empty()
        && key.len() <= MAX_KEY_BYTES
        && !key.chars().any(|c| c.is_control() || c == '\\')
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && s.len() <= MAX_SEGMENT_BYTES);
    if safe {
        Ok(())
    } else {
        Err(ObjectError::BadKey(key.chars().take(200).collect()))
    }
}

/// Whether `key` names one of `tenant`'s objects. The desk's keys are
/// `{tenant}/{source}/{id}/{file}` (e.g. `acme/email/<uuidv7>/invoice.pdf`),
/// so a safe key ([`check_key`]) whose first segment is the tenant is the
/// tenant's; any other key is someone else's, or no one's. (There is no
/// upload API, so no per-upload record to check beyond the tenant.)
pub fn belongs_to(key: &str, tenant: &switchboard_runtime::TenantId) -> bool {
    check_key(key).is_ok()
        && key
            .strip_prefix(tenant.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rest| !rest.is_empty())
}

/// Longest file name kept in a key, in bytes.
pub const MAX_FILENAME_BYTES: usize = 100;

/// A filename reduced to characters that are safe in an object key, and cut
/// to [`MAX_FILENAME_BYTES`] (bytes, not characters: file systems count bytes).
pub fn safe_filename(name: &str) -> String {
    let mut cleaned = String::new();
    for c in name.chars().map(|c| {
        if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
            c
        } else {
            '_'
        }
    }) {
        if cleaned.len() + c.len_utf8() > MAX_FILENAME_BYTES {
            break;
        }
        cleaned.push(c);
    }
    match cleaned.trim_matches('.') {
        "" => "attachment".to_owned(),
        trimmed => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_reduced_to_safe_characters() {
        assert_eq!(safe_filename("Invoice 2026/11.pdf"), "Invoice_2026_11.pdf");
        assert_eq!(safe_filename("../../etc"), "_.._etc");
        assert_eq!(safe_filename(".."), "attachment");
        assert_eq!(safe_filename("Rechnung-Müller.pdf"), "Rechnung-Müller.pdf");
    }

    #[test]
    fn long_filenames_are_cut_by_bytes_on_a_character_boundary() {
        let cut = safe_filename(&"請求書".repeat(100));
        assert!(cut.len() <= MAX_FILENAME_BYTES, "{}", cut.len());
        assert_eq!(cut.chars().count(), MAX_FILENAME_BYTES / 3);
        check_key(&format!("acme/email/{}/{cut}", uuid::Uuid::nil())).unwrap();
    }

    #[test]
    fn keys_belong_to_the_tenant_they_start_with() {
        let acme = switchboard_runtime::TenantId::parse("acme").unwrap();
        assert!(belongs_to("acme/email/01/a.pdf", &acme));
        for other in [
            "globex/email/01/a.pdf",
            "acme",
            "acme/",
            "acmecorp/email/01/a.pdf",
            "acme/../globex/a.pdf",
            "/acme/a.pdf",
            "ACME/email/01/a.pdf",
        ] {
            assert!(!belongs_to(other, &acme), "{other}");
        }
    }

    #[test]
    fn keys_must_stay_inside_the_store() {
        check_key("acme/email/01/a b+c%20ü.pdf").unwrap();
        let long = "a".repeat(MAX_SEGMENT_BYTES + 1);
        for bad in [
            "",
            "../x",
            "acme/../../x",
            "/etc/passwd",
            "a//b",
            "a/",
            "a/./b",
            "a\\b",
            "a\0b",
            "a\nb",
            &long,
        ] {
            assert!(
                matches!(check_key(bad), Err(ObjectError::BadKey(_))),
                "{bad:?} accepted"
            );
        }
    }
}
