//! Backpressure read positions: one cell per subscription of a Backpressure topic, in a
//! push-only list that a sender scans for the slowest subscription. How the topic uses them:
//! `topic` (Bounded topics) and [`crate::docs::protocol`].

use std::ptr;

use crate::sync::{Arc, AtomicPtr, AtomicU64, Ordering, push_front};

/// The position of a free cell: no subscription owns it.
const FREE: u64 = u64::MAX;

/// One subscription's read position: the global index of the next event it will read, or
/// [`FREE`].
struct PosCell {
    /// Only rises while a subscription owns the cell (a cursor only moves forward). SeqCst: the
    /// subscription's half of the Dekker pattern with parked senders (`topic`).
    pos: AtomicU64,
    /// The cell below this one in the list: stored (Relaxed) before the push that publishes the
    /// cell, never after; the push's Release and the readers' loads of the list head order it.
    next: AtomicPtr<PosCell>,
}

/// A subscription's claim on one cell of a [`Positions`] list. It holds the cell by `Arc`, so
/// using it needs no promise about the list's lifetime.
pub(crate) struct Position(Arc<PosCell>);

impl Position {
    /// Publishes the owner's new position. SeqCst: ordered before the owner's SeqCst load of
    /// the parked senders (`topic`).
    #[inline]
    pub(crate) fn store(&self, index: u64) {
        self.0.pos.store(index, Ordering::SeqCst);
    }

    /// Gives the cell back for a later subscription to take. SeqCst: as in `store`.
    pub(crate) fn free(&self) {
        self.0.pos.store(FREE, Ordering::SeqCst);
    }
}

/// A topic's position cells: a push-only stack; a cell is never unlinked, and a new
/// subscription reuses a free one before pushing another.
///
/// Invariant: every pointer on the stack came from `Arc::into_raw` and owns one strong count of
/// its cell, given back only by `drop`; so a cell reached from `&self` stays allocated.
pub(crate) struct Positions {
    /// The top of the stack, null while empty.
    head: AtomicPtr<PosCell>,
    /// Bumped (SeqCst) each time a subscription takes a cell, so that a scan (`min`) can tell
    /// that a cell was taken while it ran and scan again.
    registrations: AtomicU64,
}

impl Positions {
    pub(crate) fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
            registrations: AtomicU64::new(0),
        }
    }

    /// The cells from the top of the stack down.
    fn cells(&self, order: Ordering) -> impl Iterator<Item = &PosCell> {
        let mut cur = self.head.load(order);
        std::iter::from_fn(move || {
            // SAFETY: the type's invariant: the stack owns a count of every cell on it until
            // `drop`, which `&self` rules out.
            let cell = unsafe { cur.as_ref() }?;
            // Relaxed: see `next`.
            cur = cell.next.load(Ordering::Relaxed);
            Some(cell)
        })
    }

    /// The lowest position of a live subscription (`u64::MAX` if none), from a scan that no
    /// registration overlapped. A cell taken during the scan may have been missed while
    /// positions loaded late were higher than its start, so such a scan is repeated.
    pub(crate) fn min(&self) -> u64 {
        loop {
            // SeqCst: the registration counter and the positions are ordered with the cell
            // stores and the `fetch_add` in `register`, and with the parked sender's fence
            // (`topic`).
            let before = self.registrations.load(Ordering::SeqCst);
            let min = self
                .cells(Ordering::SeqCst)
                .map(|cell| cell.pos.load(Ordering::SeqCst))
                .min()
                .unwrap_or(FREE);
            if self.registrations.load(Ordering::SeqCst) == before {
                return min;
            }
        }
    }

    /// Takes a cell for a new subscription, holding `provisional` (no later than the index the
    /// subscription will start at; it stores that next).
    pub(crate) fn register(&self, provisional: u64) -> Position {
        // Acquire: pairs with the Release of the push below, to read a cell's `next`.
        let reused = self.cells(Ordering::Acquire).find(|cell| {
            // SeqCst: as the push below.
            cell.pos
                .compare_exchange(FREE, provisional, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        });
        let cell = match reused {
            Some(cell) => {
                let raw = ptr::from_ref(cell);
                // SAFETY: `raw` came from `Arc::into_raw` (the type's invariant) and the stack
                // keeps its count while `&self` lives, so one more count may be taken.
                unsafe {
                    Arc::increment_strong_count(raw);
                    Arc::from_raw(raw)
                }
            }
            None => self.push(provisional),
        };
        // SeqCst: after the cell holds a position; a scan that overlapped this sees the count
        // change and scans again.
        self.registrations.fetch_add(1, Ordering::SeqCst);
        Position(cell)
    }

    /// Pushes a new cell holding `pos`.
    fn push(&self, pos: u64) -> Arc<PosCell> {
        let cell = Arc::new(PosCell {
            pos: AtomicU64::new(pos),
            next: AtomicPtr::new(ptr::null_mut()),
        });
        // The stack's count (the type's invariant).
        let raw = Arc::into_raw(Arc::clone(&cell)).cast_mut();
        push_front(
            &self.head,
            raw,
            // Relaxed: not yet published; the push publishes it.
            |top| cell.next.store(top, Ordering::Relaxed),
            // SeqCst: published before the registration count rises (see `min`); its Release
            // part publishes `next`.
            Ordering::SeqCst,
        );
        cell
    }
}

impl Drop for Positions {
    fn drop(&mut self) {
        // Relaxed: `&mut self` already synchronised with every thread that used the list.
        let mut cur = self.head.load(Ordering::Relaxed);
        while !cur.is_null() {
            // SAFETY: the type's invariant: `cur` came from `Arc::into_raw` and its count is
            // the stack's, given back here once.
            let cell = unsafe { Arc::from_raw(cur) };
            cur = cell.next.load(Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(tidings_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_counts_only_owned_cells_and_a_free_cell_is_reused() {
        let positions = Positions::new();
        assert_eq!(positions.min(), FREE, "no cell yet");
        let a = positions.register(5);
        let b = positions.register(3);
        assert_eq!(positions.min(), 3);
        b.store(9);
        assert_eq!(positions.min(), 5);
        b.free();
        drop(b);
        assert_eq!(positions.min(), 5, "a free cell holds nobody back");
        let c = positions.register(7);
        assert!(
            ptr::eq(&*c.0, positions.cells(Ordering::SeqCst).next().unwrap()),
            "the free cell was taken again"
        );
        assert_eq!(positions.cells(Ordering::SeqCst).count(), 2, "no new cell");
        a.free();
        assert_eq!(positions.min(), 7);
        // A position may outlive its list: it holds its cell.
        drop(positions);
        c.store(8);
    }
}
