//! What the shared durable consumer (`switchboard_events::consumer`, batch
//! mode) hands [`Ingest`]: whatever events are ready, up to a batch,
//! applied in one transaction and acknowledged after the commit. A failed
//! batch is retried event by event, so one bad event goes to the dead
//! letters alone instead of holding back its batch-mates.

use std::{collections::BTreeSet, sync::Arc};

use switchboard_events::{
    Envelope,
    consumer::{BatchHandler, HandlerError},
};

use crate::{api::Changes, ingest::Ingest};

/// Applies batches to the read models and tells watchers.
pub struct Feed {
    /// The read-model writer.
    pub ingest: Ingest,
    /// Told after each batch that stored new events.
    pub changes: Arc<Changes>,
}

#[async_trait::async_trait]
impl BatchHandler for Feed {
    async fn handle_batch(&self, events: &[Envelope]) -> Result<(), HandlerError> {
        let applied = self.ingest.apply(events).await?;
        metrics::counter!("analytics_events_applied_total").increment(applied.new_events as u64);
        if applied.new_events > 0 {
            // Wake only the dashboards of tenants in the batch.
            let tenants: BTreeSet<&str> = events.iter().map(|e| e.tenant_id.as_str()).collect();
            for tenant in tenants {
                self.changes.notify(tenant);
            }
        }
        Ok(())
    }
}
