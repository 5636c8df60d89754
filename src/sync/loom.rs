//! The loom half of the shim: loom's atomics, cells, `Arc` and threads; lock-based stand-ins
//! for arc-swap and `AtomicWaker`; a loom-visible epoch; and the registers of live segments and
//! wait nodes that the models check.

pub(crate) use loom::cell::UnsafeCell;

/// Loom's cell carries tracking state, so an empty one is written in full (loom models use
/// small events).
///
/// # Safety
/// `p` is valid for writes.
pub(crate) unsafe fn init_uninit<T>(p: *mut UnsafeCell<std::mem::MaybeUninit<T>>) {
    // SAFETY: the caller's contract.
    unsafe { p.write(UnsafeCell::new(std::mem::MaybeUninit::uninit())) };
}
pub(crate) use loom::sync::Arc;
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, fence};
pub(crate) use loom::thread;
/// Loom models a `SeqCst` load as an `Acquire` load (tokio-rs/loom#180), which would make
/// the models report a lost wake-up that the C++ model rules out. Loom builds therefore
/// issue an SC fence before a relaxed load: a stronger form, so the models check the
/// protocol around this load (the claim check in `Topic::claimed_past` among it) but not
/// the fence-free form itself, which rests on the rule cited in the production version.
pub(crate) fn load_seqcst<T>(a: &AtomicPtr<T>) -> *mut T {
    fence(std::sync::atomic::Ordering::SeqCst);
    a.load(std::sync::atomic::Ordering::Relaxed)
}

/// Loom's yield: tells the model this thread waits for another's progress, so that a
/// retry loop is explored as such instead of failing as an unbounded spin.
pub(crate) fn retry_hint() {
    loom::thread::yield_now();
}

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

    pub(crate) fn take(&self) -> Option<std::task::Waker> {
        self.0.lock().unwrap().take()
    }
}

/// Registers of what is allocated now, so that the models can check that no segment is touched
/// after it was freed or freed twice, and that every segment and wait node is freed by the end.
/// Loom runs every thread of a model on the calling OS thread, so a thread-local register sees
/// them all and separate tests do not share one. A freed address that the allocator hands out
/// again hides a use-after-free of the old segment; the models are too small for that to
/// matter much, and miri and AddressSanitizer cover it.
pub(crate) mod loom_check {
    use std::cell::{Cell, RefCell};
    use std::collections::HashSet;

    thread_local! {
        static SEGMENTS: RefCell<HashSet<usize>> = RefCell::new(HashSet::new());
        static WAIT_NODES: Cell<usize> = const { Cell::new(0) };
    }

    pub(crate) fn segment_allocated<T>(seg: *const T) {
        SEGMENTS.with(|l| {
            assert!(
                l.borrow_mut().insert(seg as usize),
                "segment allocated twice"
            )
        });
    }

    pub(crate) fn segment_alive<T>(seg: *const T) {
        SEGMENTS.with(|l| {
            assert!(
                l.borrow().contains(&(seg as usize)),
                "use of a freed segment"
            )
        });
    }

    pub(crate) fn segment_freed<T>(seg: *const T) {
        SEGMENTS.with(|l| {
            assert!(
                l.borrow_mut().remove(&(seg as usize)),
                "segment freed twice"
            )
        });
    }

    pub(crate) fn wait_node_made() {
        WAIT_NODES.with(|n| n.set(n.get() + 1));
    }

    pub(crate) fn wait_node_freed() {
        WAIT_NODES.with(|n| n.set(n.get() - 1));
    }

    /// Segments allocated and not yet freed, on this OS thread (which runs the whole model).
    pub fn live_segments() -> usize {
        SEGMENTS.with(|l| l.borrow().len())
    }

    /// Wait nodes allocated and not yet freed, on this OS thread (which runs the whole model).
    pub fn live_wait_nodes() -> usize {
        WAIT_NODES.with(Cell::get)
    }
}

/// A loom-visible stand-in for crossbeam-epoch with the API tidings uses, for the loom models.
///
/// crossbeam-epoch does build under loom (`--cfg tidings_loom_epoch` selects it), but its
/// internals multiply the interleavings of every pin, and it frees deferred garbage from
/// thread-local bags that loom threads only hand over when the whole execution is torn down,
/// after the model could check that every segment was freed. This stand-in has the contract
/// tidings relies on (memory retired while a thread is pinned stays valid until that thread
/// unpins) and frees as early as that contract allows, so that a reference count that drops to
/// zero too early shows as a use of a freed segment.
///
/// It is a quiescence-based grace period: `pinned` counts live guards; retired closures queue
/// in `garbage`; whoever unpins the count to zero re-checks, under the garbage lock and after a
/// SeqCst fence, that it is still zero, and then runs everything queued. Every queued closure
/// was retired (unlinked) before it was queued, so a thread pinned when it was unlinked is
/// still counted until it unpins, and a thread pinning after the zero cannot have loaded it:
/// the fence after its increment and the fence before the zero check form the Dekker pattern
/// that makes its later loads see the unlink.
#[cfg(not(tidings_loom_epoch))]
pub(crate) mod epoch {
    use loom::sync::Mutex;
    use loom::sync::atomic::{AtomicUsize, Ordering, fence};

    /// A retired closure. Not `Send` in general (`defer_unchecked`'s caller vouches for it),
    /// but loom runs every thread of a model on one OS thread.
    struct Deferred(Box<dyn FnOnce()>);
    // SAFETY: see above; only ever moved between loom threads, which share one OS thread.
    unsafe impl Send for Deferred {}

    struct Collector {
        pinned: AtomicUsize,
        garbage: Mutex<Vec<Deferred>>,
        /// Closures queued and not yet taken; lets an unpin with nothing to free skip the lock and the fence,
        /// which would otherwise order the caller's accesses and hide a fence missing in
        /// tidings (a sender's publish-then-check, for one).
        queued: AtomicUsize,
    }

    loom::lazy_static! {
        static ref COLLECTOR: Collector = Collector {
            pinned: AtomicUsize::new(0),
            garbage: Mutex::new(Vec::new()),
            queued: AtomicUsize::new(0),
        };
    }

    /// A pin; see the module docs.
    pub(crate) struct Guard(());

    pub(crate) fn pin() -> Guard {
        COLLECTOR.pinned.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        Guard(())
    }

    impl Guard {
        /// Runs `f` once no thread that may have seen what it frees is still pinned.
        ///
        /// # Safety
        /// As crossbeam-epoch's `Guard::defer_unchecked`.
        pub(crate) unsafe fn defer_unchecked<'a, F: FnOnce() + 'a>(&self, f: F) {
            let f: Box<dyn FnOnce() + 'a> = Box::new(f);
            // SAFETY: only the lifetime changes; the caller guarantees that what `f` captures
            // outlives the deferral, as crossbeam-epoch's contract asks.
            let f: Box<dyn FnOnce() + 'static> = unsafe { std::mem::transmute(f) };
            COLLECTOR.garbage.lock().unwrap().push(Deferred(f));
            // Relaxed: only a hint for `drop`; a missed hint delays a free, never hastens it.
            COLLECTOR.queued.fetch_add(1, Ordering::Relaxed);
        }

        /// Nothing to hand over: garbage is global already.
        pub(crate) fn flush(&self) {}
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            if COLLECTOR.pinned.fetch_sub(1, Ordering::SeqCst) != 1 {
                return;
            }
            // Relaxed: see `queued`. Garbage queued meanwhile waits for the next unpin to zero.
            if COLLECTOR.queued.load(Ordering::Relaxed) == 0 {
                return;
            }
            let ready = {
                let mut garbage = COLLECTOR.garbage.lock().unwrap();
                fence(Ordering::SeqCst);
                if COLLECTOR.pinned.load(Ordering::SeqCst) != 0 {
                    return;
                }
                // Relaxed: under the lock, which orders it with the increments.
                COLLECTOR.queued.fetch_sub(garbage.len(), Ordering::Relaxed);
                std::mem::take(&mut *garbage)
            };
            for d in ready {
                (d.0)();
            }
        }
    }
}
