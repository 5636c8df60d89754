//! A subscription: a cursor into one topic's segment list, and the ways to read from it.
//! How reading fits the whole protocol: [`crate::docs::protocol`].

#![forbid(unsafe_code)]

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

use futures_core::{FusedStream, Stream};

use crate::error::RecvTimeoutError;
use crate::error::TryRecvError;
use crate::position::Position;
use crate::registry::Shared;
use crate::segment::{SEGMENT_CAP, SegmentRef};
use crate::stats::SubscriptionStats;
use crate::sync::{Arc, retry_hint, thread};
use crate::topic::Topic;
use crate::wait_list::WaitNode;

/// A subscription that has caught up flushes the segments it retired to the epoch once there
/// are this many. Each flush allocates a queue node, so flushing every one would double the
/// allocations per event; waiting for four keeps them under 1 in 32 events while a caught-up
/// subscription leaves at most three dead segments waiting.
const FLUSH_RETIRED: usize = 4;

/// A subscription that received at least this many events in a row before finding the stream
/// empty is being fed faster than one event per wake-up: its sender is running now, likely on
/// another core, and the next event is likely close. Such a subscription yields once (wakes its
/// own task and returns `Pending`) and parks only if the stream is still empty when it is
/// polled again. A park costs its sender a wake-up and the task a reschedule, often onto the
/// sender's worker, which cannot run it while it sends; a yield costs neither, and unlike
/// looking again in place it gives the worker to its other tasks meanwhile, often the other
/// subscriptions of the same sender (`benches/README.md` has what each cost). A subscription
/// fed one event per wake-up, as in request-response, parks at once: there the next event
/// cannot come before it yields, and a yield on every empty poll would make a work-stealing
/// runtime wake an idle worker each time.
const BURST: u32 = 2;

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

pub(crate) struct Live<E: Send + Sync + 'static> {
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
    pub(crate) streak: u32,
    /// Backpressure topics: this subscription's position cell (owned by the topic, which
    /// `topic` keeps alive), updated after every read (a batch read: at the end of each run in a
    /// segment, see `CursorMover`). `None` for other policies.
    position: Option<Position>,
    /// DropOldest topics: events skipped because the topic dropped them before this
    /// subscription read them (see `Topic::successor`).
    missed: u64,
    /// The cursor's index when this subscription was made (for `stats`).
    first: u64,
}

/// The read position: a reference on a segment, and the offset of the next event in it.
/// `offset == SEGMENT_CAP` means "at the start of the successor": the move is made lazily by
/// the next read, so that a `&E` handed out from the last slot stays valid until then.
///
/// The offset is kept as `raw = offset + bias`, with `bias` fixed at creation: 0, or
/// [`SEGMENT_CAP`] for a Backpressure subscription. So `raw < SEGMENT_CAP` holds exactly for a
/// cursor inside its segment that has no position to publish, and the one compare by which the
/// one-event fast path (`Live::take_ready`) finds the segment's end also sends every read of a
/// Backpressure subscription to the general path, the one that publishes its position.
struct Cursor<E> {
    seg: SegmentRef<E>,
    raw: usize,
    bias: usize,
}

impl<E> Cursor<E> {
    #[inline]
    fn new(seg: SegmentRef<E>, offset: usize, bias: usize) -> Self {
        Cursor {
            seg,
            raw: offset + bias,
            bias,
        }
    }

    #[inline]
    fn offset(&self) -> usize {
        self.raw - self.bias
    }

    #[inline]
    fn set_offset(&mut self, offset: usize) {
        self.raw = offset + self.bias;
    }

    #[inline]
    fn index(&self) -> u64 {
        self.seg.start() + self.offset() as u64
    }
}

/// Moves a cursor within its segment while the segment is borrowed apart
/// ([`Live::split_cursor`]). The move takes effect when the mover is dropped (also when a user
/// `Clone` panics mid-run, so the events already taken stay consumed): the cursor's offset is
/// written, and a Backpressure subscription publishes its position. A batch read so writes
/// and publishes once per run, and its loop keeps the offset in a register: the unbounded
/// path checks for a position once per run, not per event. (Callgrind counts the batch reads
/// 0.3 instructions an event above a build without the bounds' hooks; README, "When a
/// consumer is slow".)
pub(crate) struct CursorMover<'a, E: Send + Sync + 'static> {
    /// The cursor's `raw` offset, written on drop (`Cursor`).
    cursor_raw: &'a mut usize,
    /// The cursor's bias (`Cursor`).
    bias: usize,
    /// Where the cursor will be.
    offset: usize,
    start: u64,
    topic: &'a Topic<E>,
    position: Option<&'a Position>,
    streak: &'a mut u32,
}

impl<E: Send + Sync + 'static> CursorMover<'_, E> {
    /// Moves the cursor to `offset`, past slots the caller found ready.
    #[inline]
    pub(crate) fn set(&mut self, offset: usize) {
        debug_assert!(offset >= self.offset && offset <= SEGMENT_CAP);
        self.offset = offset;
    }

    /// Counts `n` events received toward the burst streak (see [`BURST`]).
    #[inline]
    pub(crate) fn count_streak(&mut self, n: usize) {
        *self.streak = self.streak.saturating_add(n as u32);
    }
}

impl<E: Send + Sync + 'static> Drop for CursorMover<'_, E> {
    #[inline]
    fn drop(&mut self) {
        *self.cursor_raw = self.offset + self.bias;
        if let Some(cell) = self.position {
            publish_run(self.topic, cell, self.start + self.offset as u64);
        }
    }
}

/// A batch read's position publish (`CursorMover`), out of line so that the unbounded batch
/// readers keep only the test for it: inlined, it cost them 1.3 instructions an event
/// (`scripts/unbounded_cost.sh --callgrind`; see `SegmentList::successor_dropping`). A
/// Backpressure batch read pays a call for it, once per run of up to a segment's events.
#[cold]
#[inline(never)]
fn publish_run<E: Send + Sync + 'static>(topic: &Topic<E>, cell: &Position, index: u64) {
    topic.publish_position(cell, index);
}

impl<E: Send + Sync + 'static> Live<E> {
    /// Moves to the next segment if the cursor is at the end of one, then says whether an event
    /// is ready at the cursor.
    #[inline]
    pub(crate) fn peek(&mut self) -> Result<(), TryRecvError> {
        if self.cursor.offset() == SEGMENT_CAP && !self.cross() {
            return self.empty_or_closed();
        }
        match self.cursor.seg.get(self.cursor.offset()) {
            Some(_) => Ok(()),
            None => self.empty_or_closed(),
        }
    }

    /// Steps into the successor segment, if it exists yet (on a DropOldest topic, possibly
    /// past events it dropped, which count as missed).
    #[cold]
    pub(crate) fn cross(&mut self) -> bool {
        let Some((next, skipped)) = self.topic.successor(&self.cursor.seg) else {
            return false;
        };
        self.missed += skipped;
        let old = std::mem::replace(&mut self.cursor.seg, next);
        self.cursor.set_offset(0);
        self.retired += self.topic.release(old);
        true
    }

    /// Events this cursor will still receive (see `Subscription::len`; `Topic::backlog_at`).
    fn backlog(&self) -> u64 {
        self.topic
            .backlog_at(self.cursor.index(), self.cursor.offset())
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
        // `peek` returned Ok, and a ready slot stays ready.
        match self.cursor.seg.get(self.cursor.offset()) {
            Some(event) => event,
            None => unreachable!("peek found this slot ready"),
        }
    }

    /// Moves the cursor past the event at it; a Backpressure subscription then publishes its
    /// position (the senders may have room now). Out of line, so that the unbounded read path
    /// pays one compare and branch for it (`scripts/unbounded_cost.sh --callgrind`).
    #[inline]
    fn advance(&mut self) {
        // The offset and `raw` move together; the bias stays (`Cursor`).
        self.cursor.raw += 1;
        if self.position.is_some() {
            self.publish_position();
        }
    }

    #[inline(never)]
    fn publish_position(&self) {
        if let Some(cell) = &self.position {
            self.topic.publish_position(cell, self.cursor.index());
        }
    }

    /// The cursor's segment, borrowed apart from a [`CursorMover`] that moves the cursor
    /// within it: a batch read holds the segment's events while it moves past them.
    #[inline]
    pub(crate) fn split_cursor(&mut self) -> (&SegmentRef<E>, CursorMover<'_, E>) {
        let start = self.cursor.seg.start();
        (
            &self.cursor.seg,
            CursorMover {
                offset: self.cursor.offset(),
                bias: self.cursor.bias,
                cursor_raw: &mut self.cursor.raw,
                start,
                topic: &self.topic,
                position: self.position.as_ref(),
                streak: &mut self.streak,
            },
        )
    }

    /// The cursor's offset in its segment; `SEGMENT_CAP` means "at the successor's start".
    #[inline]
    pub(crate) fn cursor_offset(&self) -> usize {
        self.cursor.offset()
    }

    /// The next event if it is ready in the cursor's segment now, consumed; `None` if the
    /// cursor is at the segment's end or the slot is not written yet, and always for a
    /// Backpressure subscription (its cursor's bias, see `Cursor`); the caller then takes the
    /// slow path, which crosses, checks for the end, waits and publishes the position. The fast
    /// path of `poll_recv` (and so of `Stream::poll_next`) and of `recv_blocking`: one step of
    /// the batch readers' loop (`batch`), the cursor's segment read in place without the
    /// crossing and end checks of `peek`.
    #[inline]
    fn take_ready(&mut self) -> Option<E>
    where
        E: Clone,
    {
        // `raw < SEGMENT_CAP`: inside the segment, and no bias, so `raw` is the offset.
        if self.cursor.raw >= SEGMENT_CAP {
            return None;
        }
        let event = self.cursor.seg.get(self.cursor.raw)?.clone();
        // No position to publish: a Backpressure cursor's `raw` is never below `SEGMENT_CAP`.
        debug_assert!(self.position.is_none());
        self.cursor.raw += 1;
        self.streak = self.streak.saturating_add(1);
        Some(event)
    }

    /// `poll_recv` past its fast path (`take_ready`): crossing, the end, parking, and every
    /// read of a Backpressure subscription. Out of line, so that the fast path keeps nothing
    /// across a call (no register saved, `scripts/unbounded_cost.sh --callgrind`).
    #[inline(never)]
    fn poll_recv_slow(&mut self, cx: &mut Context<'_>) -> Poll<Option<E>>
    where
        E: Clone,
    {
        match self.poll_ready(cx) {
            Poll::Ready(true) => {
                let event = self.current().clone();
                self.advance();
                Poll::Ready(Some(event))
            }
            Poll::Ready(false) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    /// `recv_blocking` past its fast path, out of line as `poll_recv_slow` is.
    #[inline(never)]
    fn recv_blocking_slow(&mut self) -> Option<E>
    where
        E: Clone,
    {
        if !self.wait_blocking() {
            return None;
        }
        let event = self.current().clone();
        self.advance();
        Some(event)
    }

    /// `peek`, registering `cx` to be woken if nothing is ready.
    #[inline]
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        match self.peek() {
            Ok(()) => {
                self.streak = self.streak.saturating_add(1);
                Poll::Ready(true)
            }
            Err(TryRecvError::Closed) => Poll::Ready(false),
            Err(TryRecvError::Empty) => {
                // One yield after a burst (see `BURST`); the streak is 0 now, so if the stream
                // is still empty at the next poll, that poll parks. If the waker panics (the
                // panic contained, `Topic::with_own_waker`), park now instead.
                if std::mem::replace(&mut self.streak, 0) >= BURST
                    && self.topic.with_own_waker(|| cx.waker().wake_by_ref())
                {
                    return Poll::Pending;
                }
                self.park(cx)
            }
        }
    }

    /// Parks: registers `cx`, joins the wait list, and looks once more (see `wait_list`).
    #[cold]
    fn park(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let waiter = self.waiter.get_or_insert_with(|| Arc::new(WaitNode::new()));
        // `register` wakes the waker itself (instead of storing it) if a wake-up races with it:
        // contained; the `AtomicWaker`'s state is consistent before it wakes.
        self.topic
            .with_own_waker(|| waiter.waker.register(cx.waker()));
        self.topic.park(waiter);
        match self.peek() {
            Ok(()) => Poll::Ready(true),
            Err(TryRecvError::Closed) => Poll::Ready(false),
            Err(TryRecvError::Empty) => {
                if self.topic.claimed_past(self.cursor.index()) {
                    // A sender claimed our index but has not written it yet, and may not see
                    // our node (see `wait_list`): look again soon rather than sleep. The node
                    // stays queued; a later wake-up is merely spurious.
                    retry_hint();
                    // Contained; if the waker panics, the node is queued all the same.
                    self.topic.with_own_waker(|| cx.waker().wake_by_ref());
                }
                Poll::Pending
            }
        }
    }

    /// `peek`, blocking the thread until an event is ready, the stream ends, or `deadline` (if
    /// any): the wait of every thread receiver.
    ///
    /// Like crossbeam-channel's receivers: before parking it looks again under a
    /// [`Backoff`](crossbeam_utils::Backoff), 7 rounds of doubling spin-loop hints (127 hints
    /// in all) and then 4 `yield_now`s, and parks once the backoff is completed. A sender that
    /// has not published for that long (microseconds) is evidently idle; one that is still
    /// publishing is caught without costing it a wake-up syscall. Bounded: 12 looks
    /// (`BLOCKING_LOOKS`) before each park, the first one included; after a wake-up the
    /// backoff starts again.
    pub(crate) fn wait_until(
        &mut self,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), RecvTimeoutError> {
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            #[cfg(test)]
            tests::blocking_hook(tests::Blocking::Look);
            match self.peek() {
                Ok(()) => return Ok(()),
                Err(TryRecvError::Closed) => return Err(RecvTimeoutError::Closed),
                Err(TryRecvError::Empty) => {}
            }
            // The clock is read only when there is a deadline.
            let now = deadline.map(|deadline| (deadline, std::time::Instant::now()));
            if now.is_some_and(|(deadline, now)| now >= deadline) {
                return Err(RecvTimeoutError::Timeout);
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            // The backoff above has looked again many times already: no burst yield on top.
            self.streak = 0;
            let waker = self.thread_waker();
            let mut cx = Context::from_waker(&waker);
            match self.poll_ready(&mut cx) {
                Poll::Ready(true) => return Ok(()),
                Poll::Ready(false) => return Err(RecvTimeoutError::Closed),
                // A wake-up left registered after a timeout only unparks this thread
                // spuriously later, which every park tolerates.
                Poll::Pending => {
                    #[cfg(test)]
                    tests::blocking_hook(tests::Blocking::Park);
                    match now {
                        // Loom builds have no time limits (`recv_deadline` is left out).
                        #[cfg(not(tidings_loom))]
                        Some((deadline, now)) => std::thread::park_timeout(deadline - now),
                        _ => thread::park(),
                    }
                    backoff.reset();
                }
            }
        }
    }

    /// `wait_until` without a deadline: `true` once an event is ready, `false` at the end.
    #[inline]
    pub(crate) fn wait_blocking(&mut self) -> bool {
        self.wait_until(None).is_ok()
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
pub(crate) struct ThreadWaker(pub(crate) thread::Thread);

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
        // Backpressure: the cell first, with a position no later than the start index, so that
        // no sender lets this subscription fall more than the bound behind (see `topic`).
        let position = topic.register_position();
        let (seg, index) = topic.start_cursor();
        if let Some(cell) = &position {
            topic.publish_position(cell, index);
        }
        let offset = (index - seg.start()) as usize;
        Self::at(shared, topic, seg, offset, position)
    }

    /// A subscription reading from `offset` in `seg`, whose reference it takes over, and
    /// already counted among the topic's subscribers; `position` is its Backpressure cell,
    /// holding the cursor's index already.
    fn at(
        shared: std::sync::Arc<Shared>,
        topic: std::sync::Arc<Topic<E>>,
        seg: SegmentRef<E>,
        offset: usize,
        position: Option<Position>,
    ) -> Self {
        // Backpressure: the bias keeps every read off the fast path (`Cursor`).
        let bias = if position.is_some() { SEGMENT_CAP } else { 0 };
        let cursor = Cursor::new(seg, offset, bias);
        Subscription {
            live: Some(Live {
                shared,
                topic,
                first: cursor.index(),
                cursor,
                waiter: None,
                thread_waker: None,
                retired: 0,
                streak: 0,
                position,
                missed: 0,
            }),
        }
    }

    pub(crate) fn closed() -> Self {
        Subscription { live: None }
    }

    /// The cursor and its state; `None` for a subscription made closed.
    #[inline]
    pub(crate) fn live_mut(&mut self) -> Option<&mut Live<E>> {
        self.live.as_mut()
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
        Some(
            live.cursor
                .seg
                .get(live.cursor.offset() - 1)
                .expect("slot was ready"),
        )
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
        // As in `recv_ref`.
        Ok(live
            .cursor
            .seg
            .get(live.cursor.offset() - 1)
            .expect("slot was ready"))
    }

    /// Events this subscription lost so far: sent to it, but dropped by a bounded topic with
    /// [`Overflow::DropOldest`](crate::Overflow::DropOldest) before it read them. Always 0 for
    /// other types. Received plus missed is every event sent to this subscription.
    ///
    /// A count rather than an error: tokio's broadcast reports a gap as
    /// `RecvError::Lagged(n)`, which every `recv` loop must handle (or end on) even though the
    /// next call just returns the next event; a `Stream` of events cannot carry it at all
    /// without an item type of `Result`. Here the stream keeps its item type, `recv` returns
    /// `None` only at the end, and a consumer that cares reads the count when it likes, e.g.
    /// after each event: the gap lies right before the first event received after the count
    /// grew.
    ///
    /// ```
    /// use tidings::{Bus, Overflow};
    ///
    /// let bus = Bus::builder().bound::<u32>(64, Overflow::DropOldest).build();
    /// let mut sub = bus.subscribe::<u32>();
    /// for i in 0..1000u32 {
    ///     bus.send(i).unwrap();
    /// }
    /// let mut received = 0;
    /// while sub.try_recv().is_ok() {
    ///     received += 1;
    /// }
    /// assert!(sub.missed() > 0);
    /// assert_eq!(received + sub.missed(), 1000);
    /// ```
    pub fn missed(&self) -> u64 {
        self.live.as_ref().map_or(0, |live| live.missed)
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

/// What the scope layer's by-reference reads do with the event at the cursor.
pub(crate) enum Pick {
    /// Consume it without returning it.
    Skip,
    /// Return it.
    Take,
    /// Consume it and end the subscription.
    End,
}

/// The scope layer's by-reference reads (see `scope::delivery`): find the next event to take,
/// then take it, so that no borrow of the event outlives a decision to end.
impl<E: Send + Sync + 'static> Subscription<E> {
    /// Consumes events until the one at the cursor is one `pick` takes, which stays there for
    /// [`take_ready`](Self::take_ready): `Ok`. `Err(Closed)` once the stream ends, or after an
    /// event `pick` says ends it (then this subscription is closed and its backlog freed).
    pub(crate) fn try_pick_ready(
        &mut self,
        mut pick: impl FnMut(&E) -> Pick,
    ) -> Result<(), TryRecvError> {
        let live = self.live.as_mut().ok_or(TryRecvError::Closed)?;
        loop {
            live.peek()?;
            match pick(live.current()) {
                Pick::Take => return Ok(()),
                Pick::Skip => live.advance(),
                Pick::End => {
                    *self = Subscription::closed();
                    return Err(TryRecvError::Closed);
                }
            }
        }
    }

    /// `try_pick_ready`, waiting: `Ready(true)` with an event to take at the cursor,
    /// `Ready(false)` once ended.
    pub(crate) fn poll_pick_ready(
        &mut self,
        cx: &mut Context<'_>,
        mut pick: impl FnMut(&E) -> Pick,
    ) -> Poll<bool> {
        let Some(live) = self.live.as_mut() else {
            return Poll::Ready(false);
        };
        loop {
            match live.poll_ready(cx) {
                Poll::Ready(true) => match pick(live.current()) {
                    Pick::Take => return Poll::Ready(true),
                    Pick::Skip => live.advance(),
                    Pick::End => {
                        *self = Subscription::closed();
                        return Poll::Ready(false);
                    }
                },
                Poll::Ready(false) => return Poll::Ready(false),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Consumes the event at the cursor, which `try_pick_ready` or `poll_pick_ready` found
    /// ready, and returns it by reference, valid until the next call on this subscription.
    ///
    /// # Panics
    ///
    /// If no event was found ready (a bug in the caller).
    pub(crate) fn take_ready(&mut self) -> &E {
        let live = self.live.as_mut().expect("a ready event at the cursor");
        live.advance();
        // As in `recv_ref`: the slot at `offset - 1` was found ready.
        live.cursor
            .seg
            .get(live.cursor.offset() - 1)
            .expect("slot was ready")
    }
}

/// The scope layer's blocking and counting reads (see `scope::delivery`).
impl<E: Send + Sync + 'static> Subscription<E> {
    /// `try_pick`, blocking the thread until an event is picked, the stream ends, or `deadline`
    /// (if any).
    #[cfg(not(tidings_loom))]
    pub(crate) fn pick_until<T>(
        &mut self,
        deadline: Option<std::time::Instant>,
        mut pick: impl FnMut(&E) -> Option<T>,
    ) -> Result<T, RecvTimeoutError> {
        loop {
            match self.try_pick(&mut pick) {
                Ok(value) => return Ok(value),
                Err(TryRecvError::Closed) => return Err(RecvTimeoutError::Closed),
                Err(TryRecvError::Empty) => {}
            }
            let live = self.live.as_mut().ok_or(RecvTimeoutError::Closed)?;
            live.wait_until(deadline)?;
        }
    }

    /// Counts the events ready at and after the cursor for which `count` says `Some(true)`,
    /// stopping at the first it says `None` for, or at the first slot not yet written. Reads
    /// without consuming; O(events ready).
    pub(crate) fn count_ready(&self, count: impl FnMut(&E) -> Option<bool>) -> usize {
        match &self.live {
            None => 0,
            Some(live) => live
                .topic
                .count_ready(&live.cursor.seg, live.cursor.offset(), count),
        }
    }
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
        if let Some(event) = live.take_ready() {
            return Poll::Ready(Some(event));
        }
        live.poll_recv_slow(cx)
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
        // The fast path of `poll_recv`: an event ready in the cursor's segment needs no wait.
        if let Some(event) = live.take_ready() {
            return Some(event);
        }
        live.recv_blocking_slow()
    }
}

/// Looks a thread receiver takes in its backoff loop before it parks: the one that finds the
/// stream empty and one after each [`Backoff::snooze`](crossbeam_utils::Backoff::snooze) until
/// the backoff is completed (crossbeam-utils 0.8: spin limit 6, yield limit 10, so 11 snoozes).
/// `poll_ready` then looks twice more around joining the wait list. A test checks the count.
#[cfg(test)]
const BLOCKING_LOOKS: u32 = 12;

/// Blocking receives with a time limit, as in crossbeam and flume.
#[cfg(not(tidings_loom))]
impl<E: Clone + Send + Sync + 'static> Subscription<E> {
    /// Receives the next event, blocking the thread for at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if no event came in time, [`RecvTimeoutError::Closed`] once
    /// the bus is closed and every event sent before the close has been received.
    ///
    /// Do not call it from an async task: it blocks the executor's thread.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidings::RecvTimeoutError;
    ///
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u32>();
    /// assert_eq!(sub.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// let sender = bus.clone();
    /// let t = std::thread::spawn(move || sender.send(7u32).unwrap());
    /// assert_eq!(sub.recv_timeout(Duration::from_secs(10)), Ok(7));
    /// t.join().unwrap();
    /// ```
    pub fn recv_timeout(&mut self, timeout: std::time::Duration) -> Result<E, RecvTimeoutError> {
        match std::time::Instant::now().checked_add(timeout) {
            Some(deadline) => self.recv_deadline(deadline),
            // Beyond what an `Instant` can hold: no deadline at all.
            None => self.recv_blocking().ok_or(RecvTimeoutError::Closed),
        }
    }

    /// Receives the next event, blocking the thread until `deadline` at the latest. A deadline
    /// in the past still takes an event that is ready now.
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Self::recv_timeout).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use tidings::RecvTimeoutError;
    ///
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u32>();
    /// bus.send(1u32).unwrap();
    /// assert_eq!(sub.recv_deadline(Instant::now()), Ok(1));
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// assert_eq!(sub.recv_deadline(deadline), Err(RecvTimeoutError::Timeout));
    /// assert!(Instant::now() >= deadline);
    /// ```
    pub fn recv_deadline(&mut self, deadline: std::time::Instant) -> Result<E, RecvTimeoutError> {
        let live = self.live.as_mut().ok_or(RecvTimeoutError::Closed)?;
        live.wait_until(Some(deadline))?;
        let event = live.current().clone();
        live.advance();
        Ok(event)
    }
}

impl<E: Send + Sync + 'static> Subscription<E> {
    /// How many events wait for this subscription: sent (or being sent) to it and not yet
    /// received. A snapshot; other threads may send meanwhile.
    ///
    /// For a [`DropOldest`](crate::Overflow::DropOldest) type, only what it will still
    /// receive: a subscription the topic has overtaken counts the rest of the segment it is
    /// in and the events the topic still retains, not those it dropped (which its next reads
    /// skip and add to [`missed`](Self::missed)). So it stays below `c + 2 * 64` for a bound
    /// `c` (the rest of one segment plus the topic's retention), however long the
    /// subscription has been idle.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u8>();
    /// assert!(sub.is_empty());
    /// bus.send(1u8).unwrap();
    /// bus.send(2u8).unwrap();
    /// assert_eq!(sub.len(), 2);
    /// sub.try_recv().unwrap();
    /// assert_eq!(sub.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        match &self.live {
            None => 0,
            Some(live) => usize::try_from(live.backlog()).unwrap_or(usize::MAX),
        }
    }

    /// This subscription's counters, a snapshot: backlog (as [`len`](Self::len)) and events
    /// received. Per-type counters are in [`Bus::stats`](crate::Bus::stats).
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u8>();
    /// for i in 0..3u8 {
    ///     bus.send(i).unwrap();
    /// }
    /// sub.try_recv().unwrap();
    /// let stats = sub.stats();
    /// assert_eq!((stats.backlog, stats.received, stats.closed), (2, 1, false));
    /// ```
    pub fn stats(&self) -> SubscriptionStats {
        let type_name = std::any::type_name::<E>();
        match &self.live {
            None => SubscriptionStats {
                type_name,
                backlog: 0,
                received: 0,
                missed: 0,
                closed: true,
            },
            Some(live) => SubscriptionStats {
                type_name,
                backlog: self.len() as u64,
                received: live.cursor.index() - live.first - live.missed,
                missed: live.missed,
                closed: live.topic.is_closed(),
            },
        }
    }

    /// Whether no event waits for this subscription (`len() == 0`).
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let sub = bus.subscribe::<u8>();
    /// assert!(sub.is_empty());
    /// bus.send(1u8).unwrap();
    /// assert!(!sub.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A second subscription at this one's position: it receives every event this one has not
    /// received yet, and everything sent later, independently of this one. (tokio's
    /// `resubscribe` starts at the tail instead; for that, call
    /// [`Bus::subscribe`](crate::Bus::subscribe) again.)
    ///
    /// A subscription that has ended gives one that has ended too.
    ///
    /// # Panics
    ///
    /// As [`Bus::subscribe`](crate::Bus::subscribe), past 2^30 - 2 live subscriptions of `E`.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let mut first = bus.subscribe::<u8>();
    /// bus.send(1u8).unwrap();
    /// bus.send(2u8).unwrap();
    /// assert_eq!(first.try_recv(), Ok(1));
    /// let mut second = first.resubscribe();
    /// assert_eq!(second.try_recv(), Ok(2));
    /// assert_eq!(first.try_recv(), Ok(2));
    /// assert_eq!(bus.subscriber_count::<u8>(), 2);
    /// ```
    pub fn resubscribe(&self) -> Subscription<E> {
        let Some(live) = &self.live else {
            return Subscription::closed();
        };
        // We are counted, so the count is not zero and the topic cannot be dead.
        if !live.topic.try_add_subscriber() {
            return Subscription::closed();
        }
        // The new cursor's own reference; ours keeps the count above zero meanwhile.
        let seg = live.cursor.seg.acquire();
        let offset = live.cursor.offset();
        // Backpressure: a cell of its own at our position. Until it holds that, ours (at the
        // same position, and kept by `&self`) holds the senders back for it.
        let position = live.topic.register_position();
        if let Some(cell) = &position {
            live.topic.publish_position(cell, live.cursor.index());
        }
        Subscription::at(
            std::sync::Arc::clone(&live.shared),
            std::sync::Arc::clone(&live.topic),
            seg,
            offset,
            position,
        )
    }
}

impl<E: Clone + Send + Sync + 'static> Stream for Subscription<E> {
    type Item = E;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<E>> {
        self.get_mut().poll_recv(cx)
    }
}

/// Ends after the bus closed and every event sent before has been received, as flume's and
/// async-broadcast's receivers do.
impl<E: Clone + Send + Sync + 'static> FusedStream for Subscription<E> {
    fn is_terminated(&self) -> bool {
        Subscription::is_terminated(self)
    }
}

impl<E: Send + Sync + 'static> Drop for Subscription<E> {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            let Live {
                shared,
                topic,
                cursor,
                waiter,
                position,
                ..
            } = live;
            // Unsubscribes even if the release unwinds (a pin may run someone else's panicking
            // deferred function): a subscription that is gone must not stay counted.
            struct Unsubscribe<'a, E: Send + Sync + 'static> {
                shared: &'a Shared,
                topic: &'a std::sync::Arc<Topic<E>>,
                position: Option<Position>,
            }
            impl<E: Send + Sync + 'static> Drop for Unsubscribe<'_, E> {
                fn drop(&mut self) {
                    self.shared.unsubscribe(self.topic);
                    if let Some(cell) = &self.position {
                        // After the count fell: a sender woken here that finds no subscription
                        // left reports that instead of storing for nobody.
                        self.topic.release_position(cell);
                    }
                }
            }
            let unsubscribe = Unsubscribe {
                shared: &shared,
                topic: &topic,
                position,
            };
            topic.release(cursor.seg);
            drop(unsubscribe);
            if let Some(node) = waiter {
                topic.unpark(node);
            }
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
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::task::{Context, Poll, Waker};

    use super::BLOCKING_LOOKS;
    use crate::{Bus, Overflow, SendError, TryRecvError};

    /// A Backpressure subscription's one-event reads make room for exactly one more send
    /// each: its cursor's bias keeps them off the fast path, which publishes no position
    /// (`Cursor`). Every reading that has a fast path, and one through a segment boundary.
    #[cfg(not(tidings_loom))]
    #[test]
    fn backpressure_one_event_reads_publish_their_position() {
        let bus = Bus::builder()
            .bound::<u32>(2, Overflow::Backpressure)
            .build();
        let mut sub = bus.subscribe::<u32>();
        let mut cx = Context::from_waker(Waker::noop());
        let mut next = 0u32;
        for _ in 0..2 {
            bus.send(next).unwrap();
            next += 1;
        }
        for i in 0..super::SEGMENT_CAP as u32 + 8 {
            assert!(
                matches!(bus.send(next), Err(SendError::Full(_))),
                "read {i}: full"
            );
            let got = if i % 2 == 0 {
                sub.poll_recv(&mut cx)
            } else {
                Poll::Ready(sub.recv_blocking())
            };
            assert_eq!(got, Poll::Ready(Some(i)));
            bus.send(next).expect("one read, room for one send");
            next += 1;
        }
    }

    thread_local! {
        /// Called by `wait_blocking` on this thread at each look and before each park.
        static BLOCKING: RefCell<Option<BlockingHook>> = RefCell::new(None);
    }

    type BlockingHook = Box<dyn FnMut(Blocking)>;

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub(super) enum Blocking {
        Look,
        Park,
    }

    pub(super) fn blocking_hook(what: Blocking) {
        // Taken out while it runs, so that it may itself send (which does not re-enter).
        let hook = BLOCKING.with(|h| h.borrow_mut().take());
        if let Some(mut f) = hook {
            f(what);
            BLOCKING.with(|h| *h.borrow_mut() = Some(f));
        }
    }

    fn on_blocking(f: impl FnMut(Blocking) + 'static) {
        BLOCKING.with(|h| *h.borrow_mut() = Some(Box::new(f)));
    }

    /// A thread receiver with nothing coming looks again a bounded number of times (the
    /// backoff), then parks, and the next send wakes it; `recv_many_blocking` waits the same
    /// way.
    #[test]
    fn a_thread_receiver_backs_off_a_bounded_number_of_looks_then_parks_and_is_woken() {
        for batch in [false, true] {
            let bus = Bus::new();
            let mut sub = bus.subscribe::<u32>();
            let parked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = parked.clone();
            let receiver = std::thread::spawn(move || {
                let events = Rc::new(RefCell::new(Vec::new()));
                let log = events.clone();
                on_blocking(move |what| {
                    log.borrow_mut().push(what);
                    if what == Blocking::Park {
                        flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                });
                let got = if batch {
                    let mut buf = Vec::new();
                    assert_eq!(sub.recv_many_blocking(&mut buf, 8), 1);
                    buf[0]
                } else {
                    sub.recv_blocking().unwrap()
                };
                let events = events.borrow().clone();
                (got, events)
            });
            while !parked.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::yield_now();
            }
            bus.send(5u32).unwrap();
            let (got, events) = receiver.join().unwrap();
            assert_eq!(got, 5);
            let first_park = events.iter().position(|&e| e == Blocking::Park).unwrap();
            assert_eq!(
                first_park as u32, BLOCKING_LOOKS,
                "the backoff must look again exactly {BLOCKING_LOOKS} times before parking"
            );
            // Woken by the send (or spuriously, then parked again): it ended with a look that
            // found the event, and every park came after a full backoff.
            assert_eq!(events.last(), Some(&Blocking::Look));
            let parks = events.iter().filter(|&&e| e == Blocking::Park).count();
            // At most a full backoff before each park and one after the last (a spurious
            // wake-up may precede the send): bounded, never spinning on.
            let looks = events.len() - parks;
            assert!(
                looks <= (parks + 1) * BLOCKING_LOOKS as usize,
                "{looks} looks, {parks} parks"
            );
        }
    }

    /// A sender that publishes while the receiver backs off is caught without a park.
    #[test]
    fn a_thread_receiver_catches_an_event_sent_during_its_backoff_without_parking() {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u32>();
        let sender = bus.clone();
        let mut looks = 0;
        let parks = Rc::new(Cell::new(0));
        let p = parks.clone();
        on_blocking(move |what| match what {
            Blocking::Look => {
                looks += 1;
                // Mid-backoff, as a sender on another core would.
                if looks == 5 {
                    sender.send(8u32).unwrap();
                }
            }
            Blocking::Park => p.set(p.get() + 1),
        });
        assert_eq!(sub.recv_blocking(), Some(8));
        assert_eq!(parks.get(), 0);
        BLOCKING.with(|h| h.borrow_mut().take());
    }

    /// A waker that counts its wakes.
    fn counting_waker() -> (Waker, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let woken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        (
            Waker::from(std::sync::Arc::new(Count(woken.clone()))),
            woken,
        )
    }

    #[test]
    fn only_a_subscription_fed_a_burst_yields_before_parking() {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u32>();
        let (waker, woken) = counting_waker();
        let wakes = || woken.load(std::sync::atomic::Ordering::SeqCst);
        let mut cx = Context::from_waker(&waker);
        // One event per wake-up (request-response): park at once, every time (the send wakes
        // the parked task once; the empty poll itself wakes nothing).
        for i in 0..3u32 {
            assert_eq!(sub.poll_recv(&mut cx), Poll::Pending);
            assert_eq!(
                wakes(),
                i as usize,
                "a one-event streak must park, not yield"
            );
            bus.send(i).unwrap();
            assert_eq!(wakes(), i as usize + 1);
            assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(i)));
        }
        assert_eq!(sub.poll_recv(&mut cx), Poll::Pending);
        assert_eq!(wakes(), 3);
        bus.send(9u32).unwrap();
        assert_eq!(wakes(), 4);
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(9)));
        // A burst of two or more (9 was taken after a park, so the streak starts there): the
        // next empty poll yields (wakes its own task at once) without parking, so a send now
        // wakes nothing...
        bus.send(10u32).unwrap();
        bus.send(11u32).unwrap();
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(10)));
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(11)));
        assert_eq!(wakes(), 4, "the sends found nobody parked");
        assert_eq!(sub.poll_recv(&mut cx), Poll::Pending);
        assert_eq!(wakes(), 5, "a burst's first empty poll yields");
        // ... and the poll after the yield, still empty, parks: no second yield.
        assert_eq!(sub.poll_recv(&mut cx), Poll::Pending);
        assert_eq!(
            wakes(),
            5,
            "the streak restarts: the second empty poll parks"
        );
        bus.send(12u32).unwrap();
        assert_eq!(wakes(), 6, "parked after the yield: the send wakes it");
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(12)));
    }

    /// A waker that panics when the poll yields: the panic stays inside tidings (counted in
    /// `user_panics`), the poll parks instead, and a send still reaches it.
    #[test]
    fn a_yield_whose_waker_panics_is_contained_and_parks_instead() {
        struct Hostile(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl std::task::Wake for Hostile {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                panic!("hostile waker");
            }
        }
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u32>();
        let tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let waker = Waker::from(std::sync::Arc::new(Hostile(tries.clone())));
        let mut cx = Context::from_waker(&waker);
        bus.send(1u32).unwrap();
        bus.send(2u32).unwrap();
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(1)));
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(2)));
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        // The yield calls the waker, which panics: contained, and the poll parks.
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sub.poll_recv(&mut cx)));
        let tried = tries.load(std::sync::atomic::Ordering::SeqCst);
        let after_poll = bus.stats().user_panics;
        // Parked: the send wakes it (and that panic is contained too).
        bus.send(3u32).unwrap();
        let woken = tries.load(std::sync::atomic::Ordering::SeqCst);
        std::panic::set_hook(hook);
        assert_eq!(polled.ok(), Some(Poll::Pending), "no panic out of the poll");
        assert_eq!((tried, after_poll), (1, 1));
        assert_eq!((woken, bus.stats().user_panics), (2, 2));
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(3)));
    }

    /// The loom model `burst_then_park` covers a send or a close landing around the yield.
    #[test]
    fn a_subscription_that_yielded_finds_what_came_meanwhile_or_the_end() {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u32>();
        let (waker, woken) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        bus.send(1u32).unwrap();
        bus.send(2u32).unwrap();
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(1)));
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(2)));
        // Yields; an event sent before the task is polled again is taken by that poll.
        assert_eq!(sub.poll_recv(&mut cx), Poll::Pending);
        assert_eq!(woken.load(std::sync::atomic::Ordering::SeqCst), 1);
        bus.send(3u32).unwrap();
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(3)));
        bus.send(4u32).unwrap();
        assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(4)));
        // A burst, a yield, then the close: the next poll reports the end.
        assert_eq!(sub.poll_recv(&mut cx), Poll::Pending);
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
