//! One source per tenant behind many live streams.
//!
//! A live stream watches something of one tenant: its ticket events, its
//! inbox, a queue, its dashboard. Rather than each watcher subscribing to
//! NATS or polling the database, watchers [`join`](Hub::join) a [`Hub`]: the
//! first watcher of a key (a tenant, or one of its groups) starts one
//! source, later ones share it, and the last to leave stops it. A source
//! hands out either
//! - **events**, through a bounded broadcast ([`events`],
//!   [`Hub::listen`]): a watcher that falls a whole buffer behind learns it
//!   ([`Missed::Lagged`]) and its stream is cut off, as a full stream buffer
//!   is; or
//! - the **latest state**, through a `tokio::sync::watch` channel: each
//!   watcher takes the newest value at its own pace, so none lags.
//!
//! Each watcher still filters what it may see and feeds its own stream
//! ([`crate::Feed`]); the source does the I/O once per key, and throttles it
//! once per key.
//!
//! Metrics, labelled with the hub's `kind`: `live_sources` (sources running
//! now) and `live_source_starts_total`.

use std::{
    any::Any,
    collections::HashMap,
    fmt,
    future::Future,
    hash::Hash,
    sync::{
        Arc, Mutex, MutexGuard, Weak,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use tokio::sync::{OnceCell, broadcast, watch};
use tokio_util::sync::CancellationToken;
use tonic::Status;

/// Shared sources by key: one per key while anyone watches it.
pub struct Hub<K: Eq + Hash, S> {
    inner: Arc<HubInner<K, S>>,
}

struct HubInner<K: Eq + Hash, S> {
    kind: &'static str,
    sources: Mutex<HashMap<K, Weak<Source<K, S>>>>,
    live: AtomicUsize,
    starts: AtomicU64,
}

impl<K: Eq + Hash, S> HubInner<K, S> {
    fn sources(&self) -> MutexGuard<'_, HashMap<K, Weak<Source<K, S>>>> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One key's source: its shared handle once started, and the tokens that
/// stop its task (the last tap left) or tell that it ended on its own.
struct Source<K: Eq + Hash, S> {
    hub: Arc<HubInner<K, S>>,
    key: K,
    shared: OnceCell<S>,
    stop: CancellationToken,
    ended: CancellationToken,
}

impl<K: Eq + Hash, S> Drop for Source<K, S> {
    fn drop(&mut self) {
        self.stop.cancel();
        // A new source may already stand under the key (this one had
        // ended); only this source's own entry goes.
        let mut sources = self.hub.sources();
        let own = sources
            .get(&self.key)
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), &*self));
        if own {
            sources.remove(&self.key);
        }
    }
}

/// A watcher's hold on a source: the source runs while any tap is held.
pub struct Tap {
    _source: Arc<dyn Any + Send + Sync>,
}

impl fmt::Debug for Tap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tap")
    }
}

impl<K: Eq + Hash, S> Clone for Hub<K, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K: Eq + Hash, S> fmt::Debug for Hub<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("kind", &self.inner.kind)
            .field("live", &self.live())
            .finish()
    }
}

impl<K: Eq + Hash, S> Hub<K, S> {
    /// A hub whose sources are counted under `kind` (e.g. `ticket_events`).
    pub fn new(kind: &'static str) -> Self {
        Self {
            inner: Arc::new(HubInner {
                kind,
                sources: Mutex::new(HashMap::new()),
                live: AtomicUsize::new(0),
                starts: AtomicU64::new(0),
            }),
        }
    }

    /// Sources running now.
    pub fn live(&self) -> usize {
        self.inner.live.load(Ordering::Relaxed)
    }

    /// Sources started since the hub was made.
    pub fn starts(&self) -> u64 {
        self.inner.starts.load(Ordering::Relaxed)
    }
}

impl<K, S> Hub<K, S>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    /// Joins `key`'s source, starting it with `start` if none runs: `start`
    /// does what must be done before anyone is served (subscribe, read a
    /// first snapshot) and returns the handle to share and the task to run
    /// until the last tap is dropped. Joiners that arrive while it starts
    /// wait for it; if it fails they get its error, and the next joiner
    /// tries again.
    pub async fn join<F, Fut, Run>(&self, key: K, start: F) -> Result<(Tap, S), Status>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(S, Run), Status>>,
        Run: Future<Output = ()> + Send + 'static,
    {
        let source = self.source(key);
        let shared = source
            .shared
            .get_or_try_init(|| async {
                let (shared, run) = start().await?;
                self.spawn(&source, run);
                Ok::<_, Status>(shared)
            })
            .await?
            .clone();
        Ok((Tap { _source: source }, shared))
    }

    /// The running source of `key`, or a new one (not started yet) in its
    /// place.
    fn source(&self, key: K) -> Arc<Source<K, S>> {
        let mut sources = self.inner.sources();
        let stale = match sources.get(&key).and_then(Weak::upgrade) {
            Some(live) if !live.ended.is_cancelled() => return live,
            other => other,
        };
        let source = Arc::new(Source {
            hub: self.inner.clone(),
            key: key.clone(),
            shared: OnceCell::new(),
            stop: CancellationToken::new(),
            ended: CancellationToken::new(),
        });
        sources.insert(key, Arc::downgrade(&source));
        // The ended source may be dropped here, and its drop takes the lock.
        drop(sources);
        drop(stale);
        source
    }

    fn spawn<Run>(&self, source: &Source<K, S>, run: Run)
    where
        Run: Future<Output = ()> + Send + 'static,
    {
        let kind = self.inner.kind;
        self.inner.live.fetch_add(1, Ordering::Relaxed);
        self.inner.starts.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("live_sources", "kind" => kind).increment(1.0);
        metrics::counter!("live_source_starts_total", "kind" => kind).increment(1);
        tracing::debug!(kind, "live source started");
        let stop = source.stop.clone();
        let ended = source.ended.clone();
        // The task holds the hub's counters, never the source: dropping the
        // last tap is what stops it.
        let hub = self.inner.clone();
        tokio::spawn(async move {
            tokio::select! {
                biased;
                () = stop.cancelled() => {}
                () = run => {}
            }
            ended.cancel();
            hub.live.fetch_sub(1, Ordering::Relaxed);
            metrics::gauge!("live_sources", "kind" => kind).decrement(1.0);
            tracing::debug!(kind, "live source stopped");
        });
    }
}

/// What a source of events shares: listeners subscribe through it, and
/// since the source's task holds the only sender, they learn when it stops.
pub struct Events<T>(broadcast::WeakSender<Arc<T>>);

impl<T> Clone for Events<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// A sender for a source's events and the [`Events`] to share; the slowest
/// listener may fall `capacity` events behind before it misses any.
pub fn events<T>(capacity: usize) -> (broadcast::Sender<Arc<T>>, Events<T>) {
    let (tx, _) = broadcast::channel(capacity.max(1));
    let shared = Events(tx.downgrade());
    (tx, shared)
}

/// Why a listener gets no more events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// It fell this many events behind and they are gone.
    Lagged(u64),
    /// The source stopped (e.g. its subscription closed).
    Stopped,
}

/// A watcher's feed of a source's events from the moment it joined.
pub struct Listener<T> {
    rx: broadcast::Receiver<Arc<T>>,
    _tap: Tap,
}

impl<T> fmt::Debug for Listener<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("queued", &self.rx.len())
            .finish()
    }
}

impl<T> Listener<T> {
    /// The next event, or why there will be none.
    pub async fn recv(&mut self) -> Result<Arc<T>, Missed> {
        match self.rx.recv().await {
            Ok(event) => Ok(event),
            Err(broadcast::error::RecvError::Lagged(n)) => Err(Missed::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => Err(Missed::Stopped),
        }
    }
}

impl<K, T> Hub<K, Events<T>>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    /// Joins `key`'s event source like [`join`](Self::join) and listens to
    /// every event it sends from now on.
    pub async fn listen<F, Fut, Run>(&self, key: K, start: F) -> Result<Listener<T>, Status>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Events<T>, Run), Status>>,
        Run: Future<Output = ()> + Send + 'static,
    {
        let (tap, events) = self.join(key, start).await?;
        let rx = events
            .0
            .upgrade()
            .map(|tx| tx.subscribe())
            .ok_or_else(|| Status::unavailable("the live feed stopped; watch again"))?;
        Ok(Listener { rx, _tap: tap })
    }
}

/// Wake-ups by key (e.g. "tenant acme's inbox changed"): a source listens
/// for its own key, so one tenant's activity wakes no other tenant's.
#[derive(Debug, Default)]
pub struct Wakes {
    senders: Mutex<HashMap<String, watch::Sender<()>>>,
}

impl Wakes {
    fn senders(&self) -> MutexGuard<'_, HashMap<String, watch::Sender<()>>> {
        self.senders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A receiver that changes whenever `key` is woken after this call; a
    /// wake-up while its holder was busy is not lost.
    pub fn listen(&self, key: &str) -> watch::Receiver<()> {
        let mut senders = self.senders();
        // Keys nobody listens to any more go as new listeners come, so the
        // map stays as big as the keys watched.
        senders.retain(|_, tx| tx.receiver_count() > 0);
        senders
            .entry(key.to_owned())
            .or_insert_with(|| watch::channel(()).0)
            .subscribe()
    }

    /// Wakes the listeners of `key`.
    pub fn wake(&self, key: &str) {
        if let Some(tx) = self.senders().get(key) {
            tx.send_replace(());
        }
    }

    /// Wakes every listener (e.g. after a lost connection, when who changed
    /// is unknown).
    pub fn wake_all(&self) {
        for tx in self.senders().values() {
            tx.send_replace(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures::StreamExt;
    use tokio::sync::{mpsc, oneshot};

    use super::*;
    use crate::{Caller, Role, Streams, TenantId, streams::StreamLimits};

    type Counter = Arc<AtomicUsize>;

    /// A state source whose task lives until stopped, telling `stopped`
    /// when it is dropped.
    async fn state(
        hub: &Hub<String, watch::Receiver<u32>>,
        key: &str,
        started: &Counter,
        stopped: oneshot::Sender<()>,
    ) -> Result<(Tap, watch::Receiver<u32>), Status> {
        let started = started.clone();
        hub.join(key.to_owned(), || async move {
            started.fetch_add(1, Ordering::SeqCst);
            let (tx, rx) = watch::channel(7);
            let run = async move {
                let _tx = tx;
                let _stopped = stopped;
                std::future::pending::<()>().await;
            };
            Ok((rx, run))
        })
        .await
    }

    #[tokio::test]
    async fn two_hundred_taps_share_one_source_that_stops_with_the_last() {
        let hub = Hub::new("test");
        let started = Counter::default();
        let (stop_tx, stopped) = oneshot::channel();
        let mut taps = vec![state(&hub, "acme", &started, stop_tx).await.unwrap()];
        for _ in 1..200 {
            let (unused, _) = oneshot::channel();
            taps.push(state(&hub, "acme", &started, unused).await.unwrap());
        }
        assert_eq!(started.load(Ordering::SeqCst), 1);
        assert_eq!((hub.live(), hub.starts()), (1, 1));
        assert!(taps.iter().all(|(_, rx)| *rx.borrow() == 7));

        // Another tenant has a source of its own.
        let (other_tx, other_stopped) = oneshot::channel();
        let other = state(&hub, "globex", &started, other_tx).await.unwrap();
        assert_eq!((hub.live(), hub.starts()), (2, 2));

        let last = taps.pop().unwrap();
        drop(taps);
        assert_eq!(hub.live(), 2, "one tap still holds acme's source");
        drop(last);
        stopped.await.unwrap_err();
        // The task counts itself out in the same poll that dropped its work.
        assert_eq!(hub.live(), 1);
        drop(other);
        other_stopped.await.unwrap_err();
        assert_eq!(hub.live(), 0);
        assert!(hub.inner.sources().is_empty(), "no entry left behind");
    }

    #[tokio::test]
    async fn a_watcher_after_the_last_left_starts_a_fresh_source() {
        let hub = Hub::new("test");
        let started = Counter::default();
        let (tx, stopped) = oneshot::channel();
        let first = state(&hub, "acme", &started, tx).await.unwrap();
        drop(first);
        stopped.await.unwrap_err();
        let (tx, _stopped) = oneshot::channel();
        let _again = state(&hub, "acme", &started, tx).await.unwrap();
        assert_eq!(started.load(Ordering::SeqCst), 2);
        assert_eq!((hub.live(), hub.starts()), (1, 2));
    }

    #[tokio::test]
    async fn a_source_that_ended_on_its_own_is_replaced_for_new_watchers() {
        let hub: Hub<String, watch::Receiver<u32>> = Hub::new("test");
        let (done_tx, done) = oneshot::channel::<()>();
        let (held, mut rx) = hub
            .join("acme".to_owned(), || async move {
                let (tx, rx) = watch::channel(1);
                Ok((rx, async move {
                    let _tx = tx;
                    let _done = done_tx;
                }))
            })
            .await
            .unwrap();
        done.await.unwrap_err();
        assert!(rx.changed().await.is_err(), "its watchers see it closed");
        let started = Counter::default();
        let (tx, _stopped) = oneshot::channel();
        let (_tap, fresh) = state(&hub, "acme", &started, tx).await.unwrap();
        assert_eq!(*fresh.borrow(), 7);
        assert_eq!(started.load(Ordering::SeqCst), 1);
        assert_eq!(hub.starts(), 2);
        drop(held);
        assert_eq!(hub.inner.sources().len(), 1, "the fresh entry stays");
    }

    #[tokio::test]
    async fn a_failed_start_runs_nothing_and_the_next_watcher_tries_again() {
        let hub: Hub<String, watch::Receiver<u32>> = Hub::new("test");
        let refused = hub
            .join("acme".to_owned(), || async {
                Err::<(_, std::future::Ready<()>), _>(Status::unavailable("nats is down"))
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unavailable);
        assert_eq!((hub.live(), hub.starts()), (0, 0));
        assert!(hub.inner.sources().is_empty());
        let started = Counter::default();
        let (tx, _stopped) = oneshot::channel();
        state(&hub, "acme", &started, tx).await.unwrap();
        assert_eq!(hub.starts(), 1);
    }

    /// An event source fed by the test through `input`.
    async fn listen(
        hub: &Hub<String, Events<u32>>,
        input: &Mutex<Option<mpsc::UnboundedReceiver<u32>>>,
    ) -> Listener<u32> {
        let input = input.lock().unwrap().take();
        hub.listen("acme".to_owned(), || async move {
            let mut input = input.expect("started once");
            let (tx, events) = events(2);
            Ok((events, async move {
                while let Some(n) = input.recv().await {
                    let _ = tx.send(Arc::new(n));
                }
            }))
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn every_listener_gets_each_event_and_a_lagging_one_is_cut_off() {
        let hub = Hub::new("test");
        let (input_tx, input_rx) = mpsc::unbounded_channel();
        let input = Mutex::new(Some(input_rx));
        let mut keeping_up = listen(&hub, &input).await;
        let mut lagging = listen(&hub, &input).await;
        assert_eq!(hub.starts(), 1);

        for n in 1..=3 {
            input_tx.send(n).unwrap();
            assert_eq!(*keeping_up.recv().await.unwrap(), n);
        }
        // The buffer holds two: the lagging listener lost the first.
        assert_eq!(lagging.recv().await.unwrap_err(), Missed::Lagged(1));

        let streams = Streams::new(StreamLimits::default(), CancellationToken::new());
        let caller = Caller::person(TenantId::parse("acme").unwrap(), "ann", Role::Agent);
        let (mut feed, mut out) = streams.open::<u32>(&caller, "Watch", "list again").unwrap();
        feed.missed(Missed::Lagged(1));
        let status = out.next().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("list again"), "{status:?}");

        // The source ending (its input closed) ends every listener.
        drop(input_tx);
        assert_eq!(keeping_up.recv().await.unwrap_err(), Missed::Stopped);
    }

    #[tokio::test]
    async fn a_wake_reaches_its_key_only_and_wake_all_reaches_every_key() {
        let wakes = Wakes::default();
        let mut acme = wakes.listen("acme");
        let globex = wakes.listen("globex");
        wakes.wake("acme");
        assert!(acme.has_changed().unwrap());
        assert!(!globex.has_changed().unwrap());
        acme.borrow_and_update();
        wakes.wake_all();
        assert!(acme.has_changed().unwrap() && globex.has_changed().unwrap());
        drop(globex);
        let _initech = wakes.listen("initech");
        assert_eq!(wakes.senders().len(), 2, "globex, unwatched, is forgotten");
    }
}
