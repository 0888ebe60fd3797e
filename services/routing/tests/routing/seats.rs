//! The seats conformance suite against [`Live`] on the real Redis, under a
//! key prefix of its own.

use std::sync::Arc;

use switchboard_routing::live::{Live, conformance};
use uuid::Uuid;

const REDIS: &str = "redis://127.0.0.1:6379";

async fn live() -> anyhow::Result<(String, Live)> {
    let prefix = format!("seatsconf{}", Uuid::now_v7().simple());
    let live = Live::connect(REDIS, &prefix).await?;
    Ok((prefix, live))
}

/// Forgets the test's keys.
pub(crate) async fn forget(prefix: &str) -> anyhow::Result<()> {
    let mut conn = redis::Client::open(REDIS)?
        .get_multiplexed_async_connection()
        .await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:routing:*"))
        .query_async(&mut conn)
        .await?;
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await?;
    }
    Ok(())
}

macro_rules! seats_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() -> anyhow::Result<()> {
                let (prefix, live) = live().await?;
                conformance::$name(&live).await;
                forget(&prefix).await
            }
        )+
    };
}

seats_tests!(
    a_ticket_has_one_holder,
    capacity_counts_per_channel,
    release_frees_the_named_hold_once,
    online_with_room_refuses_an_offline_agent,
);

#[tokio::test]
async fn racing_reservations_respect_capacity_and_holders() -> anyhow::Result<()> {
    let (prefix, live) = live().await?;
    conformance::racing_reservations_respect_capacity_and_holders(Arc::new(live)).await;
    forget(&prefix).await
}
