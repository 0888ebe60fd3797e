//! Arbitrary bytes through the whole email ingestion path (gRPC, parsing,
//! storage): every call is answered with a ticket or a clean refusal, and no
//! ticket is ever written without its first message.

use proptest::{
    prelude::*,
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use switchboard_proto::ticket::v1::{
    IngestEmailRequest, IngestOutcome, intake_service_client::IntakeServiceClient,
};
use switchboard_runtime::Role;
use tonic::Code;

use crate::helpers::{Running, authed};

const SEED_MAIL: &[u8] = b"From: Ada <ada@example.com>\r\nTo: help@acme.test\r\nSubject: Re: [#T-1] Printer\r\nMessage-ID: <m1@example.com>\r\nIn-Reply-To: <t1.mabc@desk.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nIt is broken =E4gain.\r\n\r\nOn Mon, Ada wrote:\r\n> old\r\n--b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"../a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n";

/// Raw input: noise, or the seed mail with bytes flipped, cut and inserted.
fn inputs() -> impl Strategy<Value = Vec<u8>> {
    let mutated = (
        prop::collection::vec((0..SEED_MAIL.len(), any::<u8>()), 0..12),
        0..=SEED_MAIL.len(),
    )
        .prop_map(|(flips, cut)| {
            let mut raw = SEED_MAIL.to_vec();
            for (at, byte) in flips {
                raw[at] = byte;
            }
            raw.truncate(cut.max(1));
            raw
        });
    prop_oneof![prop::collection::vec(any::<u8>(), 0..512), mutated]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_bytes_never_write_a_partial_ticket() -> anyhow::Result<()> {
    let running = Running::start(&switchboard_testkit::nats_url()).await?;
    let token = running.token("acme", "mail-hook", Role::Admin);
    let client = IntakeServiceClient::connect(format!("http://{}", running.addr)).await?;
    let handle = tokio::runtime::Handle::current();
    // Deterministic, so a failure replays; the parser has its own much
    // larger proptest suite in libs/mail.
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 96,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&inputs(), |raw| {
            let mut client = client.clone();
            let answer = handle.block_on(
                client.ingest_email(authed(IngestEmailRequest { raw: raw.clone() }, &token)),
            );
            match answer {
                Ok(reply) => {
                    let reply = reply.into_inner();
                    let outcome = IngestOutcome::try_from(reply.outcome).ok();
                    prop_assert!(outcome.is_some_and(|o| o != IngestOutcome::Unspecified));
                    if reply.outcome == IngestOutcome::Created as i32 {
                        prop_assert!(reply.ticket.is_some() && reply.message.is_some());
                    }
                }
                Err(status) => {
                    prop_assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message())
                }
            }
            Ok(())
        })
    });
    outcome.map_err(|e| anyhow::anyhow!("{e}"))?;

    let pool = running.pool().await;
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tickets t WHERE NOT EXISTS \
         (SELECT 1 FROM messages m WHERE m.ticket_id = t.id)",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(orphans, 0, "tickets without their first message");
    let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(&pool)
        .await?;
    assert!(tickets > 0, "some mutated mails must still open tickets");
    running.stop().await
}
