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
    let row = OutboxRow::new(envelope)?;
    sqlx::query(&format!(
        "INSERT INTO outbox ({}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        OutboxRow::COLUMNS
    ))
    .bind(row.event_id)
    .bind(row.subject)
    .bind(row.aggregate_id)
    .bind(row.aggregate_version)
    .bind(row.payload)
    .bind(row.traceparent)
    .bind(row.tracestate)
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
