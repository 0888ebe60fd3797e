//! Rate limits (issue #20) as clients meet them: a burst over a caller's or
//! a tenant's limit is RESOURCE_EXHAUSTED with a `google.rpc.RetryInfo`
//! detail, two server processes of one installation share one budget
//! through Redis, other callers and tenants are unaffected, a tenant may
//! have its own limits, and a peer sending bad credentials is cut off.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use serde_json::json;
use switchboard_runtime::Role;
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt;

use crate::{
    desk::Desk,
    dynamic::{self, Reply},
};

const LIST: &str = "switchboard.ticket.v1.TicketService/ListTickets";

/// One call every 100 s, so nothing refills during the test: bursts of 5
/// per caller and 8 per tenant, 3 failed authentications per address; the
/// tenant `big` has bursts of 12 per caller.
const LOW: &[(&str, &str)] = &[
    ("SWITCHBOARD__LIMITS__CALLER__PER_SECOND", "0.01"),
    ("SWITCHBOARD__LIMITS__CALLER__BURST", "5"),
    ("SWITCHBOARD__LIMITS__TENANT__PER_SECOND", "0.01"),
    ("SWITCHBOARD__LIMITS__TENANT__BURST", "8"),
    ("SWITCHBOARD__LIMITS__FAILED_AUTH__PER_SECOND", "0.01"),
    ("SWITCHBOARD__LIMITS__FAILED_AUTH__BURST", "3"),
    ("SWITCHBOARD__LIMITS__TENANTS__BIG__CALLER__BURST", "12"),
    ("SWITCHBOARD__LIMITS__TENANTS__BIG__TENANT__BURST", "50"),
];

/// `ListTickets` on `channel` with `token`.
async fn list(channel: &Channel, token: &str) -> anyhow::Result<Reply> {
    let rpc = dynamic::rpc(LIST);
    let body = Bytes::from(dynamic::from_json(rpc.input(), &json!({}))?.encode_to_vec());
    Ok(dynamic::call(channel, &rpc, body, Some(token)).await)
}

/// How many of `n` calls succeed; every other one must be RESOURCE_EXHAUSTED.
async fn burst(channel: &Channel, token: &str, n: usize) -> anyhow::Result<usize> {
    let mut ok = 0;
    for _ in 0..n {
        let reply = list(channel, token).await?;
        match reply.code {
            Code::Ok => ok += 1,
            Code::ResourceExhausted => {}
            _ => anyhow::bail!("unexpected answer: {}", reply.summary()),
        }
    }
    Ok(ok)
}

/// The refusal of `reply`, with its retry delay, failing unless it is one.
fn refusal(reply: &Reply, limit: &str) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        reply.code == Code::ResourceExhausted,
        "expected RESOURCE_EXHAUSTED, got {}",
        reply.summary()
    );
    anyhow::ensure!(
        reply.message.contains(&format!("`limits.{limit}`")),
        "the message should name limits.{limit}: {}",
        reply.message
    );
    let status = Status::with_details(reply.code, reply.message.clone(), reply.details.clone());
    let retry = status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .ok_or_else(|| anyhow::anyhow!("no RetryInfo in {}", reply.summary()))?;
    anyhow::ensure!(
        retry > Duration::ZERO && retry <= Duration::from_secs(100),
        "retry delay {retry:?}"
    );
    Ok(retry)
}

#[tokio::test]
async fn bursts_over_a_limit_are_refused_with_retry_info_and_two_servers_share_one_budget()
-> anyhow::Result<()> {
    let desk = Desk::start(LOW).await?;
    // A second process of the same installation: same database, stream and
    // Redis key prefix.
    let second = desk.world().serve(&[], LOW)?;
    let other = second.channel().await?;
    second.wait_serving(&other, "").await?;
    let one = &desk.channel;

    // Ana's burst of 5, split over both processes, is one budget.
    let ana = desk.token("acme", "ana", Role::Agent);
    assert_eq!(burst(one, &ana, 3).await?, 3);
    assert_eq!(burst(&other, &ana, 2).await?, 2);
    for channel in [one, &other] {
        refusal(&list(channel, &ana).await?, "caller")?;
    }

    // Bo of the same tenant has his own: 3 more reach the tenant's 8.
    let bo = desk.token("acme", "bo", Role::Agent);
    assert_eq!(burst(&other, &bo, 3).await?, 3);
    refusal(&list(one, &bo).await?, "tenant")?;

    // Another tenant is unaffected, and `big` has its own limits.
    let globex = desk.token("globex", "ana", Role::Agent);
    assert_eq!(burst(&other, &globex, 5).await?, 5);
    let big = desk.token("big", "ana", Role::Agent);
    assert_eq!(burst(one, &big, 14).await?, 12);

    // Three bad credentials from this address are UNAUTHENTICATED; the
    // fourth is refused, and then so is a good one (unchecked) until the
    // wait is over.
    for _ in 0..3 {
        assert_eq!(list(one, "not-a-token").await?.code, Code::Unauthenticated);
    }
    refusal(&list(one, "not-a-token").await?, "failed_auth")?;
    let carol = desk.token("globex", "carol", Role::Agent);
    refusal(&list(one, &carol).await?, "failed_auth")?;

    drop(other);
    second.terminate(Duration::from_secs(15)).await?;
    desk.stop().await
}
