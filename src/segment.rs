//! Fixed-size segments of write-once slots, linked into one append-only list per event type,
//! kept alive by reference counts and freed through crossbeam-epoch.
//! Their place in the whole protocol: [`crate::docs::protocol`].
//!
//! # Reference counts
//!
//! A segment is alive while anybody may still read it or walk through it. Its `refs` counts:
//!
//! - one for the *link* from its predecessor, while the predecessor is alive (a segment
//!   installed by `next` starts with this one reference);
//! - one while it is the topic's *tail segment* (`Topic::tail_seg`);
//! - one for every subscription whose cursor is in it.
//!
//! So a segment dies exactly when it is not the tail, no subscription is in it, and everything
//! before it is dead: every subscription that must read it has moved past it. When its count
//! reaches zero it drops its link reference on its successor, which may die in turn; the
//! cascade runs in a loop (never recursion), so a subscription ten million events behind is
//! released in one call.
//!
//! # Why epochs as well
//!
//! The counts say when a segment is *unreachable for readers*. Senders do not hold counts: they
//! load `tail_seg` and walk forward from it while pinned, and a preempted sender may hold a
//! pointer to a segment whose count has since fallen to zero. So a dead segment is not freed
//! but *retired* into crossbeam-epoch, which frees it once every thread that was pinned when it
//! died has unpinned. A dead chain is retired as one deferred function.
//!
//! A dead segment's `next` is never null (it died because the tail moved past it, so its
//! successor was installed) except when the whole topic is dropped.
//!
//! # DropOldest: the head reference and cut links
//!
//! A DropOldest topic (see `topic`) adds one more reference: its `head` pointer holds one on
//! the oldest retained segment. When `head` moves from a segment to its successor, the
//! segment's link reference on the successor becomes the head reference, and the segment is
//! marked [`cut`](Segment::cut): when it dies (its last cursor leaves), it has no link
//! reference to drop, so the cascade stops there. Every segment from `head` on is kept alive by
//! the head reference or a link; every segment before it only by cursors in it.

use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::{self, NonNull};

use crate::stats::UserPanics;
use crate::sync::epoch::Guard;
use crate::sync::{
    AtomicBool, AtomicPtr, AtomicUsize, Ordering, UnsafeCell, init_uninit, loom_check,
};

/// Slots per segment. At least 32 so that allocation is amortised below 1/32 per event; 64
/// slots of a 24-byte event make a 2 KiB segment. Loom models use 2 so that they cross segment
/// boundaries within a handful of operations.
#[cfg(not(tidings_loom))]
pub(crate) const SEGMENT_CAP: usize = 64;
#[cfg(tidings_loom)]
pub(crate) const SEGMENT_CAP: usize = 2;

/// One event slot.
pub(crate) struct Slot<E> {
    /// `false` until the sender that claimed this slot has written `value`; then `true` forever.
    /// Set with `Release` after the write; readers load it with `Acquire`, so a reader that sees
    /// `true` sees the value.
    ready: AtomicBool,
    /// Written once, by the one sender whose claim of the topic's index landed here, before
    /// `ready`. Read (shared) by every subscription after `ready`. Dropped only when the
    /// segment is destroyed, and only if `ready`.
    value: UnsafeCell<MaybeUninit<E>>,
}

/// A segment of [`SEGMENT_CAP`] slots holding the events with global indices
/// `start .. start + SEGMENT_CAP`.
pub(crate) struct Segment<E> {
    /// Global index of `slots[0]`; a multiple of `SEGMENT_CAP`. Immutable.
    pub(crate) start: u64,
    /// The successor: null until installed by a compare-and-swap (by a sender that needs it, or
    /// a subscription starting past this segment's end), then never changed. The installed
    /// segment's link reference belongs to this segment.
    pub(crate) next: AtomicPtr<Segment<E>>,
    /// Reference count, see the module docs. Increments need an existing reference (or are
    /// conditional on the count being non-zero, `try_acquire`), so a count never rises from 0.
    refs: AtomicUsize,
    /// DropOldest: set (once, before the head reference on this segment is dropped) when
    /// `head` moved past this segment and took over its link reference on `next`. A dead cut
    /// segment does not cascade. Never set for other policies.
    cut: AtomicBool,
    /// Whether this segment belongs to a DropOldest topic, so may be [`cut`](Segment::cut):
    /// then its `next` is followed only through the topic's `head` protocol, never by
    /// [`SegmentRef::next`]. Immutable.
    cuttable: bool,
    slots: [Slot<E>; SEGMENT_CAP],
}

// SAFETY: a segment hands out `&E` to many threads at once (E: Sync) and values written by one
// thread are dropped by another (E: Send). Every other field is atomic.
unsafe impl<E: Send + Sync> Sync for Segment<E> {}
// SAFETY: as above; a segment owns `E` values, so moving it moves them.
unsafe impl<E: Send + Sync> Send for Segment<E> {}

impl<E> Segment<E> {
    /// A new segment with `refs` references, boxed and leaked: it is freed through [`release`]
    /// (or by its topic's drop).
    ///
    /// Built in place on the heap: a `Segment` literal would be assembled on the stack first,
    /// which in a debug build takes `SEGMENT_CAP` times the event's size there (8 KiB events
    /// overflowed a 2 MiB thread). Only the small fields are written; the values stay
    /// uninitialised until a sender writes them.
    pub(crate) fn alloc(start: u64, refs: usize, cuttable: bool) -> *mut Segment<E> {
        let mut boxed = Box::<Segment<E>>::new_uninit();
        let p = boxed.as_mut_ptr();
        // SAFETY: `p` points to an allocation of the right size and alignment for a segment;
        // each field is written once through a raw pointer (no reference to uninitialised
        // memory is made). `value` is `MaybeUninit`, valid uninitialised (`init_uninit`).
        unsafe {
            ptr::addr_of_mut!((*p).start).write(start);
            ptr::addr_of_mut!((*p).next).write(AtomicPtr::new(ptr::null_mut()));
            ptr::addr_of_mut!((*p).refs).write(AtomicUsize::new(refs));
            ptr::addr_of_mut!((*p).cut).write(AtomicBool::new(false));
            ptr::addr_of_mut!((*p).cuttable).write(cuttable);
            let slots = ptr::addr_of_mut!((*p).slots).cast::<Slot<E>>();
            for i in 0..SEGMENT_CAP {
                let slot = slots.add(i);
                ptr::addr_of_mut!((*slot).ready).write(AtomicBool::new(false));
                init_uninit(ptr::addr_of_mut!((*slot).value));
            }
        }
        // SAFETY: every field was initialised above.
        let seg = Box::into_raw(unsafe { boxed.assume_init() });
        loom_check::segment_allocated(seg);
        seg
    }

    /// Writes the event claimed at `offset` and publishes it.
    ///
    /// # Safety
    /// As [`write_pending`](Segment::write_pending).
    #[inline]
    pub(crate) unsafe fn write(&self, offset: usize, event: E) {
        // SAFETY: the caller's contract, passed on.
        pending(event, |event| unsafe { self.write_pending(offset, event) });
    }

    /// Moves the event claimed at `offset` into its slot and publishes it. A [`Pending`] is
    /// copied once, straight from the sender's storage (a large event is never copied onto
    /// the stack here).
    ///
    /// # Safety
    /// The caller claimed global index `start + offset` (so no other thread writes this slot)
    /// and keeps the segment alive (pinned) for the call.
    #[inline]
    pub(crate) unsafe fn write_pending<C: Carrier<E>>(&self, offset: usize, event: C) {
        loom_check::segment_alive(self);
        let slot = &self.slots[offset];
        // SAFETY: the caller's claim makes this thread the slot's only writer, and no reader
        // touches `value` before `ready` is set below; the slot is no sender's storage.
        slot.value
            .with_mut(|p| unsafe { event.move_to((*p).as_mut_ptr()) });
        // Release: pairs with the Acquire in `get`, publishing the value written above.
        slot.ready.store(true, Ordering::Release);
    }

    /// The event at `offset` if it has been published.
    ///
    /// # Safety
    /// The caller holds a reference on this segment for as long as it uses the returned `&E`.
    #[inline]
    pub(crate) unsafe fn get(&self, offset: usize) -> Option<&E> {
        loom_check::segment_alive(self);
        let slot = &self.slots[offset];
        // Acquire: pairs with the Release in `write`.
        if slot.ready.load(Ordering::Acquire) {
            // SAFETY: `ready` means the value was initialised and will not be written again; it
            // is dropped only when the segment is destroyed, which the caller's reference
            // prevents.
            Some(slot.value.with(|p| unsafe { (*p).assume_init_ref() }))
        } else {
            None
        }
    }

    /// The event at `offset`, which this thread already found published.
    ///
    /// # Safety
    /// As [`get`](Segment::get), and `get(offset)` returned `Some` on this thread before (its
    /// Acquire load synchronised with the write, and a published slot stays published).
    #[inline]
    pub(crate) unsafe fn get_published(&self, offset: usize) -> &E {
        loom_check::segment_alive(self);
        debug_assert!(self.slots[offset].ready.load(Ordering::Relaxed));
        // SAFETY: the caller's contract: initialised, never written again, not yet dropped.
        self.slots[offset]
            .value
            .with(|p| unsafe { (*p).assume_init_ref() })
    }

    /// Counts one more reference if the count is not already zero (`SegmentRef::try_acquire`).
    #[inline]
    fn try_increment(&self) -> bool {
        loom_check::segment_alive(self);
        // Acquire (here and on failure below): a caller that finds the count at zero learns
        // that the segment died, and must then see why. A DropOldest cursor finding its
        // successor dead then loads `head` and must see it past the successor: the final
        // decrement is in the release sequence of the trimmer's, which followed its move of
        // `head` (the `drop_oldest_laggard_vs_trim` loom model; Relaxed failed it).
        let mut n = self.refs.load(Ordering::Acquire);
        while n != 0 {
            // Relaxed on success: the caller is pinned, so the memory stays valid; the count
            // itself is the only thing published here.
            match self
                .refs
                .compare_exchange_weak(n, n + 1, Ordering::Relaxed, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
        false
    }

    /// Marks this segment's link reference on its successor as taken over (module docs). The
    /// caller holds the head reference on this segment and drops it afterwards.
    pub(crate) fn cut(&self) {
        // Relaxed: the caller's release of its reference (AcqRel) follows, so whoever makes
        // the final decrement, and so reads the flag, sees it.
        self.cut.store(true, Ordering::Relaxed);
    }

    /// Counts one more reference when the caller already holds one (or the link to it).
    #[inline]
    fn increment(&self) {
        loom_check::segment_alive(self);
        // Relaxed: as in `Arc::clone`, a new reference derived from an existing one needs no
        // ordering; the existing one keeps the segment alive.
        self.refs.fetch_add(1, Ordering::Relaxed);
    }
}

/// One counted reference on a segment (one of the `refs` in the module docs), owned: while it
/// lives the segment stays allocated, so reading through it is safe. It is given up only by
/// [`release`](SegmentRef::release), which may free the segment and its successors and so
/// consumes it; dropping one without releasing it leaks the segment (never a use after free).
/// The shape of crossbeam-channel's `counter.rs`, whose `Sender` and `Receiver` are such
/// references on a channel.
///
/// Invariant: `seg` points to a segment on which this value owns one reference.
pub(crate) struct SegmentRef<E> {
    seg: NonNull<Segment<E>>,
}

// SAFETY: a reference hands out `&E` and may be released (and the values dropped) on another
// thread: what `Segment`'s own `Send`/`Sync` rest on, with the same bounds.
unsafe impl<E: Send + Sync> Send for SegmentRef<E> {}
// SAFETY: `&SegmentRef` only reads the segment (`&E`, atomics); see `Send` above.
unsafe impl<E: Send + Sync> Sync for SegmentRef<E> {}

impl<E> SegmentRef<E> {
    /// Takes one more reference on `seg` if its count is not already zero (the segment is
    /// then dead, and must not be revived).
    ///
    /// The pointer is kept as given, never made from a `&Segment`: the last reference frees
    /// the segment through it, which needs the provenance of the allocation (a pointer made
    /// from a shared reference may not deallocate, miri's Tree Borrows says).
    ///
    /// # Safety
    /// `seg` stays allocated for the call (the caller is pinned and reached it from the topic,
    /// or holds a reference on it).
    #[inline]
    pub(crate) unsafe fn try_acquire(seg: *mut Segment<E>) -> Option<Self> {
        // SAFETY: the caller's contract.
        let s = unsafe { &*seg };
        if s.try_increment() {
            Some(Self {
                // SAFETY: allocated, so not null; the reference just counted is the result's.
                seg: unsafe { NonNull::new_unchecked(seg) },
            })
        } else {
            None
        }
    }

    /// Takes over a reference that the caller owns and that no pointer-typed holder keeps
    /// any more (the one `tail_seg` or `head` held, after swapping it out).
    ///
    /// # Safety
    /// `seg` points to a segment on which the caller owns one reference, which it hands over.
    #[inline]
    pub(crate) unsafe fn from_raw(seg: *mut Segment<E>) -> Self {
        Self {
            // SAFETY: the caller's reference keeps `seg` allocated, so it is not null.
            seg: unsafe { NonNull::new_unchecked(seg) },
        }
    }

    /// Hands the reference over to a pointer-typed holder (`tail_seg`), which owns it from now.
    #[inline]
    pub(crate) fn into_raw(self) -> *mut Segment<E> {
        self.seg.as_ptr()
    }

    /// The segment.
    #[inline(always)]
    fn segment(&self) -> &Segment<E> {
        // SAFETY: the reference this value owns keeps the segment allocated while `self` lives.
        unsafe { self.seg.as_ref() }
    }

    /// The segment's address, for walks that hold this reference while they go on by pointer
    /// (`Topic::count_ready`).
    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut Segment<E> {
        self.seg.as_ptr()
    }

    /// The successor's address, null until installed, with no reference taken (Acquire: pairs
    /// with the installing compare-and-swap, so the successor's fields are visible).
    #[inline]
    pub(crate) fn next_raw(&self) -> *mut Segment<E> {
        self.segment().next.load(Ordering::Acquire)
    }

    /// Whether this and `seg` are the same segment.
    #[cfg(test)]
    pub(crate) fn is(&self, seg: *const Segment<E>) -> bool {
        ptr::eq(self.seg.as_ptr(), seg)
    }

    /// Global index of the segment's first slot.
    #[inline(always)]
    pub(crate) fn start(&self) -> u64 {
        self.segment().start
    }

    /// The event at `offset` if it has been published, borrowed for as long as this reference.
    #[inline(always)]
    pub(crate) fn get(&self, offset: usize) -> Option<&E> {
        // SAFETY: this reference keeps the segment (and so a published value) alive while the
        // returned borrow of `self` lives.
        unsafe { self.segment().get(offset) }
    }

    /// The run of published events from `from` to at most `end` (exclusive): it ends at the
    /// first slot not published yet, or (after the first event, which it takes whatever
    /// `keep` says) at the first event `keep` refuses.
    #[inline]
    pub(crate) fn ready_run(
        &self,
        from: usize,
        end: usize,
        mut keep: impl FnMut(&E) -> bool,
    ) -> Run<'_, E> {
        let mut offset = from;
        if offset < end && self.get(offset).is_some() {
            offset += 1;
            while offset < end && self.get(offset).is_some_and(&mut keep) {
                offset += 1;
            }
        }
        Run {
            seg: Some(self.segment()),
            next: from,
            end: offset,
        }
    }

    /// Another reference on the same segment.
    #[inline]
    pub(crate) fn acquire(&self) -> SegmentRef<E> {
        self.segment().increment();
        SegmentRef { seg: self.seg }
    }

    /// A reference on the successor, if it is installed: the link from this segment keeps the
    /// successor alive while this reference does.
    ///
    /// # Panics
    ///
    /// On a segment of a DropOldest topic, whose link may have been [`cut`](Segment::cut)
    /// (its successor then lives only as long as `head` or a cursor holds it): those cross
    /// segments through `Topic::successor`.
    #[inline]
    pub(crate) fn next(&self) -> Option<SegmentRef<E>> {
        assert!(
            !self.segment().cuttable,
            "the link of a DropOldest segment may be cut"
        );
        let next = self.next_raw();
        // SAFETY: a segment that is never cut holds its link reference on its successor for as
        // long as it lives (module docs), and this reference keeps it alive: the successor's
        // count is at least one, so it is allocated, and a new reference may be derived.
        NonNull::new(next).map(|next| {
            // SAFETY: as above.
            unsafe { next.as_ref() }.increment();
            SegmentRef { seg: next }
        })
    }

    /// Gives the reference up; if it was the last, retires the segment and cascades the link
    /// reference to its successors. Returns how many segments died.
    ///
    /// The dead segments' values are dropped later, by whichever thread collects the epoch; a
    /// panic in one of those drops is contained and counted in `user_panics` (see
    /// `drop_values`). `guard` is a pin (or, when the caller has exclusive access to the whole
    /// list, `unprotected`).
    pub(crate) fn release(self, guard: &Guard, user_panics: &std::sync::Arc<UserPanics>) -> usize
    where
        E: Send + Sync,
    {
        // SAFETY: `self` owns one reference on the segment (the type's invariant), given up
        // here; it is not used again.
        unsafe { release(self.seg.as_ptr(), guard, user_panics) }
    }
}

impl<E> std::fmt::Debug for SegmentRef<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentRef")
            .field("start", &self.start())
            .finish_non_exhaustive()
    }
}

/// A run of published events of one segment, read in place (the batch reads' `Batch`).
///
/// Invariant: every offset in `next .. end` of `seg` was found published on this thread (by
/// [`SegmentRef::ready_run`]), and `seg` stays allocated for `'a` (borrowed from a reference).
pub(crate) struct Run<'a, E> {
    seg: Option<&'a Segment<E>>,
    next: usize,
    end: usize,
}

impl<'a, E> Run<'a, E> {
    /// The run with no events.
    pub(crate) const EMPTY: Self = Run {
        seg: None,
        next: 0,
        end: 0,
    };

    /// Events left in the run.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.end - self.next
    }

    /// The offset just past the run in its segment.
    #[inline]
    pub(crate) fn end(&self) -> usize {
        self.end
    }
}

impl<'a, E> Iterator for Run<'a, E> {
    type Item = &'a E;

    #[inline]
    fn next(&mut self) -> Option<&'a E> {
        if self.next == self.end {
            return None;
        }
        let seg = self.seg?;
        // SAFETY: the type's invariant: `seg` is alive for `'a`, and this slot was found
        // published on this thread.
        let event = unsafe { seg.get_published(self.next) };
        self.next += 1;
        Some(event)
    }
}

impl<E> Clone for Run<'_, E> {
    fn clone(&self) -> Self {
        Run {
            seg: self.seg,
            next: self.next,
            end: self.end,
        }
    }
}

/// [`SegmentRef::release`].
///
/// # Safety
/// The caller owns one reference on `seg` (which it gives up) and `guard` is a pin (or, when the
/// caller has exclusive access to the whole list, `unprotected`).
unsafe fn release<E: Send + Sync>(
    seg: *mut Segment<E>,
    guard: &Guard,
    user_panics: &std::sync::Arc<UserPanics>,
) -> usize {
    let first = seg;
    let mut cur = seg;
    let mut dead = 0usize;
    loop {
        // SAFETY: the caller's reference (or, in later rounds, the dead predecessor's link
        // reference) keeps `cur` allocated.
        let s = unsafe { &*cur };
        loom_check::segment_alive(s);
        // AcqRel: Release publishes this thread's reads of the segment before the count falls;
        // Acquire on the final decrement sees every other thread's, as in `Arc::drop`.
        if s.refs.fetch_sub(1, Ordering::AcqRel) != 1 {
            break;
        }
        dead += 1;
        // Relaxed: the final decrement above acquired every earlier holder's release, the
        // cutter's among them.
        if s.cut.load(Ordering::Relaxed) {
            // Its link reference belongs to `head` now (DropOldest).
            break;
        }
        // Acquire: pairs with the installing compare-and-swap, so the successor's fields are
        // visible before its link reference is dropped.
        let next = s.next.load(Ordering::Acquire);
        if next.is_null() {
            break;
        }
        cur = next;
    }
    if dead > 0 {
        let chain = SendPtr(first);
        // The bus's counter travels with the chain: the destruction may run after the topic,
        // even the bus, is gone, inside another bus's call. Three words with the two below,
        // so crossbeam-epoch still stores the closure inline.
        let user_panics = std::sync::Arc::clone(user_panics);
        // SAFETY: the `dead` segments from `first` are unreachable for subscriptions (count 0)
        // and for new senders (none is the tail any more); senders that loaded one of them are
        // pinned, and the epoch runs this only after they unpin. Each dead segment's `next`
        // was read above and never changes.
        unsafe {
            guard.defer_unchecked(move || {
                let chain = chain;
                destroy_chain(chain.0, dead, &user_panics)
            });
        }
    }
    dead
}

/// A raw segment pointer handed to a deferred destructor.
struct SendPtr<E>(*mut Segment<E>);
// SAFETY: the destructor that receives it runs on whatever thread collects the epoch; the
// segment's values are `Send` (bound on `release`).
unsafe impl<E: Send> Send for SendPtr<E> {}

/// Frees `count` segments along the `next` chain from `first`, dropping every published value
/// (panics contained, see `drop_values`).
///
/// # Safety
/// No other thread can reach any of these segments any more.
unsafe fn destroy_chain<E>(first: *mut Segment<E>, count: usize, user_panics: &UserPanics) {
    let mut cur = first;
    for _ in 0..count {
        // SAFETY: the caller's contract: these segments are exclusively ours.
        let mut seg = unsafe { Box::from_raw(cur) };
        // Relaxed: the epoch synchronised this thread with every user of the chain.
        cur = seg.next.load(Ordering::Relaxed);
        seg.drop_values(user_panics);
    }
}

impl<E> Segment<E> {
    /// Drops every published value, containing panics: a value whose `drop` panics counts as
    /// dropped (its fields were dropped by the unwinding), the panic is counted in
    /// `user_panics`, and the values after it are still dropped. Segments are freed on
    /// whichever thread collects the epoch, inside an unrelated call, possibly of another bus:
    /// a panic must not come out there, nor stop the rest of the chain from being freed.
    ///
    /// One `catch_unwind` per segment, not per value: after a panic it resumes at the next slot.
    pub(crate) fn drop_values(&mut self, user_panics: &UserPanics) {
        if !std::mem::needs_drop::<E>() {
            return;
        }
        let mut next = 0;
        while next < SEGMENT_CAP {
            user_panics.contain("drop", || {
                while next < SEGMENT_CAP {
                    let slot = &mut self.slots[next];
                    next += 1;
                    // Relaxed: exclusive access, as in `drop`.
                    if slot.ready.swap(false, Ordering::Relaxed) {
                        // SAFETY: `ready` was set, so the value is initialised; clearing it
                        // first means it is dropped once, even if this drop panics.
                        slot.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
                    }
                }
            });
        }
    }
}

impl<E> Drop for Segment<E> {
    fn drop(&mut self) {
        loom_check::segment_freed(self);
        for slot in &mut self.slots {
            // Relaxed: `drop` has exclusive access, established by the epoch (or by `&mut` on
            // the topic), which already synchronised with every writer.
            if slot.ready.load(Ordering::Relaxed) {
                // SAFETY: `ready` means the value is initialised; nobody else can reach it now.
                slot.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
            }
        }
    }
}

/// An event on its way to a slot, held by reference to the sender's storage, so that a send
/// moves the event once, from that storage into its slot, however many calls it passes
/// through (issue 12: a 256 KiB event passed by value was copied into every frame of a debug
/// build and overflowed a 2 MiB thread).
///
/// Invariant: a `Pending` owns the value it points to. That value is read or dropped exactly
/// once, by whichever consumes the `Pending`: [`Segment::write_pending`] (moved into a slot),
/// [`Pending::into_inner`] (handed back), or its `Drop` (unwinding). Nobody else touches the
/// storage after the `Pending` is made (the contract of [`Pending::new`]).
pub(crate) struct Pending<'a, E> {
    event: *mut E,
    /// Borrows the storage for as long as the `Pending` lives, and owns an `E`.
    _storage: PhantomData<(&'a mut ManuallyDrop<E>, E)>,
}

impl<'a, E> Pending<'a, E> {
    /// Takes ownership of the event in `storage`.
    ///
    /// # Safety
    /// The caller never reads, drops or takes the value in `storage` again (the `Pending` does
    /// that, exactly once).
    #[inline]
    pub(crate) unsafe fn new(storage: &'a mut ManuallyDrop<E>) -> Self {
        Self {
            event: ptr::from_mut::<E>(storage),
            _storage: PhantomData,
        }
    }

    /// The event, handed back (for a send that stored nothing).
    #[inline]
    pub(crate) fn into_inner(self) -> E {
        let src = self.into_raw();
        // SAFETY: `into_raw` handed the still initialised value over to be read once (the
        // type's invariant); this is that read.
        unsafe { ptr::read(src) }
    }

    /// Gives up ownership: whoever calls it reads the value behind the pointer exactly once.
    #[inline]
    fn into_raw(self) -> *mut E {
        let this = ManuallyDrop::new(self);
        this.event
    }
}

/// How an event travels from a send to its slot: by value ([`Owned`], for small events, which
/// stay in registers) or by reference to the sender's storage ([`Pending`], for large ones).
pub(crate) trait Carrier<E> {
    /// Moves the event to `dst`.
    ///
    /// # Safety
    /// `dst` is valid for writing an `E` and does not overlap the carrier's storage.
    unsafe fn move_to(self, dst: *mut E);

    /// The event, handed back (for a send that stored nothing).
    fn into_event(self) -> E;
}

/// An event carried by value.
pub(crate) struct Owned<E>(pub(crate) E);

impl<E> Carrier<E> for Owned<E> {
    #[inline]
    unsafe fn move_to(self, dst: *mut E) {
        // SAFETY: the caller's contract.
        unsafe { dst.write(self.0) }
    }

    #[inline]
    fn into_event(self) -> E {
        self.0
    }
}

impl<E> Carrier<E> for Pending<'_, E> {
    #[inline]
    unsafe fn move_to(self, dst: *mut E) {
        let src = self.into_raw();
        // SAFETY: `src` is an initialised `E` that `into_raw` handed over to be read exactly
        // once (the `Pending` invariant): this is that read. `dst` is valid and does not
        // overlap it (the caller's contract).
        unsafe { ptr::copy_nonoverlapping(src, dst, 1) }
    }

    #[inline]
    fn into_event(self) -> E {
        self.into_inner()
    }
}

/// Runs `f` with `event` as a [`Pending`], which `f` moves into a slot, hands back or drops.
#[inline]
pub(crate) fn pending<E, R>(event: E, f: impl FnOnce(Pending<'_, E>) -> R) -> R {
    let mut storage = ManuallyDrop::new(event);
    // SAFETY: `storage` is not touched again; the `Pending` reads or drops its value.
    f(unsafe { Pending::new(&mut storage) })
}

impl<E> Drop for Pending<'_, E> {
    fn drop(&mut self) {
        // SAFETY: not consumed (`into_raw` forgets the `Pending`), so the value is still
        // initialised and ours to drop, this once (the type's invariant).
        unsafe { ptr::drop_in_place(self.event) };
    }
}

#[cfg(all(test, not(tidings_loom)))]
mod tests {
    use super::*;
    use crate::sync::epoch;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;

    /// Counts its drops.
    struct Probe(Arc<StdAtomicUsize>);

    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn flush() {
        for _ in 0..64 {
            epoch::pin().flush();
        }
    }

    /// A chain of `n` segments: the first with `first_refs` references, the rest holding only
    /// their link reference.
    fn chain(n: usize, first_refs: usize) -> Vec<*mut Segment<Probe>> {
        let segs: Vec<_> = (0..n)
            .map(|i| {
                Segment::alloc(
                    (i * SEGMENT_CAP) as u64,
                    if i == 0 { first_refs } else { 1 },
                    false,
                )
            })
            .collect();
        for w in segs.windows(2) {
            // SAFETY: freshly allocated, not shared.
            unsafe { (*w[0]).next.store(w[1], Ordering::Relaxed) };
        }
        segs
    }

    #[test]
    fn release_of_the_last_reference_frees_the_chain_and_its_values() {
        let drops = Arc::new(StdAtomicUsize::new(0));
        let segs = chain(3, 2);
        // SAFETY: slots 0 and 1 of each segment are written once, by this thread.
        unsafe {
            for &s in &segs {
                (*s).write(0, Probe(drops.clone()));
                (*s).write(1, Probe(drops.clone()));
            }
        }
        let panics = Arc::new(UserPanics::new());
        let guard = epoch::pin();
        // SAFETY: we own the two references on the first segment.
        let (a, b) = unsafe { (SegmentRef::from_raw(segs[0]), SegmentRef::from_raw(segs[0])) };
        assert_eq!(a.release(&guard, &panics), 0, "one reference left");
        assert_eq!(b.release(&guard, &panics), 3, "the whole chain died");
        drop(guard);
        flush();
        assert_eq!(
            drops.load(Ordering::SeqCst),
            6,
            "every written value dropped once"
        );
    }

    #[test]
    fn release_stops_at_a_segment_that_is_still_referenced() {
        let drops = Arc::new(StdAtomicUsize::new(0));
        let segs = chain(3, 1);
        // SAFETY: we own the first segment's only reference.
        let first = unsafe { SegmentRef::from_raw(segs[0]) };
        // A cursor's reference on the second, taken through the link.
        let second = first.next().expect("linked");
        assert!(second.is(segs[1]));
        // SAFETY: the first segment's slot 0 is written once here.
        unsafe { (*segs[0]).write(0, Probe(drops.clone())) };
        let panics = Arc::new(UserPanics::new());
        let guard = epoch::pin();
        assert_eq!(first.release(&guard, &panics), 1);
        // The link reference from the dead first segment was dropped by the cascade, so this
        // is the last one on the second.
        assert_eq!(second.release(&guard, &panics), 2);
        drop(guard);
        flush();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn try_acquire_fails_once_the_count_is_zero() {
        let seg = Segment::<u8>::alloc(0, 1, false);
        // SAFETY: `seg` is alive: we hold its one reference.
        let s = unsafe { &*seg };
        // SAFETY: alive.
        let taken = unsafe { SegmentRef::try_acquire(seg) }.expect("alive");
        assert_eq!(s.refs.load(Ordering::SeqCst), 2);
        let _ = taken.into_raw();
        s.refs.store(0, Ordering::SeqCst);
        assert!(
            // SAFETY: still allocated.
            unsafe { SegmentRef::try_acquire(seg) }.is_none(),
            "a dead segment must not be revived"
        );
        // SAFETY: no other reference exists.
        drop(unsafe { Box::from_raw(seg) });
    }

    #[test]
    fn unwritten_slots_are_not_dropped() {
        let drops = Arc::new(StdAtomicUsize::new(0));
        let seg = Segment::alloc(0, 1, false);
        // SAFETY: fresh segment, slot 5 written once.
        unsafe { (*seg).write(5, Probe(drops.clone())) };
        // SAFETY: we hold its one reference.
        let r = unsafe { SegmentRef::from_raw(seg) };
        assert!(r.get(4).is_none());
        assert!(r.get(5).is_some());
        assert_eq!(
            r.ready_run(5, SEGMENT_CAP, |_| true).len(),
            1,
            "a run ends at an unwritten slot"
        );
        assert_eq!(r.ready_run(4, SEGMENT_CAP, |_| true).len(), 0);
        // SAFETY: we own it, and `r` is not used again.
        drop(unsafe { Box::from_raw(r.into_raw()) });
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn next_is_none_until_a_successor_is_installed() {
        let segs = chain(1, 1);
        // SAFETY: we own its only reference.
        let first = unsafe { SegmentRef::from_raw(segs[0]) };
        assert!(first.next().is_none());
        let guard = epoch::pin();
        assert_eq!(first.release(&guard, &Arc::new(UserPanics::new())), 1);
    }

    /// A DropOldest segment's link may be cut, after which its successor may be freed while
    /// the segment lives: `next` must refuse it rather than follow the link.
    #[test]
    #[should_panic(expected = "may be cut")]
    fn next_refuses_a_segment_whose_link_may_be_cut() {
        let seg = Segment::<u8>::alloc(0, 1, true);
        // SAFETY: we own its only reference (leaked by the panic, which is fine in a test).
        let r = unsafe { SegmentRef::from_raw(seg) };
        let _ = r.next();
    }
}
