//! Batch reads: every ready event in one call (`recv_many`, `try_recv_many`,
//! `recv_many_blocking`, and [`Batch`] by reference). `Stream::poll_next` (through
//! `poll_recv`) takes its fast path from the same reading in place (`Live::take_ready`).
//!
//! A subscription is a cursor over write-once slots, so reading a run is walking the cursor
//! over consecutive slots whose `ready` flag is set: one wait (or none) and one poll for the
//! run, instead of one per event. The guarantees are those of one-at-a-time reads, because a
//! batch read *is* a sequence of them without the waiting in between: events come in the
//! type's one order, an event is consumed exactly when it is handed over (a clone that panics
//! consumes nothing, events already in the buffer stay consumed), a dropped `recv_many` future
//! has consumed nothing (it moves events only in the poll that returns `Ready`), and a closed
//! subscription drains everything sent before the close before it reports the end.
//!
//! The send side is [`Bus::send_all`](crate::Bus::send_all) (`Topic::push_all`).

#![forbid(unsafe_code)]

use std::future::poll_fn;
use std::task::{Context, Poll};

use crate::error::TryRecvError;
use crate::scope::delivery::Envelope;
use crate::segment::{Run, SEGMENT_CAP};
use crate::subscription::{Live, Subscription};

impl<E: Send + Sync + 'static> Live<E> {
    /// Clones up to `limit` ready events from the cursor into `buf`, crossing segments as
    /// needed; stops at the first slot not yet written. Returns how many it took. Per event:
    /// the slot's `ready` load, the clone and the push; the segment, its end and the limit are
    /// settled once per segment.
    ///
    /// The cursor moves past each event only after it is cloned, so a panicking `clone`
    /// consumes neither it nor anything after it; what is in `buf` stays consumed.
    #[inline]
    fn take_cloned(&mut self, buf: &mut Vec<E>, limit: usize) -> usize
    where
        E: Clone,
    {
        let mut taken = 0;
        while taken < limit {
            if self.cursor_offset() == SEGMENT_CAP && !self.cross() {
                break;
            }
            let start = self.cursor_offset();
            let end = SEGMENT_CAP.min(start + (limit - taken));
            let (seg, mut cursor) = self.split_cursor();
            // The segment's address in a register for the loop (`SegmentRef::view`).
            let seg = seg.view();
            let mut offset = start;
            while offset < end {
                let Some(event) = seg.get(offset) else {
                    break;
                };
                buf.push(event.clone());
                offset += 1;
                cursor.set(offset);
            }
            taken += offset - start;
            if offset < SEGMENT_CAP {
                // A slot not yet written, or `limit` reached, before the segment's end.
                break;
            }
        }
        self.streak = self.streak.saturating_add(taken as u32);
        taken
    }

    /// The run of ready events from the cursor to at most the end of its segment, at most
    /// `limit` long, consumed: the cursor moves past it, staying in the segment (an offset of
    /// `SEGMENT_CAP` is "at the start of the successor", see `Cursor`), so the run stays valid
    /// until the next call. The caller found the cursor's slot ready (`peek`).
    #[inline]
    fn take_run(&mut self, limit: usize) -> Batch<'_, E> {
        let start = self.cursor_offset();
        let end = SEGMENT_CAP.min(start.saturating_add(limit));
        // The cursor's reference is released no earlier than the next call on the
        // subscription, which the returned borrow prevents.
        let (seg, mut cursor) = self.split_cursor();
        let run = seg.ready_run(start, end, |_| true);
        cursor.set(run.end());
        cursor.count_streak(run.len());
        Batch {
            run: Slots::Plain(run),
        }
    }
}

/// The scope layer's by-reference runs (see `ScopedSubscription::recv_many_ref`).
impl<E: Send + Sync + 'static> Subscription<E> {
    /// The run of ready events from the cursor, whose first event the caller found ready and
    /// takes (`try_pick_ready`, `poll_pick_ready`), extended while `keep` holds for the next,
    /// at most `limit` long and to the end of the cursor's segment at most; consumed, as in
    /// `take_run`.
    ///
    /// # Panics
    ///
    /// If no event was found ready (a bug in the caller).
    pub(crate) fn take_ready_run(
        &mut self,
        limit: usize,
        keep: impl FnMut(&E) -> bool,
    ) -> Run<'_, E> {
        let live = self.live_mut().expect("a ready event at the cursor");
        let start = live.cursor_offset();
        debug_assert!(start < SEGMENT_CAP, "the caller found an event ready here");
        let end = SEGMENT_CAP.min(start.saturating_add(limit));
        // As in `take_run`: the cursor's reference is released no earlier than the next call
        // on the subscription, which the returned borrow prevents.
        let (seg, mut cursor) = live.split_cursor();
        let run = seg.ready_run(start, end, keep);
        assert!(run.len() > 0, "a ready event at the cursor");
        cursor.set(run.end());
        run
    }
}

impl<E: Clone + Send + Sync + 'static> Subscription<E> {
    /// Receives every event that is ready, up to `limit`, into `buf`, waiting for at least one
    /// if none is. Returns how many were appended.
    ///
    /// Returns 0 only once the bus is closed and every event sent before the close has been
    /// received, or at once if `limit` is 0 (tokio's `mpsc::Receiver::recv_many` convention).
    /// Events come in the one order every subscription shares; `buf` is appended to, not
    /// cleared. Cancel-safe: a `recv_many` dropped before it completes has consumed nothing.
    /// If `E::clone` panics, that event and the ones after it are not consumed.
    ///
    /// One wait and one poll per run instead of per event: a subscription that has fallen
    /// behind catches up at a few instructions per event.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u32>();
    /// bus.send_all([1u32, 2, 3]).unwrap();
    /// let mut buf = Vec::new();
    /// assert_eq!(sub.recv_many(&mut buf, 2).await, 2);
    /// assert_eq!(sub.recv_many(&mut buf, 2).await, 1);
    /// assert_eq!(buf, [1, 2, 3]);
    /// drop(bus); // closes the bus
    /// assert_eq!(sub.recv_many(&mut buf, 2).await, 0);
    /// # });
    /// ```
    pub async fn recv_many(&mut self, buf: &mut Vec<E>, limit: usize) -> usize {
        poll_fn(|cx| self.poll_recv_many(cx, buf, limit)).await
    }

    /// Polls for a run of events: `Ready(n)` after appending `n` (at least one, at most
    /// `limit`) ready events to `buf`, `Ready(0)` once closed and drained (or if `limit` is 0),
    /// `Pending` with the waker registered as in [`poll_recv`](Subscription::poll_recv) when
    /// nothing is ready. The building block of `recv_many`.
    ///
    /// ```
    /// use std::task::{Context, Poll};
    ///
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u8>();
    /// let mut cx = Context::from_waker(std::task::Waker::noop());
    /// let mut buf = Vec::new();
    /// assert_eq!(sub.poll_recv_many(&mut cx, &mut buf, 8), Poll::Pending);
    /// bus.send_all([1u8, 2]).unwrap();
    /// assert_eq!(sub.poll_recv_many(&mut cx, &mut buf, 8), Poll::Ready(2));
    /// assert_eq!(buf, [1, 2]);
    /// ```
    pub fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut Vec<E>,
        limit: usize,
    ) -> Poll<usize> {
        if limit == 0 {
            return Poll::Ready(0);
        }
        let Some(live) = self.live_mut() else {
            return Poll::Ready(0);
        };
        match live.poll_ready(cx) {
            Poll::Ready(true) => {
                // `poll_ready` counted one event of the streak already (unless it found it after
                // parking, with the streak at 0); `take_cloned` counts each.
                live.streak = live.streak.saturating_sub(1);
                Poll::Ready(live.take_cloned(buf, limit))
            }
            Poll::Ready(false) => Poll::Ready(0),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Receives every event that is ready now, up to `limit`, into `buf`; never waits.
    ///
    /// `Ok(n)` with `n >= 1` events appended (`Ok(0)` only if `limit` is 0); otherwise
    /// [`TryRecvError::Empty`] or, once closed and drained, [`TryRecvError::Closed`].
    ///
    /// ```
    /// use tidings::TryRecvError;
    ///
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u8>();
    /// let mut buf = Vec::new();
    /// assert_eq!(sub.try_recv_many(&mut buf, 16), Err(TryRecvError::Empty));
    /// bus.send_all([4u8, 5, 6]).unwrap();
    /// assert_eq!(sub.try_recv_many(&mut buf, 16), Ok(3));
    /// bus.close();
    /// assert_eq!(sub.try_recv_many(&mut buf, 16), Err(TryRecvError::Closed));
    /// assert_eq!(buf, [4, 5, 6]);
    /// ```
    pub fn try_recv_many(&mut self, buf: &mut Vec<E>, limit: usize) -> Result<usize, TryRecvError> {
        if limit == 0 {
            return Ok(0);
        }
        let live = self.live_mut().ok_or(TryRecvError::Closed)?;
        live.peek()?;
        Ok(live.take_cloned(buf, limit))
    }

    /// Receives every event that is ready, up to `limit`, into `buf`, blocking the thread until
    /// at least one is; for code outside any async runtime. Returns 0 only once closed and
    /// drained (or if `limit` is 0).
    ///
    /// Waits as [`recv_blocking`](Subscription::recv_blocking) does: a bounded backoff, then
    /// parks. Do not call it from an async task.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<u64>();
    /// let sender = bus.clone();
    /// let t = std::thread::spawn(move || {
    ///     sender.send_all([1u64, 2, 3]).unwrap();
    ///     sender.close();
    /// });
    /// let mut buf = Vec::new();
    /// while sub.recv_many_blocking(&mut buf, 64) > 0 {}
    /// assert_eq!(buf, [1, 2, 3]);
    /// t.join().unwrap();
    /// ```
    pub fn recv_many_blocking(&mut self, buf: &mut Vec<E>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        let Some(live) = self.live_mut() else {
            return 0;
        };
        if !live.wait_blocking() {
            return 0;
        }
        live.take_cloned(buf, limit)
    }
}

impl<E: Send + Sync + 'static> Subscription<E> {
    /// Receives the run of ready events by reference, without cloning; `E` need not be
    /// `Clone`. Waits for at least one event if none is ready.
    ///
    /// The run is at most `limit` events long and ends at the first event not yet sent, or at
    /// the end of the segment the subscription is reading (64 events; a longer backlog comes
    /// in several runs). It is consumed when returned and borrowed until the next call on this
    /// subscription. Empty only once closed and drained (or if `limit` is 0). Cancel-safe.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// struct Frame(Vec<u8>); // not Clone
    ///
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<Frame>();
    /// bus.send_all([Frame(vec![1]), Frame(vec![2, 3])]).unwrap();
    /// let bytes: usize = sub.recv_many_ref(16).await.map(|f| f.0.len()).sum();
    /// assert_eq!(bytes, 3);
    /// drop(bus);
    /// assert!(sub.recv_many_ref(16).await.is_empty());
    /// # });
    /// ```
    pub async fn recv_many_ref(&mut self, limit: usize) -> Batch<'_, E> {
        if limit == 0 {
            return Batch::EMPTY;
        }
        let Some(live) = self.live_mut() else {
            return Batch::EMPTY;
        };
        if !poll_fn(|cx| live.poll_ready(cx)).await {
            return Batch::EMPTY;
        }
        live.streak = live.streak.saturating_sub(1);
        live.take_run(limit)
    }

    /// The run of ready events by reference, as [`recv_many_ref`](Subscription::recv_many_ref)
    /// but never waiting: a non-empty [`Batch`] (unless `limit` is 0), or why there is none.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let mut sub = bus.subscribe::<String>();
    /// bus.send_all(["a".to_string(), "b".to_string()]).unwrap();
    /// let run = sub.try_recv_many_ref(8).unwrap();
    /// assert_eq!(run.len(), 2);
    /// assert_eq!(run.collect::<Vec<_>>(), ["a", "b"]);
    /// assert_eq!(sub.try_recv_many_ref(8).unwrap_err(), tidings::TryRecvError::Empty);
    /// ```
    pub fn try_recv_many_ref(&mut self, limit: usize) -> Result<Batch<'_, E>, TryRecvError> {
        if limit == 0 {
            return Ok(Batch::EMPTY);
        }
        let live = self.live_mut().ok_or(TryRecvError::Closed)?;
        live.peek()?;
        Ok(live.take_run(limit))
    }
}

/// A run of consecutive events received by reference, from
/// [`Subscription::recv_many_ref`] or [`Subscription::try_recv_many_ref`]: an iterator of
/// `&E` in the stream's order, borrowed from the subscription.
///
/// The whole run was consumed when it was returned; iterating only part of it does not give
/// the rest back.
pub struct Batch<'a, E> {
    /// The events, read in place in the cursor's segment.
    run: Slots<'a, E>,
}

/// Where a [`Batch`]'s events are: a plain subscription's segment, or a scoped one's, whose
/// slots hold envelopes (every one in the run an event for the reading subscription).
enum Slots<'a, E> {
    Plain(Run<'a, E>),
    Scoped(Run<'a, Envelope<E>>),
}

impl<E> Clone for Slots<'_, E> {
    fn clone(&self) -> Self {
        match self {
            Slots::Plain(run) => Slots::Plain(run.clone()),
            Slots::Scoped(run) => Slots::Scoped(run.clone()),
        }
    }
}

impl<'a, E> Batch<'a, E> {
    pub(crate) const EMPTY: Self = Batch {
        run: Slots::Plain(Run::EMPTY),
    };

    /// A scoped subscription's run, every event of it an [`Envelope::Event`] (see
    /// `Subscription::take_ready_run`).
    pub(crate) fn scoped(run: Run<'a, Envelope<E>>) -> Self {
        Batch {
            run: Slots::Scoped(run),
        }
    }

    /// Events left in the run.
    pub fn len(&self) -> usize {
        match &self.run {
            Slots::Plain(run) => run.len(),
            Slots::Scoped(run) => run.len(),
        }
    }

    /// Whether the run has no events left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a, E> Iterator for Batch<'a, E> {
    type Item = &'a E;

    #[inline]
    fn next(&mut self) -> Option<&'a E> {
        match &mut self.run {
            Slots::Plain(run) => run.next(),
            Slots::Scoped(run) => match run.next()? {
                Envelope::Event { event, .. } => Some(event),
                Envelope::End(_) => unreachable!("a scoped run holds events only"),
            },
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<E> ExactSizeIterator for Batch<'_, E> {}

impl<E> std::iter::FusedIterator for Batch<'_, E> {}

impl<E> Clone for Batch<'_, E> {
    fn clone(&self) -> Self {
        Batch {
            run: self.run.clone(),
        }
    }
}

impl<E> std::fmt::Debug for Batch<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("len", &self.len()).finish()
    }
}
