//! One event type's stream: a global index counter, the tail of its segment list, its
//! subscription count and its parked subscriptions.
//!
//! How a send, a subscribe and a close work, their linearisation points and their orderings:
//! [`crate::docs::protocol`]. What this file keeps for them:
//!
//! - `tail_seg.start <= index` for every sender that loaded `tail_seg` before claiming
//!   `index`: `tail_seg` is only ever moved to a segment by a sender that has claimed an index
//!   in it, and it is loaded before the claim, so the claim is later in `tail_index`'s
//!   modification order than that sender's. A sender therefore only ever walks forward.
//! - A subscription reads `tail_index` once, after its subscriber count is visible to senders,
//!   and starts its cursor there: the "registered on return" promise.
//! - `close` stores the index its `fetch_or` returned in `closed_at`, so a subscription ends
//!   exactly when its cursor reaches it, after every event sent before the close.
//!
//! # Bounded topics
//!
//! A topic made for a type with a [`Bound`] takes the `push_bounded` path instead (one
//! predictable branch on `bound`, so unbounded sends pay nothing else).
//!
//! **Backpressure** (capacity `c`): every subscription publishes its read position in a
//! [`PosCell`] of the topic's `positions` list. A sender claims with a compare-and-swap instead
//! of `fetch_add`, and only claims index `i` if `i < min(position) + c`: accepting it leaves the
//! slowest subscription at most `c` events behind, and refusing it means accepting it would put
//! it further (exact, per event). The minimum is cached in `gate`, a lower bound of every live
//! position, so a sender scans the list only when the cached bound says the topic may be full.
//! A sender that finds it full may park on `senders` (push, SeqCst fence, look again); a
//! subscription stores its new position SeqCst and then loads `senders`' head SeqCst, the
//! Dekker pattern of `wait_list` with the roles swapped, so no wake-up is lost. Dropping a
//! subscription frees its cell (position `FREE`) and wakes every parked sender; so does
//! `close`.
//!
//! **DropOldest** (capacity `c`): `head` points to the oldest segment still retained and holds
//! a reference on it (the *head reference*; see `segment`). After writing index `i`, a sender
//! moves `head` forward past every segment whose events are all older than the newest `c`
//! (`start + SEGMENT_CAP <= i + 1 - c`), never past `tail_seg`. Moving `head` from `H` to its
//! successor `N` turns `H`'s link reference on `N` into the head reference (no count changes),
//! marks `H` *cut* so that its death does not cascade to `N`, and drops the head reference on
//! `H`. A subscription still in `H` keeps `H` alone alive: one segment per lagging
//! subscription. It must not follow `H.next` once `H` is cut (`N` may be freed), so a cursor of
//! a DropOldest topic crosses a segment boundary by first loading `head` under a pin: if `head`
//! has not passed its segment, the link was intact when it looked, so the successor is safe to
//! `try_acquire` (it is retired only after `head` passes it, after the load); otherwise it was
//! overtaken and jumps to `head` (`try_acquire`, retrying while the count is already zero),
//! counting the events it skipped as missed.
//!
//! Retained by a DropOldest topic of capacity `c`, when no send is in flight: the segments from
//! `head` to the one holding the newest event, at most `ceil((c - 1) / SEGMENT_CAP) + 1`
//! (`head` ends within `c + SEGMENT_CAP - 1` events of the newest), plus one segment per
//! subscription whose cursor `head` has passed. An overtaken subscription first reads what is
//! left of the segment it holds, then jumps.

use std::ptr;

use crossbeam_utils::CachePadded;

use crate::bound::{Bound, Overflow};
use crate::lag::{self, LagWarning};
use crate::segment::{Carrier, SEGMENT_CAP, Segment, SegmentRef};
use crate::stats::UserPanics;
use crate::sync::epoch::{self, Guard};
use crate::sync::{Arc, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence, retry_hint};
use crate::wait_list::{WaitList, WaitNode};

/// Bit of `tail_index` set by `close`.
pub(crate) const CLOSED: u64 = 1 << 63;
/// `closed_at` before the topic is closed.
const OPEN: u64 = u64::MAX;
/// Dead chains at least this long are flushed to the epoch's global queue at once.
const FLUSH_CHAIN: usize = 4;
/// `subscribers` once the topic has been given up by its last subscription.
pub(crate) const DEAD: usize = usize::MAX;

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

/// A free [`PosCell`].
const FREE: u64 = u64::MAX;

/// One Backpressure subscription's read position: the global index of the next event it will
/// read, or [`FREE`] when no subscription owns the cell. Cells are linked into the topic's
/// `positions` list once and never unlinked; a new subscription reuses a free one. They are
/// freed with the topic, so a sender scanning the list needs no pin.
struct PosCell {
    /// Only rises while a subscription owns the cell (a cursor only moves forward). SeqCst:
    /// the subscription's half of the Dekker pattern with parked senders (module docs).
    pos: AtomicU64,
    /// The cell below this one; written before the push publishes the cell, never after.
    next: *mut PosCell,
}

/// A subscription's claim on one [`PosCell`] of the topic that made it
/// ([`Topic::register_position`]); used only with that topic, whose `Arc` the subscription
/// holds, so the cell (freed only with the topic) outlives it.
#[derive(Clone, Copy)]
pub(crate) struct Position(ptr::NonNull<PosCell>);

// SAFETY: a `Position` only reaches an atomic (`pos`) of a cell that outlives it (above); the
// cell's `next` is written only before the cell is published.
unsafe impl Send for Position {}
// SAFETY: as above; `&Position` gives nothing but the address.
unsafe impl Sync for Position {}

impl Position {
    #[inline]
    fn cell(&self) -> &PosCell {
        // SAFETY: the cell outlives every `Position` on it (the type's docs).
        unsafe { self.0.as_ref() }
    }
}

pub(crate) struct Topic<E> {
    /// The next global index to claim, plus the `CLOSED` bit. Every successful send increments
    /// it exactly once (SeqCst: it is the linearisation point of `send`, `subscribe` and
    /// `close`). Sends that fail after close still increment the low bits, which is why the
    /// final index lives in `closed_at`.
    tail_index: CachePadded<AtomicU64>,
    /// A segment at or shortly before the one holding `tail_index`; it holds the tail reference
    /// (see `segment`). Moved forward only by a sender that claimed an index in the new
    /// segment. Never null while the topic lives.
    tail_seg: CachePadded<AtomicPtr<Segment<E>>>,
    /// Live subscriptions, or [`DEAD`] once the last one left and the topic is being removed
    /// from the registry (it never revives; a new subscription makes a new topic).
    subscribers: AtomicUsize,
    /// [`UNBOUNDED`], [`DROP_OLDEST`] or [`BACKPRESSURE`]; fixed at creation. Next to
    /// `subscribers`, which every send loads first, so the check costs no extra cache line.
    policy: u8,
    /// The bound's capacity in events (`u64::MAX` when unbounded); fixed at creation.
    capacity: u64,
    /// DropOldest: the oldest retained segment, holding the head reference (module docs).
    /// Moved forward only by compare-and-swap, never past `tail_seg`. Null for other policies.
    head: AtomicPtr<Segment<E>>,
    /// Backpressure: a lower bound of every live subscription's position (and of every later
    /// subscription's start), cached so that most sends do not scan `positions`. Only rises.
    gate: AtomicU64,
    /// Backpressure: the list of position cells (a push-only stack).
    positions: AtomicPtr<PosCell>,
    /// Backpressure: bumped (SeqCst) each time a subscription takes a cell, so that a scan of
    /// `positions` can tell that a cell was taken while it ran and scan again.
    registrations: AtomicU64,
    /// Backpressure: parked senders, woken by reader progress, a subscription's drop, close.
    senders: WaitList,
    /// `tail_index` at the moment of closing, [`OPEN`] before. Written once, after the
    /// `fetch_or` and before waking parked subscriptions.
    closed_at: AtomicU64,
    /// Segments allocated and not yet retired (statistics only).
    live_segments: AtomicUsize,
    /// Sends that found the topic but stored nothing (statistics only).
    dropped: AtomicU64,
    /// Parked subscriptions. Padded: parking subscriptions write it, every send reads it.
    waiters: CachePadded<WaitList>,
    /// The bus's count of contained user panics: wakers woken here, values dropped when this
    /// topic's segments are freed (the deferred destructions take a clone with them).
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
        // One reference, the tail's; DropOldest adds the head reference.
        let first = Segment::alloc(
            0,
            if policy == DROP_OLDEST { 2 } else { 1 },
            policy == DROP_OLDEST,
        );
        Self {
            tail_index: CachePadded::new(AtomicU64::new(0)),
            tail_seg: CachePadded::new(AtomicPtr::new(first)),
            subscribers: AtomicUsize::new(1),
            policy,
            capacity,
            head: AtomicPtr::new(if policy == DROP_OLDEST {
                first
            } else {
                ptr::null_mut()
            }),
            gate: AtomicU64::new(0),
            positions: AtomicPtr::new(ptr::null_mut()),
            registrations: AtomicU64::new(0),
            senders: WaitList::new(),
            closed_at: AtomicU64::new(OPEN),
            live_segments: AtomicUsize::new(1),
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
        if subs == 0 || subs == DEAD {
            // Relaxed: a statistics counter; nothing is ordered by it.
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Err((Rejected::NoSubscribers, event));
        }
        if self.policy != UNBOUNDED {
            return self.push_bounded(event, guard);
        }
        // Acquire: pairs with the Release in `advance_tail`, which makes `seg.start <= index`
        // hold for the claim below (see the module docs).
        let tail = self.tail_seg.load(Ordering::Acquire);
        let index = self.tail_index.fetch_add(1, Ordering::SeqCst);
        if index & CLOSED != 0 {
            // Relaxed: statistics only.
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Err((Rejected::Closed, event));
        }
        #[cfg(all(test, not(tidings_loom)))]
        tests::after_claim();
        // SAFETY: `tail` was the tail segment while we were pinned, so it and every successor
        // reached from it stay allocated until `guard` is dropped.
        let seg = unsafe { self.find_segment(tail, index, guard) };
        // SAFETY: `seg` holds `index`, which this thread alone claimed; pinned as above.
        unsafe { (*seg).write_pending((index - (*seg).start) as usize, event) };
        if seg != tail {
            // SAFETY: pinned; we claimed an index in `seg`.
            unsafe { self.advance_tail(seg, guard) };
        }
        // No fence: the SC claim above and the SC load in `is_empty` are the sender's half of
        // the pattern in `wait_list`; a parking subscription checks `claimed_past`.
        if !self.waiters.is_empty() {
            self.waiters.wake_all(&self.user_panics);
        }
        Ok(())
    }

    /// `push` for a bounded topic (module docs); the caller checked the subscriber count.
    #[inline(never)]
    fn push_bounded<C: Carrier<E>>(&self, event: C, guard: &Guard) -> Result<(), (Rejected, C)> {
        // Acquire: as in `push`. Loaded before the claim, so `tail.start <= index`.
        let tail = self.tail_seg.load(Ordering::Acquire);
        let claim = if self.policy == BACKPRESSURE {
            self.claim_gated(1)
        } else {
            let index = self.tail_index.fetch_add(1, Ordering::SeqCst);
            if index & CLOSED != 0 {
                Err(Rejected::Closed)
            } else {
                Ok(index)
            }
        };
        let index = match claim {
            Ok(index) => index,
            Err(why) => {
                if let Rejected::Closed = why {
                    // Relaxed: statistics only.
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                return Err((why, event));
            }
        };
        // SAFETY: as in `push`.
        let seg = unsafe { self.find_segment(tail, index, guard) };
        // SAFETY: as in `push`.
        unsafe { (*seg).write_pending((index - (*seg).start) as usize, event) };
        if seg != tail {
            // SAFETY: as in `push`.
            unsafe { self.advance_tail(seg, guard) };
        }
        if self.policy == DROP_OLDEST {
            self.trim(index, guard);
        }
        // As in `push`.
        if !self.waiters.is_empty() {
            self.waiters.wake_all(&self.user_panics);
        }
        Ok(())
    }

    /// Backpressure: claims the next `n` indices if that leaves every live subscription at most
    /// `capacity` events behind, by compare-and-swap so that the check and the claim are one
    /// step; returns the first. Scans the positions only when the cached `gate` says the topic
    /// may be full. A run longer than the capacity never fits.
    fn claim_gated(&self, n: u64) -> Result<u64, Rejected> {
        // SeqCst: the claim is the send's linearisation point, as `fetch_add` in `push`.
        let mut raw = self.tail_index.load(Ordering::SeqCst);
        loop {
            if raw & CLOSED != 0 {
                return Err(Rejected::Closed);
            }
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
                let min = self.min_position().min(raw);
                // Relaxed: as above; `fetch_max` keeps it rising.
                self.gate.fetch_max(min, Ordering::Relaxed);
                if raw + n > min.saturating_add(self.capacity) {
                    return Err(Rejected::Full);
                }
            }
            match self.tail_index.compare_exchange_weak(
                raw,
                raw + n,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Ok(raw),
                Err(actual) => raw = actual,
            }
        }
    }

    /// Backpressure: the lowest position of a live subscription (`FREE` if none), from a scan
    /// that no registration overlapped. A cell taken during the scan may have been missed while
    /// positions loaded late were higher than its start, so such a scan is repeated.
    fn min_position(&self) -> u64 {
        loop {
            // SeqCst: the registration counter and the positions are ordered with the cell
            // stores and the `fetch_add` in `register_position`, and with the parked sender's
            // fence (module docs).
            let before = self.registrations.load(Ordering::SeqCst);
            let mut min = FREE;
            let mut cur = self.positions.load(Ordering::SeqCst);
            while !cur.is_null() {
                // SAFETY: cells are freed only with the topic, which `&self` keeps alive.
                let cell = unsafe { &*cur };
                min = min.min(cell.pos.load(Ordering::SeqCst));
                cur = cell.next;
            }
            if self.registrations.load(Ordering::SeqCst) == before {
                return min;
            }
        }
    }

    /// Backpressure: takes a position cell for a new subscription, holding a provisional
    /// position no later than the index its cursor will start at (the caller stores that next,
    /// with [`Topic::publish_position`]). `None` for other policies.
    pub(crate) fn register_position(&self) -> Option<Position> {
        if self.policy != BACKPRESSURE {
            return None;
        }
        // SeqCst: read before the cursor's start index (also SeqCst), so not later than it.
        let provisional = self.tail_index.load(Ordering::SeqCst) & !CLOSED;
        // Acquire: pairs with the Release push below, to read a cell's `next`.
        let mut cur = self.positions.load(Ordering::Acquire);
        let cell = loop {
            if cur.is_null() {
                let cell = Box::into_raw(Box::new(PosCell {
                    pos: AtomicU64::new(provisional),
                    next: ptr::null_mut(),
                }));
                // Relaxed: a first guess for the compare-and-swap.
                let mut head = self.positions.load(Ordering::Relaxed);
                loop {
                    // SAFETY: not yet published; this thread owns it.
                    unsafe { (*cell).next = head };
                    // SeqCst: published before the registration count rises (see
                    // `min_position`); Release part publishes `next`.
                    match self.positions.compare_exchange_weak(
                        head,
                        cell,
                        Ordering::SeqCst,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        Err(actual) => head = actual,
                    }
                }
                break cell;
            }
            // SAFETY: cells live as long as the topic.
            let c = unsafe { &*cur };
            // SeqCst: as the push above.
            if c.pos
                .compare_exchange(FREE, provisional, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                break cur;
            }
            cur = c.next;
        };
        // SeqCst: after the cell holds a position; a scan that overlapped this sees the count
        // change and scans again.
        self.registrations.fetch_add(1, Ordering::SeqCst);
        ptr::NonNull::new(cell).map(Position)
    }

    /// Backpressure: stores a subscription's new position and wakes parked senders, which may
    /// now have room (the subscription's half of the pattern in the module docs).
    #[inline]
    pub(crate) fn publish_position(&self, position: Position, index: u64) {
        let cell = position.cell();
        // SeqCst: ordered before the SeqCst load of the senders' list (module docs).
        cell.pos.store(index, Ordering::SeqCst);
        if !self.senders.is_empty() {
            self.senders.wake_all(&self.user_panics);
        }
    }

    /// Backpressure: gives a subscription's cell back and wakes parked senders: the slowest
    /// subscription may have been this one.
    pub(crate) fn release_position(&self, position: Position) {
        let cell = position.cell();
        // SeqCst: as in `publish_position`.
        cell.pos.store(FREE, Ordering::SeqCst);
        self.senders.wake_all(&self.user_panics);
    }

    /// Parks a sender that found the topic full. The caller must then try its send once more
    /// before it sleeps: the fence orders the push before that attempt's loads of the
    /// positions, against the subscription's position store and its load of this list.
    pub(crate) fn park_sender(&self, node: &Arc<WaitNode>) {
        self.senders.push(node);
        fence(Ordering::SeqCst);
    }

    /// DropOldest: moves `head` past every segment whose events are all older than the newest
    /// `capacity` as of `index` (module docs).
    fn trim(&self, index: u64, guard: &Guard) {
        let Some(keep_from) = (index + 1).checked_sub(self.capacity) else {
            return;
        };
        loop {
            // Acquire: pairs with the compare-and-swap below, to read the new head's fields.
            let h = self.head.load(Ordering::Acquire);
            // SAFETY: loaded from `head` while pinned; a segment is retired only after `head`
            // has moved past it, so it stays allocated until `guard` is dropped.
            let hs = unsafe { &*h };
            if hs.start + SEGMENT_CAP as u64 > keep_from {
                return;
            }
            // Acquire: as in `push`.
            let t = self.tail_seg.load(Ordering::Acquire);
            // SAFETY: pinned, loaded from `tail_seg`.
            if unsafe { (*t).start } <= hs.start {
                // Never pass the tail: senders walk from it. The sender that moves it trims.
                return;
            }
            // Acquire: pairs with the installing compare-and-swap. Not null: the tail, later
            // than `hs`, is reachable from it.
            let n = hs.next.load(Ordering::Acquire);
            debug_assert!(!n.is_null());
            // AcqRel: Release publishes nothing new but pairs with the Acquire loads of `head`;
            // Acquire on success orders the reads of `hs` above before the cut.
            if self
                .head
                .compare_exchange(h, n, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // `hs`'s link reference on `n` is now the head reference: cut the link first,
                // so that `hs`'s death does not drop it.
                hs.cut();
                // SAFETY: we own the head reference on `h`, taken over from `head`.
                let old_head = unsafe { SegmentRef::from_raw(h) };
                let dead = old_head.release(guard, &self.user_panics);
                // Relaxed: statistics only.
                self.live_segments.fetch_sub(dead, Ordering::Relaxed);
            }
        }
    }

    /// DropOldest: a counted reference on the oldest retained segment, for a cursor that was
    /// overtaken. The caller is pinned by `_guard`.
    fn acquire_head(&self, _guard: &Guard) -> SegmentRef<E> {
        loop {
            // Acquire: as in `trim`.
            let h = self.head.load(Ordering::Acquire);
            // SAFETY: loaded from `head` while pinned, see `trim`.
            if let Some(head) = unsafe { SegmentRef::try_acquire(h) } {
                return head;
            }
            // `head` moved on and the segment died meanwhile: look again.
            retry_hint();
        }
    }

    /// DropOldest: the oldest retained segment, valid while the caller's pin `_guard` lasts
    /// (no reference taken).
    fn head_ptr(&self, _guard: &Guard) -> *mut Segment<E> {
        // Acquire: as in `trim`.
        self.head.load(Ordering::Acquire)
    }

    /// DropOldest: the start of the oldest retained segment. The caller is pinned by `_guard`.
    fn head_start(&self, _guard: &Guard) -> u64 {
        // Acquire: as in `trim`.
        let h = self.head.load(Ordering::Acquire);
        // SAFETY: loaded from `head` while pinned, see `trim`.
        unsafe { (*h).start }
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
        if subs == 0 || subs == DEAD {
            // Relaxed: statistics only.
            self.dropped
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            return Err((Rejected::NoSubscribers, events));
        }
        let n = events.len();
        // Acquire: as in `push`.
        let tail = self.tail_seg.load(Ordering::Acquire);
        let first = if self.policy == BACKPRESSURE {
            // The whole run or nothing: Full unless all of it fits.
            match self.claim_gated(n as u64) {
                Ok(first) => first,
                Err(why) => {
                    if let Rejected::Closed = why {
                        // Relaxed: statistics only.
                        self.dropped.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    return Err((why, events));
                }
            }
        } else {
            // SeqCst: as in `push`; one read-modify-write claims the whole run. `n` is the
            // length of a `Vec`, far below 2^63, so the low bits cannot carry into `CLOSED`.
            let first = self.tail_index.fetch_add(n as u64, Ordering::SeqCst);
            if first & CLOSED != 0 {
                // Relaxed: statistics only.
                self.dropped.fetch_add(n as u64, Ordering::Relaxed);
                return Err((Rejected::Closed, events));
            }
            first
        };
        if n == 0 {
            return Ok(0);
        }
        #[cfg(all(test, not(tidings_loom)))]
        tests::after_claim();
        // SAFETY: as in `push`: `tail` was the tail segment while we were pinned.
        let mut seg = unsafe { self.find_segment(tail, first, guard) };
        // SAFETY: pinned; `find_segment` returned the segment holding `first`.
        let mut offset = (first - unsafe { (*seg).start }) as usize;
        for event in events {
            if offset == SEGMENT_CAP {
                // SAFETY: pinned; `seg` was reached from `tail`, and the next index of the run
                // is its successor's first.
                seg = unsafe { self.find_segment(seg, (*seg).start + SEGMENT_CAP as u64, guard) };
                offset = 0;
            }
            // SAFETY: this thread alone claimed every index of the run; pinned as above.
            unsafe { (*seg).write(offset, event) };
            offset += 1;
        }
        if seg != tail {
            // SAFETY: pinned; we claimed an index in `seg` (the run's last).
            unsafe { self.advance_tail(seg, guard) };
        }
        if self.policy == DROP_OLDEST {
            self.trim(first + n as u64 - 1, guard);
        }
        // As in `push`: the SC claim and the SC load of the wait list.
        if !self.waiters.is_empty() {
            self.waiters.wake_all(&self.user_panics);
        }
        Ok(n)
    }

    /// The segment holding `index`, walking from `seg` and installing successors as needed.
    ///
    /// # Safety
    /// `seg` was loaded from `tail_seg` under `guard`, and `seg.start <= index`.
    #[inline]
    unsafe fn find_segment(
        &self,
        mut seg: *mut Segment<E>,
        index: u64,
        _guard: &Guard,
    ) -> *mut Segment<E> {
        loop {
            // SAFETY: the caller's pin keeps `seg` allocated (see `segment`'s module docs).
            let s = unsafe { &*seg };
            debug_assert!(s.start <= index);
            if index < s.start + SEGMENT_CAP as u64 {
                return seg;
            }
            // Acquire: pairs with the installing compare-and-swap.
            let next = s.next.load(Ordering::Acquire);
            seg = if next.is_null() {
                self.install_next(s)
            } else {
                next
            };
        }
    }

    /// Installs a successor of `seg` if it has none, and returns the successor.
    #[cold]
    fn install_next(&self, seg: &Segment<E>) -> *mut Segment<E> {
        // One reference: the link from `seg`.
        let new = Segment::alloc(
            seg.start + SEGMENT_CAP as u64,
            1,
            self.policy == DROP_OLDEST,
        );
        // Release: publishes the new segment's initialised fields to whoever loads `next`.
        // Acquire on failure: to read the winner's.
        match seg
            .next
            .compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                // Relaxed: statistics only.
                let live = self.live_segments.fetch_add(1, Ordering::Relaxed) + 1;
                #[cfg(feature = "tracing")]
                self.lag.check(std::any::type_name::<E>(), live);
                #[cfg(not(feature = "tracing"))]
                let _ = live;
                new
            }
            Err(winner) => {
                // SAFETY: `new` was never published.
                drop(unsafe { Box::from_raw(new) });
                winner
            }
        }
    }

    /// Moves `tail_seg` forward to `seg` unless it is already there or past it.
    ///
    /// # Safety
    /// The caller is pinned by `guard`, claimed an index in `seg`, and reached `seg` by walking
    /// from a segment loaded from `tail_seg`.
    unsafe fn advance_tail(&self, seg: *mut Segment<E>, guard: &Guard) {
        // SAFETY: pinned.
        let target = unsafe { &*seg };
        // The tail reference moves to `seg`: take it first. If the count is already zero, the
        // tail has moved past `seg` and every subscription has too; nothing to do.
        // SAFETY: pinned; `seg` was reached from the tail.
        let Some(tail_ref) = (unsafe { SegmentRef::try_acquire(seg) }) else {
            return;
        };
        // Acquire: as in `push`, to read the segment's `start`.
        let mut cur = self.tail_seg.load(Ordering::Acquire);
        loop {
            // SAFETY: pinned, and `cur` was loaded from `tail_seg`.
            if unsafe { (*cur).start } >= target.start {
                // Someone moved it as far or further: give back the reference we took. It may
                // be the last one (every subscription has moved past `seg` meanwhile).
                let dead = tail_ref.release(guard, &self.user_panics);
                // Relaxed: statistics only.
                self.live_segments.fetch_sub(dead, Ordering::Relaxed);
                return;
            }
            // Release: pairs with the Acquire loads of `tail_seg` (see `push`).
            match self
                .tail_seg
                .compare_exchange_weak(cur, seg, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // `tail_seg` holds the reference we took, and the old tail's is ours now
                    // to drop.
                    let _ = tail_ref.into_raw();
                    // SAFETY: we just took it over from `tail_seg`.
                    let old_tail = unsafe { SegmentRef::from_raw(cur) };
                    let dead = old_tail.release(guard, &self.user_panics);
                    // Relaxed: statistics only.
                    self.live_segments.fetch_sub(dead, Ordering::Relaxed);
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Counts one more subscription, unless the topic is dead. SeqCst: see `push`.
    pub(crate) fn try_add_subscriber(&self) -> bool {
        let mut n = self.subscribers.load(Ordering::SeqCst);
        loop {
            if n == DEAD {
                return false;
            }
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
        if self.subscribers.fetch_sub(1, Ordering::SeqCst) != 1 {
            return false;
        }
        // A concurrent subscribe may have revived the count from zero; then it stays alive.
        self.subscribers
            .compare_exchange(0, DEAD, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// A cursor at the current end of the stream: a reference on its segment, taken for the
    /// caller, and the global index of the first event the caller will read.
    pub(crate) fn start_cursor(&self) -> (SegmentRef<E>, u64) {
        // Pinned for the walk: the segments it touches may die meanwhile.
        let guard = epoch::pin();
        loop {
            // Acquire: pairs with the Release in `advance_tail` (see `push`).
            let tail = self.tail_seg.load(Ordering::Acquire);
            // SeqCst: the subscription's linearisation point; see the module docs.
            let raw = self.tail_index.load(Ordering::SeqCst);
            // Failed claims after a close still bump the low bits; start at the end instead,
            // so a late subscription does not walk (and install) segments for them.
            let index = match self.closed_at.load(Ordering::SeqCst) {
                // Closed, and the closer is between its `fetch_or` and its store of
                // `closed_at`: wait for the store, as failed runs of `push_all` may already
                // have raised the low bits arbitrarily far past the end.
                OPEN if raw & CLOSED != 0 => {
                    retry_hint();
                    continue;
                }
                OPEN => raw,
                at => at,
            };
            // A cursor may sit just past a segment's last slot (offset == SEGMENT_CAP): the
            // segment that holds the index before it, or the first segment for index 0. Every
            // index below `index` was claimed, and `tail` moved to a segment only by a sender
            // that claimed in it (module docs), so `tail.start <= index - 1`.
            // SAFETY: pinned; `tail` came from `tail_seg` under this pin.
            let seg = unsafe { self.find_segment(tail, index.saturating_sub(1), &guard) };
            // SAFETY: pinned, and `seg` was reached from `tail`.
            if let Some(seg) = unsafe { SegmentRef::try_acquire(seg) } {
                return (seg, index);
            }
            // The segment died under us: the tail has moved on. Look again.
        }
    }

    /// Gives up a cursor's reference; returns how many segments died.
    pub(crate) fn release(&self, seg: SegmentRef<E>) -> usize {
        let guard = epoch::pin();
        let dead = seg.release(&guard, &self.user_panics);
        if dead > 0 {
            // Relaxed: statistics only.
            self.live_segments.fetch_sub(dead, Ordering::Relaxed);
        }
        if dead >= FLUSH_CHAIN {
            // A long chain (a lagging subscription let go): push it to the global queue and
            // help the epoch along, so that its memory is given back now rather than whenever
            // some thread next collects. Short chains stay in the thread's bag, which the
            // epoch flushes every 64 retirements; flushing those too would allocate a queue
            // node each time.
            guard.flush();
            drop(guard);
            flush_epoch();
        }
        dead
    }

    /// The segment a cursor at the end of `seg` reads next, with a reference taken for it, and
    /// how many events it skips: 0, except on a DropOldest topic whose `head` has passed `seg`
    /// (then the cursor jumps to `head`; module docs). `None` while there is no successor yet.
    #[inline]
    pub(crate) fn successor(&self, seg: &SegmentRef<E>) -> Option<(SegmentRef<E>, u64)> {
        if self.policy != DROP_OLDEST {
            return seg.next().map(|next| (next, 0));
        }
        self.successor_dropping(seg)
    }

    /// `successor` for a DropOldest topic: the successor only if `head` has not passed `seg`,
    /// else a jump to `head`.
    fn successor_dropping(&self, seg: &SegmentRef<E>) -> Option<(SegmentRef<E>, u64)> {
        let from = seg.start() + SEGMENT_CAP as u64;
        // Pinned before `head` is loaded: what `head` has not passed yet is retired only after
        // it does, so stays allocated until the guard is dropped.
        let guard = epoch::pin();
        if self.head_start(&guard) <= seg.start() {
            let next = seg.next_raw();
            if next.is_null() {
                return None;
            }
            // SAFETY: `head` had not passed `seg` when loaded under this pin, so `seg`'s link
            // to `next` was intact then and `next` can only be retired after this pin began.
            if let Some(next) = unsafe { SegmentRef::try_acquire(next) } {
                return Some((next, 0));
            }
            // `next` died since: `head` has passed it. Overtaken after all.
        }
        let head = self.acquire_head(&guard);
        // `head` only passes segments whose events are all claimed, and had passed `seg`.
        debug_assert!(head.start() >= from);
        let skipped = head.start() - from;
        Some((head, skipped))
    }

    /// Events a cursor at `index` (at `offset` in its segment) will still receive: up to the
    /// newest sent; for a DropOldest cursor whose successor segment `head` has passed, the rest
    /// of its segment plus what `head` retains, as its crossing (`successor`) would skip the
    /// rest.
    pub(crate) fn backlog_at(&self, index: u64, offset: usize) -> u64 {
        let sent = self.sent();
        if self.policy == DROP_OLDEST {
            let guard = epoch::pin();
            let head = self.head_start(&guard);
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
        mut count: impl FnMut(&E) -> Option<bool>,
    ) -> usize {
        let (mut seg, mut offset) = (seg.as_ptr(), offset);
        let mut n = 0;
        // DropOldest: links out of a segment `head` has passed may lead to freed segments, so
        // the walk is pinned and steps through `head` as `successor_dropping` does.
        let guard = (self.policy == DROP_OLDEST).then(epoch::pin);
        loop {
            // SAFETY: the caller holds a reference on the first segment. Unbounded and
            // Backpressure: every segment after it is held by the link from its predecessor
            // (see `segment`), so the chain from it stays allocated while the reference lives.
            // DropOldest: every later segment was reached from `head` not yet past it, under
            // `guard`, so it is retired (if at all) after the pin began.
            let s = unsafe { &*seg };
            if offset == SEGMENT_CAP {
                if let Some(guard) = &guard {
                    if self.head_start(guard) > s.start {
                        // Overtaken: a read would skip to `head`; count from there.
                        (seg, offset) = (self.head_ptr(guard), 0);
                        continue;
                    }
                }
                // Acquire: pairs with the installing compare-and-swap.
                let next = s.next.load(Ordering::Acquire);
                if next.is_null() {
                    return n;
                }
                (seg, offset) = (next, 0);
                continue;
            }
            // SAFETY: as above.
            match unsafe { s.get(offset) }.map(&mut count) {
                Some(Some(true)) => n += 1,
                Some(Some(false)) => {}
                Some(None) | None => return n,
            }
            offset += 1;
        }
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
        let prev = self.tail_index.fetch_or(CLOSED, Ordering::SeqCst);
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
        self.tail_index.load(Ordering::SeqCst) & CLOSED != 0
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
        self.tail_index.load(Ordering::SeqCst) & !CLOSED > index
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
            n => n,
        }
    }

    /// Events sent successfully so far.
    pub(crate) fn sent(&self) -> u64 {
        match self.closed_at.load(Ordering::Relaxed) {
            OPEN => self.tail_index.load(Ordering::Relaxed) & !CLOSED,
            at => at,
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn retained_segments(&self) -> usize {
        self.live_segments.load(Ordering::Relaxed)
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
        let guard = epoch::pin();
        // Acquire: as in `push`; pinned, so the segment stays allocated while read.
        let tail = self.tail_seg.load(Ordering::Acquire);
        // SAFETY: loaded from `tail_seg` under `guard`; the tail is never retired before it.
        let tail_start = unsafe { (*tail).start };
        drop(guard);
        let cap = SEGMENT_CAP as u64;
        let in_tail = sent.saturating_sub(tail_start).min(cap);
        ((segments - 1) * cap + in_tail).min(sent)
    }
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

/// Two collections: enough for the epoch to advance twice past bags just pushed, and so to free
/// them, when no other thread is pinned in an older epoch.
fn flush_epoch() {
    for _ in 0..2 {
        epoch::pin().flush();
    }
}

impl<E> Drop for Topic<E> {
    fn drop(&mut self) {
        // `&mut self`: no sender or subscription can reach this list any more (both hold the
        // topic's `Arc`). Every segment before the tail is already dead (retired to the epoch,
        // which frees it on its own); the tail and any successors installed ahead of it are
        // reachable only from here, so they are freed at once, in a loop.
        // A DropOldest topic keeps every segment from `head` on alive (not retired): free from
        // there. Those before `head` died with the last cursor in them.
        // Relaxed: `&mut self` already synchronised with every thread that used the topic.
        let head = self.head.load(Ordering::Relaxed);
        let mut cur = if head.is_null() {
            self.tail_seg.load(Ordering::Relaxed)
        } else {
            head
        };
        while !cur.is_null() {
            // SAFETY: exclusive access, argued above; each segment is freed exactly once.
            let mut seg = unsafe { Box::from_raw(cur) };
            cur = seg.next.load(Ordering::Relaxed);
            // This drop may run inside any caller's pin (the registry that held the topic is
            // freed through the epoch): a panicking `E::drop` is contained.
            seg.drop_values(&self.user_panics);
        }
        // Relaxed: as above.
        let mut cell = self.positions.load(Ordering::Relaxed);
        while !cell.is_null() {
            // SAFETY: cells are owned by the topic and freed only here.
            let c = unsafe { Box::from_raw(cell) };
            cell = c.next;
        }
    }
}

#[cfg(all(test, not(tidings_loom)))]
mod tests {
    use std::cell::RefCell;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    use crate::Bus;

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
