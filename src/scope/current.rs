//! The ambient context: the frame of the scope whose future is being polled on this thread.
//!
//! Like `tracing::Instrument`, the frame travels with the future, not the thread: the future
//! that owns it (a scope's `run`, a spawned task, `ctx::updating`) moves it into a thread-local
//! for the duration of each poll and takes it back afterwards, also when the poll unwinds. A
//! future that migrates between threads of a multi-thread runtime therefore finds its scope on
//! whichever thread polls it, and nothing is left behind on a thread between polls.
//!
//! Entering moves the `Arc` in and out (no reference-count traffic); reading it (`ctx::send`)
//! is one thread-local access and a `RefCell` borrow.

use std::cell::RefCell;
use std::sync::Arc;

use super::node::Frame;

thread_local! {
    static CURRENT: RefCell<Option<Arc<Frame>>> = const { RefCell::new(None) };
}

/// Calls `f` with the current frame, if any. `f` must not poll a scope future (nothing in this
/// crate does: it only reads the frame).
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(Option<&Arc<Frame>>) -> R) -> R {
    CURRENT.with(|current| f(current.borrow().as_ref()))
}

/// A clone of the current frame.
pub(crate) fn frame() -> Option<Arc<Frame>> {
    with(|frame| frame.cloned())
}

/// Puts `slot`'s frame in place for one poll; dropping the guard puts it back into `slot` and
/// restores whatever was current before (a scope polled inside another scope's poll).
pub(crate) struct Enter<'a> {
    slot: &'a mut Option<Arc<Frame>>,
    prev: Option<Arc<Frame>>,
}

pub(crate) fn enter(slot: &mut Option<Arc<Frame>>) -> Enter<'_> {
    let prev = CURRENT.with(|current| current.replace(slot.take()));
    Enter { slot, prev }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        let prev = self.prev.take();
        *self.slot = CURRENT.with(|current| current.replace(prev));
    }
}
