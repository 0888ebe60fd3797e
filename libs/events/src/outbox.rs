//! Writing events in the same transaction as the change they record.

use prost::Message;
use sqlx::PgConnection;
use switchboard_proto::events::v1::Envelope;
use uuid::Uuid;

use crate::envelope::subject_of;

/// An outbox row, for writers that fold the insert into a larger statement
/// (bind the fields in the order of [`OutboxRow::COLUMNS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// The envelope id.
    pub event_id: Uuid,
    /// `<tenant>.<type>`, without the installation's prefix.
    pub subject: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Aggregate version.
    pub aggregate_version: i64,
    /// The encoded envelope.
    pub payload: Vec<u8>,
    /// W3C `traceparent`.
    pub traceparent: Option<String>,
    /// W3C `tracestate`.
    pub tracestate: Option<String>,
}

impl OutboxRow {
    /// The outbox columns, in bind order.
    pub const COLUMNS: &str =
        "event_id, subject, aggregate_id, aggregate_version, payload, traceparent, tracestate";

    /// The row for `envelope`.
    pub fn new(envelope: &Envelope) -> Result<Self, sqlx::Error> {
        let trace = envelope.trace.as_ref();
        Ok(Self {
            event_id: Uuid::parse_str(&envelope.id)
                .map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
            subject: subject_of(envelope),
            aggregate_id: envelope.aggregate_id.clone(),
            aggregate_version: envelope.aggregate_version,
            payload: envelope.encode_to_vec(),
            traceparent: trace.map(|t| t.traceparent.clone()),
            tracestate: trace
                .map(|t| t.tracestate.clone())
                .filter(|s| !s.is_empty()),
        })
    }
}

/// Appends `envelope` to the outbox through `conn`, which must be the
/// transaction that makes the change, so both commit or neither does.
pub async fn append(conn: &mut PgConnection, envelope: &Envelope) -> Result<(), sqlx::Error> {
    append_all(conn, std::slice::from_ref(envelope)).await
}

/// Appends `envelopes` in order with one statement (one round trip however
/// many events a change announces), inside the caller's transaction.
pub async fn append_all(
    conn: &mut PgConnection,
    envelopes: &[Envelope],
) -> Result<(), sqlx::Error> {
    if envelopes.is_empty() {
        return Ok(());
    }
    OutboxBatch::new(envelopes)?
        .bind(sqlx::query(&OutboxBatch::insert_sql(1, "")))
        .execute(conn)
        .await?;
    Ok(())
}

/// Outbox rows as column arrays, for writers that insert several events in
/// one statement, possibly folded into a larger one.
#[derive(Debug, Default)]
pub struct OutboxBatch {
    event_id: Vec<Uuid>,
    subject: Vec<String>,
    aggregate_id: Vec<String>,
    aggregate_version: Vec<i64>,
    payload: Vec<Vec<u8>>,
    traceparent: Vec<Option<String>>,
    tracestate: Vec<Option<String>>,
}

impl OutboxBatch {
    /// The rows of `envelopes`, in order.
    pub fn new(envelopes: &[Envelope]) -> Result<Self, sqlx::Error> {
        let mut batch = Self::default();
        for envelope in envelopes {
            let row = OutboxRow::new(envelope)?;
            batch.event_id.push(row.event_id);
            batch.subject.push(row.subject);
            batch.aggregate_id.push(row.aggregate_id);
            batch.aggregate_version.push(row.aggregate_version);
            batch.payload.push(row.payload);
            batch.traceparent.push(row.traceparent);
            batch.tracestate.push(row.tracestate);
        }
        Ok(batch)
    }

    /// An `INSERT INTO outbox` of the batch bound from parameter `$first`
    /// on; `from` (e.g. `"u, "`) joins a row source, so the events are
    /// written only when that source has a row.
    pub fn insert_sql(first: usize, from: &str) -> String {
        let p = |i: usize| first + i;
        // ORDER BY the array position: `seq` is drawn as rows are inserted,
        // and the relay publishes in `seq` order.
        format!(
            "INSERT INTO outbox ({}) \
             SELECT ob.event_id, ob.subject, ob.aggregate_id, ob.aggregate_version, ob.payload, \
             ob.traceparent, ob.tracestate FROM {from}UNNEST(${}::uuid[], ${}::text[], ${}::text[], \
             ${}::int8[], ${}::bytea[], ${}::text[], ${}::text[]) WITH ORDINALITY \
             AS ob(event_id, subject, aggregate_id, aggregate_version, payload, traceparent, tracestate, ord) \
             ORDER BY ob.ord",
            OutboxRow::COLUMNS,
            p(0),
            p(1),
            p(2),
            p(3),
            p(4),
            p(5),
            p(6)
        )
    }

    /// Binds the batch's seven arrays, in [`OutboxBatch::insert_sql`]'s
    /// order.
    pub fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(self.event_id)
            .bind(self.subject)
            .bind(self.aggregate_id)
            .bind(self.aggregate_version)
            .bind(self.payload)
            .bind(self.traceparent)
            .bind(self.tracestate)
    }
}

/// Rows still waiting for the relay.
pub async fn pending(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(conn)
        .await
}
