//! Writing events in the same transaction as the change they record.

use prost::Message;
use sqlx::PgConnection;
use switchboard_proto::events::v1::Envelope;
use uuid::Uuid;

use crate::envelope::subject_of;

/// Appends `envelope` to the outbox through `conn`, which must be the
/// transaction that makes the change, so both commit or neither does.
pub async fn append(conn: &mut PgConnection, envelope: &Envelope) -> Result<(), sqlx::Error> {
    let id = Uuid::parse_str(&envelope.id).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let trace = envelope.trace.as_ref();
    sqlx::query(
        "INSERT INTO outbox \
         (event_id, subject, aggregate_id, aggregate_version, payload, traceparent, tracestate) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(subject_of(envelope))
    .bind(&envelope.aggregate_id)
    .bind(envelope.aggregate_version)
    .bind(envelope.encode_to_vec())
    .bind(trace.map(|t| t.traceparent.as_str()))
    .bind(
        trace
            .map(|t| t.tracestate.as_str())
            .filter(|s| !s.is_empty()),
    )
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
