//! Deliveries the consumer queues already claimed, for the dispatcher of
//! its own replica. A delivery due at once then skips the claim (a second
//! version of its row with new index entries, and a round trip and a
//! commit per batch) and the read-back of its payload. The claim is an
//! ordinary lease, so should this replica stop before sending, another
//! dispatcher takes the delivery when the lease runs out (or at once, when
//! the stopping dispatcher releases it).

use std::{sync::Arc, time::Duration};

use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, mpsc},
    time::Instant,
};

use crate::store::{Claimed, PgStore};

/// A claimed delivery waiting for a send slot.
pub(crate) struct Leased {
    pub(crate) claimed: Claimed,
    /// When its lease runs out, by this process's clock: taken before the
    /// claim was written, so never later than the stored one.
    pub(crate) expires: Instant,
    /// Its place in a handoff's room, freed once it leaves the queue.
    pub(crate) room: Option<OwnedSemaphorePermit>,
}

/// The consumer's end: room for claimed deliveries, and the queue to the
/// dispatcher.
#[derive(Debug, Clone)]
pub struct Handoff {
    queue: mpsc::UnboundedSender<Leased>,
    room: Arc<Semaphore>,
    lease: Duration,
    store: PgStore,
}

/// The dispatcher's end of a [`Handoff`].
pub struct HandoffQueue(pub(crate) mpsc::UnboundedReceiver<Leased>);

impl HandoffQueue {
    /// The next handed-over delivery; never, without a handoff.
    pub(crate) async fn next(queue: &mut Option<Self>) -> Option<Leased> {
        match queue {
            Some(Self(queue)) => queue.recv().await,
            None => std::future::pending().await,
        }
    }
}

impl std::fmt::Debug for HandoffQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandoffQueue")
            .field("len", &self.0.len())
            .finish()
    }
}

/// Room a consumer transaction reserved for the deliveries it claims;
/// dropped (the transaction failed), it frees the room.
pub struct Reserved {
    room: OwnedSemaphorePermit,
    /// The lease to write.
    pub lease: Duration,
    expires: Instant,
}

/// Deliveries a consumer transaction queued claimed: handed over once it
/// has committed, never before (dropped, they free their room).
#[derive(Default)]
pub struct Handed(pub(crate) Vec<Leased>);

impl Handed {
    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Handoff {
    /// A handoff that holds up to `room` deliveries claimed for `lease`
    /// (the dispatcher's), and the dispatcher's end of it.
    pub fn new(store: PgStore, lease: Duration, room: usize) -> (Self, HandoffQueue) {
        let (queue, queued) = mpsc::unbounded_channel();
        let handoff = Self {
            queue,
            room: Arc::new(Semaphore::new(room)),
            lease,
            store,
        };
        (handoff, HandoffQueue(queued))
    }

    /// Room for up to `wanted` deliveries: as much as is free, none when
    /// the dispatcher is that far behind (or stopped).
    pub fn reserve(&self, wanted: usize) -> Option<Reserved> {
        if self.queue.is_closed() {
            return None;
        }
        let n = wanted.min(self.room.available_permits());
        let room = self.room.clone().try_acquire_many_owned(n as u32).ok()?;
        (n > 0).then(|| Reserved {
            room,
            lease: self.lease,
            // Before the claims are written: see `Leased::expires`.
            expires: Instant::now() + self.lease,
        })
    }

    /// Queues `handed` for the dispatcher once its transaction committed;
    /// should the dispatcher have stopped, releases them to another one.
    pub async fn hand(&self, handed: Handed) {
        let mut orphans = Vec::new();
        for leased in handed.0 {
            if let Err(mpsc::error::SendError(leased)) = self.queue.send(leased) {
                orphans.push((leased.claimed.id, leased.claimed.leased_until));
            }
        }
        if let Err(e) = self.store.release(&orphans).await {
            tracing::warn!(error = %e, deliveries = orphans.len(), "releasing claimed deliveries failed; their leases will run out");
        }
    }
}

impl Reserved {
    /// Deliveries it has room for.
    pub fn len(&self) -> usize {
        self.room.num_permits()
    }

    /// No room left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes one place for `claimed` (queued under this reservation's
    /// lease); `None` when none is left.
    pub(crate) fn take(&mut self, claimed: Claimed) -> Option<Leased> {
        let room = self.room.split(1)?;
        Some(Leased {
            claimed,
            expires: self.expires,
            room: Some(room),
        })
    }
}
