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
//! - one while it is the topic's *tail segment* (`SegmentList::tail_seg`);
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
//!
//! # The list, and where the pointers are
//!
//! A topic's segments form a [`SegmentList`]: its index counter, `tail_seg` and `head`, with
//! every walk of the list by pointer (a sender's to its slot, a new cursor's, the trimming of
//! `head`, a DropOldest cursor's crossing) and every free of a segment. Outside this module a
//! segment is reached only through a counted [`SegmentRef`] or a [`Claim`] of indices; inside
//! it, a walk holds a [`SegmentPtr`], a pointer tied to the pin it was loaded under, whose
//! invariant (written on the type) is what keeps an uncounted segment allocated. So the
//! `unsafe` of the segment protocol is all in this file, each block naming the invariant above
//! or on the type it relies on.

use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::{self, NonNull};

use crossbeam_utils::CachePadded;

use crate::lag::LagWarning;
use crate::stats::UserPanics;
use crate::sync::epoch::{self, Guard};
use crate::sync::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, UnsafeCell, init_uninit, loom_check,
    retry_hint,
};

/// Slots per segment. At least 32 so that allocation is amortised below 1/32 per event; 64
/// slots of a 24-byte event make a 2 KiB segment. Loom models use 2 so that they cross segment
/// boundaries within a handful of operations.
#[cfg(not(tidings_loom))]
pub(crate) const SEGMENT_CAP: usize = 64;
#[cfg(tidings_loom)]
pub(crate) const SEGMENT_CAP: usize = 2;

/// The alignment segments are allocated with, before `Segment::alloc` aligns them inside the
/// allocation: what glibc's `malloc` gives every block (so the request is a plain `malloc`).
const RAW_ALIGN: usize = 16;

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
///
/// Aligned to a cache line, with the slot array first (where the compiler puts it: the test
/// `segments_are_aligned_to_a_cache_line` checks that slot 0 starts the segment): a slot of a
/// power-of-two size up to 64 bytes never straddles two lines. (Unaligned, a segment lands
/// wherever the allocator puts it, 16-byte aligned with glibc, and with 32-byte slots every
/// other slot then spans two lines: a sender writing it and the subscriptions reading it move
/// both. Which segments were misaligned differed from process to process, and W2's ratios
/// with them: issue 14 point 4, benches/README.md.) Allocated with the allocator's usual
/// alignment and aligned inside the allocation ([`Segment::alloc`]), because glibc serves an
/// over-aligned request several times slower.
#[repr(align(64))]
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
    /// The id of the DropOldest list this segment belongs to (see [`SegmentList`]), or 0 for a
    /// list whose links are never [`cut`](Segment::cut). A segment that may be cut has its
    /// `next` followed only through its list's `head` protocol, never by
    /// [`SegmentRef::next`]; the id lets the list check that a cursor's segment is its own.
    /// Immutable.
    owner: u64,
    /// Bytes from the start of the allocation to the segment ([`Segment::alloc`]). Immutable.
    pad: usize,
    slots: [Slot<E>; SEGMENT_CAP],
}

// SAFETY: a segment hands out `&E` to many threads at once (E: Sync) and values written by one
// thread are dropped by another (E: Send). Every other field is atomic.
unsafe impl<E: Send + Sync> Sync for Segment<E> {}
// SAFETY: as above; a segment owns `E` values, so moving it moves them.
unsafe impl<E: Send + Sync> Send for Segment<E> {}

impl<E> Segment<E> {
    /// A new segment with `refs` references, on the heap: it is freed through [`release`] (or
    /// by its topic's drop), which ends in [`free`](Segment::free).
    ///
    /// Aligned inside an allocation of [`RAW_ALIGN`] (see [`Segment`]). Built in place on the
    /// heap: a `Segment` literal would be assembled on the stack first, which in a debug build
    /// takes `SEGMENT_CAP` times the event's size there (8 KiB events overflowed a 2 MiB
    /// thread). Only the small fields are written; the values stay uninitialised until a sender
    /// writes them.
    pub(crate) fn alloc(start: u64, refs: usize, owner: u64) -> *mut Segment<E> {
        let layout = Self::raw_layout();
        // SAFETY: `layout` has a non-zero size (a segment has a header).
        let raw = unsafe { std::alloc::alloc(layout) };
        if raw.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // The first address in the allocation aligned for a segment; the allocation has room
        // for the segment from there (`raw_layout`).
        let pad = raw.addr().next_multiple_of(align_of::<Self>()) - raw.addr();
        // SAFETY: `raw` is `RAW_ALIGN`-aligned, so `pad <= align_of::<Self>() - RAW_ALIGN` (0 if
        // that is negative) and `pad + size_of::<Self>()` is within the allocation
        // (`raw_layout`).
        let p = unsafe { raw.add(pad) }.cast::<Segment<E>>();
        // SAFETY: `p` is aligned for a segment, with `size_of::<Self>()` bytes of the
        // allocation after it; each field is written once through a raw pointer (no reference
        // to uninitialised memory is made). `value` is `MaybeUninit`, valid uninitialised
        // (`init_uninit`).
        unsafe {
            ptr::addr_of_mut!((*p).pad).write(pad);
            ptr::addr_of_mut!((*p).start).write(start);
            ptr::addr_of_mut!((*p).next).write(AtomicPtr::new(ptr::null_mut()));
            ptr::addr_of_mut!((*p).refs).write(AtomicUsize::new(refs));
            ptr::addr_of_mut!((*p).cut).write(AtomicBool::new(false));
            ptr::addr_of_mut!((*p).owner).write(owner);
            let slots = ptr::addr_of_mut!((*p).slots).cast::<Slot<E>>();
            for i in 0..SEGMENT_CAP {
                let slot = slots.add(i);
                ptr::addr_of_mut!((*slot).ready).write(AtomicBool::new(false));
                init_uninit(ptr::addr_of_mut!((*slot).value));
            }
        }
        loom_check::segment_allocated(p);
        p
    }

    /// The layout `alloc` asks the allocator for: the segment's size plus room to align it,
    /// at the alignment the allocator gives every block of this size anyway.
    fn raw_layout() -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(
            size_of::<Self>() + align_of::<Self>().saturating_sub(RAW_ALIGN),
            RAW_ALIGN,
        )
        .expect("a segment's size fits a layout")
    }

    /// Drops a segment made by [`alloc`](Segment::alloc) (its `Drop` drops the values still
    /// published) and frees its allocation.
    ///
    /// # Safety
    /// `seg` came from `alloc`, and nothing else can reach it any more.
    pub(crate) unsafe fn free(seg: *mut Segment<E>) {
        // SAFETY: the caller's contract: the segment is initialised and ours alone.
        let pad = unsafe { (*seg).pad };
        // SAFETY: as above; dropped once, here.
        unsafe { ptr::drop_in_place(seg) };
        // SAFETY: `seg` is `pad` bytes into the allocation `alloc` made with `raw_layout`.
        unsafe { std::alloc::dealloc(seg.cast::<u8>().sub(pad), Self::raw_layout()) };
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
    unsafe fn try_acquire(seg: *mut Segment<E>) -> Option<Self> {
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

    /// Takes over a reference that the caller owns (the unit tests' and loom models' segments).
    ///
    /// # Safety
    /// `seg` points to a segment on which the caller owns one reference, which it hands over.
    #[cfg(any(test, tidings_loom))]
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

    /// The segment's address (the loom models write and link segments through it).
    #[cfg(tidings_loom)]
    pub(crate) fn as_ptr(&self) -> *mut Segment<E> {
        self.seg.as_ptr()
    }

    /// The successor's address, null until installed, with no reference taken (Acquire: pairs
    /// with the installing compare-and-swap, so the successor's fields are visible).
    #[inline]
    fn next_raw(&self) -> *mut Segment<E> {
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

    /// The segment's slots, borrowed for as long as this reference: a copy of the segment's
    /// address that a loop keeps in a register. Reading through `&SegmentRef` instead reloads
    /// the address from memory after every call that may write memory (a `Vec::push`), one
    /// load per event of a batch read (`scripts/unbounded_cost.sh --callgrind`).
    #[inline(always)]
    pub(crate) fn view(&self) -> View<'_, E> {
        View(self.segment())
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
    /// segments through `SegmentList::successor`.
    #[inline]
    pub(crate) fn next(&self) -> Option<SegmentRef<E>> {
        assert!(
            self.segment().owner == 0,
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

/// A segment's slots, read through a [`SegmentRef`] whose borrow it holds ([`SegmentRef::view`]):
/// the reference keeps the segment alive for `'a`.
pub(crate) struct View<'a, E>(&'a Segment<E>);

impl<E> Clone for View<'_, E> {
    #[inline(always)]
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for View<'_, E> {}

impl<'a, E> View<'a, E> {
    /// The event at `offset` if it has been published, borrowed for `'a`.
    #[inline(always)]
    pub(crate) fn get(self, offset: usize) -> Option<&'a E> {
        // SAFETY: the `SegmentRef` borrowed for `'a` holds a reference on the segment, which
        // keeps it (and so a published value) alive while the returned borrow lives.
        unsafe { self.0.get(offset) }
    }
}

impl<E> std::fmt::Debug for SegmentRef<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentRef")
            .field("start", &self.start())
            .finish_non_exhaustive()
    }
}

/// Bit of a list's `tail_index` set by `close` ([`SegmentList::close`]).
pub(crate) const CLOSED: u64 = 1 << 63;

/// Dead chains at least this long are flushed to the epoch's global queue at once.
const FLUSH_CHAIN: usize = 4;

/// A pointer to a segment of a [`SegmentList`], valid for `'g`: the `Shared<'g, T>` of
/// crossbeam-epoch, for this list. `Copy`; it reads the segment through a fresh `&` each time
/// (`Deref`), and keeps the pointer as loaded, so that a [`SegmentRef`] made from it may free
/// the segment (a pointer made back from a `&Segment` may not, miri's Tree Borrows says).
/// Made only in this module.
///
/// Invariant: for all of `'g` the thread is pinned and the list is borrowed, and the segment
/// (a) is retired, if ever, only after that pin began, and (b) is [`cut`](Segment::cut), if
/// ever, only after that pin began. By (a), the epoch frees it only after the pin ends, so it
/// stays allocated for `'g`. (b) is what makes [`next`](SegmentPtr::next) keep the invariant:
/// a successor dies only after its link reference is dropped (its predecessor died, after the
/// pin began by (a)) or taken over by `head` (its predecessor was cut, after the pin began by
/// (b)), and it is cut only after its predecessor was.
///
/// Where the invariant comes from: a segment loaded from `tail_seg` or `head` under the pin
/// holds that pointer's reference and has not been passed by `head` (which never passes the
/// tail), so it is neither retired nor cut at the load; a segment installed under the pin is
/// younger than the pin.
struct SegmentPtr<'g, E> {
    seg: NonNull<Segment<E>>,
    _pin: PhantomData<&'g Segment<E>>,
}

impl<E> Clone for SegmentPtr<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for SegmentPtr<'_, E> {}

impl<E> PartialEq for SegmentPtr<'_, E> {
    fn eq(&self, other: &Self) -> bool {
        self.seg == other.seg
    }
}

impl<E> std::ops::Deref for SegmentPtr<'_, E> {
    type Target = Segment<E>;

    #[inline(always)]
    fn deref(&self) -> &Segment<E> {
        // SAFETY: the type's invariant keeps the segment allocated for `'g`, which outlives
        // `self` and so this borrow.
        unsafe { self.seg.as_ref() }
    }
}

impl<'g, E> SegmentPtr<'g, E> {
    /// Wraps `seg`.
    ///
    /// # Safety
    /// `seg` meets the type's invariant for `'g`.
    #[inline(always)]
    unsafe fn new(seg: NonNull<Segment<E>>) -> Self {
        Self {
            seg,
            _pin: PhantomData,
        }
    }

    /// The successor, once installed. Acquire: pairs with the installing compare-and-swap, so
    /// the successor's fields are visible.
    #[inline]
    fn next(self) -> Option<Self> {
        let next = NonNull::new(self.next.load(Ordering::Acquire))?;
        // SAFETY: the successor of a segment that meets the invariant meets it (type docs).
        Some(unsafe { Self::new(next) })
    }

    /// The event at `offset` if it has been published, valid while `self` is borrowed.
    #[inline]
    fn event(&self, offset: usize) -> Option<&E> {
        // SAFETY: the segment stays allocated for `'g` (the type's invariant), so for the
        // borrow of `self`.
        unsafe { self.get(offset) }
    }

    /// A counted reference on the segment, unless its count is already zero (it is dead and
    /// must not be revived).
    #[inline]
    fn try_acquire(self) -> Option<SegmentRef<E>> {
        // SAFETY: allocated for `'g` (the type's invariant), so for the call; the pointer is
        // the one loaded or allocated, never made from a `&Segment`.
        unsafe { SegmentRef::try_acquire(self.seg.as_ptr()) }
    }

    /// Turns the reference a pointer-typed holder (`tail_seg`, `head`) had on this segment,
    /// which the caller just took over from it, into a [`SegmentRef`].
    ///
    /// # Safety
    /// The caller owns one reference on the segment, which it hands over.
    #[inline]
    unsafe fn into_ref(self) -> SegmentRef<E> {
        SegmentRef { seg: self.seg }
    }
}

/// A new DropOldest list id, never used before in this process (0 is "no list"). A plain std
/// atomic, as `registry`'s bus ids: a `static` needs a `const` constructor, and handing out ids
/// takes part in no protocol a loom model checks.
fn list_id() -> u64 {
    static NEXT_LIST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    // Relaxed: only uniqueness matters, which `fetch_add` gives whatever the ordering.
    NEXT_LIST.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// One topic's segment list: the counter that hands out its global indices (and ends them,
/// [`close`](SegmentList::close)), its tail segment and, for a DropOldest topic, its head.
/// Every walk of the list by pointer, and every free of its segments, is here. How the topic
/// uses it: `topic` and [`crate::docs::protocol`].
///
/// - `tail_seg.start <= index` for every sender that loaded `tail_seg` before claiming
///   `index` ([`SegmentList::claim`]): `tail_seg` is only ever moved to a segment by a sender
///   that has claimed an index in it, and it is loaded before the claim, so the claim is later
///   in `tail_index`'s modification order than that sender's. A sender therefore only ever
///   walks forward.
/// - DropOldest: `head` holds the head reference on the oldest retained segment and moves
///   forward by compare-and-swap, never past `tail_seg` (module docs, and `topic`).
pub(crate) struct SegmentList<E> {
    /// The next global index to claim, plus the [`CLOSED`] bit. Every successful claim
    /// increments it exactly once (SeqCst: it is the linearisation point of a send, a subscribe
    /// and a close). Claims that fail after close still increment the low bits.
    tail_index: CachePadded<AtomicU64>,
    /// A segment at or shortly before the one holding `tail_index`; it holds the tail reference.
    /// Moved forward only by a sender that claimed an index in the new segment
    /// (`advance_tail`). Never null while the list lives.
    tail_seg: CachePadded<AtomicPtr<Segment<E>>>,
    /// DropOldest: the oldest retained segment, holding the head reference. Moved forward only
    /// by compare-and-swap (`trim`), never past `tail_seg`. Null for other lists.
    head: AtomicPtr<Segment<E>>,
    /// DropOldest: this list's id, in every segment's `owner`; 0 for other lists. Immutable.
    /// Read by the DropOldest paths only: a crossing reads the segment's `owner` instead, off
    /// this line, which `live_segments` shares (`successor`).
    id: u64,
    /// Segments allocated and not yet retired (statistics only).
    live_segments: AtomicUsize,
    /// The bus's count of contained user panics, for the values dropped when this list's
    /// segments are freed (the deferred destructions take a clone with them).
    user_panics: std::sync::Arc<UserPanics>,
    /// The list owns its segments: `Send` and `Sync` only as `Segment` is, and dropping it may
    /// drop `E` values.
    _segments: PhantomData<Segment<E>>,
}

impl<E: Send + Sync> SegmentList<E> {
    /// An empty list with its first segment; `drop_oldest` for a DropOldest topic's.
    pub(crate) fn new(drop_oldest: bool, user_panics: std::sync::Arc<UserPanics>) -> Self {
        let id = if drop_oldest { list_id() } else { 0 };
        // One reference, the tail's; DropOldest adds the head reference.
        let first = Segment::alloc(0, if drop_oldest { 2 } else { 1 }, id);
        Self {
            tail_index: CachePadded::new(AtomicU64::new(0)),
            tail_seg: CachePadded::new(AtomicPtr::new(first)),
            head: AtomicPtr::new(if drop_oldest { first } else { ptr::null_mut() }),
            id,
            live_segments: AtomicUsize::new(1),
            user_panics,
            _segments: PhantomData,
        }
    }

    /// `tail_index` (the next index to claim, with the [`CLOSED`] bit), loaded with `order`.
    #[inline]
    pub(crate) fn index(&self, order: Ordering) -> u64 {
        self.tail_index.load(order)
    }

    /// Sets the [`CLOSED`] bit, so that every later claim fails; returns `tail_index` before.
    /// SeqCst: the close's linearisation point.
    pub(crate) fn close(&self) -> u64 {
        self.tail_index.fetch_or(CLOSED, Ordering::SeqCst)
    }

    /// Segments allocated and not yet retired.
    pub(crate) fn live_segments(&self) -> usize {
        // Relaxed: a statistics snapshot; it orders nothing.
        self.live_segments.load(Ordering::Relaxed)
    }

    /// The tail segment, pinned by `_guard`.
    #[inline(always)]
    fn tail<'g>(&'g self, _guard: &'g Guard) -> SegmentPtr<'g, E> {
        // Acquire: pairs with the Release in `advance_tail`, to read the segment's fields.
        let tail = self.tail_seg.load(Ordering::Acquire);
        // SAFETY: `tail_seg` is never null and holds the tail reference, and `head` never
        // passes it: loaded under the pin, the segment is neither retired nor cut yet
        // (`SegmentPtr`'s invariant).
        unsafe { SegmentPtr::new(NonNull::new_unchecked(tail)) }
    }

    /// DropOldest: the head segment, pinned by `_guard`.
    ///
    /// # Panics
    /// On a list that is not DropOldest (it has no head).
    #[inline]
    fn head<'g>(&'g self, _guard: &'g Guard) -> SegmentPtr<'g, E> {
        // Acquire: pairs with the compare-and-swap in `trim`, to read the new head's fields.
        let head = NonNull::new(self.head.load(Ordering::Acquire)).expect("a DropOldest list");
        // SAFETY: `head` holds the head reference, and a segment is cut only when `head`
        // passes it: loaded under the pin, the segment is neither retired nor cut yet.
        unsafe { SegmentPtr::new(head) }
    }

    /// Claims the `n` indices from `tail_index` on (unless the list is closed): the caller may
    /// then write them, and no one else may.
    #[inline(always)]
    pub(crate) fn claim<'g>(&'g self, n: u64, guard: &'g Guard) -> Option<Claim<'g, E>> {
        // Loaded before the claim, so `tail.start <= first` (type docs).
        let tail = self.tail(guard);
        // SeqCst: the send's linearisation point (see `topic`).
        let first = self.tail_index.fetch_add(n, Ordering::SeqCst);
        if first & CLOSED != 0 {
            return None;
        }
        Some(Claim {
            list: self,
            guard,
            tail,
            first,
            n,
        })
    }

    /// Claims `n` indices as [`claim`](SegmentList::claim) does, but by compare-and-swap and
    /// only if `admit` accepts the first (Backpressure), so that the check and the claim are
    /// one step. `Err(None)` if the list is closed, `Err(Some(why))` if `admit` refused.
    #[inline]
    pub(crate) fn claim_if<'g, R>(
        &'g self,
        n: u64,
        guard: &'g Guard,
        mut admit: impl FnMut(u64) -> Result<(), R>,
    ) -> Result<Claim<'g, E>, Option<R>> {
        // Loaded before the claim, as in `claim`.
        let tail = self.tail(guard);
        // SeqCst: as in `claim`.
        let mut raw = self.tail_index.load(Ordering::SeqCst);
        loop {
            if raw & CLOSED != 0 {
                return Err(None);
            }
            admit(raw).map_err(Some)?;
            match self.tail_index.compare_exchange_weak(
                raw,
                raw + n,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    return Ok(Claim {
                        list: self,
                        guard,
                        tail,
                        first: raw,
                        n,
                    });
                }
                Err(actual) => raw = actual,
            }
        }
    }

    /// The segment holding `index`, walking from `seg` and installing successors as needed.
    /// `seg.start <= index` (a sender's tail; type docs).
    #[inline]
    fn find_segment<'g>(
        &'g self,
        mut seg: SegmentPtr<'g, E>,
        index: u64,
        lag: &LagWarning,
    ) -> SegmentPtr<'g, E> {
        loop {
            debug_assert!(seg.start <= index);
            if index < seg.start + SEGMENT_CAP as u64 {
                return seg;
            }
            seg = match seg.next() {
                Some(next) => next,
                None => self.install_next(seg, lag),
            };
        }
    }

    /// [`Claim::write`] of index `first`, claimed by this thread under `guard` after it loaded
    /// `tail`, when the index is past `tail`: walks to (installing as needed) the segment that
    /// holds it, writes there and moves the tail to it. Once per segment of sends, so out of
    /// line, and its arguments in registers: each event type's inlined send keeps only the
    /// check in `write` (issue 12, item 6).
    #[cold]
    #[inline(never)]
    fn write_crossing<'g, C: Carrier<E>>(
        &'g self,
        tail: SegmentPtr<'g, E>,
        first: u64,
        event: C,
        lag: &LagWarning,
        guard: &'g Guard,
    ) {
        let seg = self.find_segment(tail, first, lag);
        // The index is past `tail` (the caller's check), so the walk took a step at least.
        debug_assert!(seg != tail);
        // SAFETY: this thread alone claimed the index (`Claim`'s docs), and `seg` is allocated
        // for the claim's pin.
        unsafe { seg.write_pending((first - seg.start) as usize, event) };
        self.advance_tail(seg, guard);
    }

    /// Installs a successor of `seg` if it has none, and returns the successor.
    #[cold]
    fn install_next<'g>(&'g self, seg: SegmentPtr<'g, E>, lag: &LagWarning) -> SegmentPtr<'g, E> {
        // One reference: the link from `seg`.
        let new = Segment::alloc(seg.start + SEGMENT_CAP as u64, 1, self.id);
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
                lag.check(std::any::type_name::<E>(), live);
                #[cfg(not(feature = "tracing"))]
                let _ = (live, lag);
                // SAFETY: allocated under the pin, so neither retired nor cut before it began.
                unsafe { SegmentPtr::new(NonNull::new_unchecked(new)) }
            }
            Err(winner) => {
                // SAFETY: `new` was never published.
                unsafe { Segment::free(new) };
                // SAFETY: the successor of `seg`, installed meanwhile: as in `SegmentPtr::next`.
                unsafe { SegmentPtr::new(NonNull::new_unchecked(winner)) }
            }
        }
    }

    /// Moves `tail_seg` forward to `seg` unless it is already there or past it. The caller
    /// claimed an index in `seg` and reached it by walking from the tail.
    fn advance_tail<'g>(&'g self, seg: SegmentPtr<'g, E>, guard: &'g Guard) {
        // The tail reference moves to `seg`: take it first. If the count is already zero, the
        // tail has moved past `seg` and every subscription has too; nothing to do.
        let Some(tail_ref) = seg.try_acquire() else {
            return;
        };
        let mut cur = self.tail(guard);
        loop {
            if cur.start >= seg.start {
                // Someone moved it as far or further: give back the reference we took. It may
                // be the last one (every subscription has moved past `seg` meanwhile).
                self.retire(tail_ref, guard);
                return;
            }
            // Release: pairs with the Acquire loads of `tail_seg` (`tail`).
            match self.tail_seg.compare_exchange_weak(
                cur.seg.as_ptr(),
                seg.seg.as_ptr(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // `tail_seg` holds the reference we took, and the old tail's is ours now
                    // to drop.
                    let _ = tail_ref.into_raw();
                    // SAFETY: we just took the tail reference on `cur` over from `tail_seg`.
                    self.retire(unsafe { cur.into_ref() }, guard);
                    return;
                }
                // SAFETY: loaded from `tail_seg` under the pin, as in `tail`.
                Err(actual) => cur = unsafe { SegmentPtr::new(NonNull::new_unchecked(actual)) },
            }
        }
    }

    /// Releases `seg` (pinned by `guard`) and counts the segments that died.
    #[inline]
    fn retire(&self, seg: SegmentRef<E>, guard: &Guard) -> usize {
        let dead = seg.release(guard, &self.user_panics);
        if dead > 0 {
            // Relaxed: statistics only.
            self.live_segments.fetch_sub(dead, Ordering::Relaxed);
        }
        dead
    }

    /// Gives up a cursor's reference; returns how many segments died.
    pub(crate) fn release(&self, seg: SegmentRef<E>) -> usize {
        let guard = epoch::pin();
        let dead = self.retire(seg, &guard);
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

    /// A cursor at the current end of the stream: a reference on its segment, taken for the
    /// caller, and the global index of the first event the caller will read, which `start_at`
    /// picks from `tail_index` (`None`: look again).
    pub(crate) fn start_cursor(
        &self,
        lag: &LagWarning,
        mut start_at: impl FnMut(u64) -> Option<u64>,
    ) -> (SegmentRef<E>, u64) {
        // Pinned for the walk: the segments it touches may die meanwhile.
        let guard = epoch::pin();
        loop {
            let tail = self.tail(&guard);
            // SeqCst: the subscription's linearisation point (see `topic`).
            let Some(index) = start_at(self.tail_index.load(Ordering::SeqCst)) else {
                retry_hint();
                continue;
            };
            // A cursor may sit just past a segment's last slot (offset == SEGMENT_CAP): the
            // segment that holds the index before it, or the first segment for index 0. Every
            // index below `index` was claimed, and the tail moved to a segment only by a sender
            // that claimed in it, so `tail.start <= index - 1`.
            let seg = self.find_segment(tail, index.saturating_sub(1), lag);
            if let Some(seg) = seg.try_acquire() {
                return (seg, index);
            }
            // The segment died under us: the tail has moved on. Look again.
        }
    }

    /// DropOldest: moves `head` past every segment whose events are all older than the newest
    /// `capacity` as of `index` (see `topic`), never past the tail.
    pub(crate) fn trim(&self, index: u64, capacity: u64, guard: &Guard) {
        let Some(keep_from) = (index + 1).checked_sub(capacity) else {
            return;
        };
        loop {
            let h = self.head(guard);
            if h.start + SEGMENT_CAP as u64 > keep_from {
                return;
            }
            if self.tail(guard).start <= h.start {
                // Never pass the tail: senders walk from it. The sender that moves it trims.
                return;
            }
            // The tail, later than `h`, is reachable from it.
            let n = h.next().expect("the tail is past the head");
            // AcqRel: Release publishes nothing new but pairs with the Acquire loads of `head`;
            // Acquire on success orders the reads of `h` above before the cut.
            if self
                .head
                .compare_exchange(
                    h.seg.as_ptr(),
                    n.seg.as_ptr(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                // `h`'s link reference on `n` is now the head reference: cut the link first,
                // so that `h`'s death does not drop it.
                h.cut();
                // SAFETY: we own the head reference on `h`, taken over from `head`.
                self.retire(unsafe { h.into_ref() }, guard);
            }
        }
    }

    /// DropOldest: a counted reference on the oldest retained segment, for a cursor that was
    /// overtaken.
    fn acquire_head(&self, guard: &Guard) -> SegmentRef<E> {
        loop {
            if let Some(head) = self.head(guard).try_acquire() {
                return head;
            }
            // `head` moved on and the segment died meanwhile: look again.
            retry_hint();
        }
    }

    /// DropOldest: the start of the oldest retained segment; `None` for other lists.
    pub(crate) fn head_start(&self) -> Option<u64> {
        if self.id == 0 {
            return None;
        }
        let guard = epoch::pin();
        Some(self.head(&guard).start)
    }

    /// The start of the tail segment.
    pub(crate) fn tail_start(&self) -> u64 {
        let guard = epoch::pin();
        self.tail(&guard).start
    }

    /// `seg`, a cursor's segment, as a [`SegmentPtr`] if it is not cut yet: always for a list
    /// whose links are never cut; for a DropOldest list, if `head` has not passed it, else the
    /// head segment (`Err`), where an overtaken cursor goes on.
    ///
    /// # Panics
    /// If `seg` is a segment of a DropOldest list other than this one, or this list is
    /// DropOldest and `seg` a segment of another.
    #[inline]
    fn uncut<'g>(
        &'g self,
        seg: &'g SegmentRef<E>,
        guard: &'g Guard,
    ) -> Result<SegmentPtr<'g, E>, SegmentPtr<'g, E>> {
        assert_eq!(seg.segment().owner, self.id, "a segment of another list");
        if self.id != 0 {
            let head = self.head(guard);
            if head.start > seg.start() {
                return Err(head);
            }
        }
        // SAFETY: `seg`'s reference keeps it from being retired at all while borrowed; it is
        // never cut (a list whose links are never cut), or `head` had not passed it when loaded
        // under this pin (DropOldest), so it is cut only after the pin began.
        Ok(unsafe { SegmentPtr::new(seg.seg) })
    }

    /// The segment a cursor at the end of `seg` reads next, with a reference taken for it, and
    /// how many events it skips: 0, except on a DropOldest list whose `head` has passed `seg`
    /// (then the cursor jumps to `head`; see `topic`). `None` while there is no successor yet.
    ///
    /// The kind of list is read from the segment's `owner`, not from the list's `id`: the
    /// segment's header line is read here anyway (`next`), while `id` shares a line with
    /// `live_segments`, which the sender writes at every new segment. Reading `id` cost each
    /// crossing subscription on another core a transfer of that line, and the sender one back
    /// (W2 `recv_many` on tasks, `scripts/unbounded_cost.sh`: 2.5% slower with the link
    /// between the CPUs far; benches/README.md).
    #[inline]
    pub(crate) fn successor(&self, seg: &SegmentRef<E>) -> Option<(SegmentRef<E>, u64)> {
        if seg.segment().owner == 0 {
            // Only a segment of this list reaches here (a cursor's own); `uncut` checks it on
            // the DropOldest path.
            debug_assert_eq!(self.id, 0, "a segment of another list");
            return seg.next().map(|next| (next, 0));
        }
        self.successor_dropping(seg)
    }

    /// `successor` for a DropOldest list: the successor only if `head` has not passed `seg`,
    /// else a jump to `head`. Out of line (and so is a batch read's position publish,
    /// `subscription::publish_run`): inlined, their pins, look-ups and wake-ups went into the
    /// unbounded readers' code. Together, out of line, they took the unbounded rows from 2.5%
    /// to 1.2% above a build without the bounds' hooks, pooled over W1-W4
    /// (`scripts/pooled_cost.py`; README, "When a consumer is slow").
    #[cold]
    #[inline(never)]
    fn successor_dropping(&self, seg: &SegmentRef<E>) -> Option<(SegmentRef<E>, u64)> {
        let from = seg.start() + SEGMENT_CAP as u64;
        // Pinned before `head` is loaded: what `head` has not passed yet is retired only after
        // it does, so stays allocated until the guard is dropped.
        let guard = epoch::pin();
        if let Ok(s) = self.uncut(seg, &guard) {
            if let Some(next) = s.next()?.try_acquire() {
                return Some((next, 0));
            }
            // The successor died since: `head` has passed it. Overtaken after all.
        }
        let head = self.acquire_head(&guard);
        // `head` only passes segments whose events are all claimed, and had passed `seg`.
        debug_assert!(head.start() >= from);
        let skipped = head.start() - from;
        Some((head, skipped))
    }

    /// Counts the events ready at and after `offset` in `seg` (a cursor's position) for which
    /// `count` says `Some(true)`, stopping at the first it says `None` for, or at the first slot
    /// not yet written. Reads without consuming; O(events ready). Steps from segment to segment
    /// as `successor` does (on a DropOldest list, from an overtaken segment to `head`).
    pub(crate) fn count_ready(
        &self,
        seg: &SegmentRef<E>,
        offset: usize,
        mut count: impl FnMut(&E) -> Option<bool>,
    ) -> usize {
        // Counts `event` into `n`; `false` where the count stops.
        fn tally<E>(
            n: &mut usize,
            event: Option<&E>,
            count: &mut impl FnMut(&E) -> Option<bool>,
        ) -> bool {
            match event.map(count) {
                Some(Some(true)) => {
                    *n += 1;
                    true
                }
                Some(Some(false)) => true,
                Some(None) | None => false,
            }
        }
        let mut n = 0;
        // The cursor's own segment, through its reference.
        for offset in offset..SEGMENT_CAP {
            if !tally(&mut n, seg.get(offset), &mut count) {
                return n;
            }
        }
        let guard = epoch::pin();
        let mut cur = match self.uncut(seg, &guard) {
            Ok(s) => s.next(),
            // Overtaken: a read would skip to `head`; count from there.
            Err(head) => Some(head),
        };
        while let Some(s) = cur {
            for offset in 0..SEGMENT_CAP {
                if !tally(&mut n, s.event(offset), &mut count) {
                    return n;
                }
            }
            cur = match self.id {
                0 => s.next(),
                // Overtaken meanwhile: as above.
                _ => match self.head(&guard) {
                    head if head.start > s.start => Some(head),
                    _ => s.next(),
                },
            };
        }
        n
    }
}

impl<E> Drop for SegmentList<E> {
    fn drop(&mut self) {
        // `&mut self`: no sender or cursor walks the list any more (a `SegmentPtr` borrows it),
        // so what dies here is freed at once rather than retired. The tail and head references
        // are given up; the segments they alone kept alive (every one from the tail, or from
        // `head`, on, when no cursor is left) die in a cascade and are freed in a loop. Those
        // before them died with the last cursor in them and are retired already.
        // Relaxed: `&mut self` already synchronised with every thread that used the list.
        let holders = [
            self.tail_seg.load(Ordering::Relaxed),
            self.head.load(Ordering::Relaxed),
        ];
        for seg in holders {
            if seg.is_null() {
                continue;
            }
            // SAFETY: `tail_seg` and `head` each own one reference on their segment (type
            // docs), given up here. The segments that die are reachable from nowhere else: no
            // cursor holds them (their counts fell to zero), no sender walks them (above).
            unsafe {
                let dead = drop_reference(seg);
                // This drop may run inside any caller's pin (the registry that held the topic
                // is freed through the epoch): a panicking `E::drop` is contained.
                destroy_chain(seg, dead, &self.user_panics);
            }
        }
    }
}

/// Indices `first .. first + n` of a list, claimed by this thread ([`SegmentList::claim`]):
/// no other thread writes their slots, and this one writes each once, since a `Claim` is
/// consumed by the write.
pub(crate) struct Claim<'g, E> {
    list: &'g SegmentList<E>,
    guard: &'g Guard,
    /// Loaded before the claim, so `tail.start <= first`.
    tail: SegmentPtr<'g, E>,
    first: u64,
    n: u64,
}

impl<E: Send + Sync> Claim<'_, E> {
    /// The first index claimed.
    #[inline(always)]
    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    /// Writes `event` at the first index claimed and publishes it, then moves the tail to its
    /// segment.
    ///
    /// # Panics
    /// If nothing was claimed.
    #[inline(always)]
    pub(crate) fn write<C: Carrier<E>>(self, event: C, lag: &LagWarning) {
        assert!(self.n != 0, "a claim of no index");
        // `tail.start <= first` (the type's docs), so this does not wrap.
        let offset = self.first - self.tail.start;
        if offset < SEGMENT_CAP as u64 {
            // SAFETY: this thread alone claimed the index (the type's docs), which is in the
            // tail segment, allocated for the claim's pin.
            unsafe { self.tail.write_pending(offset as usize, event) };
        } else {
            self.list
                .write_crossing(self.tail, self.first, event, lag, self.guard);
        }
    }

    /// Writes `events`, one per index claimed, and publishes them, then moves the tail to the
    /// last one's segment.
    ///
    /// # Panics
    /// If `events` is not as long as the claim.
    pub(crate) fn write_all(self, events: Vec<E>, lag: &LagWarning) {
        assert_eq!(events.len() as u64, self.n, "one event per index claimed");
        if self.n == 0 {
            return;
        }
        let mut seg = self.list.find_segment(self.tail, self.first, lag);
        let mut offset = (self.first - seg.start) as usize;
        for event in events {
            if offset == SEGMENT_CAP {
                // The next index of the run is the successor's first.
                seg = self
                    .list
                    .find_segment(seg, seg.start + SEGMENT_CAP as u64, lag);
                offset = 0;
            }
            // SAFETY: this thread alone claimed every index of the run, each written once
            // here; `seg` is allocated for the claim's pin.
            unsafe { seg.write(offset, event) };
            offset += 1;
        }
        if seg != self.tail {
            self.list.advance_tail(seg, self.guard);
        }
    }
}

/// Two collections: enough for the epoch to advance twice past bags just pushed, and so to free
/// them, when no other thread is pinned in an older epoch.
pub(crate) fn flush_epoch() {
    for _ in 0..2 {
        epoch::pin().flush();
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
    // SAFETY: the caller's contract.
    let dead = unsafe { drop_reference(seg) };
    if dead > 0 {
        let chain = SendPtr(seg);
        // The bus's counter travels with the chain: the destruction may run after the topic,
        // even the bus, is gone, inside another bus's call. Three words with the two below,
        // so crossbeam-epoch still stores the closure inline.
        let user_panics = std::sync::Arc::clone(user_panics);
        // SAFETY: the `dead` segments from `seg` are unreachable for subscriptions (count 0)
        // and for new senders (none is the tail any more); senders that loaded one of them are
        // pinned, and the epoch runs this only after they unpin. Each dead segment's `next`
        // was read by `drop_reference` and never changes.
        unsafe {
            guard.defer_unchecked(move || {
                let chain = chain;
                destroy_chain(chain.0, dead, &user_panics)
            });
        }
    }
    dead
}

/// Drops the reference on `seg` and, for each segment that dies, its link reference on its
/// successor, in a loop; returns how many died (`seg` and the ones after it). Frees nothing.
///
/// # Safety
/// The caller owns one reference on `seg`, which it gives up.
unsafe fn drop_reference<E>(seg: *mut Segment<E>) -> usize {
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
        let seg = cur;
        // SAFETY: the caller's contract: these segments are exclusively ours.
        let s = unsafe { &mut *seg };
        // Relaxed: the epoch synchronised this thread with every user of the chain.
        cur = s.next.load(Ordering::Relaxed);
        s.drop_values(user_panics);
        // SAFETY: as above; `s` is not used again.
        unsafe { Segment::free(seg) };
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
#[inline(always)]
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

    /// Flushes until `done`, for up to 30 s: other tests' pinned threads may hold the epoch
    /// back for a while.
    fn flush_until(done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !done() && std::time::Instant::now() < deadline {
            flush();
            std::thread::yield_now();
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
                    0,
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
        let seg = Segment::<u8>::alloc(0, 1, 0);
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
        unsafe { Segment::free(seg) };
    }

    /// Segments start on a cache line whatever the allocator hands out (it is asked for 16-byte
    /// alignment only), so that no 32-byte slot spans two lines; an event type aligned beyond
    /// a line gets its own alignment; values written are dropped when the segment is freed.
    #[test]
    fn segments_are_aligned_to_a_cache_line() {
        fn check<E: Send + Sync>(value: impl Fn() -> E) {
            let align = align_of::<Segment<E>>().max(64);
            // Several at once, so that the allocator places them at different addresses.
            let segs: Vec<_> = (0..16).map(|i| Segment::<E>::alloc(i * 64, 1, 0)).collect();
            for &seg in &segs {
                assert_eq!(
                    seg.addr() % align,
                    0,
                    "segment at {seg:p} not aligned to {align}"
                );
                // SAFETY: fresh segments; only the slot's address is taken.
                let slot0 = unsafe { ptr::addr_of!((*seg).slots) }.addr();
                assert_eq!(slot0, seg.addr(), "the slots come first in a segment");
                // SAFETY: fresh segments, slot 3 written once each.
                unsafe { (*seg).write(3, value()) };
            }
            for seg in segs {
                // SAFETY: made above, reachable from nowhere else.
                unsafe { Segment::free(seg) };
            }
        }
        #[derive(Clone)]
        struct Ev24(#[allow(dead_code)] [u64; 3]);
        #[repr(align(128))]
        struct Wide(#[allow(dead_code)] u8);
        assert_eq!(size_of::<Slot<Ev24>>(), 32);
        check(|| Ev24([1, 2, 3]));
        check(|| 7u64);
        check(|| ());
        check(|| Wide(1));
        assert_eq!(align_of::<Segment<Wide>>(), 128);
        let drops = Arc::new(StdAtomicUsize::new(0));
        check(|| Probe(drops.clone()));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            16,
            "each written value dropped once"
        );
    }

    #[test]
    fn unwritten_slots_are_not_dropped() {
        let drops = Arc::new(StdAtomicUsize::new(0));
        let seg = Segment::alloc(0, 1, 0);
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
        unsafe { Segment::free(r.into_raw()) };
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

    /// A DropOldest list follows a cursor's segment only if it is one of its own: another's
    /// may be cut where this list's `head` cannot tell.
    #[test]
    #[should_panic(expected = "a segment of another list")]
    fn a_drop_oldest_list_refuses_a_segment_of_another_list() {
        successor_of_a_segment_of_another_list(true);
    }

    /// A DropOldest list's `successor` of a cursor of another list, DropOldest or not.
    fn successor_of_a_segment_of_another_list(theirs_drop_oldest: bool) {
        let panics = Arc::new(UserPanics::new());
        let lag = LagWarning::new(crate::lag::OFF);
        let ours = SegmentList::<u8>::new(true, panics.clone());
        let theirs = SegmentList::<u8>::new(theirs_drop_oldest, panics);
        let (cursor, _) = theirs.start_cursor(&lag, Some);
        // Panics; the cursor's reference leaks with it, which is fine in a test.
        let _ = ours.successor(&cursor);
    }

    /// The same for a segment of a list that is never cut, handed to a DropOldest list: its
    /// successor would be followed without the list's `head`. `successor` tells the kinds
    /// apart by the segment's `owner` (off the line the list's `live_segments` shares), so
    /// this is a debug assertion; the path it guards is memory-safe either way.
    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "a segment of another list")]
    fn a_drop_oldest_list_refuses_a_segment_of_an_unbounded_list() {
        successor_of_a_segment_of_another_list(false);
    }

    /// Dropping a list frees at once what it alone kept alive, and nothing a reference still
    /// holds: not that segment, nor those after it, which its link keeps.
    #[test]
    fn dropping_a_list_frees_its_segments_by_their_counts() {
        let drops = Arc::new(StdAtomicUsize::new(0));
        let panics = Arc::new(UserPanics::new());
        let lag = LagWarning::new(crate::lag::OFF);
        for (drop_oldest, hold) in [(false, false), (false, true), (true, false), (true, true)] {
            drops.store(0, Ordering::SeqCst);
            let list = SegmentList::<Probe>::new(drop_oldest, panics.clone());
            let (cursor, _) = list.start_cursor(&lag, Some);
            let guard = epoch::pin();
            for _ in 0..3 * SEGMENT_CAP {
                list.claim(1, &guard)
                    .expect("open")
                    .write(Owned(Probe(drops.clone())), &lag);
            }
            drop(guard);
            assert_eq!(list.live_segments(), 3);
            let held = hold.then(|| cursor.acquire());
            // Unbounded, unheld: the first two die here, retired to the epoch.
            let _ = list.release(cursor);
            drop(list);
            let case = format!("drop_oldest: {drop_oldest}, hold: {hold}");
            let Some(held) = held else {
                flush_until(|| drops.load(Ordering::SeqCst) == 3 * SEGMENT_CAP);
                assert_eq!(drops.load(Ordering::SeqCst), 3 * SEGMENT_CAP, "{case}");
                continue;
            };
            assert_eq!(drops.load(Ordering::SeqCst), 0, "{case}");
            assert!(held.get(0).is_some(), "{case}: the held segment is intact");
            let guard = epoch::pin();
            assert_eq!(held.release(&guard, &panics), 3, "{case}");
            drop(guard);
            flush_until(|| drops.load(Ordering::SeqCst) == 3 * SEGMENT_CAP);
            assert_eq!(drops.load(Ordering::SeqCst), 3 * SEGMENT_CAP, "{case}");
        }
    }

    /// A DropOldest segment's link may be cut, after which its successor may be freed while
    /// the segment lives: `next` must refuse it rather than follow the link.
    #[test]
    #[should_panic(expected = "may be cut")]
    fn next_refuses_a_segment_whose_link_may_be_cut() {
        let seg = Segment::<u8>::alloc(0, 1, 1);
        // SAFETY: we own its only reference (leaked by the panic, which is fine in a test).
        let r = unsafe { SegmentRef::from_raw(seg) };
        let _ = r.next();
    }
}
