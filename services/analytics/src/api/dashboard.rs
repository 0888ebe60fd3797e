//! The live dashboard: a snapshot of the queue and today's overview,
//! pushed when it changes (events applied on this replica wake watchers
//! at once; other replicas' are picked up by a periodic refresh).

use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use sqlx::PgPool;
use switchboard_kpi::Range;
use switchboard_proto::analytics::v1 as pb;
use switchboard_runtime::{Caller, Feed};
use tokio::sync::watch;
use tonic::Status;

use super::internal;
use crate::convert::to_timestamp;
use crate::query::{ACTIVE_WINDOW, Filter};
use crate::report::{self, Desk};
use crate::state;

/// Longest time a dashboard watcher goes without a snapshot.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// How often a watcher looks again without being woken.
const REFRESH: Duration = Duration::from_secs(5);

/// Tells this replica's dashboard watchers that events were applied.
#[derive(Debug)]
pub struct Changes(watch::Sender<u64>);

impl Default for Changes {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl Changes {
    /// Events were applied here.
    pub fn notify(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Wakes on [`notify`](Self::notify).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// Sends `caller`'s dashboard on `feed` every `every` while it changes (and
/// at least every [`HEARTBEAT`]) until the receiver goes away, takes nothing
/// for the stall timeout, or the server shuts down.
pub async fn watch(
    pool: PgPool,
    caller: Caller,
    every: Duration,
    mut changed: watch::Receiver<u64>,
    mut feed: Feed<pb::Dashboard>,
) {
    let mut last: Option<(pb::Dashboard, std::time::Instant)> = None;
    loop {
        let snapshot = match dashboard(&pool, &caller).await {
            Ok(d) => d,
            Err(status) => {
                feed.fail(status);
                return;
            }
        };
        // The clock alone moving is no news, but waits grow: a snapshot
        // goes out at least every HEARTBEAT.
        let fresh = last.as_ref().is_none_or(|(l, sent)| {
            timeless(l) != timeless(&snapshot) || sent.elapsed() >= HEARTBEAT
        });
        if fresh {
            if feed.send(snapshot.clone()).await.is_err() {
                return;
            }
            last = Some((snapshot, std::time::Instant::now()));
        }
        tokio::time::sleep(every).await;
        tokio::select! {
            () = feed.stopped() => return,
            _ = changed.changed() => {}
            _ = tokio::time::sleep(REFRESH) => {}
        }
    }
}

/// `d` without the instants that move with the clock.
fn timeless(d: &pb::Dashboard) -> pb::Dashboard {
    let mut d = d.clone();
    d.as_of = None;
    d.longest_first_reply_wait_seconds = 0.0;
    if let Some(today) = d.today.as_mut() {
        today.range = None;
    }
    d
}

/// The dashboard of `caller`'s tenant now.
pub async fn dashboard(pool: &PgPool, caller: &Caller) -> Result<pb::Dashboard, Status> {
    let tenant = caller.tenant.as_str();
    let calendar = state::calendar(pool, tenant)
        .await
        .map_err(|e| internal(&e))?;
    let now = Utc::now();
    let tz = calendar.time_zone();
    let local = now.with_timezone(&tz).date_naive();
    let midnight = tz
        .from_local_datetime(&local.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map_or(now, |t| t.with_timezone(&Utc));
    let (size, unassigned, waiting_on_desk, oldest) =
        state::queue(pool, tenant).await.map_err(|e| internal(&e))?;
    let agents_active = state::active_agents(pool, tenant, now, ACTIVE_WINDOW)
        .await
        .map_err(|e| internal(&e))?;
    let desk = Desk {
        pool,
        tenant,
        zone: tz,
    };
    let today = Range::new(midnight, now + TimeDelta::seconds(1));
    let today = report::overview(desk, today, &Filter::default())
        .await
        .map_err(|e| internal(&e))?;
    Ok(pb::Dashboard {
        as_of: Some(to_timestamp(now)),
        queue_size: size as i64,
        unassigned: unassigned as i64,
        waiting_on_desk: waiting_on_desk as i64,
        longest_first_reply_wait_seconds: oldest
            .map_or(0.0, |c| (now - c).num_seconds().max(0) as f64),
        agents_active: agents_active as i64,
        today: Some(today),
    })
}
