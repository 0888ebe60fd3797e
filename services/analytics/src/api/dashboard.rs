//! The live dashboard: a snapshot of the queue and today's overview,
//! pushed when it changes.
//!
//! One computation per tenant serves every watcher of its dashboard: it
//! runs again when events of the tenant are applied on this replica (other
//! replicas' are picked up by a periodic refresh), at most once per
//! `streams.dashboard_min_interval_ms`, starts with the tenant's first
//! watcher and stops with its last. Each watcher takes the newest snapshot
//! at its own pace: its `min_interval_ms` only slows what it is sent.

use std::{sync::Arc, time::Duration};

use chrono::{TimeDelta, TimeZone, Utc};
use sqlx::PgPool;
use switchboard_kpi::Range;
use switchboard_proto::analytics::v1 as pb;
use switchboard_runtime::{
    Feed, Hub, Missed, TenantId,
    fanout::{Tap, Wakes},
};
use tokio::sync::watch;
use tonic::Status;

use super::internal;
use crate::convert::to_timestamp;
use crate::query::{ACTIVE_WINDOW, Filter};
use crate::report::{self, Desk};
use crate::state;

/// Longest time a dashboard watcher goes without a snapshot.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// How often a tenant's dashboard is computed again without being woken.
const REFRESH: Duration = Duration::from_secs(5);

/// Tells a tenant's dashboard on this replica that its events were applied.
#[derive(Debug, Default)]
pub struct Changes(Wakes);

impl Changes {
    /// Events of `tenant` were applied here.
    pub fn notify(&self, tenant: &str) {
        self.0.wake(tenant);
    }

    /// Wakes on [`notify`](Self::notify) for `tenant`.
    pub fn subscribe(&self, tenant: &str) -> watch::Receiver<()> {
        self.0.listen(tenant)
    }
}

/// A tenant's newest dashboard, or why it could not be computed (then its
/// computation stops, its watchers end with the error, and the next watcher
/// starts afresh).
pub type Snapshot = Result<pb::Dashboard, Status>;

/// Every tenant's live dashboard, computed once per tenant for all its
/// watchers.
#[derive(Debug, Clone)]
pub struct Dashboards {
    hub: Hub<TenantId, watch::Receiver<Snapshot>>,
    changes: Arc<Changes>,
    pool: PgPool,
    min_interval: Duration,
}

impl Dashboards {
    /// Dashboards over `pool`, woken by `changes`, each computed at most
    /// once per `min_interval`.
    pub fn new(pool: PgPool, changes: Arc<Changes>, min_interval: Duration) -> Self {
        Self {
            hub: Hub::new("dashboard"),
            changes,
            pool,
            min_interval,
        }
    }

    /// `tenant`'s dashboard now and as it changes; the first watcher waits
    /// for the first computation (and gets its error, if it fails).
    pub async fn join(
        &self,
        tenant: &TenantId,
    ) -> Result<(Tap, watch::Receiver<Snapshot>), Status> {
        self.hub
            .join(tenant.clone(), || async {
                // Woken from before the first computation, so nothing
                // applied meanwhile is missed.
                let changed = self.changes.subscribe(tenant.as_str());
                let first = dashboard(&self.pool, tenant.as_str()).await?;
                let (tx, rx) = watch::channel(Ok(first));
                let run = recompute(
                    self.pool.clone(),
                    tenant.clone(),
                    self.min_interval,
                    changed,
                    tx,
                );
                Ok((rx, run))
            })
            .await
    }
}

/// Computes `tenant`'s dashboard again when woken (or every [`REFRESH`]),
/// at most once per `min_interval`, until its watchers are gone (the hub
/// then drops this) or a computation fails.
async fn recompute(
    pool: PgPool,
    tenant: TenantId,
    min_interval: Duration,
    mut changed: watch::Receiver<()>,
    tx: watch::Sender<Snapshot>,
) {
    loop {
        tokio::time::sleep(min_interval).await;
        tokio::select! {
            _ = changed.changed() => {}
            () = tokio::time::sleep(REFRESH) => {}
        }
        // Seen before computing: what is applied meanwhile wakes the next.
        changed.borrow_and_update();
        let snapshot = dashboard(&pool, tenant.as_str()).await;
        let failed = snapshot.is_err();
        tx.send_modify(|s| *s = snapshot);
        if failed {
            return;
        }
    }
}

/// Sends the newest of `snapshots` on `feed` while it changes (and at least
/// every [`HEARTBEAT`]), no more often than `every`, until the receiver
/// goes away, takes nothing for the stall timeout, or the server shuts
/// down; `tap` keeps the tenant's computation running meanwhile.
pub async fn watch(
    mut snapshots: watch::Receiver<Snapshot>,
    tap: Tap,
    every: Duration,
    mut feed: Feed<pb::Dashboard>,
) {
    let _tap = tap;
    let mut last: Option<(pb::Dashboard, std::time::Instant)> = None;
    loop {
        let snapshot = match snapshots.borrow_and_update().clone() {
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
        tokio::select! {
            () = feed.stopped() => return,
            () = tokio::time::sleep(every) => {}
        }
        tokio::select! {
            () = feed.stopped() => return,
            changed = snapshots.changed() => if changed.is_err() {
                feed.missed(Missed::Stopped);
                return;
            },
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

/// The dashboard of `tenant` now.
pub async fn dashboard(pool: &PgPool, tenant: &str) -> Result<pb::Dashboard, Status> {
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
