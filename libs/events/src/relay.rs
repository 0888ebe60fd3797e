//! Publishes the outbox to JetStream, in order, until every row is acknowledged.
//!
//! One relay per outbox publishes at a time (a PostgreSQL advisory lock), so
//! replicas never interleave. A round sends, without waiting, the oldest row
//! of each aggregate among the oldest rows, then awaits every ack and
//! deletes the acknowledged rows; anything unacknowledged is sent again next
//! round, and the stream's duplicate window (keyed by `Nats-Msg-Id`) drops
//! copies. Since no aggregate ever has two events in flight, a failed publish
//! cannot let a later event of the same aggregate overtake it; events of
//! different aggregates may overtake each other (consumers order per
//! aggregate), so one busy ticket never holds back the rest.

use std::{sync::Arc, time::Duration};

use async_nats::{HeaderMap, jetstream};
use sqlx::{Connection, PgConnection, PgPool, Row};
use switchboard_runtime::Backoff;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Why a relay round stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The database failed.
    #[error("outbox database error: {0}")]
    Database(#[from] sqlx::Error),
    /// JetStream did not accept or acknowledge a message.
    #[error("publish to JetStream failed: {0}")]
    Publish(String),
}

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Prepended to each row's subject.
    pub subject_prefix: String,
    /// Rows per round.
    pub batch_size: u32,
    /// Idle poll interval.
    pub poll_interval: Duration,
    /// Advisory lock key electing one relay per outbox.
    pub lock_key: i64,
}

/// Publishes one service's outbox.
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    js: jetstream::Context,
    config: RelayConfig,
    wake: Arc<Notify>,
}

impl Relay {
    /// A relay for the outbox in `pool`'s schema.
    pub fn new(pool: PgPool, js: jetstream::Context, config: RelayConfig) -> Self {
        Self {
            pool,
            js,
            config,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Notified after a commit that wrote to the outbox, to publish at once
    /// instead of at the next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Publishes until `stop` is cancelled, then flushes what is left (for up
    /// to `flush_deadline`).
    pub async fn run(self, stop: CancellationToken, flush_deadline: Duration) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut leader: Option<PgConnection> = None;
        // Rows published but not yet deleted: the next round deletes them.
        let mut done = Vec::new();
        while !stop.is_cancelled() {
            if leader.is_none() {
                match self.try_lead().await {
                    Ok(conn) => leader = conn,
                    Err(e) => tracing::warn!(error = %e, "outbox relay cannot reach the database"),
                }
            }
            let result = match leader.as_mut() {
                Some(conn) => self.publish_round(conn, &mut done).await,
                None => Ok(0),
            };
            let wait = match result {
                Ok(n) if n as u32 == self.config.batch_size => {
                    backoff.reset();
                    continue;
                }
                Ok(_) => {
                    backoff.reset();
                    self.config.poll_interval
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "outbox relay round failed");
                    metrics::counter!("outbox_relay_failures_total").increment(1);
                    if matches!(e, RelayError::Database(_)) {
                        leader = None;
                    }
                    delay
                }
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        if let Some(mut conn) = leader {
            let flushed =
                tokio::time::timeout(flush_deadline, self.flush(&mut conn, &mut done)).await;
            match flushed {
                Ok(Ok(())) => tracing::info!("outbox flushed"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "outbox not flushed; the next relay publishes the rest")
                }
                Err(_) => tracing::warn!(
                    "outbox flush hit the deadline; the next relay publishes the rest"
                ),
            }
            let _ = conn.close().await;
        }
    }

    /// Publishes rounds until the outbox is empty; the last round deletes
    /// what the one before it published.
    async fn flush(&self, conn: &mut PgConnection, done: &mut Vec<i64>) -> Result<(), RelayError> {
        while self.publish_round(conn, done).await? > 0 {}
        Ok(())
    }

    async fn try_lead(&self) -> Result<Option<PgConnection>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(self.config.lock_key)
            .fetch_one(&mut *conn)
            .await?;
        if got {
            // The rounds' DELETEs need not wait for the WAL flush: one lost
            // in a crash only republishes rows, which JetStream's Nats-Msg-Id
            // window and idempotent consumers make harmless. The writers'
            // commits stay synchronous, so no event is ever lost.
            sqlx::query("SET synchronous_commit = off")
                .execute(&mut *conn)
                .await?;
            tracing::info!("outbox relay is the leader");
            // The lock lives as long as this session, so the session leaves
            // the pool; rounds read through it, so a lost session (and lock)
            // fails the round instead of racing a new leader.
            Ok(Some(conn.detach()))
        } else {
            Ok(None)
        }
    }

    /// Publishes one batch through the leader's session; returns how many
    /// rows were published. The same statement deletes the rows `done` holds
    /// (the previous round's), and `done` then holds this round's: one round
    /// trip per round instead of two. A row published and not yet deleted
    /// when the leader dies is published again, which the stream's
    /// Nats-Msg-Id window and idempotent consumers make harmless.
    async fn publish_round(
        &self,
        conn: &mut PgConnection,
        done: &mut Vec<i64>,
    ) -> Result<usize, RelayError> {
        // The SELECT sees the rows as before the DELETE, hence the filter.
        let mut rows = sqlx::query(
            "WITH gone AS (DELETE FROM outbox WHERE seq = ANY($2)) \
             SELECT seq, event_id, subject, aggregate_id, payload, traceparent, tracestate \
             FROM outbox WHERE seq <> ALL($2) ORDER BY seq LIMIT $1",
        )
        .bind(i64::from(self.config.batch_size))
        .bind(&*done)
        .fetch_all(&mut *conn)
        .await?;
        done.clear();
        if rows.is_empty() {
            return Ok(0);
        }
        // At most one event per aggregate is in flight: if a publish fails,
        // nothing later of the same aggregate has gone out, so a retry keeps
        // each aggregate's order. Skipping (rather than stopping at) an
        // aggregate's later rows matters under load: a ticket's `created` and
        // `assigned` rows sit a few rows apart, and stopping there cut rounds
        // to a handful of rows.
        let mut seen = std::collections::HashSet::new();
        rows.retain(|row| seen.insert(row.get::<String, _>("aggregate_id")));

        let mut acks = Vec::with_capacity(rows.len());
        let mut send_error = None;
        for row in &rows {
            let seq: i64 = row.get("seq");
            let event_id: Uuid = row.get("event_id");
            let subject: String = row.get("subject");
            let payload: Vec<u8> = row.get("payload");
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", event_id.to_string().as_str());
            if let Some(tp) = row.get::<Option<String>, _>("traceparent") {
                headers.insert("traceparent", tp.as_str());
            }
            if let Some(ts) = row.get::<Option<String>, _>("tracestate") {
                headers.insert("tracestate", ts.as_str());
            }
            let subject = format!("{}.{subject}", self.config.subject_prefix);
            match self
                .js
                .publish_with_headers(subject, headers, payload.into())
                .await
            {
                Ok(ack) => acks.push((seq, ack)),
                Err(e) => {
                    send_error = Some(e.to_string());
                    break;
                }
            }
        }

        let mut acked = Vec::with_capacity(acks.len());
        let mut ack_error = None;
        for (seq, ack) in acks {
            match ack.await {
                Ok(ack) => {
                    if ack.duplicate {
                        metrics::counter!("outbox_duplicates_total").increment(1);
                    }
                    acked.push(seq);
                }
                Err(e) => ack_error = Some(e.to_string()),
            }
        }

        let published = acked.len();
        metrics::counter!("outbox_published_total").increment(published as u64);
        *done = acked;
        match ack_error.or(send_error) {
            Some(e) => Err(RelayError::Publish(e)),
            None => Ok(published),
        }
    }
}

/// A stable advisory-lock key for one service's outbox.
pub fn lock_key(service: &str) -> i64 {
    // FNV-1a: stable across builds and platforms, unlike `DefaultHasher`.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"switchboard.outbox.".iter().chain(service.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_differ_per_service_and_are_stable() {
        assert_ne!(lock_key("ticket"), lock_key("routing"));
        assert_eq!(lock_key("ticket"), lock_key("ticket"));
    }
}
