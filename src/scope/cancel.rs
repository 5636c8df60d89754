//! Cancelling a scope: `ctx::cancel()`, a [`Canceller`] held outside, and the ways code inside
//! observes it (`ctx::cancelled().await`, `ctx::check_cancellation()`).
//!
//! Cancelling is the Rust kind: the scope's driver drops its body and cancels its tasks (each
//! is dropped at its next poll, wherever it runs), waits until every one of them is gone, and
//! `run` returns [`ScopeError::Cancelled`](crate::ScopeError::Cancelled). Nested scopes live
//! inside the body or a task, so they are dropped with it. Code that cannot be dropped (a
//! blocking thread holding a [`Snapshot`](crate::ctx::Snapshot), a future run elsewhere)
//! observes the flag: the scope's own or any enclosing scope's.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use futures_util::task::AtomicWaker;

/// One scope's cancellation flag, linked to the enclosing scope's.
pub(crate) struct CancelState {
    /// Set once, never cleared. Release/Acquire: whoever sees it set also sees what the
    /// canceller did before (nothing else is published through it, but it is cheap).
    cancelled: AtomicBool,
    /// The enclosing scope's state (isolated or not), set when the scope opens.
    parent: OnceLock<Arc<CancelState>>,
    /// The scope's driver, woken to act on the flag.
    pub(crate) driver: AtomicWaker,
    /// `Cancelled` futures waiting on this level, by key.
    waiters: Mutex<Waiters>,
}

#[derive(Default)]
struct Waiters {
    next_key: u64,
    list: Vec<(u64, Waker)>,
}

impl CancelState {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(CancelState {
            cancelled: AtomicBool::new(false),
            parent: OnceLock::new(),
            driver: AtomicWaker::new(),
            waiters: Mutex::new(Waiters::default()),
        })
    }

    pub(crate) fn set_parent(&self, parent: Arc<CancelState>) {
        let _ = self.parent.set(parent);
    }

    fn waiters(&self) -> MutexGuard<'_, Waiters> {
        // Only wakers are stored; a poisoned lock still holds a valid list.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn cancel(&self) {
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        self.driver.wake();
        let waiters = std::mem::take(&mut self.waiters().list);
        for (_, waker) in waiters {
            waker.wake();
        }
    }

    /// Whether this scope itself was cancelled.
    pub(crate) fn is_set(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Whether this scope or an enclosing one was cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        let mut level = Some(self);
        while let Some(state) = level {
            if state.is_set() {
                return true;
            }
            level = state.parent.get().map(|p| &**p);
        }
        false
    }

    fn chain(self: &Arc<Self>) -> Vec<Arc<CancelState>> {
        let mut chain = vec![Arc::clone(self)];
        while let Some(parent) = chain.last().and_then(|s| s.parent.get()).cloned() {
            chain.push(parent);
        }
        chain
    }
}

/// Cancels a scope from outside it: take one with [`Scope::canceller`](crate::Scope::canceller)
/// before running the scope, call [`cancel`](Self::cancel), then await the scope's `run`. It
/// returns [`ScopeError::Cancelled`](crate::ScopeError::Cancelled) once the body and every task
/// (tokio tasks of [`Scope::on_tokio`](crate::Scope) included) have been dropped: cancel and
/// wait, where dropping `run`'s future only cancels.
///
/// ```
/// use tidings::{Scope, ScopeError, ctx};
///
/// # futures::executor::block_on(async {
/// let scope = Scope::new("server");
/// let canceller = scope.canceller();
/// let err = scope
///     .run(async move {
///         ctx::spawn(std::future::pending::<()>()).unwrap();
///         canceller.cancel(); // e.g. from a signal handler, another task or thread
///         std::future::pending::<()>().await
///     })
///     .await
///     .unwrap_err();
/// assert!(matches!(err, ScopeError::Cancelled { .. }));
/// # });
/// ```
#[derive(Clone)]
pub struct Canceller {
    pub(crate) state: Arc<CancelState>,
}

impl Canceller {
    /// Cancels the scope (before or while it runs; no effect once it has finished).
    pub fn cancel(&self) {
        self.state.cancel();
    }

    /// Whether [`cancel`](Self::cancel) (or `ctx::cancel()` inside the scope) was called.
    pub fn is_cancelled(&self) -> bool {
        self.state.is_set()
    }
}

impl fmt::Debug for Canceller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canceller")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The future of [`ctx::cancelled`](crate::ctx::cancelled): ready once the scope it was made
/// in, or an enclosing one, is cancelled. Never ready if made outside any scope.
#[must_use = "futures do nothing unless awaited"]
pub struct Cancelled {
    /// The scope's level first, then its ancestors'; empty outside any scope.
    chain: Vec<Arc<CancelState>>,
    /// Where this future's waker is registered: (level, key).
    keys: Vec<(usize, u64)>,
}

impl Cancelled {
    pub(crate) fn new(state: Option<&Arc<CancelState>>) -> Self {
        Cancelled {
            chain: state.map(CancelState::chain).unwrap_or_default(),
            keys: Vec::new(),
        }
    }

    fn unregister(&mut self) {
        for (level, key) in self.keys.drain(..) {
            self.chain[level].waiters().list.retain(|(k, _)| *k != key);
        }
    }
}

impl Future for Cancelled {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.unregister();
        for (level, state) in this.chain.iter().enumerate() {
            let mut waiters = state.waiters();
            // Checked under the lock `cancel` takes after setting the flag: either we see the
            // flag, or `cancel` sees our waker.
            if state.is_set() {
                drop(waiters);
                this.unregister();
                return Poll::Ready(());
            }
            let key = waiters.next_key;
            waiters.next_key += 1;
            waiters.list.push((key, cx.waker().clone()));
            this.keys.push((level, key));
        }
        Poll::Pending
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled").finish_non_exhaustive()
    }
}
