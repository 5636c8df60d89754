//! The ambient context: the frame of the scope whose future is being polled on this thread.
//!
//! Like `tracing::Instrument`, the frame travels with the future, not the thread: the future
//! that owns it (a scope's `run`, a spawned task, `ctx::updating`) moves it into a thread-local
//! for the duration of each poll and takes it back afterwards, also when the poll unwinds. A
//! future that migrates between threads of a multi-thread runtime therefore finds its scope on
//! whichever thread polls it, and nothing is left behind on a thread between polls.
//!
//! Entering moves the `Arc` in and out (no reference-count traffic); reading it (`ctx::send`)
//! is one thread-local load of a pointer. This module holds the scope layer's only `unsafe`.

use std::cell::Cell;
use std::ptr;
use std::sync::Arc;

use super::node::Frame;

thread_local! {
    /// The current frame, as a pointer from `Arc::into_raw`, or null. A plain `Cell` of a
    /// pointer needs no destructor, so reading it costs no lazy-initialisation check.
    ///
    /// Invariant: a non-null value is owned by this slot (one strong count) from `enter` until
    /// the matching `Enter` guard drops; nothing else frees it meanwhile.
    static CURRENT: Cell<*const Frame> = const { Cell::new(ptr::null()) };
}

/// Calls `f` with the current frame, if any. `f` must not poll a scope future (nothing in this
/// crate does: it only reads the frame), so the frame cannot be replaced while `f` runs.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(Option<&Arc<Frame>>) -> R) -> R {
    let raw = CURRENT.with(Cell::get);
    if raw.is_null() {
        return f(None);
    }
    // SAFETY: by the invariant on `CURRENT`, `raw` came from `Arc::into_raw` and its count is
    // held by the slot until the current `Enter` guard drops, which cannot happen while `f`
    // runs (`f` polls nothing). `ManuallyDrop` keeps this borrowed view from releasing it.
    let frame = std::mem::ManuallyDrop::new(unsafe { Arc::from_raw(raw) });
    f(Some(&frame))
}

/// A clone of the current frame.
pub(crate) fn frame() -> Option<Arc<Frame>> {
    with(|frame| frame.cloned())
}

/// Puts `slot`'s frame in place for one poll; dropping the guard puts it back into `slot` and
/// restores whatever was current before (a scope polled inside another scope's poll).
pub(crate) struct Enter<'a> {
    slot: &'a mut Option<Arc<Frame>>,
    prev: *const Frame,
}

pub(crate) fn enter(slot: &mut Option<Arc<Frame>>) -> Enter<'_> {
    let raw = slot.take().map_or(ptr::null(), Arc::into_raw);
    let prev = CURRENT.with(|current| current.replace(raw));
    Enter { slot, prev }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        let raw = CURRENT.with(|current| current.replace(self.prev));
        if !raw.is_null() {
            // SAFETY: `raw` is the pointer `enter` stored (guards drop in reverse order, so
            // every inner `enter` has restored it); its count is handed back to `slot`.
            *self.slot = Some(unsafe { Arc::from_raw(raw) });
        }
    }
}
