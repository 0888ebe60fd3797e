//! Server streams that cannot hurt the server.
//!
//! Every server-streaming RPC opens its stream through [`Streams::open`]:
//! - a **budget** caps the streams open at once per caller, per tenant and
//!   per process; the slot is an RAII permit the returned stream holds, so a
//!   stream dropped for any reason frees it. The counts live in this
//!   process's memory: with N replicas a caller may hold N times the cap.
//! - the producer feeds a buffer **bounded** in items and bytes without ever
//!   waiting on a slow reader for longer than the settings allow:
//!   [`Feed::offer`] (for pushed
//!   events) cuts the stream off the moment the buffer is full, and
//!   [`Feed::send`] (for streams read from a cursor at the reader's pace)
//!   cuts it off when the reader has taken nothing for `stall_timeout`.
//!   The cut-off never awaits the reader: the producer records the final
//!   status and drops its sender (and with its task, whatever it read from,
//!   e.g. a NATS subscription); the reader's side yields that status the next
//!   time it is polled, before anything still buffered.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::{Caller, TenantId, config::StreamSettings, fanout::Missed};

/// The caps and buffer sizes of server streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Streams one caller (tenant and user) may hold open at once.
    pub max_per_caller: usize,
    /// Streams one tenant's callers may hold open at once.
    pub max_per_tenant: usize,
    /// Streams this process holds open at once.
    pub max_per_process: usize,
    /// Items a stream buffers for its reader before it is cut off.
    pub buffer: usize,
    /// Encoded bytes a stream buffers for its reader before it is cut off.
    pub buffer_bytes: usize,
    /// How long a paced producer waits for its reader to take anything.
    pub stall_timeout: Duration,
    /// Events a tenant's shared live source keeps for its slowest watcher.
    pub fanout_buffer: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self::from(&StreamSettings::default())
    }
}

impl From<&StreamSettings> for StreamLimits {
    fn from(s: &StreamSettings) -> Self {
        Self {
            max_per_caller: s.max_per_caller,
            max_per_tenant: s.max_per_tenant,
            max_per_process: s.max_per_process,
            buffer: s.buffer,
            buffer_bytes: s.buffer_bytes,
            stall_timeout: Duration::from_secs(s.stall_timeout_seconds),
            fanout_buffer: s.fanout_buffer,
        }
    }
}

/// Which cap refused a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The caller holds `max_per_caller` streams.
    Caller(usize),
    /// The tenant holds `max_per_tenant` streams.
    Tenant(usize),
    /// The process holds `max_per_process` streams.
    Process(usize),
}

impl Refusal {
    /// The metric label of the cap.
    pub fn limit(self) -> &'static str {
        match self {
            Refusal::Caller(_) => "caller",
            Refusal::Tenant(_) => "tenant",
            Refusal::Process(_) => "process",
        }
    }

    /// The RESOURCE_EXHAUSTED answer, naming the cap and its setting.
    pub fn to_status(self) -> Status {
        let message = match self {
            Refusal::Caller(n) => format!(
                "you already have {n} live streams open on this server (limit `streams.max_per_caller`); close one before opening another"
            ),
            Refusal::Tenant(n) => format!(
                "your organisation already has {n} live streams open on this server (limit `streams.max_per_tenant`); close one before opening another"
            ),
            Refusal::Process(n) => format!(
                "this server already serves {n} live streams (limit `streams.max_per_process`); retry later"
            ),
        };
        Status::resource_exhausted(message)
    }
}

/// Open streams per caller, per tenant and in all: the budget's bookkeeping,
/// without I/O or clocks.
#[derive(Debug, Default)]
pub struct Counts {
    total: usize,
    tenants: HashMap<String, usize>,
    callers: HashMap<(String, String), usize>,
}

impl Counts {
    /// Takes a slot for `principal` of `tenant`, or says which cap is full.
    pub fn admit(
        &mut self,
        limits: &StreamLimits,
        tenant: &str,
        principal: &str,
    ) -> Result<(), Refusal> {
        let caller_key = (tenant.to_owned(), principal.to_owned());
        if self.callers.get(&caller_key).copied().unwrap_or(0) >= limits.max_per_caller {
            return Err(Refusal::Caller(limits.max_per_caller));
        }
        if self.tenants.get(tenant).copied().unwrap_or(0) >= limits.max_per_tenant {
            return Err(Refusal::Tenant(limits.max_per_tenant));
        }
        if self.total >= limits.max_per_process {
            return Err(Refusal::Process(limits.max_per_process));
        }
        *self.callers.entry(caller_key).or_default() += 1;
        *self.tenants.entry(tenant.to_owned()).or_default() += 1;
        self.total += 1;
        Ok(())
    }

    /// Frees a slot [`admit`](Self::admit) took.
    pub fn release(&mut self, tenant: &str, principal: &str) {
        let caller_key = (tenant.to_owned(), principal.to_owned());
        if let Some(n) = self.callers.get_mut(&caller_key) {
            *n -= 1;
            // Gone callers leave no entry behind, so the map stays as big
            // as the streams open.
            if *n == 0 {
                self.callers.remove(&caller_key);
            }
        }
        if let Some(n) = self.tenants.get_mut(tenant) {
            *n -= 1;
            if *n == 0 {
                self.tenants.remove(tenant);
            }
        }
        self.total = self.total.saturating_sub(1);
    }

    /// Streams open in all.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// The stream budget of one process, shared by every service it runs.
#[derive(Debug, Clone)]
pub struct Streams {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limits: StreamLimits,
    counts: Mutex<Counts>,
    producing: AtomicUsize,
    shutdown: CancellationToken,
}

impl Default for Streams {
    fn default() -> Self {
        Self::new(StreamLimits::default(), CancellationToken::new())
    }
}

impl Streams {
    /// A budget with `limits`; producers stop when `shutdown` is cancelled.
    pub fn new(limits: StreamLimits, shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits,
                counts: Mutex::new(Counts::default()),
                producing: AtomicUsize::new(0),
                shutdown,
            }),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> StreamLimits {
        self.inner.limits
    }

    /// Opens a stream of `method` for `caller`, or RESOURCE_EXHAUSTED naming
    /// the cap that is full. `resume` tells a reader that was cut off how to
    /// carry on, e.g. "list tickets again, then watch again".
    pub fn open<T>(
        &self,
        caller: &Caller,
        method: &'static str,
        resume: &'static str,
    ) -> Result<(Feed<T>, Outbound<T>), Status> {
        self.open_as(&caller.tenant, &caller.user, method, resume)
    }

    /// Like [`open`](Self::open) for a principal other than the token's
    /// user (e.g. one chat visitor of a website integration).
    pub fn open_as<T>(
        &self,
        tenant: &TenantId,
        principal: &str,
        method: &'static str,
        resume: &'static str,
    ) -> Result<(Feed<T>, Outbound<T>), Status> {
        let admitted = self
            .inner
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(&self.inner.limits, tenant.as_str(), principal);
        if let Err(refusal) = admitted {
            metrics::counter!("grpc_server_streams_refused_total", "method" => method, "limit" => refusal.limit())
                .increment(1);
            return Err(refusal.to_status());
        }
        metrics::gauge!("grpc_server_streams_open", "method" => method).increment(1.0);
        let permit = Permit {
            inner: self.inner.clone(),
            tenant: tenant.as_str().to_owned(),
            principal: principal.to_owned(),
            method,
        };
        let (tx, rx) = mpsc::channel(self.inner.limits.buffer);
        let shared = Arc::new(Shared::default());
        self.inner.producing.fetch_add(1, Ordering::Relaxed);
        let feed = Feed {
            tx: Some(tx),
            shared: shared.clone(),
            inner: self.inner.clone(),
            method,
            resume,
        };
        let outbound = Outbound {
            rx: Some(rx),
            shared,
            _permit: permit,
        };
        Ok((feed, outbound))
    }

    /// Streams open now (their readers hold a slot until they drop).
    pub fn open_count(&self) -> usize {
        self.inner
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .total()
    }

    /// Producers still running now; a stream cut off has none.
    pub fn producing(&self) -> usize {
        self.inner.producing.load(Ordering::Relaxed)
    }
}

/// A stream's slot in the budget, freed when the stream is dropped.
#[derive(Debug)]
struct Permit {
    inner: Arc<Inner>,
    tenant: String,
    principal: String,
    method: &'static str,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.inner
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .release(&self.tenant, &self.principal);
        metrics::gauge!("grpc_server_streams_open", "method" => self.method).decrement(1.0);
    }
}

/// The stream is over for the producer: its reader went away, it was cut
/// off, or the server is shutting down. Return and drop what it reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stream has ended")]
pub struct Ended;

/// What the two ends of a stream share besides the channel.
#[derive(Debug, Default)]
struct Shared {
    /// The status the stream ends with, set at most once by the producer.
    end: OnceLock<Status>,
    /// Encoded bytes of the items buffered now.
    queued: AtomicUsize,
    /// Raised whenever the reader takes an item.
    taken: tokio::sync::Notify,
}

/// The producer's end of a stream.
#[derive(Debug)]
pub struct Feed<T> {
    tx: Option<mpsc::Sender<(T, usize)>>,
    shared: Arc<Shared>,
    inner: Arc<Inner>,
    method: &'static str,
    resume: &'static str,
}

impl<T: prost::Message> Feed<T> {
    /// Whether `len` more bytes fit; one item always fits an empty buffer,
    /// so a single large item is not a cut-off.
    fn fits(&self, len: usize) -> bool {
        let queued = self.shared.queued.load(Ordering::Acquire);
        queued == 0 || queued + len <= self.inner.limits.buffer_bytes
    }

    /// Queues `item` without waiting; a full buffer (in items or bytes)
    /// cuts the stream off with RESOURCE_EXHAUSTED telling the reader how to
    /// resume.
    pub fn offer(&mut self, item: T) -> Result<(), Ended> {
        let len = item.encoded_len();
        let tx = self.tx.as_ref().ok_or(Ended)?;
        let sent = if self.fits(len) {
            tx.try_send((item, len))
        } else {
            Err(mpsc::error::TrySendError::Full((item, len)))
        };
        match sent {
            Ok(()) => {
                self.shared.queued.fetch_add(len, Ordering::AcqRel);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.tx = None;
                Err(Ended)
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                let message = format!(
                    "this stream fell more than {} updates or {} KiB behind and was closed; {}",
                    self.inner.limits.buffer,
                    self.inner.limits.buffer_bytes / 1024,
                    self.resume
                );
                self.cut_off("lagged", Status::resource_exhausted(message));
                Err(Ended)
            }
        }
    }

    /// Queues `item`, waiting while the buffer is full for at most
    /// `stall_timeout`: for producers that read at the reader's pace, so
    /// waiting costs nothing but the slot; a reader that takes nothing for
    /// that long is cut off. Shutdown ends the wait at once.
    pub async fn send(&mut self, item: T) -> Result<(), Ended> {
        enum Outcome {
            Queued,
            Closed,
            Stalled,
            ShuttingDown,
        }
        let len = item.encoded_len();
        let stall = self.inner.limits.stall_timeout;
        let deadline = tokio::time::Instant::now() + stall;
        let shutdown = self.inner.shutdown.clone();
        let room = async {
            loop {
                let taken = self.shared.taken.notified();
                let mut taken = std::pin::pin!(taken);
                taken.as_mut().enable();
                if self.fits(len) {
                    break;
                }
                taken.await;
            }
            let tx = self.tx.as_ref()?;
            tx.reserve().await.ok()
        };
        let outcome = tokio::select! {
            biased;
            () = shutdown.cancelled() => Outcome::ShuttingDown,
            room = tokio::time::timeout_at(deadline, room) => match room {
                Ok(Some(slot)) => {
                    self.shared.queued.fetch_add(len, Ordering::AcqRel);
                    slot.send((item, len));
                    Outcome::Queued
                }
                Ok(None) => Outcome::Closed,
                Err(_) => Outcome::Stalled,
            },
        };
        match outcome {
            Outcome::Queued => Ok(()),
            Outcome::Closed => {
                self.tx = None;
                Err(Ended)
            }
            Outcome::Stalled => {
                let message = format!(
                    "this stream was not read for {stall:?} and was closed; {}",
                    self.resume
                );
                self.cut_off("stalled", Status::resource_exhausted(message));
                Err(Ended)
            }
            Outcome::ShuttingDown => {
                self.shutting_down();
                Err(Ended)
            }
        }
    }

    /// Ends the stream because its shared live source cannot give it
    /// everything: falling behind is a cut-off like a full buffer
    /// (RESOURCE_EXHAUSTED), a stopped source is UNAVAILABLE; both tell the
    /// reader how to resume.
    pub fn missed(&mut self, why: Missed) {
        match why {
            Missed::Lagged(n) => {
                let message = format!(
                    "this stream fell {n} updates behind the live feed and was closed; {}",
                    self.resume
                );
                self.cut_off("lagged", Status::resource_exhausted(message));
            }
            Missed::Stopped => self.fail(Status::unavailable(format!(
                "the live feed stopped; {}",
                self.resume
            ))),
        }
    }

    /// Ends the stream with `status`, which the reader sees next, before
    /// anything still buffered; never waits.
    pub fn fail(&mut self, status: Status) {
        let _ = self.shared.end.set(status);
        self.tx = None;
    }

    /// Resolves when the producer should stop: the reader went away, or the
    /// server is shutting down (then the stream ends with UNAVAILABLE).
    pub async fn stopped(&mut self) {
        let Some(tx) = self.tx.as_ref() else {
            return;
        };
        let shutdown = self.inner.shutdown.clone();
        let shutting_down = tokio::select! {
            () = tx.closed() => false,
            () = shutdown.cancelled() => true,
        };
        if shutting_down {
            self.shutting_down();
        } else {
            self.tx = None;
        }
    }

    /// Ends the stream with UNAVAILABLE: the server is going away.
    fn shutting_down(&mut self) {
        self.fail(Status::unavailable(format!(
            "the server is shutting down; {}",
            self.resume
        )));
    }

    /// Whether the stream is over for the producer.
    pub fn is_ended(&self) -> bool {
        self.tx.as_ref().is_none_or(|tx| tx.is_closed())
    }

    /// Offers every item of `source` until it ends, the reader goes away,
    /// the buffer overflows or the server shuts down; then drops `source`.
    pub async fn forward<S>(mut self, source: S)
    where
        S: Stream<Item = T>,
    {
        let mut source = std::pin::pin!(source);
        loop {
            let item = tokio::select! {
                biased;
                () = self.stopped() => return,
                item = source.next() => match item {
                    Some(item) => item,
                    None => return,
                },
            };
            if self.offer(item).is_err() {
                return;
            }
        }
    }

    fn cut_off(&mut self, reason: &'static str, status: Status) {
        metrics::counter!("grpc_server_streams_cut_off_total", "method" => self.method, "reason" => reason)
            .increment(1);
        tracing::info!(method = self.method, reason, "slow stream reader cut off");
        self.fail(status);
    }
}

impl<T> Drop for Feed<T> {
    fn drop(&mut self) {
        self.inner.producing.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The reader's end of a stream: what the handler returns to tonic. It
/// holds the stream's slot in the budget.
#[derive(Debug)]
pub struct Outbound<T> {
    rx: Option<mpsc::Receiver<(T, usize)>>,
    shared: Arc<Shared>,
    _permit: Permit,
}

impl<T> Stream for Outbound<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(rx) = this.rx.as_mut() else {
            return Poll::Ready(None);
        };
        // A final status goes first: what is still buffered is superseded
        // by "resume from here", and dropping it frees its memory now.
        if let Some(status) = this.shared.end.get() {
            let status = status.clone();
            this.rx = None;
            return Poll::Ready(Some(Err(status)));
        }
        match rx.poll_recv(cx) {
            Poll::Ready(Some((item, len))) => {
                this.shared.queued.fetch_sub(len, Ordering::AcqRel);
                this.shared.taken.notify_waiters();
                Poll::Ready(Some(Ok(item)))
            }
            Poll::Ready(None) => {
                this.rx = None;
                Poll::Ready(this.shared.end.get().cloned().map(Err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_caller: usize, per_tenant: usize, per_process: usize) -> StreamLimits {
        StreamLimits {
            max_per_caller: per_caller,
            max_per_tenant: per_tenant,
            max_per_process: per_process,
            buffer: 2,
            buffer_bytes: 1024,
            stall_timeout: Duration::from_secs(5),
            fanout_buffer: 16,
        }
    }

    #[test]
    fn each_cap_refuses_the_stream_past_it_and_says_which() {
        let l = limits(2, 3, 4);
        let mut c = Counts::default();
        c.admit(&l, "acme", "ann").unwrap();
        c.admit(&l, "acme", "ann").unwrap();
        assert_eq!(c.admit(&l, "acme", "ann"), Err(Refusal::Caller(2)));
        c.admit(&l, "acme", "bob").unwrap();
        assert_eq!(c.admit(&l, "acme", "cat"), Err(Refusal::Tenant(3)));
        c.admit(&l, "globex", "ann").unwrap();
        assert_eq!(c.admit(&l, "initech", "dan"), Err(Refusal::Process(4)));
        assert_eq!(c.total(), 4);

        let status = Refusal::Caller(2).to_status();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("max_per_caller"), "{status:?}");
        assert!(
            Refusal::Tenant(3)
                .to_status()
                .message()
                .contains("max_per_tenant")
        );
    }

    #[test]
    fn a_released_slot_is_reusable_and_leaves_no_entry() {
        let l = limits(1, 10, 10);
        let mut c = Counts::default();
        c.admit(&l, "acme", "ann").unwrap();
        assert!(c.admit(&l, "acme", "ann").is_err());
        c.release("acme", "ann");
        c.admit(&l, "acme", "ann").unwrap();
        c.release("acme", "ann");
        assert_eq!(c.total(), 0);
        assert!(c.callers.is_empty() && c.tenants.is_empty());
    }

    fn caller(user: &str) -> Caller {
        Caller {
            tenant: TenantId::parse("acme").unwrap(),
            user: user.into(),
            role: crate::Role::Agent,
            via: crate::auth::Via::Person,
        }
    }

    fn next<T>(out: &mut Outbound<T>) -> Poll<Option<Result<T, Status>>> {
        let waker = futures::task::noop_waker();
        Pin::new(out).poll_next(&mut Context::from_waker(&waker))
    }

    #[test]
    fn dropping_a_stream_frees_its_slot() {
        let streams = Streams::new(limits(1, 10, 10), CancellationToken::new());
        let (feed, out) = streams
            .open::<u32>(&caller("ann"), "Watch", "again")
            .unwrap();
        let refused = streams.open::<u32>(&caller("ann"), "Watch", "again");
        assert_eq!(refused.unwrap_err().code(), tonic::Code::ResourceExhausted);
        assert_eq!((streams.open_count(), streams.producing()), (1, 1));
        drop(feed);
        assert_eq!(streams.producing(), 0);
        drop(out);
        assert_eq!(streams.open_count(), 0);
        streams
            .open::<u32>(&caller("ann"), "Watch", "again")
            .unwrap();
    }

    #[test]
    fn a_full_buffer_cuts_off_at_once_and_the_reader_sees_why_first() {
        let streams = Streams::new(limits(1, 10, 10), CancellationToken::new());
        let (mut feed, mut out) = streams
            .open::<u32>(&caller("ann"), "Watch", "list again")
            .unwrap();
        feed.offer(1).unwrap();
        feed.offer(2).unwrap();
        assert_eq!(feed.offer(3), Err(Ended));
        assert!(feed.is_ended());
        assert_eq!(feed.offer(4), Err(Ended), "stays ended");
        drop(feed);
        match next(&mut out) {
            Poll::Ready(Some(Err(status))) => {
                assert_eq!(status.code(), tonic::Code::ResourceExhausted);
                assert!(
                    status.message().contains("more than 2 updates"),
                    "{status:?}"
                );
                assert!(status.message().contains("list again"), "{status:?}");
            }
            other => panic!("expected the cut-off status, got {other:?}"),
        }
        assert!(matches!(next(&mut out), Poll::Ready(None)));
    }

    #[test]
    fn a_buffer_full_in_bytes_cuts_off_too_but_one_big_item_passes() {
        let streams = Streams::new(limits(1, 10, 10), CancellationToken::new());
        let (mut feed, mut out) = streams
            .open::<String>(&caller("ann"), "Watch", "again")
            .unwrap();
        feed.offer("x".repeat(4000)).unwrap();
        assert!(matches!(next(&mut out), Poll::Ready(Some(Ok(_)))));
        feed.offer("x".repeat(600)).unwrap();
        assert_eq!(feed.offer("x".repeat(600)), Err(Ended));
        let status = match next(&mut out) {
            Poll::Ready(Some(Err(status))) => status,
            other => panic!("expected the cut-off status, got {other:?}"),
        };
        assert!(status.message().contains("1 KiB"), "{status:?}");
    }

    #[test]
    fn items_flow_and_a_clean_end_is_the_end_of_the_stream() {
        let streams = Streams::new(limits(1, 10, 10), CancellationToken::new());
        let (mut feed, mut out) = streams
            .open::<u32>(&caller("ann"), "Watch", "again")
            .unwrap();
        feed.offer(1).unwrap();
        assert!(matches!(next(&mut out), Poll::Ready(Some(Ok(1)))));
        assert!(matches!(next(&mut out), Poll::Pending));
        drop(feed);
        assert!(matches!(next(&mut out), Poll::Ready(None)));
    }

    #[test]
    fn a_gone_reader_ends_the_producer() {
        let streams = Streams::new(limits(1, 10, 10), CancellationToken::new());
        let (mut feed, out) = streams
            .open::<u32>(&caller("ann"), "Watch", "again")
            .unwrap();
        drop(out);
        assert!(feed.is_ended());
        assert_eq!(feed.offer(1), Err(Ended));
        assert_eq!(streams.open_count(), 0);
    }

    #[tokio::test]
    async fn a_paced_producer_waits_for_its_reader_then_gives_up() {
        let stall = StreamLimits {
            stall_timeout: Duration::from_millis(50),
            ..limits(1, 10, 10)
        };
        let streams = Streams::new(stall, CancellationToken::new());
        let (mut feed, mut out) = streams
            .open::<u32>(&caller("ann"), "Export", "start over")
            .unwrap();
        feed.send(1).await.unwrap();
        feed.send(2).await.unwrap();
        assert_eq!(feed.send(3).await, Err(Ended));
        match out.next().await {
            Some(Err(status)) => {
                assert_eq!(status.code(), tonic::Code::ResourceExhausted);
                assert!(status.message().contains("was not read for"), "{status:?}");
            }
            other => panic!("expected the stall status, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_paced_producer_goes_on_once_its_reader_takes_enough_bytes() {
        let streams = Streams::new(limits(1, 10, 10), CancellationToken::new());
        let (mut feed, mut out) = streams
            .open::<String>(&caller("ann"), "Export", "again")
            .unwrap();
        feed.send("x".repeat(800)).await.unwrap();
        // 1,600 bytes do not fit the 1 KiB buffer: the second waits.
        let producer = tokio::spawn(async move {
            let sent = feed.send("y".repeat(800)).await;
            (sent, feed)
        });
        assert_eq!(out.next().await.unwrap().unwrap().len(), 800);
        let (sent, feed) = producer.await.unwrap();
        assert_eq!(sent, Ok(()));
        drop(feed);
        assert!(out.next().await.unwrap().unwrap().starts_with('y'));
        assert!(out.next().await.is_none());
    }

    #[tokio::test]
    async fn shutdown_ends_a_paced_producer_waiting_on_a_full_buffer() {
        let shutdown = CancellationToken::new();
        let streams = Streams::new(limits(1, 10, 10), shutdown.clone());
        let (mut feed, mut out) = streams
            .open::<u32>(&caller("ann"), "Watch", "again")
            .unwrap();
        feed.send(1).await.unwrap();
        feed.send(2).await.unwrap();
        // The buffer is full and the reader takes nothing: the producer
        // waits (up to the stall timeout, 5 s here) until shutdown.
        let producer = tokio::spawn(async move { feed.send(3).await });
        tokio::task::yield_now().await;
        shutdown.cancel();
        assert_eq!(producer.await.unwrap(), Err(Ended));
        let status = out.next().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(status.message().contains("shutting down"), "{status:?}");
    }

    #[tokio::test]
    async fn shutdown_stops_producers_with_unavailable() {
        let shutdown = CancellationToken::new();
        let streams = Streams::new(limits(1, 10, 10), shutdown.clone());
        let (feed, mut out) = streams
            .open::<u32>(&caller("ann"), "Watch", "again")
            .unwrap();
        let producer = tokio::spawn(feed.forward(futures::stream::pending::<u32>()));
        shutdown.cancel();
        producer.await.unwrap();
        assert_eq!(streams.producing(), 0);
        let status = out.next().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
    }
}
