//! The one place tidings takes its atomics, cells, `Arc`, epoch guards, copy-on-write cell and
//! waker cell from, so that `--cfg tidings_loom` can swap in loom's model-checked versions
//! without touching the algorithm (the pattern of tokio's `src/loom/` and concurrent-queue's
//! `src/sync.rs`).
//!
//! Under `tidings_loom`:
//! - atomics, `UnsafeCell` and `Arc` come from loom;
//! - crossbeam-epoch is built with `--cfg crossbeam_loom` and its `loom` feature, so pinning and
//!   deferred destruction are modelled too;
//! - [`AtomicArc`] (arc-swap in production) and [`AtomicWaker`] (futures in production) have
//!   no loom support, so they are replaced by lock-based stand-ins with the same API: the models
//!   then check tidings' protocol around them, not their internals.

#[cfg(not(tidings_loom))]
mod imp {
    pub(crate) use std::sync::Arc;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, fence};

    pub(crate) use futures_util::task::AtomicWaker;
    pub(crate) use std::thread;

    /// A plain std atomic, for the process-wide bus id counter of the send cache, which loom
    /// builds leave out (loom atomics cannot live in a `static`).
    pub(crate) use std::sync::atomic::AtomicU64 as StdAtomicU64;

    /// `std::cell::UnsafeCell` behind loom's closure-based API.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
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
}

#[cfg(tidings_loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, fence};
    pub(crate) use loom::thread;

    /// Stand-in for arc-swap: the same API over a loom `RwLock`, as arc-swap's docs suggest for
    /// cross-checking. Readers take the read lock, so loom explores every interleaving of a
    /// load with a concurrent copy-on-write update.
    pub(crate) struct AtomicArc<T>(loom::sync::RwLock<std::sync::Arc<T>>);

    impl<T> AtomicArc<T> {
        pub(crate) fn new(value: std::sync::Arc<T>) -> Self {
            Self(loom::sync::RwLock::new(value))
        }

        pub(crate) fn load(&self) -> impl std::ops::Deref<Target = std::sync::Arc<T>> + '_ {
            Box::new(std::sync::Arc::clone(&self.0.read().unwrap()))
        }

        pub(crate) fn compare_and_swap(
            &self,
            current: &std::sync::Arc<T>,
            new: std::sync::Arc<T>,
        ) -> Option<std::sync::Arc<T>> {
            let mut slot = self.0.write().unwrap();
            if std::sync::Arc::ptr_eq(&slot, current) {
                Some(std::mem::replace(&mut *slot, new))
            } else {
                None
            }
        }
    }

    /// Stand-in for `futures::task::AtomicWaker` with the same API over a loom `Mutex`.
    #[derive(Debug, Default)]
    pub(crate) struct AtomicWaker(loom::sync::Mutex<Option<std::task::Waker>>);

    impl AtomicWaker {
        pub(crate) fn new() -> Self {
            Self::default()
        }

        pub(crate) fn register(&self, waker: &std::task::Waker) {
            let mut slot = self.0.lock().unwrap();
            match &*slot {
                Some(old) if old.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }

        pub(crate) fn wake(&self) {
            let waker = self.0.lock().unwrap().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

pub(crate) use imp::*;

/// Epoch-based reclamation: crossbeam-epoch in both builds (under loom it is built with
/// `crossbeam_loom`, which swaps its own atomics for loom's).
pub(crate) mod epoch {
    pub(crate) use crossbeam_epoch::{Guard, pin};
}

pub(crate) use std::sync::atomic::Ordering;
