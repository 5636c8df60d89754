//! The bus handle: sending, subscribing and closing over the bus's [registry](crate::registry)
//! of topics, one per event type.
//!
//! A send first checks the registry's bucket filter, which answers "nobody listens" with one
//! load; then it asks the per-thread [send cache](crate::send_cache), which answers with one
//! load of the registry's generation; only on a miss does it load the type's registry shard.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;

use crate::bound::{Bound, BusBuilder};
use crate::error::SendError;
use crate::lag;
use crate::registry::{Shared, bucket};
use crate::segment::{self, Carrier, Owned};
use crate::send_cache;
use crate::stats::{Stats, TopicStats};
use crate::subscription::Subscription;
use crate::sync::Ordering;
use crate::sync::epoch::{self, Guard};
use crate::topic::{Rejected, Topic};
use crate::wait_list::WaitNode;

/// A handle to an event bus.
///
/// Cloning a `Bus` gives another handle to the same bus; it is cheap (one atomic increment).
/// The bus closes when [`close`](Bus::close) is called or when its last handle is dropped;
/// subscriptions do not keep it open.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// #[derive(Clone, Debug, PartialEq)]
/// struct UserLoggedIn {
///     user_id: u64,
/// }
///
/// let bus = tidings::Bus::new();
/// let mut logins = bus.subscribe::<UserLoggedIn>();
/// bus.send(UserLoggedIn { user_id: 7 }).unwrap();
/// assert_eq!(logins.recv().await, Some(UserLoggedIn { user_id: 7 }));
/// # });
/// ```
pub struct Bus {
    shared: std::sync::Arc<Shared>,
}

impl Bus {
    /// A new, open bus with no subscriptions; every event type unbounded and lossless. The same
    /// as `Bus::builder().build()`.
    pub fn new() -> Self {
        Self::with_bounds(HashMap::new())
    }

    /// A builder, to bound chosen event types (see [`Overflow`](crate::Overflow)).
    ///
    /// ```
    /// use tidings::{Bus, Overflow};
    ///
    /// let bus = Bus::builder().bound::<u64>(1024, Overflow::DropOldest).build();
    /// let _sub = bus.subscribe::<u64>();
    /// bus.send(1u64).unwrap();
    /// ```
    pub fn builder() -> BusBuilder {
        BusBuilder::default()
    }

    pub(crate) fn with_bounds(bounds: HashMap<TypeId, Bound>) -> Self {
        Bus {
            shared: std::sync::Arc::new(Shared::new(bounds)),
        }
    }

    /// Publishes `event` to every subscription of type `E` that exists when the send starts.
    ///
    /// Synchronous, never blocks and never waits for subscribers, however far behind they are.
    /// Events of one type are delivered to every subscription in one total order, which agrees
    /// with each sender's program order.
    ///
    /// # Errors
    ///
    /// Gives the event back, unstored, in [`SendError::NoSubscribers`] if no subscription of
    /// type `E` is alive, or [`SendError::Closed`] once the bus is closed. Ignoring the error
    /// (`let _ = bus.send(e)`) is the fire-and-forget use.
    ///
    /// # Examples
    ///
    /// ```
    /// use tidings::{Bus, SendError};
    ///
    /// let bus = Bus::new();
    /// assert_eq!(bus.send(1u32), Err(SendError::NoSubscribers(1)));
    /// let _sub = bus.subscribe::<u32>();
    /// assert_eq!(bus.send(2u32), Ok(()));
    /// bus.close();
    /// assert_eq!(bus.send(3u32), Err(SendError::Closed(3)));
    /// ```
    #[inline]
    pub fn send<E: Send + Sync + 'static>(&self, event: E) -> Result<(), SendError<E>> {
        if size_of::<E>() <= SMALL_EVENT {
            return self.shared.send_small(event);
        }
        // By reference, as a `Pending`, so that the event is moved once, into its slot; the
        // error is built inside, so that no frame holds the event twice (a debug build gives
        // every value its own stack slot: issue 12, tests/bus_large_events.rs).
        segment::pending(event, |event| match self.shared.send_pending(event) {
            Ok(()) => Ok(()),
            Err(back) => hand_back(back),
        })
    }

    /// Sends `event`, waiting while its type is bounded with
    /// [`Overflow::Backpressure`](crate::Overflow::Backpressure) and full.
    ///
    /// Resolves as soon as there is room: when the slowest subscription reads, when it is
    /// dropped, or (with [`SendError::Closed`]) when the bus closes. For unbounded and
    /// [`DropOldest`](crate::Overflow::DropOldest) types it resolves at once, like
    /// [`send`](Bus::send). Cancel-safe: dropped before it resolves, it has sent nothing (the
    /// event is dropped with it).
    ///
    /// # Errors
    ///
    /// As [`send`](Bus::send), except that it never returns [`SendError::Full`].
    ///
    /// ```
    /// use tidings::{Bus, Overflow};
    ///
    /// # futures::executor::block_on(async {
    /// let bus = Bus::builder().bound::<u32>(1, Overflow::Backpressure).build();
    /// let mut sub = bus.subscribe::<u32>();
    /// bus.send(1u32).unwrap();
    /// let reader = std::thread::spawn(move || {
    ///     let first = sub.recv_blocking();
    ///     (first, sub.recv_blocking())
    /// });
    /// bus.send_async(2u32).await.unwrap(); // waits until the reader took 1
    /// assert_eq!(reader.join().unwrap(), (Some(1), Some(2)));
    /// # });
    /// ```
    pub async fn send_async<E: Send + Sync + 'static>(&self, event: E) -> Result<(), SendError<E>> {
        let mut event = Some(event);
        let mut node: Option<crate::sync::Arc<WaitNode>> = None;
        std::future::poll_fn(|cx| {
            let e = event.take().expect("send_async polled after completion");
            match self.shared.send(e) {
                Err(SendError::Full(e)) => {
                    let n = node.get_or_insert_with(|| crate::sync::Arc::new(WaitNode::new()));
                    n.waker.register(cx.waker());
                    match self.shared.send_or_park(e, n) {
                        Err(SendError::Full(e)) => {
                            event = Some(e);
                            std::task::Poll::Pending
                        }
                        done => std::task::Poll::Ready(done),
                    }
                }
                done => std::task::Poll::Ready(done),
            }
        })
        .await
    }

    /// [`send_async`](Bus::send_async) for plain threads: blocks the thread while the type is
    /// bounded with [`Overflow::Backpressure`](crate::Overflow::Backpressure) and full.
    ///
    /// Do not call it from an async task: it blocks the executor's thread.
    ///
    /// # Errors
    ///
    /// As [`send`](Bus::send), except that it never returns [`SendError::Full`].
    ///
    /// ```
    /// use tidings::{Bus, Overflow};
    ///
    /// let bus = Bus::builder().bound::<u32>(1, Overflow::Backpressure).build();
    /// let mut sub = bus.subscribe::<u32>();
    /// bus.send(1u32).unwrap();
    /// let reader = std::thread::spawn(move || (sub.recv_blocking(), sub.recv_blocking()));
    /// bus.send_blocking(2u32).unwrap(); // waits until the reader took 1
    /// assert_eq!(reader.join().unwrap(), (Some(1), Some(2)));
    /// ```
    pub fn send_blocking<E: Send + Sync + 'static>(&self, event: E) -> Result<(), SendError<E>> {
        let mut event = match self.shared.send(event) {
            Err(SendError::Full(e)) => e,
            done => return done,
        };
        let node = crate::sync::Arc::new(WaitNode::new());
        let waker = std::task::Waker::from(std::sync::Arc::new(crate::subscription::ThreadWaker(
            crate::sync::thread::current(),
        )));
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            if backoff.is_completed() {
                node.waker.register(&waker);
                match self.shared.send_or_park(event, &node) {
                    Err(SendError::Full(e)) => event = e,
                    done => return done,
                }
                crate::sync::thread::park();
            } else {
                backoff.snooze();
                match self.shared.send(event) {
                    Err(SendError::Full(e)) => event = e,
                    done => return done,
                }
            }
        }
    }

    /// Publishes every event of `events`, in order, as one run: one claim of consecutive
    /// places in `E`'s order, so no other send lands between them, and every subscription
    /// receives the run whole and in order.
    ///
    /// All or nothing: returns `Ok(n)`, the number of events sent (0 for an empty batch), or
    /// gives every event back, unstored and in order, in the same [`SendError`] as
    /// [`send`](Bus::send) would (`NoSubscribers` or `Closed`). Against [`close`](Bus::close)
    /// the run is one send: it lands entirely before the close or not at all. On a type bounded
    /// with [`Overflow::Backpressure`](crate::Overflow::Backpressure) the whole run fits or
    /// none of it is sent ([`SendError::Full`] with every event; a run longer than the
    /// capacity never fits); with [`Overflow::DropOldest`](crate::Overflow::DropOldest) it is
    /// sent, and a lagging subscription loses the oldest events as for single sends.
    ///
    /// `events` is collected into a `Vec` first (a `Vec` passed in keeps its allocation), so
    /// that an iterator that panics does so before anything is claimed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tidings::{Bus, SendError};
    ///
    /// let bus = Bus::new();
    /// assert_eq!(bus.send_all([1u32, 2]), Err(SendError::NoSubscribers(vec![1, 2])));
    /// let mut sub = bus.subscribe::<u32>();
    /// assert_eq!(bus.send_all(1..=3u32), Ok(3));
    /// let mut buf = Vec::new();
    /// assert_eq!(sub.try_recv_many(&mut buf, 10), Ok(3));
    /// assert_eq!(buf, [1, 2, 3]);
    /// bus.close();
    /// let back = bus.send_all(vec![4u32, 5]).unwrap_err();
    /// assert!(back.is_closed());
    /// assert_eq!(back.into_inner(), [4, 5]);
    /// ```
    pub fn send_all<E, I>(&self, events: I) -> Result<usize, SendError<Vec<E>>>
    where
        E: Send + Sync + 'static,
        I: IntoIterator<Item = E>,
    {
        self.shared.send_all(events.into_iter().collect())
    }

    /// Subscribes to events of exactly type `E`.
    ///
    /// The subscription receives every event whose send starts after this call returns, and
    /// none whose send returned before it was called. Subscribing to a closed bus gives a
    /// subscription that ends at once.
    ///
    /// # Panics
    ///
    /// If `E` already has 2^30 - 2 live subscriptions on this bus (as tokio's broadcast caps
    /// its receivers; each takes memory, so no real program gets there).
    ///
    /// # Examples
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// bus.send("too early").unwrap_err();
    /// let mut sub = bus.subscribe::<&'static str>();
    /// bus.send("hello").unwrap();
    /// assert_eq!(sub.try_recv(), Ok("hello"));
    /// ```
    pub fn subscribe<E: Send + Sync + 'static>(&self) -> Subscription<E> {
        // Pinned before anything is counted and until the subscription is made (see
        // `Shared::subscribe`).
        let pin = epoch::pin();
        match self.shared.subscribe::<E>(&pin) {
            Some(topic) => Subscription::new(std::sync::Arc::clone(&self.shared), topic),
            None => Subscription::closed(),
        }
    }

    /// Closes the bus: later sends fail with [`SendError::Closed`], and every subscription
    /// yields what was sent before the close and then ends. Idempotent.
    ///
    /// # Examples
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u8>();
    /// bus.send(1u8).unwrap();
    /// bus.close();
    /// assert_eq!(sub.try_recv(), Ok(1));
    /// assert_eq!(sub.try_recv(), Err(tidings::TryRecvError::Closed));
    /// ```
    pub fn close(&self) {
        self.shared.close();
    }

    /// Whether the bus has been closed.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// assert!(!bus.is_closed());
    /// bus.clone().close();
    /// assert!(bus.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// A number that identifies this bus among every bus this process has created.
    ///
    /// Clones of a handle share it; no other bus in the process ever has it, even after this
    /// one is dropped. Bridges to other processes combine it with a per-process nonce to tag
    /// the events a bus sent, so they never come back to it.
    ///
    /// ```
    /// let a = tidings::Bus::new();
    /// let b = tidings::Bus::new();
    /// assert_eq!(a.id(), a.clone().id());
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Live subscriptions of type `E`, a snapshot.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let a = bus.subscribe::<u8>();
    /// let _b = bus.subscribe::<u8>();
    /// assert_eq!(bus.subscriber_count::<u8>(), 2);
    /// drop(a);
    /// assert_eq!(bus.subscriber_count::<u8>(), 1);
    /// assert_eq!(bus.subscriber_count::<u16>(), 0);
    /// ```
    pub fn subscriber_count<E: Send + Sync + 'static>(&self) -> usize {
        self.shared.registry.with_shard::<E, _>(&epoch::pin(), |s| {
            s.get::<E>().map_or(0, Topic::subscriber_count)
        })
    }

    /// A snapshot of per-type counters, for the types that currently have subscriptions.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let _sub = bus.subscribe::<u64>();
    /// bus.send(5u64).unwrap();
    /// let stats = bus.stats();
    /// let t = stats.topic::<u64>().unwrap();
    /// assert_eq!((t.sent, t.subscribers), (1, 1));
    /// ```
    pub fn stats(&self) -> Stats {
        let mut topics: Vec<TopicStats> = Vec::new();
        let guard = epoch::pin();
        self.shared
            .registry
            .for_each(&guard, |t| topics.push(t.stats()));
        topics.sort_by(|a, b| a.type_name.cmp(b.type_name));
        Stats {
            closed: self.is_closed(),
            user_panics: self.shared.user_panics.get(),
            topics,
        }
    }
}

/// Events up to this size go from `send` to their slot by value ([`Owned`]): a pointer to them
/// ([`Pending`]) would cost a store and a load per send. Larger ones go by reference, so that a
/// debug build does not copy them into every frame on the way.
const SMALL_EVENT: usize = 4 * size_of::<usize>();

/// The event of a send that stored nothing, handed back by value in its error. Returns the
/// whole `Result`, so that a debug build writes the event straight into the caller's.
#[cold]
fn hand_back<E, C: Carrier<E>>(back: SendError<C>) -> Result<(), SendError<E>> {
    match back {
        SendError::NoSubscribers(e) => Err(SendError::NoSubscribers(e.into_event())),
        SendError::Closed(e) => Err(SendError::Closed(e.into_event())),
        SendError::Full(e) => Err(SendError::Full(e.into_event())),
    }
}

impl Shared {
    /// `Bus::send` for an event of at most `SMALL_EVENT` bytes: carried by value, in registers.
    #[inline]
    fn send_small<E: Send + Sync + 'static>(&self, event: E) -> Result<(), SendError<E>> {
        match self.send_pending(Owned(event)) {
            Ok(()) => Ok(()),
            Err(back) => hand_back(back),
        }
    }

    /// `Bus::send`. The event goes down by reference, as a [`Pending`], and is moved once,
    /// into its slot: passed by value, a large event is copied into every frame on the way
    /// in a debug build (issue 12).
    #[inline]
    fn send<E: Send + Sync + 'static>(&self, event: E) -> Result<(), SendError<E>> {
        if size_of::<E>() <= SMALL_EVENT {
            return self.send_small(event);
        }
        segment::pending(event, |event| match self.send_pending(event) {
            Ok(()) => Ok(()),
            Err(back) => hand_back(back),
        })
    }

    #[inline]
    fn send_pending<E: Send + Sync + 'static, C: Carrier<E>>(
        &self,
        event: C,
    ) -> Result<(), SendError<C>> {
        // SeqCst: pairs with the SeqCst increment in `subscribe`.
        if self.buckets[bucket::<E>()].load(Ordering::SeqCst) == 0 {
            return Err(self.unrouted(event));
        }
        self.send_to_topic(event)
    }

    /// The send path after the bucket filter. Typed, and inlined into each type's send: the
    /// pin, the send cache's first level, and `push` (inlined once, here). Everything else of
    /// a miss is one copy for every type (`send_cache::find`), which returns the topic for the
    /// push below instead of pushing itself (issue 12, item 6).
    #[inline]
    fn send_to_topic<E: Send + Sync + 'static, C: Carrier<E>>(
        &self,
        event: C,
    ) -> Result<(), SendError<C>> {
        // Pinned before the generation is loaded: see `send_cache` for why this keeps a cached
        // topic alive. The pin also protects the segments `push` walks.
        let guard = epoch::pin();
        let topic = match send_cache::lookup::<E>(self, &guard) {
            Ok(topic) => topic,
            Err(miss) => match send_cache::find::<E>(self, miss, &guard) {
                Some(topic) => topic,
                None => return Err(self.unrouted(event)),
            },
        };
        self.push(topic, event, &guard)
    }

    /// `topic.push`, with its rejection turned into the public error.
    #[inline]
    fn push<E: Send + Sync + 'static, C: Carrier<E>>(
        &self,
        topic: &Topic<E>,
        event: C,
        guard: &Guard,
    ) -> Result<(), SendError<C>> {
        topic.push(event, guard).map_err(|(why, event)| match why {
            // The topic may be dead because the bus closed and its last subscription left:
            // then the answer is `Closed`, as it would be had the topic been gone already.
            Rejected::NoSubscribers => self.unrouted(event),
            Rejected::Closed => SendError::Closed(event),
            Rejected::Full => SendError::Full(event),
        })
    }

    /// A send that, if the topic is full, parks `node` on the topic's list of waiting senders
    /// and tries once more (the sender's half of the pattern in `Topic::park_sender`): if that
    /// also finds it full, `node`'s waker is woken when room may have appeared.
    #[cold]
    pub(crate) fn send_or_park<E: Send + Sync + 'static>(
        &self,
        event: E,
        node: &crate::sync::Arc<WaitNode>,
    ) -> Result<(), SendError<E>> {
        segment::pending(event, |event| {
            match self.send_or_park_pending(event, node) {
                Ok(()) => Ok(()),
                Err(back) => hand_back(back),
            }
        })
    }

    fn send_or_park_pending<E: Send + Sync + 'static, C: Carrier<E>>(
        &self,
        event: C,
        node: &crate::sync::Arc<WaitNode>,
    ) -> Result<(), SendError<C>> {
        if self.buckets[bucket::<E>()].load(Ordering::SeqCst) == 0 {
            return Err(self.unrouted(event));
        }
        let guard = epoch::pin();
        self.registry.with_shard::<E, _>(&guard, |shard| {
            let Some(topic) = shard.get::<E>() else {
                return Err(self.unrouted(event));
            };
            match self.push(topic, event, &guard) {
                Err(SendError::Full(event)) => {
                    topic.park_sender(node);
                    self.push(topic, event, &guard)
                }
                done => done,
            }
        })
    }

    /// `send`'s path for a run (`Topic::push_all`).
    fn send_all<E: Send + Sync + 'static>(
        &self,
        events: Vec<E>,
    ) -> Result<usize, SendError<Vec<E>>> {
        // SeqCst: as in `send`.
        if self.buckets[bucket::<E>()].load(Ordering::SeqCst) == 0 {
            return Err(self.unrouted(events));
        }
        // Pinned first, as in `send_to_topic`.
        let guard = epoch::pin();
        let pushed = match send_cache::lookup::<E>(self, &guard) {
            Ok(topic) => topic.push_all(events, &guard),
            Err(_) => self
                .registry
                .with_shard::<E, _>(&guard, |shard| match shard.get::<E>() {
                    None => Err((Rejected::NoSubscribers, events)),
                    Some(topic) => topic.push_all(events, &guard),
                }),
        };
        pushed.map_err(|(why, events)| match why {
            Rejected::NoSubscribers => self.unrouted(events),
            Rejected::Closed => SendError::Closed(events),
            Rejected::Full => SendError::Full(events),
        })
    }
}

impl Bus {
    /// Sets how many events a subscription may fall behind before the bus warns, through
    /// `tracing` (feature `tracing`; without it nothing is reported), with a `warn` event of
    /// target `tidings` naming the event type. `None` turns the warning off. A new bus warns
    /// at 65,536 events.
    ///
    /// The check runs when a sender starts a new segment (every 64 events of a type), not on
    /// every send, and counts in whole segments: it fires within 64 events of the threshold.
    /// It warns once per episode, again only after the slowest subscription has come back
    /// under half the threshold. Applies to every event type, present and future.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// bus.set_lag_warning(Some(10_000)); // warn when a subscription is 10,000 events behind
    /// bus.set_lag_warning(None); // never
    /// ```
    pub fn set_lag_warning(&self, events: Option<u64>) {
        let threshold = events.unwrap_or(lag::OFF);
        // Relaxed: a setting, read by topics created later; registered ones are told below.
        self.shared.lag_warning.store(threshold, Ordering::Relaxed);
        self.shared
            .registry
            .for_each(&epoch::pin(), |topic| topic.set_lag_warning(threshold));
    }
}

/// A handle to a bus that does not keep it open, from [`Bus::downgrade`]; like
/// `std::sync::Weak`, or tokio's `WeakSender`.
///
/// [`upgrade`](WeakBus::upgrade) gives a [`Bus`] while the bus is open, and `None` once it has
/// closed ([`Bus::close`], or its last `Bus` handle dropped). Useful for something that lives
/// beside a bus (a cache, a background task) and must not be what keeps it open.
///
/// ```
/// let bus = tidings::Bus::new();
/// let weak = bus.downgrade();
/// assert!(weak.upgrade().is_some());
/// drop(bus); // the last `Bus`: the weak handle did not keep it open
/// assert!(weak.upgrade().is_none());
/// ```
#[derive(Clone)]
pub struct WeakBus {
    shared: std::sync::Weak<Shared>,
}

impl Bus {
    /// A [`WeakBus`]: a handle that does not keep the bus open.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let weak = bus.downgrade();
    /// let again = weak.upgrade().unwrap();
    /// assert_eq!(again.id(), bus.id());
    /// bus.close();
    /// assert!(weak.upgrade().is_none());
    /// ```
    pub fn downgrade(&self) -> WeakBus {
        WeakBus {
            shared: std::sync::Arc::downgrade(&self.shared),
        }
    }
}

impl WeakBus {
    /// A [`Bus`] handle, if the bus is still open; `None` once it has closed.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let weak = bus.downgrade();
    /// let strong = weak.upgrade().unwrap();
    /// drop(bus);
    /// // `strong` is a handle like any other: the bus stays open while it lives.
    /// assert!(weak.upgrade().is_some());
    /// drop(strong);
    /// assert!(weak.upgrade().is_none());
    /// ```
    pub fn upgrade(&self) -> Option<Bus> {
        let shared = self.shared.upgrade()?;
        // Count a handle only while another is alive: from zero the bus has closed (or is
        // closing), and a handle must not revive it.
        let mut n = shared.handles.load(Ordering::Relaxed);
        loop {
            if n == 0 {
                return None;
            }
            // Relaxed: like `Arc::clone`, a new handle made while another exists.
            match shared.handles.compare_exchange_weak(
                n,
                n + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => n = actual,
            }
        }
        let bus = Bus { shared };
        // Closed by `close` while handles remained: no handle for a closed bus either.
        if bus.is_closed() {
            return None; // dropping `bus` gives the count back
        }
        Some(bus)
    }
}

impl fmt::Debug for WeakBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakBus").finish_non_exhaustive()
    }
}

impl Clone for Bus {
    fn clone(&self) -> Self {
        // Relaxed: a new handle made from an existing one, as in `Arc::clone`.
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Bus {
            shared: std::sync::Arc::clone(&self.shared),
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        // AcqRel: the last handle's close must see every other handle's sends as done.
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("id", &self.shared.id)
            .field("closed", &self.is_closed())
            .field("topics", &self.shared.registry.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;
    use crate::registry::PIN_PANICS;

    /// Issue 12, item 5: the pin of a registry swap came after the swap, so a panic there
    /// dropped the replaced registry (and with it the last reference to a topic) while a sender
    /// pinned before the swap could still use that topic through its send cache.
    #[test]
    fn a_panicking_pin_never_frees_a_registry_a_pinned_sender_can_reach() {
        let bus = Bus::new();
        let sub = bus.subscribe::<u32>();
        bus.send(1u32).unwrap(); // fills this thread's send cache
        let topic = bus.shared.registry.get_arc::<u32>(&epoch::pin()).unwrap();
        let topic = std::sync::Arc::downgrade(&topic);
        // A sender on another thread that pinned and loaded the current generation before the
        // registry changes may use the topic until it unpins. (Not pinned here: a pin held by a
        // test stalls the epoch for the other unit tests.) The topic must survive the panic.
        let generation = bus.shared.registry.generation();
        PIN_PANICS.with(|p| p.set(true));
        let dropped = catch_unwind(AssertUnwindSafe(|| drop(sub)));
        PIN_PANICS.with(|p| p.set(false));
        assert!(dropped.is_err(), "the injected panic came out of the drop");
        assert!(
            topic.upgrade().is_some(),
            "the topic was freed on the spot, under any sender still pinned"
        );
        assert_eq!(
            bus.shared.registry.generation(),
            generation,
            "the registry did not change: nothing was swapped out unretired"
        );

        // The bus is still exact: nobody listens to `u32`, and a new subscription gets events.
        assert_eq!(bus.subscriber_count::<u32>(), 0);
        assert_eq!(bus.send(2u32), Err(SendError::NoSubscribers(2)));
        let mut sub = bus.subscribe::<u32>();
        bus.send(3u32).unwrap();
        assert_eq!(sub.try_recv(), Ok(3));
    }
}
