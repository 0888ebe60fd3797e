//! What a test's world holds: the row count of every table in every schema
//! of its database and the number of messages on its stream, to show that a
//! refused call wrote nothing.

use std::{collections::BTreeMap, time::Duration};

use sqlx::{PgPool, Row, postgres::PgPoolOptions};
use switchboard_testkit::{process::World, wait_for};

/// Row counts by `schema.table`, and the stream's message count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Census {
    rows: BTreeMap<String, i64>,
    messages: u64,
}

impl Census {
    /// What grew or shrank from `before` to `self`, e.g. `ticket.customers +1`.
    pub fn changes_since(&self, before: &Census) -> Vec<String> {
        let mut out: Vec<String> = self
            .rows
            .iter()
            .filter_map(|(table, n)| {
                let was = before.rows.get(table).copied().unwrap_or(0);
                (*n != was).then(|| format!("{table} {:+}", n - was))
            })
            .collect();
        if self.messages != before.messages {
            out.push(format!(
                "stream {:+} messages",
                self.messages as i64 - before.messages as i64
            ));
        }
        out
    }
}

/// Tables that record attempts, refused ones included, by design: the audit
/// trail notes every call to an audited method whatever its outcome.
const ATTEMPT_RECORDS: [&str; 1] = ["access.audit_events"];

/// Takes [`Census`]es of one world.
pub struct Counter {
    pool: PgPool,
    query: String,
    stream: async_nats::jetstream::stream::Stream,
}

impl Counter {
    /// A counter over `world`'s database (every table there now) and stream.
    pub async fn new(world: &World) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(&world.db.url)
            .await?;
        let tables: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_schema, table_name FROM information_schema.tables \
             WHERE table_type = 'BASE TABLE' \
               AND table_schema NOT IN ('pg_catalog', 'information_schema') \
             ORDER BY 1, 2",
        )
        .fetch_all(&pool)
        .await?;
        anyhow::ensure!(!tables.is_empty(), "the test database has no tables");
        let query = tables
            .iter()
            .filter(|(schema, table)| {
                !ATTEMPT_RECORDS.contains(&format!("{schema}.{table}").as_str())
            })
            .map(|(schema, table)| {
                format!(
                    "SELECT '{schema}.{table}' AS t, count(*) AS n FROM \"{schema}\".\"{table}\""
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let nats = switchboard_testkit::connect_nats(&world.nats_url).await?;
        let stream = async_nats::jetstream::new(nats)
            .get_stream(&world.stream.stream)
            .await?;
        Ok(Self {
            pool,
            query,
            stream,
        })
    }

    /// The world now.
    pub async fn take(&self) -> anyhow::Result<Census> {
        let rows = sqlx::query(&self.query)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| Ok((r.try_get("t")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()?;
        let messages = self.stream.get_info().await?.state.messages;
        Ok(Census { rows, messages })
    }

    /// The world once nothing is on its way: every service's outbox is
    /// drained and every durable consumer of the stream has nothing pending
    /// or unacknowledged, and a census taken after that check still agrees
    /// (a handler's writes land before its ack, so this is a barrier, not a
    /// guess from two quiet snapshots). Fails after `deadline`.
    pub async fn settled(&self, deadline: Duration) -> anyhow::Result<Census> {
        let this = self;
        let settled = std::sync::Mutex::new(None);
        wait_for(
            deadline,
            "the relay and every consumer to be idle",
            || async {
                let Ok(before) = this.take().await else {
                    return false;
                };
                let drained = before
                    .rows
                    .iter()
                    .all(|(table, n)| !table.ends_with(".outbox") || *n == 0);
                if !drained || !this.consumers_idle().await {
                    return false;
                }
                match this.take().await {
                    Ok(after) if after == before => {
                        *settled.lock().expect("not poisoned") = Some(after);
                        true
                    }
                    _ => false,
                }
            },
        )
        .await?;
        let census = settled.into_inner().expect("not poisoned");
        Ok(census.expect("wait_for returned after a settled census"))
    }

    /// Whether every durable consumer of the stream has caught up.
    async fn consumers_idle(&self) -> bool {
        use futures::TryStreamExt;
        let Ok(infos) = self.stream.consumers().try_collect::<Vec<_>>().await else {
            return false;
        };
        infos
            .iter()
            .all(|c| c.num_pending == 0 && c.num_ack_pending == 0)
    }
}
