//! The production half of the shim: std's atomics and `Arc`, arc-swap, futures' `AtomicWaker`,
//! and the loom-only checks as no-ops.

pub(crate) use std::sync::Arc;
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, fence};

pub(crate) use futures_util::task::AtomicWaker;
pub(crate) use std::thread;

/// `std::cell::UnsafeCell` behind loom's closure-based API.
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

impl<T> UnsafeCell<T> {
    #[allow(dead_code)] // loom's API; segments build their cells in place instead
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Makes the cell at `p` a valid, empty cell without writing its (possibly large) contents:
/// an uninitialised `MaybeUninit` is valid, so there is nothing to write.
///
/// # Safety
/// `p` is valid for writes (and the caller treats the value as uninitialised).
#[inline(always)]
pub(crate) unsafe fn init_uninit<T>(p: *mut UnsafeCell<std::mem::MaybeUninit<T>>) {
    let _ = p;
}

/// A `SeqCst` load of `a`, for a load whose correctness rests on the C++20 rule that an
/// SC load that follows an SC fence in the total order `S` sees every write made before
/// that fence ([atomics.order] p4). Used by senders to look at the wait list after their
/// SC claim, instead of issuing a fence of their own (see `wait_list`).
#[inline(always)]
pub(crate) fn load_seqcst<T>(a: &AtomicPtr<T>) -> *mut T {
    a.load(std::sync::atomic::Ordering::SeqCst)
}

/// Said before looking again for something another thread is about to do (a sender
/// between its claim and its write): a spin-loop hint.
#[inline(always)]
pub(crate) fn retry_hint() {
    std::hint::spin_loop();
}

/// A copy-on-write `Arc` cell: arc-swap, whose `load` takes no lock.
pub(crate) struct AtomicArc<T>(arc_swap::ArcSwap<T>);

impl<T> AtomicArc<T> {
    pub(crate) fn new(value: std::sync::Arc<T>) -> Self {
        Self(arc_swap::ArcSwap::new(value))
    }

    #[inline(always)]
    pub(crate) fn load(&self) -> impl std::ops::Deref<Target = std::sync::Arc<T>> + '_ {
        self.0.load()
    }

    /// Replaces the value with `new` if it is still `current`; gives back the replaced
    /// value if it did.
    pub(crate) fn compare_and_swap(
        &self,
        current: &std::sync::Arc<T>,
        new: std::sync::Arc<T>,
    ) -> Option<std::sync::Arc<T>> {
        let prev = self.0.compare_and_swap(current, new);
        if std::sync::Arc::ptr_eq(&prev, current) {
            Some(arc_swap::Guard::into_inner(prev))
        } else {
            None
        }
    }
}

/// The loom builds' registers of live segments and wait nodes (`loom.rs`); nothing to record
/// here, and every call compiles away.
pub(crate) mod loom_check {
    #[inline(always)]
    pub(crate) fn segment_allocated<T>(_seg: *const T) {}

    #[inline(always)]
    pub(crate) fn segment_alive<T>(_seg: *const T) {}

    #[inline(always)]
    pub(crate) fn segment_freed<T>(_seg: *const T) {}

    #[inline(always)]
    pub(crate) fn wait_node_made() {}

    #[inline(always)]
    pub(crate) fn wait_node_freed() {}
}
