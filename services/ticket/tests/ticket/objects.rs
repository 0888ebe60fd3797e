//! The attachment store: one conformance suite run against the local
//! directory and against a real S3 server over HTTP, S3 failures that must
//! not look like a missing object, and email attachments landing in S3.

use std::time::{Duration, Instant};

use switchboard_proto::ticket::v1::{
    IngestEmailRequest, IngestOutcome, intake_service_client::IntakeServiceClient,
};
use switchboard_runtime::{Role, config::AttachmentBackend};
use switchboard_ticket::attachments::{LocalDir, ObjectError, ObjectStore, S3Bucket, conformance};

use crate::{
    helpers::{Running, authed},
    s3_server::S3Server,
};

#[tokio::test]
async fn a_local_directory_meets_the_object_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run(&LocalDir::new(dir.path()), "acme").await;
}

#[tokio::test]
async fn an_s3_bucket_meets_the_object_store_contract() -> anyhow::Result<()> {
    let server = S3Server::start().await?;
    let store = S3Bucket::new(&server.settings())?;
    conformance::run(&store, "acme").await;
    // Keys are stored as given, so operators see the same names in the
    // bucket as in a local directory.
    let on_disk = std::fs::read(server.object_file("acme/odd 0/Invoice 11 (final).pdf"))?;
    assert_eq!(on_disk, b"Invoice 11 (final).pdf");
    Ok(())
}

#[tokio::test]
async fn refused_credentials_are_a_failure_not_a_missing_object() -> anyhow::Result<()> {
    let server = S3Server::start().await?;
    let mut settings = server.settings();
    settings.secret_access_key = "not-the-secret".to_owned().into();
    let store = S3Bucket::new(&settings)?;
    let put = store.put("acme/t/a.pdf", b"%PDF").await;
    assert!(matches!(put, Err(ObjectError::Backend(_))), "{put:?}");
    let get = store.get("acme/t/a.pdf").await;
    assert!(matches!(get, Err(ObjectError::Backend(_))), "{get:?}");
    assert!(!server.object_file("acme/t/a.pdf").exists());
    Ok(())
}

#[tokio::test]
async fn a_server_that_is_down_fails_calls_within_the_retry_budget() -> anyhow::Result<()> {
    let server = S3Server::start().await?;
    let settings = server.settings();
    drop(server);
    let store = S3Bucket::new(&settings)?;
    let started = Instant::now();
    let put = store.put("acme/t/a.pdf", b"%PDF").await;
    assert!(matches!(put, Err(ObjectError::Backend(_))), "{put:?}");
    // Bounded retries: intake answers UNAVAILABLE instead of hanging.
    assert!(started.elapsed() < Duration::from_secs(30));
    Ok(())
}

#[tokio::test]
async fn email_attachments_are_stored_in_the_s3_bucket() -> anyhow::Result<()> {
    let server = S3Server::start().await?;
    let s3 = server.settings();
    let running = Running::start_with(&switchboard_testkit::nats_url(), |settings| {
        settings.attachments.backend = AttachmentBackend::S3;
        settings.attachments.s3 = s3;
    })
    .await?;
    let token = running.token("acme", "mail-hook", Role::Admin);
    let mut intake = IntakeServiceClient::connect(format!("http://{}", running.addr)).await?;
    let raw = b"From: ada@example.com\r\nTo: help@acme.test\r\nSubject: Invoice attached\r\nMessage-ID: <s3-att@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m1\"\r\n\r\n--m1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attached invoice.\r\n--m1\r\nContent-Type: application/pdf; name=\"invoice 11.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice 11.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IK\r\n--m1--\r\n".to_vec();
    let created = intake
        .ingest_email(authed(IngestEmailRequest { raw }, &token))
        .await?
        .into_inner();
    assert_eq!(
        created.outcome,
        IngestOutcome::Created as i32,
        "{created:?}"
    );
    let message = created.message.unwrap();
    assert_eq!(message.attachments.len(), 1, "{message:?}");
    let a = &message.attachments[0];
    assert_eq!(a.filename, "invoice 11.pdf");
    assert_eq!(a.size_bytes, 15);
    assert!(
        a.storage_key.starts_with("acme/email/"),
        "{}",
        a.storage_key
    );

    // Read back over S3, as another replica would.
    let stored = S3Bucket::new(&server.settings())?
        .get(&a.storage_key)
        .await?;
    assert!(stored.starts_with(b"%PDF-1.4"), "{stored:?}");
    assert_eq!(stored.len(), 15);
    // Nothing went to the local directory the settings also name.
    let local = switchboard_testkit::attachments_dir(&running.stream).join(&a.storage_key);
    assert!(!local.exists(), "{} was written", local.display());
    running.stop().await
}
