//! Structured tasks: `ctx::spawn` and the handle it returns.
//!
//! A task belongs to the scope it was spawned in. By default the scope's own `run` future
//! drives it (a `FuturesUnordered` inside the driver, fed through `TaskSet::queue`), so tasks
//! need no executor of their own, like Haiway's single event loop; with `Scope::on_tokio` they
//! are spawned on the tokio runtime instead. Either way each task is wrapped in a [`Task`]
//! that enters its frame around every poll, catches panics, reports the outcome to its
//! [`JoinHandle`] and to the scope, and checks its cancellation flag.
//!
//! The scope counts live tasks (`TaskSet::live`) and returns only when the count is zero.
//! A failure (panic, or `Err` from a `try_spawn` task) is recorded once in the set and wakes
//! the driver, which cancels everything else.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use futures_util::task::AtomicWaker;

use super::current;
use super::node::Frame;
use super::{BoxError, ScopeError};

pub(crate) type LocalTask = Pin<Box<dyn Future<Output = ()> + Send>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing user-supplied runs under these locks; a poisoned one still holds valid data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The tasks of one scope.
pub(crate) struct TaskSet {
    /// Spawned to run locally and not yet taken by the driver, and whether the set is closed.
    queue: Mutex<Queue>,
    /// Tasks spawned and not yet finished, wherever they run. Incremented under the `queue`
    /// lock, only while the set is open, before a task is queued or spawned; decremented
    /// (Release) after its outcome is stored. The driver's Acquire load of zero therefore sees
    /// every outcome, and `close_if_idle` (which re-reads it under the lock) cannot miss a
    /// task admitted concurrently.
    live: AtomicUsize,
    /// The scope's driver, woken by spawns, task completions and failures.
    pub(crate) driver: AtomicWaker,
    /// Every failure, in order (the scope's cancellation counts once).
    failure: Mutex<Vec<ScopeError>>,
    /// Whether `failure` is non-empty; read without the lock on every driver poll. Relaxed
    /// suffices: the driver takes the lock before acting on it.
    failed: AtomicBool,
    /// Every task not known to be finished, to cancel them all on failure.
    controls: Mutex<Vec<Weak<dyn Control>>>,
    /// `Some` for the background set (`ctx::spawn_background`): its failures are only logged,
    /// and any number of `ctx::shutdown_background` futures wait here for `live` to reach 0.
    idle_waiters: Option<Mutex<Vec<Waker>>>,
}

/// Guarded by `TaskSet::queue`.
struct Queue {
    tasks: Vec<LocalTask>,
    /// The scope has finished (or its `run` future was dropped): no task can be admitted,
    /// since nothing would drive it (issue 12 item 7; Haiway's "TaskGroup is finished").
    closed: bool,
}

impl TaskSet {
    pub(crate) fn new() -> Self {
        TaskSet {
            queue: Mutex::new(Queue {
                tasks: Vec::new(),
                closed: false,
            }),
            live: AtomicUsize::new(0),
            driver: AtomicWaker::new(),
            failure: Mutex::new(Vec::new()),
            failed: AtomicBool::new(false),
            controls: Mutex::new(Vec::new()),
            idle_waiters: None,
        }
    }

    /// The set of background tasks: never closed, failures logged only.
    pub(crate) fn background() -> Self {
        TaskSet {
            idle_waiters: Some(Mutex::new(Vec::new())),
            ..TaskSet::new()
        }
    }

    /// Ready once no task of the set is live; registers `waker` otherwise (background set).
    pub(crate) fn poll_idle(&self, waker: &Waker) -> Poll<()> {
        let waiters = self.idle_waiters.as_ref().expect("only the background set");
        let mut waiters = lock(waiters);
        // Checked under the lock `done` takes after its decrement: no wake-up is lost.
        if self.live.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
        Poll::Pending
    }

    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    pub(crate) fn take_queued(&self) -> Vec<LocalTask> {
        std::mem::take(&mut lock(&self.queue).tasks)
    }

    /// Counts one more live task, unless the set is closed.
    fn admit(&self) -> bool {
        let queue = lock(&self.queue);
        if queue.closed {
            return false;
        }
        // Relaxed: the lock orders this against `close_if_idle`'s re-read.
        self.live.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Closes the set if no task is live and none is queued; says whether it is closed.
    pub(crate) fn close_if_idle(&self) -> bool {
        let mut queue = lock(&self.queue);
        if !queue.closed && (self.live.load(Ordering::Acquire) != 0 || !queue.tasks.is_empty()) {
            return false;
        }
        queue.closed = true;
        true
    }

    /// Closes the set whatever runs in it (the scope's `run` future was dropped); returns
    /// the tasks queued and not yet taken, to be dropped by the caller outside the lock.
    pub(crate) fn close(&self) -> Vec<LocalTask> {
        let mut queue = lock(&self.queue);
        queue.closed = true;
        std::mem::take(&mut queue.tasks)
    }

    pub(crate) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    pub(crate) fn take_failure(&self) -> Option<ScopeError> {
        ScopeError::from_failures(std::mem::take(&mut *lock(&self.failure)))
    }

    /// Records `error` among the scope's failures. An error that is a scope's cancellation
    /// (`ctx::check_cancellation()?` in a `try_spawn` task) counts as the cancellation, once.
    pub(crate) fn fail(&self, error: ScopeError) {
        if self.idle_waiters.is_some() {
            return; // a background task: logged by the task, nobody to fail
        }
        let cancelled = match &error {
            ScopeError::Failed { error: inner, .. } => inner
                .downcast_ref::<ScopeError>()
                .filter(|e| matches!(e, ScopeError::Cancelled { .. }))
                .cloned(),
            _ => None,
        };
        let error = cancelled.unwrap_or(error);
        let mut failures = lock(&self.failure);
        let repeated = matches!(error, ScopeError::Cancelled { .. })
            && failures
                .iter()
                .any(|f| matches!(f, ScopeError::Cancelled { .. }));
        if !repeated {
            failures.push(error);
        }
        self.failed.store(true, Ordering::Relaxed);
        drop(failures);
        self.driver.wake();
    }

    /// Cancels every task still running.
    pub(crate) fn cancel_all(&self) {
        let controls = std::mem::take(&mut *lock(&self.controls));
        for control in controls.iter().filter_map(Weak::upgrade) {
            control.cancel();
        }
    }

    fn register(&self, control: Weak<dyn Control>) {
        let mut controls = lock(&self.controls);
        // Forget finished tasks now and then, so a long-lived scope does not grow this list.
        if controls.len() >= 32 && controls.len().is_power_of_two() {
            controls.retain(|c| c.strong_count() > 0);
        }
        controls.push(control);
    }

    fn done(&self) {
        // Release: publishes the outcome stored before it (see `live`).
        let was = self.live.fetch_sub(1, Ordering::Release);
        self.driver.wake();
        if let Some(waiters) = &self.idle_waiters {
            if was == 1 {
                for waker in std::mem::take(&mut *lock(waiters)) {
                    waker.wake();
                }
            }
        }
    }
}

/// Cancelling a task without knowing its output type.
trait Control: Send + Sync {
    fn cancel(&self);
}

/// Why a task gave no output.
#[derive(Debug, Clone)]
pub enum JoinError {
    /// It was cancelled, by [`JoinHandle::cancel`] or because its scope failed or was dropped.
    Cancelled,
    /// It panicked; the panic message.
    Panicked(String),
    /// It returned an error (tasks of [`ctx::try_spawn`](crate::ctx::try_spawn)).
    Failed(Arc<dyn std::error::Error + Send + Sync>),
}

impl JoinError {
    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task cancelled"),
            JoinError::Panicked(msg) => write!(f, "task panicked: {msg}"),
            JoinError::Failed(err) => write!(f, "task failed: {err}"),
        }
    }
}

impl std::error::Error for JoinError {}

/// What a task and its handle share.
struct Cell<T> {
    /// Set by `cancel`; the task checks it at each poll.
    cancelled: AtomicBool,
    /// The task's waker, so that `cancel` can get it polled.
    waker: AtomicWaker,
    slot: Mutex<Slot<T>>,
}

struct Slot<T> {
    output: Option<Result<T, JoinError>>,
    finished: bool,
    join_waker: Option<Waker>,
}

impl<T: Send> Control for Cell<T> {
    fn cancel(&self) {
        // Relaxed: the flag carries no data; the wake makes the task look at it.
        self.cancelled.store(true, Ordering::Relaxed);
        self.waker.wake();
    }
}

/// A handle to a spawned task: await it for the task's output, or [`cancel`](Self::cancel) it.
///
/// Dropping the handle detaches the task; it still belongs to its scope, which waits for it.
pub struct JoinHandle<T> {
    cell: Arc<Cell<T>>,
}

impl<T: Send + 'static> JoinHandle<T> {
    /// Cancels the task: it is dropped at its next poll (at once if it is parked), and the
    /// handle yields [`JoinError::Cancelled`]. No effect on a finished task.
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let forever = ctx::spawn(std::future::pending::<()>()).unwrap();
    ///         forever.cancel();
    ///         assert!(forever.await.unwrap_err().is_cancelled());
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn cancel(&self) {
        self.cell.cancel();
    }

    /// Whether the task has finished (with an output, an error or by cancellation).
    pub fn is_finished(&self) -> bool {
        lock(&self.cell.slot).finished
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = lock(&self.cell.slot);
        match slot.output.take() {
            Some(output) => Poll::Ready(output),
            None if slot.finished => panic!("JoinHandle polled after completion"),
            None => {
                slot.join_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &lock(&self.cell.slot).finished)
            .finish()
    }
}

/// A spawned future, wrapped.
pub(crate) struct Task<F: Future<Output = Result<T, BoxError>>, T> {
    fut: Option<Pin<Box<F>>>,
    frame: Option<Arc<Frame>>,
    cell: Arc<Cell<T>>,
    set: Arc<TaskSet>,
}

/// Wraps `fut` as a task of `frame`'s scope; the caller queues or spawns the task. `None`
/// (and `fut` dropped) if the scope has finished.
pub(crate) fn new_task<F, T>(frame: Arc<Frame>, fut: F) -> Option<(Task<F, T>, JoinHandle<T>)>
where
    F: Future<Output = Result<T, BoxError>> + Send + 'static,
    T: Send + 'static,
{
    let set = Arc::clone(&frame.node.tasks);
    new_task_in(set, Some(frame), fut)
}

/// Wraps `fut` as a task of `set`, run in `frame` (or in no context).
pub(crate) fn new_task_in<F, T>(
    set: Arc<TaskSet>,
    frame: Option<Arc<Frame>>,
    fut: F,
) -> Option<(Task<F, T>, JoinHandle<T>)>
where
    F: Future<Output = Result<T, BoxError>> + Send + 'static,
    T: Send + 'static,
{
    if !set.admit() {
        return None;
    }
    let cell = Arc::new(Cell {
        cancelled: AtomicBool::new(false),
        waker: AtomicWaker::new(),
        slot: Mutex::new(Slot {
            output: None,
            finished: false,
            join_waker: None,
        }),
    });
    let control: Arc<dyn Control> = cell.clone();
    set.register(Arc::downgrade(&control));
    if set.has_failed() {
        // The scope is failing: the task is cancelled before it starts.
        cell.cancel();
    }
    let task = Task {
        fut: Some(Box::pin(fut)),
        frame,
        cell: Arc::clone(&cell),
        set,
    };
    Some((task, JoinHandle { cell }))
}

impl TaskSet {
    pub(crate) fn queue(&self, task: LocalTask) {
        lock(&self.queue).tasks.push(task);
        self.driver.wake();
    }
}

impl<F: Future<Output = Result<T, BoxError>>, T> Task<F, T> {
    /// Drops the future (inside its frame, so its destructors see their scope) and reports.
    fn finish(&mut self, output: Result<T, JoinError>) {
        {
            let _enter = current::enter(&mut self.frame);
            self.fut = None;
        }
        let mut slot = lock(&self.cell.slot);
        slot.output = Some(output);
        slot.finished = true;
        let waker = slot.join_waker.take();
        drop(slot);
        if let Some(waker) = waker {
            waker.wake();
        }
        self.set.done();
    }

    fn scope_name(&self) -> Arc<str> {
        match &self.frame {
            Some(frame) => Arc::clone(&frame.node.name),
            None => Arc::from("background"),
        }
    }
}

impl<F: Future<Output = Result<T, BoxError>>, T> Future for Task<F, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.fut.is_none() {
            return Poll::Ready(());
        }
        this.cell.waker.register(cx.waker());
        // Relaxed: see `Cell::cancel`; registering first means a cancel after this load wakes us.
        if this.cell.cancelled.load(Ordering::Relaxed) {
            this.finish(Err(JoinError::Cancelled));
            return Poll::Ready(());
        }
        let polled = {
            #[cfg(feature = "tracing")]
            let _span = this.frame.as_ref().map(|f| f.node.span.clone().entered());
            let _enter = current::enter(&mut this.frame);
            let fut = this.fut.as_mut().expect("checked above");
            catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)))
        };
        match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(value))) => this.finish(Ok(value)),
            Ok(Poll::Ready(Err(error))) => {
                let error: Arc<dyn std::error::Error + Send + Sync> = Arc::from(error);
                let scope = this.scope_name();
                super::observe::task_failed(&scope, &error);
                this.set.fail(ScopeError::Failed {
                    scope,
                    error: Arc::clone(&error),
                });
                this.finish(Err(JoinError::Failed(error)));
            }
            Err(payload) => {
                let message = super::panic_message(payload.as_ref());
                let scope = this.scope_name();
                super::observe::task_panicked(&scope, &message);
                this.set.fail(ScopeError::Panicked {
                    scope,
                    message: message.clone(),
                });
                this.finish(Err(JoinError::Panicked(message)));
            }
        }
        Poll::Ready(())
    }
}

impl<F: Future<Output = Result<T, BoxError>>, T> Drop for Task<F, T> {
    fn drop(&mut self) {
        if self.fut.is_some() {
            // Dropped unfinished: the scope was dropped or is tearing its tasks down.
            self.finish(Err(JoinError::Cancelled));
        }
    }
}
