//! Wake-ups from PostgreSQL `NOTIFY`: a tenant's in-app subscribers learn of
//! its new rows, and the dispatcher of due deliveries, the moment any
//! replica commits.

use std::sync::Arc;

use sqlx::{PgPool, postgres::PgListener};
use switchboard_runtime::{backoff::Backoff, fanout::Wakes};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::store::{DISPATCH_CHANNEL, INBOX_CHANNEL};

/// The wake-up signals of one replica.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    inbox: Arc<Wakes>,
    /// Raised when deliveries may be due.
    pub dispatch: Arc<Notify>,
}

impl Signals {
    /// A receiver that changes whenever in-app notifications of `tenant`
    /// commit; unlike a bare notify, a change made while the holder was
    /// busy is not lost.
    pub fn inbox(&self, tenant: &str) -> watch::Receiver<()> {
        self.inbox.listen(tenant)
    }

    /// Marks `tenant`'s inbox changed.
    pub fn inbox_changed(&self, tenant: &str) {
        self.inbox.wake(tenant);
    }

    /// Listens on `pool` until `stop`, reconnecting after failures; callers
    /// also poll, so an outage only delays wake-ups.
    pub async fn listen(self, pool: PgPool, stop: CancellationToken) {
        // 100 ms doubling to 5 s, jittered so replicas do not reconnect together.
        let mut backoff = Backoff::default();
        while !stop.is_cancelled() {
            match self.listen_once(&pool, &stop).await {
                Ok(()) => return,
                Err(e) => tracing::warn!(error = %e, "notification listener failed; reconnecting"),
            }
            if !backoff.wait(&stop).await {
                return;
            }
        }
    }

    async fn listen_once(
        &self,
        pool: &PgPool,
        stop: &CancellationToken,
    ) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener
            .listen_all([INBOX_CHANNEL, DISPATCH_CHANNEL])
            .await?;
        // Anything committed while not listening is picked up now.
        self.inbox.wake_all();
        self.dispatch.notify_one();
        loop {
            let note = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                note = listener.recv() => note?,
            };
            if note.channel() == INBOX_CHANNEL {
                match note.payload() {
                    // From a replica older than tenant payloads.
                    "" => self.inbox.wake_all(),
                    tenant => self.inbox_changed(tenant),
                }
            } else {
                self.dispatch.notify_one();
            }
        }
    }
}
