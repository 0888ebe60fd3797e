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
    let rows = envelopes
        .iter()
        .map(OutboxRow::new)
        .collect::<Result<Vec<_>, _>>()?;
    // ORDER BY the array position: `seq` is drawn as rows are inserted, and
    // the relay publishes in `seq` order.
    sqlx::query(&format!(
        "INSERT INTO outbox ({}) \
         SELECT e, s, a, v, p, tp, ts FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int8[], \
         $5::bytea[], $6::text[], $7::text[]) WITH ORDINALITY AS r(e, s, a, v, p, tp, ts, n) ORDER BY n",
        OutboxRow::COLUMNS
    ))
    .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.subject.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.aggregate_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.aggregate_version).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.payload.as_slice()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.traceparent.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.tracestate.as_deref()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Rows still waiting for the relay.
pub async fn pending(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(conn)
        .await
}
