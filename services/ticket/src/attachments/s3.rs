//! Objects in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...), through
//! the `object_store` crate's S3 client.

use std::{fmt, time::Duration};

use async_trait::async_trait;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, ObjectStore as _, ObjectStoreExt as _, PutOptions,
    PutPayload, RetryConfig,
    aws::{AmazonS3, AmazonS3Builder},
    path::Path,
};
use secrecy::ExposeSecret;
use switchboard_runtime::config::S3Settings;

use super::{ObjectError, ObjectStore, check_key};

/// Whole-request timeout: a 25 MiB attachment over a slow link still fits.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries stay well inside an intake call's deadline; the mail server (or
/// webhook sender) retries the whole delivery after that.
const RETRY_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_RETRIES: usize = 3;

/// Objects in one S3 bucket, under the desk's keys unchanged.
pub struct S3Bucket {
    client: AmazonS3,
    bucket: String,
}

impl fmt::Debug for S3Bucket {
    // The client's own Debug would include its credential provider.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Bucket")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl S3Bucket {
    /// A client for `settings`' bucket. It connects on first use, so a
    /// server that is down now fails calls, not the start.
    pub fn new(settings: &S3Settings) -> Result<Self, ObjectError> {
        let bucket = settings.bucket.trim();
        if bucket.is_empty() {
            return Err(ObjectError::Config(
                "`attachments.s3.bucket` must be set when attachments.backend is s3".into(),
            ));
        }
        let endpoint = settings.endpoint.trim();
        // `AWS_*` variables first (region, web identity, keys), so settings
        // only need what the environment does not say.
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_virtual_hosted_style_request(!settings.path_style)
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(REQUEST_TIMEOUT)
                    .with_connect_timeout(CONNECT_TIMEOUT)
                    .with_allow_http(endpoint.starts_with("http://")),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: MAX_RETRIES,
                retry_timeout: RETRY_TIMEOUT,
            });
        if !settings.region.trim().is_empty() {
            builder = builder.with_region(settings.region.trim());
        }
        if !endpoint.is_empty() {
            let endpoint = if settings.path_style {
                endpoint.trim_end_matches('/').to_owned()
            } else {
                virtual_hosted(endpoint, bucket)
            };
            builder = builder.with_endpoint(endpoint);
        }
        if !settings.access_key_id.is_empty() {
            builder = builder
                .with_access_key_id(&settings.access_key_id)
                .with_secret_access_key(settings.secret_access_key.expose_secret());
        }
        let client = builder
            .build()
            .map_err(|e| ObjectError::Config(format!("`attachments.s3`: {e}")))?;
        Ok(Self {
            client,
            bucket: bucket.to_owned(),
        })
    }

    fn path(key: &str) -> Result<Path, ObjectError> {
        check_key(key)?;
        // `parse` keeps the key as it is (`from` would percent-encode some
        // characters), so the bucket shows the same names as a local store.
        Path::parse(key).map_err(|_| ObjectError::BadKey(key.to_owned()))
    }
}

/// `endpoint` with the bucket as the first label of its host, as
/// virtual-hosted-style requests address it.
fn virtual_hosted(endpoint: &str, bucket: &str) -> String {
    let endpoint = endpoint.trim_end_matches('/');
    match endpoint.split_once("://") {
        Some((scheme, host)) => format!("{scheme}://{bucket}.{host}"),
        None => format!("{bucket}.{endpoint}"),
    }
}

#[async_trait]
impl ObjectStore for S3Bucket {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), ObjectError> {
        let path = Self::path(key)?;
        self.client
            .put_opts(
                &path,
                PutPayload::from(bytes.to_vec()),
                PutOptions::default(),
            )
            .await
            .map(drop)
            .map_err(|e| ObjectError::Backend(e.to_string()))
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, ObjectError> {
        let path = Self::path(key)?;
        let found = match self.client.get_opts(&path, GetOptions::default()).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(ObjectError::NotFound(key.to_owned()));
            }
            Err(e) => return Err(ObjectError::Backend(e.to_string())),
        };
        found
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| ObjectError::Backend(e.to_string()))
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        let path = Self::path(key)?;
        match self.client.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(ObjectError::Backend(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_hosted_endpoints_name_the_bucket_in_the_host() {
        assert_eq!(
            virtual_hosted("https://s3.example.com/", "desk"),
            "https://desk.s3.example.com"
        );
        assert_eq!(
            virtual_hosted("http://minio:9000", "desk"),
            "http://desk.minio:9000"
        );
    }

    #[test]
    fn a_missing_bucket_is_a_configuration_error_naming_the_key() {
        let settings = S3Settings {
            bucket: " ".into(),
            region: String::new(),
            endpoint: "http://127.0.0.1:9".into(),
            access_key_id: String::new(),
            secret_access_key: String::new().into(),
            path_style: true,
        };
        let err = S3Bucket::new(&settings).unwrap_err();
        assert!(matches!(err, ObjectError::Config(_)), "{err:?}");
        assert!(err.to_string().contains("attachments.s3.bucket"), "{err}");
    }
}
