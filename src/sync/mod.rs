//! The one place tidings takes its atomics, cells, `Arc`, epoch guards, copy-on-write cell and
//! waker cell from, so that `--cfg tidings_loom` can swap in loom's model-checked versions
//! without touching the algorithm (the pattern of tokio's `src/loom/` and concurrent-queue's
//! `src/sync.rs`): `std.rs` is the production half, `loom.rs` the model half.
//!
//! Under `tidings_loom`:
//! - atomics, `UnsafeCell` and `Arc` come from loom;
//! - crossbeam-epoch is built with `--cfg crossbeam_loom` and its `loom` feature, so pinning and
//!   deferred destruction are modelled too (or, without `--cfg tidings_loom_epoch`, replaced by
//!   a loom-visible stand-in, `loom::epoch`);
//! - [`AtomicArc`] (arc-swap in production) and [`AtomicWaker`] (futures in production) have
//!   no loom support, so they are replaced by lock-based stand-ins with the same API: the models
//!   then check tidings' protocol around them, not their internals;
//! - `loom_check` keeps registers of live segments and wait nodes for the models to check. In
//!   production its functions are empty, so call sites need no `cfg` (as sharded-slab does).

#[cfg(not(tidings_loom))]
mod std;
#[cfg(not(tidings_loom))]
pub(crate) use self::std::*;

#[cfg(tidings_loom)]
mod loom;
#[cfg(tidings_loom)]
pub(crate) use self::loom::*;

/// Epoch-based reclamation: crossbeam-epoch, except in loom builds without
/// `--cfg tidings_loom_epoch` (see `loom::epoch`).
#[cfg(any(not(tidings_loom), tidings_loom_epoch))]
pub(crate) mod epoch {
    pub(crate) use crossbeam_epoch::{Guard, pin};
}

pub(crate) use ::std::sync::atomic::Ordering;

/// Pushes `node` onto the lock-free stack whose top is `head` (a Treiber push): before each
/// attempt, `link(top)` points the node at the top it will sit on; the compare-and-swap that
/// installs the node uses `success`, which must include Release so that it publishes that link
/// (each caller names why its ordering suffices). The wait list and the Backpressure position
/// list push this way.
#[inline]
pub(crate) fn push_front<T>(
    head: &AtomicPtr<T>,
    node: *mut T,
    link: impl Fn(*mut T),
    success: Ordering,
) {
    debug_assert!(
        matches!(
            success,
            Ordering::Release | Ordering::AcqRel | Ordering::SeqCst
        ),
        "push_front publishes the node's link: its success ordering must include Release"
    );
    // Relaxed: only a first guess for the compare-and-swap, which checks it.
    let mut top = head.load(Ordering::Relaxed);
    loop {
        link(top);
        // Relaxed on failure: the value read is only the next guess.
        match head.compare_exchange_weak(top, node, success, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => top = actual,
        }
    }
}
