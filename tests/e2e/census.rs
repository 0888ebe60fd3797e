//! What a test's world holds: the row count of every table in every schema
//! of its database and the number of messages on its stream, to show that a
//! refused call wrote nothing.

use std::{collections::BTreeMap, time::Duration};

use sqlx::{PgPool, Row, postgres::PgPoolOptions};
use switchboard_testkit::process::World;

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
    pub async fn take(&mut self) -> anyhow::Result<Census> {
        let rows = sqlx::query(&self.query)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| Ok((r.try_get("t")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()?;
        let messages = self.stream.info().await?.state.messages;
        Ok(Census { rows, messages })
    }

    /// The world once nothing moves any more (the relay and the consumers
    /// are idle): two censuses 100 ms apart agree, within `deadline`.
    pub async fn settled(&mut self, deadline: Duration) -> anyhow::Result<Census> {
        let start = tokio::time::Instant::now();
        let mut last = self.take().await?;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.take().await?;
            if now == last {
                return Ok(now);
            }
            anyhow::ensure!(
                start.elapsed() < deadline,
                "the world kept changing for {deadline:?}: {:?}",
                now.changes_since(&last)
            );
            last = now;
        }
    }
}
