//! Erasure reaches the knowledge service: an erased customer's votes stay
//! counted but no longer name them.

use sqlx::PgConnection;
use switchboard_events::{
    Envelope, Payload,
    consumer::{Handler, HandlerError},
};

/// Durable consumer of `customer.erased`, shared by all replicas.
pub const PRIVACY_CONSUMER: &str = "knowledge-privacy";

/// Pseudonymises the votes of erased customers: each vote cast by one of
/// their identities (found by the event's hashes) is re-keyed to a random
/// `erased:<uuid>`, so the article's counts and the one-vote-per-reader
/// rule stand while the reader is gone.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForgetErasedVoters;

#[async_trait::async_trait]
impl Handler for ForgetErasedVoters {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandlerError> {
        let Some(Payload::CustomerErased(erased)) = &event.payload else {
            return Ok(());
        };
        if erased.identity_sha256.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE article_votes SET user_id = 'erased:' || gen_random_uuid() \
             WHERE tenant = $1 AND encode(sha256(convert_to(user_id, 'UTF8')), 'hex') = ANY($2)",
        )
        .bind(&event.tenant_id)
        .bind(&erased.identity_sha256)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}
