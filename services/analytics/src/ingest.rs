//! Applying a batch of events to the read models, in one transaction:
//! store the new events (a duplicate id is a no-op), re-fold every touched
//! ticket from all its stored events in version order (so redelivery and
//! out-of-order arrival converge on the same fact), count created volume
//! per hour and new tickets' subject terms, and announce volume spikes and
//! SLA breach-rate jumps through the outbox once per window.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgConnection, PgPool};
use switchboard_events::{Envelope, relay::lock_key};
use switchboard_kpi::anomaly::{BreachConfig, SpikeConfig, volume_spike};
use switchboard_kpi::{TicketEvent, TicketFact, Timeline};
use switchboard_sla::Calendar;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::anomaly::{announce, history};
use crate::convert::{Mapped, map_envelope};
use crate::period::hour_of;
use crate::write::Folded;

/// Weeks of the same hour a volume is compared with (at most).
pub const SPIKE_WEEKS: i64 = 4;

/// What one batch changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Events stored for the first time.
    pub new_events: usize,
    /// Tickets whose fact was rewritten.
    pub facts: usize,
    /// Anomalies announced.
    pub anomalies: usize,
    /// Tenants with new events.
    pub tenants: BTreeSet<String>,
}

/// The read-model writer.
#[derive(Clone)]
pub struct Ingest {
    pool: PgPool,
    spike: SpikeConfig,
    breach: BreachConfig,
    relay: Option<Arc<Notify>>,
}

impl Ingest {
    /// A writer on the analytics schema's `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            spike: SpikeConfig::default(),
            breach: BreachConfig::default(),
            relay: None,
        }
    }

    /// Wakes the outbox relay when an anomaly is written.
    pub fn with_relay_waker(mut self, waker: Arc<Notify>) -> Self {
        self.relay = Some(waker);
        self
    }

    /// Applies `envelopes` (any order, duplicates allowed) in one
    /// transaction; on error nothing is applied.
    pub async fn apply(&self, envelopes: &[Envelope]) -> Result<Applied, sqlx::Error> {
        let mut seen = HashSet::new();
        let mapped: Vec<Mapped> = envelopes
            .iter()
            .filter_map(map_envelope)
            .filter(|m| seen.insert(m.event_id))
            .collect();
        if mapped.is_empty() {
            return Ok(Applied::default());
        }
        let mut tx = self.pool.begin().await?;
        // One writer at a time: two batches re-folding one ticket in
        // parallel would each miss the other's events.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key("analytics-ingest"))
            .execute(&mut *tx)
            .await?;
        let fresh = insert_events(&mut tx, &mapped).await?;
        let mut applied = Applied {
            new_events: fresh.len(),
            ..Applied::default()
        };
        if fresh.is_empty() {
            tx.commit().await?;
            return Ok(applied);
        }
        applied.tenants = fresh.iter().map(|m| m.tenant.clone()).collect();
        note_tenants(&mut tx, &fresh).await?;
        let calendars = calendars(&mut tx, &applied.tenants).await?;
        let tickets: BTreeSet<(String, Uuid)> =
            fresh.iter().map(|m| (m.tenant.clone(), m.ticket)).collect();
        let tickets: Vec<_> = tickets.into_iter().collect();
        applied.facts = refold(&mut tx, &tickets, &calendars).await?;
        crate::terms::record(&mut tx, &fresh).await?;
        crate::terms::reterm(&mut tx, &fresh).await?;
        applied.anomalies = self.count_volume(&mut tx, &fresh).await?;
        // After the refold: the hourly rows now hold the batch's decisions.
        applied.anomalies += crate::breach::check(&mut tx, &fresh, &self.breach).await?;
        tx.commit().await?;
        if applied.anomalies > 0
            && let Some(relay) = &self.relay
        {
            relay.notify_one();
        }
        Ok(applied)
    }

    /// Adds new tickets to the hourly volume and announces spikes.
    async fn count_volume(
        &self,
        tx: &mut PgConnection,
        fresh: &[&Mapped],
    ) -> Result<usize, sqlx::Error> {
        let mut counts: BTreeMap<(String, String, DateTime<Utc>), i64> = BTreeMap::new();
        for m in fresh {
            for event in &m.events {
                if let TicketEvent::Created { at, .. } = event {
                    for key in volume_keys(event) {
                        *counts
                            .entry((m.tenant.clone(), key, hour_of(*at)))
                            .or_default() += 1;
                    }
                }
            }
        }
        if counts.is_empty() {
            return Ok(0);
        }
        let (mut tenants, mut keys, mut hours, mut adds) = (vec![], vec![], vec![], vec![]);
        for ((tenant, key, hour), add) in &counts {
            tenants.push(tenant.clone());
            keys.push(key.clone());
            hours.push(*hour);
            adds.push(*add);
        }
        let totals: Vec<(String, String, DateTime<Utc>, i64)> = sqlx::query_as(
            "INSERT INTO volume_hours (tenant_id, key, hour, count) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::bigint[]) \
             ON CONFLICT (tenant_id, key, hour) DO UPDATE SET count = volume_hours.count + EXCLUDED.count \
             RETURNING tenant_id, key, hour, count",
        )
        .bind(&tenants)
        .bind(&keys)
        .bind(&hours)
        .bind(&adds)
        .fetch_all(&mut *tx)
        .await?;
        let first_hours: HashMap<String, DateTime<Utc>> = sqlx::query_as::<_, (String, DateTime<Utc>)>(
            "SELECT tenant_id, first_event_at FROM tenants WHERE tenant_id = ANY($1) AND first_event_at IS NOT NULL",
        )
        .bind(&tenants)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(t, at)| (t, hour_of(at)))
        .collect();
        let history = history(tx, &totals).await?;
        let mut announced = 0;
        for (tenant, key, hour, observed) in &totals {
            let Some(first) = first_hours.get(tenant) else {
                continue;
            };
            let past: Vec<u64> = (1..=SPIKE_WEEKS)
                .map(|w| *hour - TimeDelta::weeks(w))
                .filter(|h| h >= first)
                .map(|h| {
                    history
                        .get(&(tenant.clone(), key.clone(), h))
                        .copied()
                        .unwrap_or(0)
                })
                .collect();
            let observed = u64::try_from(*observed).unwrap_or(0);
            if let Some(anomaly) = volume_spike(key, &past, observed, &self.spike)
                && announce(tx, tenant, *hour, TimeDelta::hours(1), &anomaly).await?
            {
                announced += 1;
            }
        }
        Ok(announced)
    }
}

/// Stores the events; returns those not stored before.
async fn insert_events<'m>(
    tx: &mut PgConnection,
    mapped: &'m [Mapped],
) -> Result<Vec<&'m Mapped>, sqlx::Error> {
    let mut ids = Vec::with_capacity(mapped.len());
    let (mut tenants, mut tickets, mut versions, mut ats, mut events) =
        (vec![], vec![], vec![], vec![], vec![]);
    for m in mapped {
        ids.push(m.event_id);
        tenants.push(m.tenant.clone());
        tickets.push(m.ticket);
        versions.push(m.version);
        ats.push(m.at);
        events.push(serde_json::to_string(&m.events).unwrap_or_else(|_| "[]".into()));
    }
    let inserted: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO ticket_events (event_id, tenant_id, ticket_id, version, occurred_at, events) \
         SELECT i, t, k, v, a, e::jsonb FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::bigint[], $5::timestamptz[], $6::text[]) \
           AS u(i, t, k, v, a, e) \
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
    )
    .bind(&ids)
    .bind(&tenants)
    .bind(&tickets)
    .bind(&versions)
    .bind(&ats)
    .bind(&events)
    .fetch_all(&mut *tx)
    .await?;
    let inserted: HashSet<Uuid> = inserted.into_iter().collect();
    Ok(mapped
        .iter()
        .filter(|m| inserted.contains(&m.event_id))
        .collect())
}

/// Remembers each tenant's earliest event: spike detection only compares
/// with weeks the tenant already sent events in.
async fn note_tenants(tx: &mut PgConnection, fresh: &[&Mapped]) -> Result<(), sqlx::Error> {
    let mut first: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for m in fresh {
        let at = first.entry(&m.tenant).or_insert(m.at);
        *at = (*at).min(m.at);
    }
    let tenants: Vec<&str> = first.keys().copied().collect();
    let ats: Vec<DateTime<Utc>> = first.values().copied().collect();
    sqlx::query(
        "INSERT INTO tenants (tenant_id, first_event_at) SELECT * FROM UNNEST($1::text[], $2::timestamptz[]) \
         ON CONFLICT (tenant_id) DO UPDATE SET first_event_at = \
           LEAST(COALESCE(tenants.first_event_at, EXCLUDED.first_event_at), EXCLUDED.first_event_at)",
    )
    .bind(&tenants)
    .bind(&ats)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The business calendars of `tenants` (around the clock when unset).
pub async fn calendars(
    conn: &mut PgConnection,
    tenants: &BTreeSet<String>,
) -> Result<HashMap<String, Calendar>, sqlx::Error> {
    let tenants: Vec<&String> = tenants.iter().collect();
    let rows: Vec<(String, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT tenant_id, business_hours FROM tenants WHERE tenant_id = ANY($1)")
            .bind(&tenants)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(t, raw)| (t, crate::decode_calendar(raw.as_deref())))
        .collect())
}

/// Re-folds `tickets` from all their stored events and writes their facts
/// (with their samples and aggregate rows, see [`crate::write`]); returns
/// how many facts were written (tickets whose creation has not
/// arrived yet have none).
pub async fn refold(
    tx: &mut PgConnection,
    tickets: &[(String, Uuid)],
    calendars: &HashMap<String, Calendar>,
) -> Result<usize, sqlx::Error> {
    let tenants: Vec<&str> = tickets.iter().map(|(t, _)| t.as_str()).collect();
    let ids: Vec<Uuid> = tickets.iter().map(|(_, id)| *id).collect();
    let rows: Vec<(String, Uuid, i64, String)> = sqlx::query_as(
        "SELECT e.tenant_id, e.ticket_id, e.version, e.events::text FROM ticket_events e \
         JOIN UNNEST($1::text[], $2::uuid[]) AS q(tenant_id, ticket_id) \
           ON e.tenant_id = q.tenant_id AND e.ticket_id = q.ticket_id \
         ORDER BY e.tenant_id, e.ticket_id, e.version, e.occurred_at, e.event_id",
    )
    .bind(&tenants)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let always = Calendar::always();
    let mut folded = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let (tenant, ticket) = (&rows[i].0, rows[i].1);
        let mut events: Vec<TicketEvent> = Vec::new();
        let mut version = 0;
        while i < rows.len() && rows[i].0 == *tenant && rows[i].1 == ticket {
            version = version.max(rows[i].2);
            match serde_json::from_str::<Vec<TicketEvent>>(&rows[i].3) {
                Ok(mut e) => events.append(&mut e),
                Err(e) => tracing::error!(error = %e, %ticket, "unreadable stored event skipped"),
            }
            i += 1;
        }
        let calendar = calendars.get(tenant).unwrap_or(&always);
        if let Some(fact) = fold(&events, calendar) {
            folded.push(Folded {
                tenant: tenant.clone(),
                ticket,
                version,
                fact,
            });
        }
    }
    crate::write::store(tx, &folded, calendars).await
}

/// One ticket's fact from its events in version order, as of its latest
/// event (so a replay folds exactly the same fact); `None` until its
/// creation is among them. A stray second creation is ignored.
pub fn fold(events: &[TicketEvent], calendar: &Calendar) -> Option<TicketFact> {
    let start = events
        .iter()
        .position(|e| matches!(e, TicketEvent::Created { .. }))?;
    let mut timeline = Timeline::start(&events[start]).ok()?;
    let mut now = events[start].at();
    // Events ordered before the creation (a lower version) still count.
    for (i, event) in events.iter().enumerate() {
        if i != start && !matches!(event, TicketEvent::Created { .. }) {
            let _ = timeline.apply(event);
            now = now.max(event.at());
        }
    }
    Some(timeline.fact(calendar, now))
}

/// The keys a new ticket counts under for spike detection.
pub fn volume_keys(created: &TicketEvent) -> Vec<String> {
    let TicketEvent::Created {
        channel,
        group,
        tags,
        ..
    } = created
    else {
        return Vec::new();
    };
    let mut keys = vec!["all".to_owned(), format!("channel:{}", channel.as_str())];
    if let Some(group) = group {
        keys.push(format!("group:{group}"));
    }
    let tags: BTreeSet<&String> = tags.iter().collect();
    keys.extend(tags.into_iter().map(|t| format!("tag:{t}")));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_kpi::fact::{Channel, Priority, SlaTargets, Status};

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + minutes * 60, 0).unwrap()
    }

    fn created(at: i64) -> TicketEvent {
        TicketEvent::Created {
            at: t(at),
            by_agent: false,
            channel: Channel::Chat,
            priority: Priority::High,
            group: Some("billing".into()),
            tags: vec!["b".into(), "a".into(), "a".into()],
            assignee: None,
            sla: SlaTargets::default(),
        }
    }

    #[test]
    fn no_fact_before_the_creation_and_a_second_creation_is_ignored() {
        let solved = TicketEvent::Status {
            at: t(30),
            from: Status::New,
            to: Status::Solved,
        };
        assert!(fold(std::slice::from_ref(&solved), &Calendar::always()).is_none());
        let fact = fold(&[created(0), solved, created(40)], &Calendar::always()).unwrap();
        assert_eq!(fact.solved_at, Some(t(30)));
        assert_eq!(fact.as_of, t(30), "as of the latest event, not the clock");
    }

    #[test]
    fn a_new_ticket_counts_once_per_key() {
        assert_eq!(
            volume_keys(&created(0)),
            ["all", "channel:chat", "group:billing", "tag:a", "tag:b"]
        );
        let hour = hour_of(t(59));
        assert_eq!(hour.timestamp() % 3600, 0);
        assert!(hour <= t(59) && t(59) - hour < TimeDelta::hours(1));
    }
}
