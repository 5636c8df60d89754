//! A subscription: a cursor into one topic's segment list, and the ways to read from it.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;

use crate::bus::Shared;
use crate::error::TryRecvError;
use crate::notify::WaitNode;
use crate::segment::{SEGMENT_CAP, Segment};
use crate::sync::{Arc, Ordering, retry_hint, thread};
use crate::topic::Topic;

/// A subscription that has caught up flushes the segments it retired to the epoch once there
/// are this many. Each flush allocates a queue node, so flushing every one would double the
/// allocations per event; waiting for four keeps them under 1 in 32 events while a caught-up
/// subscription leaves at most three dead segments waiting.
const FLUSH_RETIRED: usize = 4;

/// A subscription that received at least this many events in a row before finding the stream
/// empty is being fed faster than one event per wake-up: its sender is running now, likely on
/// another core, and the next event is likely nanoseconds away. Such a subscription looks again
/// a few times ([`SPINS_BEFORE_PARK`]) before it parks, because a park costs its sender a
/// wake-up and its executor a reschedule, often on another worker. On the 2-core bench machine
/// this cut the parks of W2's four task subscriptions from about 1800 to 400 per 10,000 events
/// (counted in an instrumented build) and raised W2's throughput by about 40%. A subscription
/// fed one event per wake-up, as in request-response, parks at once: there the next event
/// cannot come before it yields.
const BURST: u32 = 2;

/// How many extra looks a bursting subscription takes before parking, each after a spin-loop
/// hint: about 0.3 us in all on the 2-core bench machine, where a hint takes 15 ns. Loom builds
/// take one, so that the `burst_then_park` model reaches every outcome of the look (event, end,
/// nothing) without multiplying its states.
#[cfg(not(tidings_loom))]
const SPINS_BEFORE_PARK: u32 = 16;
#[cfg(tidings_loom)]
const SPINS_BEFORE_PARK: u32 = 1;

/// A stream of the events of type `E` sent after it was made, from
/// [`Bus::subscribe`](crate::Bus::subscribe).
///
/// Every subscription receives every event independently, in the one order that all
/// subscriptions of `E` share. A subscription that falls behind keeps the events it has not read
/// (there is no lag limit and nothing is skipped) without slowing senders or other
/// subscriptions; dropping it frees them.
///
/// Reading needs `&mut self`, so one subscription has one reader at a time; make more
/// subscriptions for more readers. All the async methods are cancel-safe: a `recv` dropped
/// before it completes has consumed nothing.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// # futures::executor::block_on(async {
/// let bus = tidings::Bus::new();
/// let sub = bus.subscribe::<u32>();
/// for i in 0..3u32 {
///     bus.send(i).unwrap();
/// }
/// bus.close();
/// assert_eq!(sub.collect::<Vec<_>>().await, [0, 1, 2]);
/// # });
/// ```
pub struct Subscription<E: Send + Sync + 'static> {
    /// `None` for a subscription made after the bus closed: it ends at once.
    live: Option<Live<E>>,
}

struct Live<E: Send + Sync + 'static> {
    shared: std::sync::Arc<Shared>,
    topic: std::sync::Arc<Topic<E>>,
    cursor: Cursor<E>,
    /// Where this subscription parks; made at its first park, so that a subscription that never
    /// waits (or lives only briefly) costs no allocation for it.
    waiter: Option<Arc<WaitNode>>,
    /// The waker `recv_blocking` parks with, kept so that parking does not allocate.
    thread_waker: Option<(thread::ThreadId, Waker)>,
    /// Segments that died when this cursor left them and have not been flushed to the epoch
    /// since (see `Topic::flush_retired`).
    retired: usize,
    /// Events received since the stream was last found empty by a poll (see [`BURST`]).
    streak: u32,
}

/// The read position: a segment this cursor holds one reference on, and the offset of the
/// next event in it. `offset == SEGMENT_CAP` means "at the start of the successor": the move
/// is made lazily by the next read, so that a `&E` handed out from the last slot stays valid
/// until then.
struct Cursor<E> {
    seg: NonNull<Segment<E>>,
    offset: usize,
}

// SAFETY: the cursor owns a counted reference to a segment, which is `Send + Sync` for
// `E: Send + Sync` (see `Segment`); it is only moved or mutated through `&mut`.
unsafe impl<E: Send + Sync> Send for Cursor<E> {}
// SAFETY: `&Cursor` only reads the two plain fields.
unsafe impl<E: Send + Sync> Sync for Cursor<E> {}

impl<E> Cursor<E> {
    fn index(&self) -> u64 {
        // SAFETY: the cursor's reference keeps the segment allocated.
        unsafe { self.seg.as_ref() }.start + self.offset as u64
    }
}

impl<E: Send + Sync + 'static> Live<E> {
    /// Moves to the next segment if the cursor is at the end of one, then says whether an event
    /// is ready at the cursor.
    #[inline]
    fn peek(&mut self) -> Result<(), TryRecvError> {
        if self.cursor.offset == SEGMENT_CAP && !self.cross() {
            return self.empty_or_closed();
        }
        // SAFETY: the cursor's reference keeps the segment allocated.
        let seg = unsafe { self.cursor.seg.as_ref() };
        // SAFETY: as above.
        match unsafe { seg.get(self.cursor.offset) } {
            Some(_) => Ok(()),
            None => self.empty_or_closed(),
        }
    }

    /// Steps into the successor segment, if it exists yet.
    #[cold]
    fn cross(&mut self) -> bool {
        // SAFETY: the cursor's reference keeps the segment allocated.
        let seg = unsafe { self.cursor.seg.as_ref() };
        // Acquire: pairs with the installing compare-and-swap.
        let Some(next) = NonNull::new(seg.next.load(Ordering::Acquire)) else {
            return false;
        };
        // SAFETY: `next` is linked from `seg`, which we hold, so its count is at least one.
        unsafe { next.as_ref() }.acquire();
        let old = std::mem::replace(&mut self.cursor.seg, next);
        self.cursor.offset = 0;
        // SAFETY: we owned one reference on `old` and give it up.
        self.retired += unsafe { self.topic.release(old.as_ptr()) };
        true
    }

    fn empty_or_closed(&mut self) -> Result<(), TryRecvError> {
        if self.topic.is_end(self.cursor.index()) {
            return Err(TryRecvError::Closed);
        }
        if self.retired >= FLUSH_RETIRED {
            // Caught up: give back what we left behind now, not whenever the epoch next runs.
            self.retired = 0;
            self.topic.flush_retired();
        }
        Err(TryRecvError::Empty)
    }

    /// The event at the cursor, which `peek` found ready; does not advance.
    #[inline]
    fn current(&self) -> &E {
        // SAFETY: the cursor's reference keeps the segment allocated.
        let seg = unsafe { self.cursor.seg.as_ref() };
        // SAFETY: as above; `peek` returned Ok, and a ready slot stays ready.
        match unsafe { seg.get(self.cursor.offset) } {
            Some(event) => event,
            None => unreachable!("peek found this slot ready"),
        }
    }

    #[inline]
    fn advance(&mut self) {
        self.cursor.offset += 1;
    }

    /// `peek`, registering `cx` to be woken if nothing is ready.
    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        match self.peek() {
            Ok(()) => {
                self.streak = self.streak.saturating_add(1);
                Poll::Ready(true)
            }
            Err(TryRecvError::Closed) => Poll::Ready(false),
            Err(TryRecvError::Empty) => {
                if std::mem::replace(&mut self.streak, 0) >= BURST {
                    if let Some(ready) = self.spin() {
                        return ready;
                    }
                }
                self.park(cx)
            }
        }
    }

    /// Looks again up to [`SPINS_BEFORE_PARK`] times, with a spin-loop hint before each look;
    /// `None` if the stream stayed empty. See [`BURST`].
    #[cold]
    fn spin(&mut self) -> Option<Poll<bool>> {
        #[cfg(test)]
        tests::SPINS.with(|n| n.set(n.get() + 1));
        for _ in 0..SPINS_BEFORE_PARK {
            std::hint::spin_loop();
            match self.peek() {
                Ok(()) => {
                    self.streak = 1;
                    return Some(Poll::Ready(true));
                }
                Err(TryRecvError::Closed) => return Some(Poll::Ready(false)),
                Err(TryRecvError::Empty) => {}
            }
        }
        None
    }

    /// Parks: registers `cx`, joins the wait list, and looks once more (see `notify`).
    #[cold]
    fn park(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let waiter = self.waiter.get_or_insert_with(|| Arc::new(WaitNode::new()));
        waiter.waker.register(cx.waker());
        self.topic.park(waiter);
        match self.peek() {
            Ok(()) => Poll::Ready(true),
            Err(TryRecvError::Closed) => Poll::Ready(false),
            Err(TryRecvError::Empty) => {
                if self.topic.claimed_past(self.cursor.index()) {
                    // A sender claimed our index but has not written it yet, and may not see
                    // our node (see `notify`): look again soon rather than sleep. The node
                    // stays queued; a later wake-up is merely spurious.
                    retry_hint();
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    }

    fn thread_waker(&mut self) -> Waker {
        let id = thread::current().id();
        match &self.thread_waker {
            Some((owner, waker)) if *owner == id => waker.clone(),
            _ => {
                let waker = Waker::from(std::sync::Arc::new(ThreadWaker(thread::current())));
                self.thread_waker = Some((id, waker.clone()));
                waker
            }
        }
    }
}

/// Wakes a thread parked in `recv_blocking`.
struct ThreadWaker(thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

impl<E: Send + Sync + 'static> Subscription<E> {
    pub(crate) fn new(shared: std::sync::Arc<Shared>, topic: std::sync::Arc<Topic<E>>) -> Self {
        let (seg, index) = topic.start_cursor();
        let seg = NonNull::new(seg).expect("start_cursor returns a live segment");
        // SAFETY: `start_cursor` took a reference on `seg` for us.
        let start = unsafe { seg.as_ref() }.start;
        Subscription {
            live: Some(Live {
                shared,
                topic,
                cursor: Cursor {
                    seg,
                    offset: (index - start) as usize,
                },
                waiter: None,
                thread_waker: None,
                retired: 0,
                streak: 0,
            }),
        }
    }

    pub(crate) fn closed() -> Self {
        Subscription { live: None }
    }

    /// Receives the next event by reference, without cloning it; `E` need not be `Clone`.
    ///
    /// The reference is valid until the next call on this subscription. Returns `None` once the
    /// bus is closed and every event sent before the close has been received.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// struct Frame(Vec<u8>); // not Clone
    ///
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<Frame>();
    /// bus.send(Frame(vec![1, 2, 3])).unwrap();
    /// assert_eq!(sub.recv_ref().await.unwrap().0, [1, 2, 3]);
    /// # });
    /// ```
    pub async fn recv_ref(&mut self) -> Option<&E> {
        let live = self.live.as_mut()?;
        if !poll_fn(|cx| live.poll_ready(cx)).await {
            return None;
        }
        live.advance();
        // The cursor's reference is released no earlier than the next call (see `Cursor`).
        let seg = unsafe_segment(live);
        // SAFETY: the slot at `offset - 1` was found ready; the segment stays held while the
        // returned borrow of `self` lives.
        Some(unsafe { seg.get(live.cursor.offset - 1) }.expect("slot was ready"))
    }

    /// Receives the next event by reference if one is ready now.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u8>();
    /// assert_eq!(sub.try_recv_ref(), Err(tidings::TryRecvError::Empty));
    /// bus.send(9u8).unwrap();
    /// assert_eq!(sub.try_recv_ref(), Ok(&9));
    /// ```
    pub fn try_recv_ref(&mut self) -> Result<&E, TryRecvError> {
        let live = self.live.as_mut().ok_or(TryRecvError::Closed)?;
        live.peek()?;
        live.advance();
        let seg = unsafe_segment(live);
        // SAFETY: as in `recv_ref`.
        Ok(unsafe { seg.get(live.cursor.offset - 1) }.expect("slot was ready"))
    }

    /// Whether the bus has been closed. Events sent before the close may still be waiting.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u8>();
    /// bus.send(1u8).unwrap();
    /// drop(bus);
    /// assert!(sub.is_closed());
    /// assert_eq!(sub.try_recv(), Ok(1));
    /// ```
    pub fn is_closed(&self) -> bool {
        match &self.live {
            None => true,
            Some(live) => live.topic.is_closed(),
        }
    }

    /// Whether every event this subscription will ever get has been received.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u8>();
    /// bus.send(1u8).unwrap();
    /// bus.close();
    /// assert!(!sub.is_terminated());
    /// sub.try_recv().unwrap();
    /// assert!(sub.is_terminated());
    /// ```
    pub fn is_terminated(&self) -> bool {
        match &self.live {
            None => true,
            Some(live) => live.topic.is_end(live.cursor.index()),
        }
    }
}

impl<E: Send + Sync + 'static> Subscription<E> {
    /// Polls for the next event that `pick` maps to `Some`, consuming (without cloning) every
    /// event before it that `pick` maps to `None`. The building block of filtered delivery
    /// (the scope layer uses it to skip events of other scopes).
    ///
    /// `pick` runs before the cursor moves, so if it panics the event is not consumed.
    #[inline]
    pub(crate) fn poll_pick<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut pick: impl FnMut(&E) -> Option<T>,
    ) -> Poll<Option<T>> {
        let Some(live) = self.live.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            match live.poll_ready(cx) {
                Poll::Ready(true) => {
                    let picked = pick(live.current());
                    live.advance();
                    if picked.is_some() {
                        return Poll::Ready(picked);
                    }
                }
                Poll::Ready(false) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// `poll_pick` without waiting: the next picked event if one is ready now.
    #[inline]
    pub(crate) fn try_pick<T>(
        &mut self,
        mut pick: impl FnMut(&E) -> Option<T>,
    ) -> Result<T, TryRecvError> {
        let live = self.live.as_mut().ok_or(TryRecvError::Closed)?;
        loop {
            live.peek()?;
            let picked = pick(live.current());
            live.advance();
            if let Some(value) = picked {
                return Ok(value);
            }
        }
    }
}

/// The cursor's segment, with a lifetime tied to the borrow of `live`.
fn unsafe_segment<E: Send + Sync + 'static>(live: &Live<E>) -> &Segment<E> {
    // SAFETY: the cursor's reference keeps the segment allocated while `live` is borrowed.
    unsafe { live.cursor.seg.as_ref() }
}

impl<E: Clone + Send + Sync + 'static> Subscription<E> {
    /// Receives the next event, waiting for one if none is ready.
    ///
    /// Returns `None` once the bus is closed and every event sent before the close has been
    /// received. Cancel-safe. If `E::clone` panics the event is not consumed.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<String>();
    /// bus.send(String::from("hi")).unwrap();
    /// assert_eq!(sub.recv().await.as_deref(), Some("hi"));
    /// drop(bus); // the last handle: closes the bus
    /// assert_eq!(sub.recv().await, None);
    /// # });
    /// ```
    pub async fn recv(&mut self) -> Option<E> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next event; the building block of `recv` and the `Stream` impl. When it
    /// returns `Pending`, the waker in `cx` is woken by the next event or by closing (or at
    /// once, if a sender is between claiming the next event's place and writing it); until then
    /// the subscription costs its senders nothing but one load per send.
    ///
    /// ```
    /// use std::task::{Context, Poll};
    ///
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u8>();
    /// let mut cx = Context::from_waker(std::task::Waker::noop());
    /// assert_eq!(sub.poll_recv(&mut cx), Poll::Pending);
    /// bus.send(3u8).unwrap();
    /// assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(3)));
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<E>> {
        let Some(live) = self.live.as_mut() else {
            return Poll::Ready(None);
        };
        match live.poll_ready(cx) {
            Poll::Ready(true) => {
                let event = live.current().clone();
                live.advance();
                Poll::Ready(Some(event))
            }
            Poll::Ready(false) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Receives the next event if one is ready now.
    ///
    /// ```
    /// use tidings::TryRecvError;
    ///
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u8>();
    /// assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
    /// bus.send(1u8).unwrap();
    /// assert_eq!(sub.try_recv(), Ok(1));
    /// bus.close();
    /// assert_eq!(sub.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&mut self) -> Result<E, TryRecvError> {
        let live = self.live.as_mut().ok_or(TryRecvError::Closed)?;
        live.peek()?;
        let event = live.current().clone();
        live.advance();
        Ok(event)
    }

    /// Receives the next event, blocking the thread until one is ready; for code outside any
    /// async runtime. Returns `None` once closed and drained.
    ///
    /// Do not call it from an async task: it blocks the executor's thread.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u64>();
    /// let sender = bus.clone();
    /// let t = std::thread::spawn(move || sender.send(42u64).unwrap());
    /// assert_eq!(sub.recv_blocking(), Some(42));
    /// t.join().unwrap();
    /// ```
    pub fn recv_blocking(&mut self) -> Option<E> {
        let live = self.live.as_mut()?;
        // Like crossbeam-channel: a short, bounded spin, then a few yields, then park. Parking
        // costs the sender a wake-up syscall, so a reader that is only just ahead of its sender
        // should not park at once; a reader with nothing to do parks within microseconds.
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            match live.peek() {
                Ok(()) => break,
                Err(TryRecvError::Closed) => return None,
                Err(TryRecvError::Empty) => {}
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            // The backoff above has looked again many times already: no burst spin on top.
            live.streak = 0;
            let waker = live.thread_waker();
            let mut cx = Context::from_waker(&waker);
            match live.poll_ready(&mut cx) {
                Poll::Ready(true) => break,
                Poll::Ready(false) => return None,
                Poll::Pending => thread::park(),
            }
        }
        let event = live.current().clone();
        live.advance();
        Some(event)
    }
}

impl<E: Clone + Send + Sync + 'static> Stream for Subscription<E> {
    type Item = E;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<E>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<E: Send + Sync + 'static> Drop for Subscription<E> {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            // Unsubscribes even if the release unwinds (a pin may run someone else's panicking
            // deferred function): a subscription that is gone must not stay counted.
            struct Unsubscribe<'a, E: Send + Sync + 'static>(&'a Live<E>);
            impl<E: Send + Sync + 'static> Drop for Unsubscribe<'_, E> {
                fn drop(&mut self) {
                    self.0.shared.unsubscribe(&self.0.topic);
                }
            }
            let unsubscribe = Unsubscribe(&live);
            // SAFETY: the cursor owns one reference on its segment and gives it up here.
            unsafe { live.topic.release(live.cursor.seg.as_ptr()) };
            drop(unsubscribe);
        }
    }
}

impl<E: Send + Sync + 'static> fmt::Debug for Subscription<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Subscription");
        d.field("event", &std::any::type_name::<E>());
        match &self.live {
            Some(live) => d
                .field("position", &live.cursor.index())
                .field("closed", &live.topic.is_closed()),
            None => d.field("closed", &true),
        };
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::task::{Context, Poll, Waker};

    use crate::{Bus, TryRecvError};

    thread_local! {
        /// How many times a subscription on this thread looked again before parking.
        pub(super) static SPINS: Cell<u32> = const { Cell::new(0) };
    }

    fn spins() -> u32 {
        SPINS.with(Cell::get)
    }

    #[test]
    fn only_a_subscription_fed_a_burst_looks_again_before_parking() {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u32>();
        let mut cx = Context::from_waker(Waker::noop());
        let before = spins();
        // One event per wake-up (request-response): park at once, every time.
        for i in 0..3u32 {
            assert_eq!(sub.poll_recv(&mut cx), Poll::Pending);
            bus.send(i).unwrap();
            assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(i)));
        }
        assert_eq!(sub.poll_recv(&mut cx), Poll::Pending);
        assert_eq!(spins(), before, "a one-event streak must not spin");
        // A burst of two or more: the next empty poll looks again first, then parks.
        bus.send(10u32).unwrap();
        bus.send(11u32).unwrap();
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(10)));
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(11)));
        assert_eq!(sub.poll_recv(&mut cx), Poll::Pending);
        assert_eq!(spins(), before + 1);
        // The streak restarts after finding the stream empty: no second spin without a burst.
        assert_eq!(sub.poll_recv(&mut cx), Poll::Pending);
        assert_eq!(spins(), before + 1);
    }

    /// The loom model `burst_then_park` covers a send or a close landing during the look.
    #[test]
    fn a_subscription_that_looked_again_still_parks_and_is_woken() {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u32>();
        let woken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let waker = Waker::from(std::sync::Arc::new(Count(woken.clone())));
        let mut cx = Context::from_waker(&waker);
        bus.send(1u32).unwrap();
        bus.send(2u32).unwrap();
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(1)));
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(2)));
        // Looks again, finds nothing, parks: the next send must wake it.
        assert_eq!(sub.poll_recv(&mut cx), Poll::Pending);
        bus.send(3u32).unwrap();
        assert_eq!(woken.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(3)));
        bus.send(4u32).unwrap();
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(4)));
        // A burst, then the close: the next poll reports the end.
        bus.close();
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn pick_skips_unpicked_events_and_returns_the_first_picked() {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u32>();
        for i in 0..5u32 {
            bus.send(i).unwrap();
        }
        let mut cx = Context::from_waker(Waker::noop());
        let odd = |e: &u32| (e % 2 == 1).then_some(*e * 10);
        assert_eq!(sub.poll_pick(&mut cx, odd), Poll::Ready(Some(10)));
        assert_eq!(sub.try_pick(odd), Ok(30));
        // 4 is consumed by the skip, nothing is left.
        assert_eq!(sub.try_pick(odd), Err(TryRecvError::Empty));
        assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(sub.poll_pick(&mut cx, odd), Poll::Pending);
        bus.close();
        assert_eq!(sub.poll_pick(&mut cx, odd), Poll::Ready(None));
    }

    #[test]
    fn a_panicking_pick_consumes_nothing() {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u8>();
        bus.send(7u8).unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sub.try_pick(|_| -> Option<u8> { panic!("pick") })
        }));
        assert!(caught.is_err());
        assert_eq!(sub.try_recv(), Ok(7));
    }
}
