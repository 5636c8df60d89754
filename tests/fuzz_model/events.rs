//! The event types the fuzz interpreter sends, and the ledger that checks every value is
//! dropped exactly once.
//!
//! Each tracked value carries an `Arc` of its run's [`Ledger`], not a thread-local: tidings
//! frees segments through crossbeam-epoch, so a value may be dropped on whichever thread
//! collects the epoch (another test thread, in `cargo test`).

use std::cell::Cell;
use std::sync::{Arc, Mutex};

/// Drop accounting for one run.
#[derive(Default)]
pub struct Ledger {
    inner: Mutex<LedgerInner>,
}

#[derive(Default)]
struct LedgerInner {
    /// Drops of the original value with this id: must end at exactly one.
    original_drops: Vec<u8>,
    clones_made: u64,
    clones_dropped: u64,
    /// Originals whose drop panicked (an armed [`Fragile`]).
    explosions: u64,
}

impl Ledger {
    fn lock(&self) -> std::sync::MutexGuard<'_, LedgerInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new original value and returns its id.
    pub fn mint(self: &Arc<Self>) -> Tracked {
        let mut inner = self.lock();
        let id = inner.original_drops.len() as u64;
        inner.original_drops.push(0);
        Tracked {
            id,
            original: true,
            explode: false,
            ledger: Arc::clone(self),
        }
    }

    /// Originals whose drop panicked so far.
    pub fn explosions(&self) -> u64 {
        self.lock().explosions
    }

    /// Whether the original value `id` is still alive.
    pub fn alive(&self, id: u64) -> bool {
        self.lock().original_drops[id as usize] == 0
    }

    /// Originals not yet dropped, and clones not yet dropped.
    pub fn outstanding(&self) -> (usize, u64) {
        let inner = self.lock();
        let originals = inner.original_drops.iter().filter(|&&d| d == 0).count();
        (originals, inner.clones_made - inner.clones_dropped)
    }

    /// Panics unless every original was dropped exactly once and every clone once.
    pub fn assert_settled(&self) {
        let inner = self.lock();
        for (id, &drops) in inner.original_drops.iter().enumerate() {
            assert_eq!(drops, 1, "original value {id} dropped {drops} times");
        }
        assert_eq!(
            inner.clones_made, inner.clones_dropped,
            "clones made and dropped differ"
        );
    }
}

/// A value whose drops are counted in its run's ledger. Clones are counted separately from
/// the original, so that a double drop of a stored event cannot hide behind a clone.
pub struct Tracked {
    pub id: u64,
    original: bool,
    /// The original's drop panics (after being counted): set on [`Fragile`]s sent while armed.
    pub explode: bool,
    ledger: Arc<Ledger>,
}

impl Tracked {
    fn duplicate(&self) -> Tracked {
        self.ledger.lock().clones_made += 1;
        Tracked {
            id: self.id,
            original: false,
            explode: false,
            ledger: Arc::clone(&self.ledger),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut inner = self.ledger.lock();
        if self.original {
            let drops = &mut inner.original_drops[self.id as usize];
            *drops += 1;
            if *drops != 1 {
                drop(inner);
                // Dropping twice is the bug this ledger exists to catch; do not unwind
                // through a drop that may already be running during an unwind.
                eprintln!("original value {} dropped twice", self.id);
                std::process::abort();
            }
            if self.explode {
                inner.explosions += 1;
                drop(inner);
                panic!("{FRAGILE_DROP_PANIC}");
            }
        } else {
            inner.clones_dropped += 1;
        }
    }
}

/// A `Clone` event with no drop tracking: the cheap common case.
#[derive(Clone, Debug, PartialEq)]
pub struct Plain(pub u64);

/// An event that is not `Clone`: read only by reference.
pub struct Unique(pub Tracked);

/// A `Clone` event whose clones are counted.
pub struct Counted(pub Tracked);

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted(self.0.duplicate())
    }
}

thread_local! {
    /// Whether cloning a [`Fragile`] on this thread panics now. Reads clone on the calling
    /// thread, so a thread-local is exact.
    static FRAGILE_ARMED: Cell<bool> = const { Cell::new(false) };
}

/// Arms or disarms [`Fragile`]'s `Clone` on this thread.
pub fn arm_fragile(armed: bool) {
    FRAGILE_ARMED.with(|a| a.set(armed));
}

/// Whether cloning a [`Fragile`] on this thread panics now.
pub fn fragile_armed() -> bool {
    FRAGILE_ARMED.with(Cell::get)
}

/// An event whose `Clone` panics while armed (see [`arm_fragile`]), and whose original, if sent
/// while armed, panics when it is dropped (by the bus, as it frees it: contained and counted).
pub struct Fragile(pub Tracked);

/// The panic message of an armed [`Fragile`] clone.
pub const FRAGILE_PANIC: &str = "fragile clone armed";
/// The panic message of an armed [`Fragile`] original's drop.
pub const FRAGILE_DROP_PANIC: &str = "fragile drop armed";
/// The panic message of the waker that armed reads park with.
pub const FRAGILE_WAKE_PANIC: &str = "fragile waker armed";

impl Clone for Fragile {
    fn clone(&self) -> Self {
        if FRAGILE_ARMED.with(Cell::get) {
            panic!("{FRAGILE_PANIC}");
        }
        Fragile(self.0.duplicate())
    }
}
