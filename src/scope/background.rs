//! Background tasks (Haiway's `ctx.spawn_background`): not tied to any scope's lifetime, run
//! with no context (as Haiway 0.59: inheriting a scope that may finish while they run would
//! silently void their state and events), failures logged, and shut down together on request.
//!
//! Where they run: with the `tokio` feature and a tokio runtime current at spawn time, as tokio
//! tasks; otherwise each on a thread of its own (`tidings-background`), since nothing else in
//! the crate owns an executor. All of them belong to one process-wide set, which
//! `ctx::shutdown_background()` cancels and waits for.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use super::BoxError;
use super::task::{self, JoinHandle, TaskSet};

fn set() -> &'static Arc<TaskSet> {
    static SET: OnceLock<Arc<TaskSet>> = OnceLock::new();
    SET.get_or_init(|| Arc::new(TaskSet::background()))
}

pub(crate) fn spawn<F, T>(fut: F) -> JoinHandle<T>
where
    F: Future<Output = Result<T, BoxError>> + Send + 'static,
    T: Send + 'static,
{
    let (task, handle) = task::new_task_in(Arc::clone(set()), None, fut)
        .expect("the background set is never closed");
    #[cfg(feature = "tokio")]
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        drop(runtime.spawn(task));
        return handle;
    }
    // If the thread cannot be made, the task is dropped unrun: its handle says `Cancelled`.
    let _ = std::thread::Builder::new()
        .name("tidings-background".into())
        .spawn(move || block_on(task));
    handle
}

/// Polls `fut` to completion on this thread, parking between polls.
fn block_on(fut: impl Future<Output = ()>) {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    while fut.as_mut().poll(&mut cx).is_pending() {
        std::thread::park();
    }
}

/// The future of [`ctx::shutdown_background`](crate::ctx::shutdown_background).
#[must_use = "futures do nothing unless awaited"]
pub struct ShutdownBackground {
    _private: (),
}

pub(crate) fn shutdown() -> ShutdownBackground {
    set().cancel_all();
    ShutdownBackground { _private: () }
}

impl Future for ShutdownBackground {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        set().poll_idle(cx.waker())
    }
}

impl fmt::Debug for ShutdownBackground {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownBackground").finish_non_exhaustive()
    }
}
