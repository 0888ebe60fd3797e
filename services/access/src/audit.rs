//! Writes the audit trail off the request path: the auth layer hands over
//! records without waiting, one task inserts them in batches, and the rest
//! is flushed on shutdown.

use switchboard_runtime::{
    Backoff,
    auth::{AuditRecord, AuditSink},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Records waiting to be written at most; past it records are dropped and
/// counted (`audit_records_dropped_total`) rather than slowing calls.
const QUEUE: usize = 10_000;
/// Records written per statement at most.
const BATCH: usize = 500;

/// The sending side of the trail.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    queue: mpsc::Sender<AuditRecord>,
}

impl AuditWriter {
    /// A writer and the task that drains it into `store` until `stop`,
    /// then writes what is left.
    pub fn new(
        store: Store,
        stop: CancellationToken,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (queue, records) = mpsc::channel(QUEUE);
        (Self { queue }, drain(store, records, stop))
    }
}

impl AuditSink for AuditWriter {
    fn record(&self, record: AuditRecord) {
        if self.queue.try_send(record).is_err() {
            metrics::counter!("audit_records_dropped_total").increment(1);
            tracing::error!("audit queue full: an audit record was dropped");
        }
    }
}

async fn drain(store: Store, mut records: mpsc::Receiver<AuditRecord>, stop: CancellationToken) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let got = tokio::select! {
            n = records.recv_many(&mut batch, BATCH) => n,
            () = stop.cancelled() => {
                records.close();
                while records.recv_many(&mut batch, BATCH).await > 0 {
                    write(&store, &mut batch).await;
                }
                return;
            }
        };
        if got == 0 {
            return;
        }
        write(&store, &mut batch).await;
    }
}

async fn write(store: &Store, batch: &mut Vec<AuditRecord>) {
    // A database blip must not lose the trail: try a few times.
    let mut backoff = Backoff::default();
    for attempt in 1..=5u32 {
        match store.append_audit(batch).await {
            Ok(()) => {
                metrics::counter!("audit_records_written_total").increment(batch.len() as u64);
                batch.clear();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "cannot write the audit trail yet");
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
    metrics::counter!("audit_records_dropped_total").increment(batch.len() as u64);
    tracing::error!(records = batch.len(), "audit records dropped after retries");
    batch.clear();
}
