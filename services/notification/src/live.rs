//! Wake-ups from PostgreSQL `NOTIFY`: in-app subscribers learn of new rows,
//! and the dispatcher of due deliveries, the moment any replica commits.

use std::sync::Arc;

use sqlx::{PgPool, postgres::PgListener};
use switchboard_runtime::backoff::Backoff;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::store::{DISPATCH_CHANNEL, INBOX_CHANNEL};

/// The wake-up signals of one replica.
#[derive(Debug, Clone)]
pub struct Signals {
    inbox: Arc<watch::Sender<u64>>,
    /// Raised when deliveries may be due.
    pub dispatch: Arc<Notify>,
}

impl Default for Signals {
    fn default() -> Self {
        Self {
            inbox: Arc::new(watch::channel(0).0),
            dispatch: Arc::new(Notify::new()),
        }
    }
}

impl Signals {
    /// A receiver that changes whenever in-app notifications commit; unlike
    /// a bare notify, a change made while the holder was busy is not lost.
    pub fn inbox(&self) -> watch::Receiver<u64> {
        self.inbox.subscribe()
    }

    /// Marks the inbox changed (also used after local commits).
    pub fn inbox_changed(&self) {
        self.inbox.send_modify(|n| *n = n.wrapping_add(1));
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
        self.inbox_changed();
        self.dispatch.notify_one();
        loop {
            let note = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                note = listener.recv() => note?,
            };
            if note.channel() == INBOX_CHANNEL {
                self.inbox_changed();
            } else {
                self.dispatch.notify_one();
            }
        }
    }
}
