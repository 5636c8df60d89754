//! One event type's stream: a global index counter, the tail of its segment list, its
//! subscription count and its parked subscriptions.
//!
//! How a send, a subscribe and a close work, their linearisation points and their orderings:
//! [`crate::docs::protocol`]. The index counter, the tail and the head are the topic's
//! [`SegmentList`], which also walks and frees the segments; this file keeps the rest:
//!
//! - A subscription reads `tail_index` once, after its subscriber count is visible to senders,
//!   and starts its cursor there: the "registered on return" promise.
//! - `close` stores the index its `fetch_or` returned in `closed_at`, so a subscription ends
//!   exactly when its cursor reaches it, after every event sent before the close.
//!
//! # Bounded topics
//!
//! A topic made for a type with a [`Bound`] carries the `BOUNDED` bit in its subscriber word,
//! so the compare by which `push` rejects a topic with no subscriber also sends a bounded one to
//! `push_other` (the unbounded send reads no policy; what the bounds' hooks cost unbounded topics
//! in time is measured in the README, "When a consumer is slow").
//!
//! **Backpressure** (capacity `c`): every subscription publishes its read position in a
//! cell of the topic's [`Positions`] list. A sender claims with a compare-and-swap instead
//! of `fetch_add`, and only claims index `i` if `i < min(position) + c`: accepting it leaves the
//! slowest subscription at most `c` events behind, and refusing it means accepting it would put
//! it further (exact, per event). The minimum is cached in `gate`, a lower bound of every live
//! position, so a sender scans the list only when the cached bound says the topic may be full.
//! A sender that finds it full may park on `senders` (push, SeqCst fence, look again); a
//! subscription stores its new position SeqCst and then loads `senders`' head SeqCst, the
//! Dekker pattern of `wait_list` with the roles swapped, so no wake-up is lost. Dropping a
//! subscription frees its cell and wakes every parked sender; so does `close`.
//!
//! **DropOldest** (capacity `c`): the list's `head` points to the oldest segment still retained and
//! holds a reference on it (the *head reference*; see `segment`). After writing index `i`, a sender
//! moves `head` forward (`SegmentList::trim`) past every segment whose events are all older than
//! the newest `c` (`start + SEGMENT_CAP <= i + 1 - c`), never past `tail_seg`. Moving `head` from
//! `H` to its successor `N` turns `H`'s link reference on `N` into the head reference (no count
//! changes), marks `H` *cut* so that its death does not cascade to `N`, and drops the head
//! reference on `H`. A subscription still in `H` keeps `H` alone alive: one segment per lagging
//! subscription. It must not follow `H.next` once `H` is cut (`N` may be freed), so a cursor of a
//! DropOldest topic crosses a segment boundary by first loading `head` under a pin: if `head` has
//! not passed its segment, the link was intact when it looked, so the successor is safe to
//! `try_acquire` (it is retired only after `head` passes it, after the load); otherwise it was
//! overtaken and jumps to `head` (`try_acquire`, retrying while the count is already zero),
//! counting the events it skipped as missed.
//!
//! Retained by a DropOldest topic of capacity `c`, when no send is in flight: the segments from
//! `head` to the one holding the newest event, at most `ceil((c - 1) / SEGMENT_CAP) + 1`
//! (`head` ends within `c + SEGMENT_CAP - 1` events of the newest), plus one segment per
//! subscription whose cursor `head` has passed. An overtaken subscription first reads what is
//! left of the segment it holds, then jumps.

#![forbid(unsafe_code)]

use crossbeam_utils::CachePadded;

use crate::bound::{Bound, Overflow};
use crate::lag::{self, LagWarning};
use crate::position::{Position, Positions};
use crate::segment::{CLOSED, Carrier, SEGMENT_CAP, SegmentList, SegmentRef, flush_epoch};
use crate::stats::UserPanics;
use crate::sync::epoch::{self, Guard};
use crate::sync::{Arc, AtomicU64, AtomicUsize, Ordering, fence};
use crate::wait_list::{WaitList, WaitNode};

/// `closed_at` before the topic is closed.
const OPEN: u64 = u64::MAX;
/// `subscribers` once the topic has been given up by its last subscription.
pub(crate) const DEAD: usize = usize::MAX;
/// Set in `subscribers` for the whole life of a bounded topic, beside the count in the bits
/// below it: one compare in `push` (`LIVE_UNBOUNDED`) then tells a live unbounded topic from
/// everything else (no subscriber, dead, bounded), so the unbounded send reads no policy.
const BOUNDED: usize = 1 << 30;
/// `subscribers - 1` is below this (wrapping) exactly when the topic is unbounded and has a
/// subscriber: 0 wraps to `usize::MAX`, `DEAD` to `usize::MAX - 1`, and a bounded count has
/// `BOUNDED` set. Fits a 32-bit immediate, so the compare is one instruction.
const LIVE_UNBOUNDED: usize = BOUNDED - 1;
/// The most subscriptions one topic counts (`try_add_subscriber` panics past it), so that a
/// count never reaches `BOUNDED`; each takes a cursor and a segment reference, so this is far
/// beyond memory in practice (tokio's broadcast caps its receivers the same way).
const MAX_SUBSCRIBERS: usize = BOUNDED - 2;

/// Why a push stored nothing.
pub(crate) enum Rejected {
    NoSubscribers,
    Closed,
    /// Backpressure: the slowest subscription is `capacity` events behind.
    Full,
}

/// `Topic::policy` values.
const UNBOUNDED: u8 = 0;
const DROP_OLDEST: u8 = 1;
const BACKPRESSURE: u8 = 2;

pub(crate) struct Topic<E> {
    /// The index counter (`tail_index`: claims, and the `CLOSED` bit), the tail segment and,
    /// for DropOldest, the head: see `segment`. Sends that fail after close still increment
    /// the counter's low bits, which is why the final index lives in `closed_at`.
    list: SegmentList<E>,
    /// Live subscriptions, plus [`BOUNDED`] for a bounded topic, or [`DEAD`] once the last one
    /// left and the topic is being removed from the registry (it never revives; a new
    /// subscription makes a new topic). The count is at most [`MAX_SUBSCRIBERS`].
    subscribers: AtomicUsize,
    /// [`UNBOUNDED`], [`DROP_OLDEST`] or [`BACKPRESSURE`]; fixed at creation. `push` reads it
    /// only for a bounded topic (`BOUNDED` in `subscribers` sends those to `push_other`).
    policy: u8,
    /// The bound's capacity in events (`u64::MAX` when unbounded); fixed at creation.
    capacity: u64,
    /// Backpressure: a lower bound of every live subscription's position (and of every later
    /// subscription's start), cached so that most sends do not scan `positions`. Only rises.
    gate: AtomicU64,
    /// Backpressure: the subscriptions' read positions.
    positions: Positions,
    /// Backpressure: parked senders, woken by reader progress, a subscription's drop, close.
    senders: WaitList,
    /// `tail_index` at the moment of closing, [`OPEN`] before. Written once, after the
    /// `fetch_or` and before waking parked subscriptions.
    closed_at: AtomicU64,
    /// Sends that found the topic but stored nothing (statistics only).
    dropped: AtomicU64,
    /// Parked subscriptions. Padded: parking subscriptions write it, every send reads it.
    waiters: CachePadded<WaitList>,
    /// The bus's count of contained user panics: wakers woken here (the list has a clone, for
    /// the values dropped when its segments are freed).
    user_panics: std::sync::Arc<UserPanics>,
    /// The `tracing` warning for a subscription far behind (see `lag`).
    pub(crate) lag: LagWarning,
}

impl<E: Send + Sync + 'static> Topic<E> {
    /// A topic with one subscriber already counted, bounded by `bound` if given, counting
    /// contained panics in `user_panics`.
    pub(crate) fn new(bound: Option<Bound>, user_panics: std::sync::Arc<UserPanics>) -> Self {
        let (policy, capacity) = match bound {
            None => (UNBOUNDED, u64::MAX),
            Some(Bound {
                capacity,
                overflow: Overflow::DropOldest,
            }) => (DROP_OLDEST, capacity),
            Some(Bound {
                capacity,
                overflow: Overflow::Backpressure,
            }) => (BACKPRESSURE, capacity),
        };
        Self {
            list: SegmentList::new(policy == DROP_OLDEST, std::sync::Arc::clone(&user_panics)),
            subscribers: AtomicUsize::new(base(policy) + 1),
            policy,
            capacity,
            gate: AtomicU64::new(0),
            positions: Positions::new(),
            senders: WaitList::new(),
            closed_at: AtomicU64::new(OPEN),
            dropped: AtomicU64::new(0),
            waiters: CachePadded::new(WaitList::new()),
            user_panics,
            lag: LagWarning::new(lag::OFF),
        }
    }

    /// Publishes `event` to every current subscription. The caller's pin protects the segments
    /// this walks and, for a topic found through the per-thread send cache, the topic itself
    /// (see `bus`), so it is held until the wake-up below is done.
    #[inline]
    pub(crate) fn push<C: Carrier<E>>(&self, event: C, guard: &Guard) -> Result<(), (Rejected, C)> {
        // SeqCst: pairs with the SeqCst increment in `try_add_subscriber`, so a send that starts
        // after a subscribe returned sees its count.
        let subs = self.subscribers.load(Ordering::SeqCst);
        if subs.wrapping_sub(1) >= LIVE_UNBOUNDED {
            return self.push_other(subs, event, guard);
        }
        let Some(claim) = self.list.claim(1, guard) else {
            // Relaxed: statistics only.
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Err((Rejected::Closed, event));
        };
        #[cfg(all(test, not(tidings_loom)))]
        tests::after_claim();
        claim.write(event, &self.lag);
        // No fence: the SC claim above and the SC load in `is_empty` are the sender's half of
        // the pattern in `wait_list`; a parking subscription checks `claimed_past`.
        if !self.waiters.is_empty() {
            self.waiters.wake_all(&self.user_panics);
        }
        Ok(())
    }

    /// `push` for a topic with no subscriber, a dead one, or a bounded one (module docs);
    /// `subs` is the subscriber word `push` loaded.
    #[inline(never)]
    fn push_other<C: Carrier<E>>(
        &self,
        subs: usize,
        event: C,
        guard: &Guard,
    ) -> Result<(), (Rejected, C)> {
        if subs & !BOUNDED == 0 || subs == DEAD {
            // Relaxed: a statistics counter; nothing is ordered by it.
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Err((Rejected::NoSubscribers, event));
        }
        debug_assert_ne!(self.policy, UNBOUNDED);
        let claim = match self.claim_bounded(1, guard) {
            Ok(claim) => claim,
            Err(why) => {
                if let Rejected::Closed = why {
                    // Relaxed: statistics only.
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                return Err((why, event));
            }
        };
        let index = claim.first();
        claim.write(event, &self.lag);
        if self.policy == DROP_OLDEST {
            self.list.trim(index, self.capacity, guard);
        }
        // As in `push`.
        if !self.waiters.is_empty() {
            self.waiters.wake_all(&self.user_panics);
        }
        Ok(())
    }

    /// Claims the next `n` indices of a bounded topic: Backpressure only if that leaves every
    /// live subscription at most `capacity` events behind (`admit`), DropOldest always.
    fn claim_bounded<'g>(
        &'g self,
        n: u64,
        guard: &'g Guard,
    ) -> Result<crate::segment::Claim<'g, E>, Rejected> {
        if self.policy == BACKPRESSURE {
            self.list
                .claim_if(n, guard, |raw| self.admit(raw, n))
                .map_err(|why| why.unwrap_or(Rejected::Closed))
        } else {
            self.list.claim(n, guard).ok_or(Rejected::Closed)
        }
    }

    /// Backpressure: whether the `n` indices from `raw` on may be claimed, leaving every live
    /// subscription at most `capacity` events behind; the list's compare-and-swap makes the
    /// check and the claim one step. Scans the positions only when the cached `gate` says the
    /// topic may be full. A run longer than the capacity never fits.
    fn admit(&self, raw: u64, n: u64) -> Result<(), Rejected> {
        // Relaxed: `gate` is only ever a lower bound of the live positions, whichever value
        // this reads; a stale one only sends us to the scan below.
        if raw + n
            > self
                .gate
                .load(Ordering::Relaxed)
                .saturating_add(self.capacity)
        {
            // Capped at `raw`: a subscription made after this scan starts at or after it
            // (`register_position`), so the gate stays below its position too.
            let min = self.positions.min().min(raw);
            // Relaxed: as above; `fetch_max` keeps it rising.
            self.gate.fetch_max(min, Ordering::Relaxed);
            if raw + n > min.saturating_add(self.capacity) {
                return Err(Rejected::Full);
            }
        }
        Ok(())
    }

    /// Backpressure: takes a position cell for a new subscription, holding a provisional
    /// position no later than the index its cursor will start at (the caller stores that next,
    /// with [`Topic::publish_position`]). `None` for other policies.
    pub(crate) fn register_position(&self) -> Option<Position> {
        if self.policy != BACKPRESSURE {
            return None;
        }
        // SeqCst: read before the cursor's start index (also SeqCst), so not later than it.
        let provisional = self.list.index(Ordering::SeqCst) & !CLOSED;
        Some(self.positions.register(provisional))
    }

    /// Backpressure: stores a subscription's new position and wakes parked senders, which may
    /// now have room (the subscription's half of the pattern in the module docs).
    #[inline]
    pub(crate) fn publish_position(&self, position: &Position, index: u64) {
        // SeqCst (in `store`): ordered before the SeqCst load of the senders' list (module
        // docs).
        position.store(index);
        if !self.senders.is_empty() {
            self.senders.wake_all(&self.user_panics);
        }
    }

    /// Backpressure: gives a subscription's cell back and wakes parked senders: the slowest
    /// subscription may have been this one.
    pub(crate) fn release_position(&self, position: &Position) {
        // SeqCst (in `free`): as in `publish_position`.
        position.free();
        self.senders.wake_all(&self.user_panics);
    }

    /// Parks a sender that found the topic full. The caller must then try its send once more
    /// before it sleeps: the fence orders the push before that attempt's loads of the
    /// positions, against the subscription's position store and its load of this list.
    pub(crate) fn park_sender(&self, node: &Arc<WaitNode>) {
        self.senders.push(node);
        fence(Ordering::SeqCst);
    }

    /// Publishes `events` as one run of consecutive indices, claimed with one `fetch_add`:
    /// the run is contiguous in the type's order (no other send lands inside it) and, against
    /// `close`, all or nothing (the claim either precedes the `CLOSED` bit and every event is
    /// written, or sees it and none is). The events are already collected, so no user code runs
    /// between the claim and the last write: a claimed slot is always written.
    ///
    /// Returns how many were sent, or gives every event back.
    pub(crate) fn push_all(
        &self,
        events: Vec<E>,
        guard: &Guard,
    ) -> Result<usize, (Rejected, Vec<E>)> {
        // SeqCst: as in `push`.
        let subs = self.subscribers.load(Ordering::SeqCst);
        if subs & !BOUNDED == 0 || subs == DEAD {
            // Relaxed: statistics only.
            self.dropped
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            return Err((Rejected::NoSubscribers, events));
        }
        let n = events.len();
        // The whole run or nothing: Backpressure refuses it unless all of it fits. Unbounded
        // and DropOldest claim it with one read-modify-write; `n` is the length of a `Vec`, far
        // below 2^63, so the low bits cannot carry into `CLOSED`.
        let claim = if self.policy == UNBOUNDED {
            self.list.claim(n as u64, guard).ok_or(Rejected::Closed)
        } else {
            self.claim_bounded(n as u64, guard)
        };
        let claim = match claim {
            Ok(claim) => claim,
            Err(why) => {
                if let Rejected::Closed = why {
                    // Relaxed: statistics only.
                    self.dropped.fetch_add(n as u64, Ordering::Relaxed);
                }
                return Err((why, events));
            }
        };
        if n == 0 {
            return Ok(0);
        }
        #[cfg(all(test, not(tidings_loom)))]
        tests::after_claim();
        let first = claim.first();
        claim.write_all(events, &self.lag);
        if self.policy == DROP_OLDEST {
            self.list.trim(first + n as u64 - 1, self.capacity, guard);
        }
        // As in `push`: the SC claim and the SC load of the wait list.
        if !self.waiters.is_empty() {
            self.waiters.wake_all(&self.user_panics);
        }
        Ok(n)
    }

    /// Counts one more subscription, unless the topic is dead. SeqCst: see `push`.
    ///
    /// # Panics
    ///
    /// If the topic already counts [`MAX_SUBSCRIBERS`] (about 2^30) subscriptions.
    pub(crate) fn try_add_subscriber(&self) -> bool {
        let mut n = self.subscribers.load(Ordering::SeqCst);
        loop {
            if n == DEAD {
                return false;
            }
            assert!(
                n & !BOUNDED < MAX_SUBSCRIBERS,
                "more than {MAX_SUBSCRIBERS} subscriptions of one event type"
            );
            match self.subscribers.compare_exchange_weak(
                n,
                n + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
    }

    /// Counts one subscription less. Returns `true` if this was the last one and the topic is
    /// now dead: the caller removes it from the registry.
    pub(crate) fn remove_subscriber(&self) -> bool {
        let base = base(self.policy);
        if self.subscribers.fetch_sub(1, Ordering::SeqCst) != base + 1 {
            return false;
        }
        // A concurrent subscribe may have revived the count from zero; then it stays alive.
        self.subscribers
            .compare_exchange(base, DEAD, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// A cursor at the current end of the stream: a reference on its segment, taken for the
    /// caller, and the global index of the first event the caller will read.
    pub(crate) fn start_cursor(&self) -> (SegmentRef<E>, u64) {
        // `raw` is `tail_index` at the subscription's linearisation point (module docs).
        self.list.start_cursor(&self.lag, |raw| {
            // Failed claims after a close still bump the low bits; start at the end instead,
            // so a late subscription does not walk (and install) segments for them.
            match self.closed_at.load(Ordering::SeqCst) {
                // Closed, and the closer is between its `fetch_or` and its store of
                // `closed_at`: wait for the store, as failed runs of `push_all` may already
                // have raised the low bits arbitrarily far past the end.
                OPEN if raw & CLOSED != 0 => None,
                OPEN => Some(raw),
                at => Some(at),
            }
        })
    }

    /// Gives up a cursor's reference; returns how many segments died.
    pub(crate) fn release(&self, seg: SegmentRef<E>) -> usize {
        self.list.release(seg)
    }

    /// The segment a cursor at the end of `seg` reads next, with a reference taken for it, and
    /// how many events it skips: 0, except on a DropOldest topic whose `head` has passed `seg`
    /// (then the cursor jumps to `head`; module docs). `None` while there is no successor yet.
    #[inline]
    pub(crate) fn successor(&self, seg: &SegmentRef<E>) -> Option<(SegmentRef<E>, u64)> {
        self.list.successor(seg)
    }

    /// Events a cursor at `index` (at `offset` in its segment) will still receive: up to the
    /// newest sent; for a DropOldest cursor whose successor segment `head` has passed, the rest
    /// of its segment plus what `head` retains, as its crossing (`successor`) would skip the
    /// rest.
    pub(crate) fn backlog_at(&self, index: u64, offset: usize) -> u64 {
        let sent = self.sent();
        if let Some(head) = self.list.head_start() {
            // The end of the cursor's segment, where a crossing looks at `head`.
            let end = index - offset as u64 + SEGMENT_CAP as u64;
            if head > end {
                return (end - index) + sent.saturating_sub(head);
            }
        }
        sent.saturating_sub(index)
    }

    /// Counts the events ready at and after `offset` in `seg` (a cursor's position) for which
    /// `count` says `Some(true)`, stopping at the first it says `None` for, or at the first slot
    /// not yet written. Reads without consuming; O(events ready).
    pub(crate) fn count_ready(
        &self,
        seg: &SegmentRef<E>,
        offset: usize,
        count: impl FnMut(&E) -> Option<bool>,
    ) -> usize {
        self.list.count_ready(seg, offset, count)
    }

    /// Hands this thread's retired segments to the epoch and helps it along, so that they are
    /// freed now. A subscription that has caught up calls it once (if it retired anything since
    /// the last time): otherwise up to 64 dead segments wait in the thread's bag, and sealed
    /// bags in the global queue, until some thread next collects, which for an idle bus may be
    /// never.
    pub(crate) fn flush_retired(&self) {
        epoch::pin().flush();
        flush_epoch();
    }

    /// Ends the stream: later sends fail, subscriptions end after what was already sent.
    pub(crate) fn close(&self) {
        let prev = self.list.close();
        if prev & CLOSED == 0 {
            self.closed_at.store(prev, Ordering::SeqCst);
        }
        // SeqCst fence: the closer's half of the Dekker pattern with the parker's fence. The
        // `closed_at` store is SeqCst but the take of the wait list is not, so without it a
        // receiver that pushed its node and then read `closed_at` before the store can be
        // missed by the take (see the `close_vs_send_and_recv` loom model).
        fence(Ordering::SeqCst);
        self.waiters.wake_all(&self.user_panics);
        self.senders.wake_all(&self.user_panics);
    }

    /// Whether a cursor at `index` has read everything it ever will.
    #[inline]
    pub(crate) fn is_end(&self, index: u64) -> bool {
        // SeqCst: ordered after the caller's fence (see `wait_list`) and with `close`.
        index >= self.closed_at.load(Ordering::SeqCst)
    }

    /// Whether `close` has run (its `fetch_or` at least; see `closed_at`).
    pub(crate) fn is_closed(&self) -> bool {
        self.list.index(Ordering::SeqCst) & CLOSED != 0
    }

    /// Whether some sender has claimed `index` (the index a parking subscription waits for).
    /// Called after `park` and after the subscription found `index` unreadable: then `true`
    /// means a sender is between its claim and its write, and may have looked at the wait list
    /// before the node was pushed, so the subscription must look again instead of sleeping
    /// (see `wait_list`). Claims that failed after a close count too; they make the caller look
    /// again until `closed_at` is stored, which `close` does before it wakes everyone.
    #[inline]
    pub(crate) fn claimed_past(&self, index: u64) -> bool {
        // SeqCst: ordered after the caller's fence in `park`, and with the claims (`wait_list`).
        self.list.index(Ordering::SeqCst) & !CLOSED > index
    }

    /// Runs `f`, which calls the polling task's own waker (a poll that wakes itself, or
    /// registers its waker, which wakes it at once if a wake-up is racing), containing a panic
    /// of the waker as `wake_all` does (counted in `user_panics`, reported through `tracing`):
    /// whether `f` returned normally. No poll unwinds from a waker.
    pub(crate) fn with_own_waker(&self, f: impl FnOnce()) -> bool {
        self.user_panics.contain("waker", f)
    }

    pub(crate) fn park(&self, node: &Arc<WaitNode>) {
        self.waiters.push(node);
        // SeqCst fence: the subscription's half of the Dekker pattern in `wait_list`.
        fence(Ordering::SeqCst);
    }

    /// A subscription that has parked is leaving: its node must not outlive it on the wait
    /// list for long, nor keep its waker (see `wait_list`).
    pub(crate) fn unpark(&self, node: Arc<WaitNode>) {
        self.waiters
            .forget(node, gone_limit(self.subscriber_count()), &self.user_panics);
    }

    // The statistics getters below load with Relaxed: each is a snapshot of one counter and
    // orders nothing.
    pub(crate) fn subscriber_count(&self) -> usize {
        match self.subscribers.load(Ordering::Relaxed) {
            DEAD => 0,
            n => n & !BOUNDED,
        }
    }

    /// Events sent successfully so far.
    pub(crate) fn sent(&self) -> u64 {
        match self.closed_at.load(Ordering::Relaxed) {
            OPEN => self.list.index(Ordering::Relaxed) & !CLOSED,
            at => at,
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn retained_segments(&self) -> usize {
        self.list.live_segments()
    }

    /// Events held for the subscriptions (`TopicStats::backlog`): every retained segment but
    /// the tail is full, the tail holds the events from its start to the newest. A snapshot:
    /// exact when no send is in flight.
    pub(crate) fn backlog(&self) -> u64 {
        let segments = self.retained_segments() as u64;
        if segments == 0 {
            return 0;
        }
        let sent = self.sent();
        let tail_start = self.list.tail_start();
        let cap = SEGMENT_CAP as u64;
        let in_tail = sent.saturating_sub(tail_start).min(cap);
        ((segments - 1) * cap + in_tail).min(sent)
    }
}

/// `subscribers` with no subscription counted: [`BOUNDED`] for a bounded topic, 0 otherwise.
fn base(policy: u8) -> usize {
    if policy == UNBOUNDED { 0 } else { BOUNDED }
}

/// How many gone wait nodes a topic with `subscribers` subscriptions may keep queued before a
/// leaving subscription takes the wait list itself (`WaitList::forget`): at least the number of
/// subscriptions, so a take wakes at most one live node per gone one. Loom models use 0, so
/// that every leave takes the list.
fn gone_limit(subscribers: usize) -> usize {
    if cfg!(tidings_loom) {
        0
    } else {
        subscribers.max(32)
    }
}

#[cfg(all(test, not(tidings_loom)))]
mod tests {
    use std::cell::RefCell;
    use std::sync::Arc;
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    use super::{MAX_SUBSCRIBERS, Rejected, Topic};
    use crate::Bus;
    use crate::bound::{Bound, Overflow};
    use crate::segment::Owned;
    use crate::stats::UserPanics;

    thread_local! {
        /// Run by the next `push` on this thread between its claim and its write.
        static AFTER_CLAIM: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    }

    pub(super) fn after_claim() {
        if let Some(f) = AFTER_CLAIM.with(|h| h.borrow_mut().take()) {
            f();
        }
    }

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn topic(bound: Option<Bound>) -> Topic<u32> {
        Topic::new(bound, Arc::new(UserPanics::new()))
    }

    fn push(topic: &Topic<u32>, event: u32) -> Result<(), Rejected> {
        let guard = crate::sync::epoch::pin();
        topic.push(Owned(event), &guard).map_err(|(why, _)| why)
    }

    const BOUNDS: [Option<Bound>; 3] = [
        None,
        Some(Bound {
            capacity: 4,
            overflow: Overflow::DropOldest,
        }),
        Some(Bound {
            capacity: 4,
            overflow: Overflow::Backpressure,
        }),
    ];

    /// The subscriber word carries the `BOUNDED` bit beside the count: every policy counts,
    /// dies and rejects alike, and a bounded topic's sends take the bounded path.
    #[test]
    fn every_policy_counts_its_subscribers_in_one_word() {
        for bound in BOUNDS {
            let t = topic(bound);
            assert_eq!(t.subscriber_count(), 1, "{bound:?}");
            assert!(t.try_add_subscriber());
            assert_eq!(t.subscriber_count(), 2);
            assert!(!t.remove_subscriber(), "{bound:?}: one left");
            assert!(push(&t, 1).is_ok(), "{bound:?}");
            // The last one leaves: the topic dies, counts none, and stores nothing more.
            assert!(t.remove_subscriber(), "{bound:?}: the last one");
            assert_eq!(t.subscriber_count(), 0);
            assert!(
                !t.try_add_subscriber(),
                "{bound:?}: a dead topic never revives"
            );
            assert!(
                matches!(push(&t, 2), Err(Rejected::NoSubscribers)),
                "{bound:?}"
            );
            assert_eq!(t.sent(), 1);
            assert_eq!(t.dropped(), 1);
        }
    }

    /// Between the last subscription's decrement and its death, the count is zero (`BOUNDED`
    /// alone for a bounded topic): a send then stores nothing, and a subscribe revives it.
    #[test]
    fn a_topic_at_zero_subscribers_rejects_and_revives() {
        for bound in BOUNDS {
            let t = topic(bound);
            let base = t.subscribers.fetch_sub(1, SeqCst) - 1;
            assert_eq!(t.subscriber_count(), 0, "{bound:?}");
            assert!(
                matches!(push(&t, 1), Err(Rejected::NoSubscribers)),
                "{bound:?}"
            );
            assert_eq!(t.sent(), 0, "{bound:?}: nothing stored");
            assert!(t.try_add_subscriber(), "{bound:?}");
            assert_eq!(t.subscribers.load(SeqCst), base + 1);
            assert!(push(&t, 2).is_ok(), "{bound:?}");
            assert_eq!(t.sent(), 1);
        }
    }

    /// A bounded topic's sends take its bounded path: a Backpressure topic refuses past its
    /// capacity while its one subscription reads nothing.
    #[test]
    fn a_bounded_topic_sends_through_its_policy() {
        let t = topic(BOUNDS[2]);
        let cell = t
            .register_position()
            .expect("a Backpressure topic has positions");
        t.publish_position(&cell, 0);
        for i in 0..4 {
            assert!(push(&t, i).is_ok());
        }
        assert!(matches!(push(&t, 4), Err(Rejected::Full)));
        t.release_position(&cell);
    }

    /// The count stops short of the `BOUNDED` bit: one more subscription past the most a topic
    /// counts panics, leaving the count as it was.
    #[test]
    fn the_subscriber_count_never_reaches_the_bounded_bit() {
        for bound in BOUNDS {
            let t = topic(bound);
            let full = t.subscribers.load(SeqCst) - 1 + MAX_SUBSCRIBERS;
            t.subscribers.store(full, SeqCst);
            assert_eq!(t.subscriber_count(), MAX_SUBSCRIBERS, "{bound:?}");
            let add =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.try_add_subscriber()));
            assert!(add.is_err(), "{bound:?}: past the most a topic counts");
            assert_eq!(t.subscribers.load(SeqCst), full);
            assert!(
                push(&t, 1).is_ok(),
                "{bound:?}: still live, still its policy"
            );
        }
    }

    /// A subscription that parks while a sender has claimed its index but not yet written it
    /// must not sleep: the sender may have looked at the wait list before the node was pushed
    /// (`wait_list`). It wakes itself to look again.
    #[test]
    fn a_poll_between_a_claim_and_its_write_wakes_itself() {
        let bus = Bus::new();
        let sub = Arc::new(std::sync::Mutex::new(bus.subscribe::<u32>()));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let (s, c, w) = (sub.clone(), count.clone(), waker.clone());
        AFTER_CLAIM.with(|h| {
            *h.borrow_mut() = Some(Box::new(move || {
                let mut cx = Context::from_waker(&w);
                assert_eq!(s.lock().unwrap().poll_recv(&mut cx), Poll::Pending);
                assert_eq!(
                    c.0.load(Ordering::SeqCst),
                    1,
                    "the claimed but unwritten index must make the poll wake itself"
                );
            }))
        });
        bus.send(7u32).unwrap();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(sub.lock().unwrap().poll_recv(&mut cx), Poll::Ready(Some(7)));
        // Nothing claimed now: an empty poll parks without waking itself.
        let before = count.0.load(Ordering::SeqCst);
        assert_eq!(sub.lock().unwrap().poll_recv(&mut cx), Poll::Pending);
        assert_eq!(count.0.load(Ordering::SeqCst), before);
    }
}
