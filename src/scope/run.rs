//! The future of `Scope::run`: drives the body and the scope's local tasks, then closes.
//!
//! Life of a scope:
//! 1. **Open** (first poll): the frame is built from whatever scope is current there; the
//!    scope's resources are opened in order and their state laid over the frame.
//! 2. **Run**: each poll enters the frame, polls the body, moves newly spawned tasks into the
//!    driver's `FuturesUnordered` and polls those that were woken.
//! 3. **Begin closing**, when the body returns: subscriptions made in the scope end after what
//!    was already sent to them (so tasks iterating them finish), new subscriptions end at once.
//! 4. **Wait** until every task has finished; close the resources, last opened first; then a
//!    root or isolated scope closes its bus.
//!
//! On a failure (the body or a task panics, or returns an error through `try_run` /
//! `try_spawn`) the body is dropped, the scope begins closing, every task is cancelled, and once
//! they are gone `run` returns the first failure. Dropping the `run` future does the same.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::stream::FuturesUnordered;

use super::current;
use super::node::{Frame, Node};
use super::resource::{BoxFuture, Erased, Opening};
use super::state::{StateMap, Value};
use super::task::LocalTask;
use super::{BoxError, ScopeError};

/// A scope's resources through its life: to open, being opened, opened, being closed.
pub(crate) struct Resources {
    to_open: std::vec::IntoIter<Box<dyn Erased>>,
    opening: Option<Opening>,
    /// In opening order; closed from the back.
    opened: Vec<Box<dyn Erased>>,
    closing: Option<BoxFuture<Result<(), BoxError>>>,
    /// The state values the opened resources provide, laid over the frame once all are open.
    states: Vec<(std::any::TypeId, Value)>,
    /// Types the scope's own `with_state` values set: those win over a resource's.
    explicit: Vec<std::any::TypeId>,
    open_done: bool,
}

impl Resources {
    pub(crate) fn new(list: Vec<Box<dyn Erased>>, explicit: &[(std::any::TypeId, Value)]) -> Self {
        Resources {
            open_done: list.is_empty(),
            to_open: list.into_iter(),
            opening: None,
            opened: Vec::new(),
            closing: None,
            states: Vec::new(),
            explicit: explicit.iter().map(|(t, _)| *t).collect(),
        }
    }
}

pub(crate) struct Driver<F: Future<Output = Result<T, BoxError>>, T> {
    node: Arc<Node>,
    /// The body's frame; moved into the thread-local during each poll of the body.
    frame: Option<Arc<Frame>>,
    body: Option<Pin<Box<F>>>,
    output: Option<T>,
    local: FuturesUnordered<LocalTask>,
    done: bool,
    /// Whether the scope's cancellation has been acted on.
    cancel_seen: bool,
    /// When the scope opened, for the duration of the `scope exited` event.
    started: std::time::Instant,
    resources: Resources,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl<F: Future<Output = Result<T, BoxError>>, T> Driver<F, T> {
    pub(crate) fn new(frame: Arc<Frame>, resources: Resources, body: F) -> Self {
        super::observe::scope_entered(&frame.node);
        Driver {
            resources,
            started: std::time::Instant::now(),
            node: Arc::clone(&frame.node),
            #[cfg(feature = "tracing")]
            span: frame.node.span.clone(),
            frame: Some(frame),
            body: Some(Box::pin(body)),
            output: None,
            local: FuturesUnordered::new(),
            done: false,
            cancel_seen: false,
        }
    }

    /// The scope's failure for an error of its body or a resource.
    fn failed(&self, error: BoxError) -> ScopeError {
        ScopeError::Failed {
            scope: Arc::clone(&self.node.name),
            error: Arc::from(error),
        }
    }

    /// The scope's failure for a panic of its body or a resource.
    fn panicked(&self, payload: &(dyn std::any::Any + Send)) -> ScopeError {
        ScopeError::Panicked {
            scope: Arc::clone(&self.node.name),
            message: super::panic_message(payload),
        }
    }

    /// Drops the body inside its frame, so its destructors still see their scope.
    fn drop_body(&mut self) {
        if self.body.is_some() {
            let _enter = current::enter(&mut self.frame);
            self.body = None;
        }
    }

    fn poll_body(&mut self, cx: &mut Context<'_>) {
        let Some(body) = self.body.as_mut() else {
            return;
        };
        let polled = poll_in_frame(&mut self.frame, body.as_mut(), cx);
        let failure = match polled {
            Ok(Poll::Pending) => return,
            Ok(Poll::Ready(Ok(value))) => {
                self.output = Some(value);
                None
            }
            Ok(Poll::Ready(Err(error))) => Some(self.failed(error)),
            Err(payload) => Some(self.panicked(&*payload)),
        };
        self.drop_body();
        if let Some(failure) = failure {
            super::observe::scope_failed(&failure);
            self.node.tasks.fail(failure);
        }
        self.node.begin_close();
    }

    /// Opens the resources in order, before the body's first poll; on a failure (or a
    /// cancellation) stops opening and leaves the rest to the failure path.
    fn poll_open(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.resources.open_done {
            return Poll::Ready(());
        }
        loop {
            if self.node.cancel.is_set() || self.node.tasks.has_failed() {
                let _enter = current::enter(&mut self.frame);
                self.resources.opening = None;
                break;
            }
            let res = &mut self.resources;
            if res.opening.is_none() {
                match res.to_open.next() {
                    Some(resource) => res.opening = Some(resource.open()),
                    None => break,
                }
            }
            let opening = res.opening.as_mut().expect("set above");
            let polled = poll_in_frame(&mut self.frame, opening.as_mut(), cx);
            let failure = match polled {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready((resource, Ok(entry)))) => {
                    self.resources.opening = None;
                    self.resources.opened.push(resource);
                    if !self.resources.explicit.contains(&entry.0) {
                        self.resources.states.push(entry);
                    }
                    continue;
                }
                Ok(Poll::Ready((resource, Err(error)))) => {
                    let failure = self.failed(error);
                    let _enter = current::enter(&mut self.frame);
                    self.resources.opening = None;
                    drop(resource); // never opened: not closed
                    failure
                }
                Err(payload) => {
                    let failure = self.panicked(&*payload);
                    let _enter = current::enter(&mut self.frame);
                    self.resources.opening = None;
                    failure
                }
            };
            super::observe::scope_failed(&failure);
            self.node.tasks.fail(failure);
            break;
        }
        self.resources.open_done = true;
        self.resources.to_open = Vec::new().into_iter();
        let states = std::mem::take(&mut self.resources.states);
        if !states.is_empty() {
            let frame = self
                .frame
                .as_ref()
                .expect("the frame is home between polls");
            self.frame = Some(Arc::new(Frame {
                node: Arc::clone(&frame.node),
                state: StateMap::layered(Some(&frame.state), states),
            }));
        }
        Poll::Ready(())
    }

    /// Closes the opened resources, last opened first; failures are added to the scope's.
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let res = &mut self.resources;
            if res.closing.is_none() {
                match res.opened.pop() {
                    Some(resource) => res.closing = Some(resource.close()),
                    None => return Poll::Ready(()),
                }
            }
            let closing = res.closing.as_mut().expect("set above");
            let polled = poll_in_frame(&mut self.frame, closing.as_mut(), cx);
            let failure = match polled {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Ok(()))) => None,
                Ok(Poll::Ready(Err(error))) => Some(self.failed(error)),
                Err(payload) => Some(self.panicked(&*payload)),
            };
            {
                let _enter = current::enter(&mut self.frame);
                self.resources.closing = None;
            }
            if let Some(failure) = failure {
                super::observe::scope_failed(&failure);
                self.node.tasks.fail(failure);
            }
        }
    }

    /// After a failure or a cancellation: drops the body, begins closing, cancels every task.
    fn teardown_if_failed(&mut self) {
        if !self.cancel_seen && self.node.cancel.is_set() {
            // Cancelled (`ctx::cancel`, a `Canceller`): torn down as a failure would be.
            self.cancel_seen = true;
            self.node.tasks.fail(ScopeError::Cancelled {
                scope: Arc::clone(&self.node.name),
            });
        }
        if self.node.tasks.has_failed() {
            self.drop_body();
            self.node.begin_close();
            self.node.tasks.cancel_all();
        }
    }

    /// Polls local tasks until none is ready; says whether new tasks were spawned meanwhile.
    fn poll_tasks(&mut self, cx: &mut Context<'_>) -> bool {
        let queued = self.node.tasks.take_queued();
        let spawned = !queued.is_empty();
        self.local.extend(queued);
        while let Poll::Ready(Some(())) = Pin::new(&mut self.local).poll_next(cx) {}
        spawned
    }

    fn finish(&mut self) -> Result<T, ScopeError> {
        self.done = true;
        if self.node.owns_bus {
            self.node.bus.close();
        }
        let result = match self.node.tasks.take_failure() {
            Some(failure) => Err(failure),
            None => Ok(self
                .output
                .take()
                .expect("the body finished without failure")),
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) if e.is_cancelled() => "cancelled",
            Err(_) => "failed",
        };
        super::observe::scope_exited(&self.node, self.started.elapsed(), outcome);
        result
    }
}

// The body is boxed and the output is never pinned, so moving a `Driver` is fine.
impl<F: Future<Output = Result<T, BoxError>>, T> Unpin for Driver<F, T> {}

impl<F: Future<Output = Result<T, BoxError>>, T> Future for Driver<F, T> {
    type Output = Result<T, ScopeError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "Scope::run polled after completion");
        #[cfg(feature = "tracing")]
        let _span = this.span.clone().entered();
        this.node.tasks.driver.register(cx.waker());
        this.node.cancel.driver.register(cx.waker());
        if this.poll_open(cx).is_pending() {
            return Poll::Pending;
        }
        loop {
            this.teardown_if_failed();
            this.poll_body(cx);
            this.teardown_if_failed();
            if !this.poll_tasks(cx) {
                break;
            }
        }
        if this.body.is_none() && this.node.tasks.live() == 0 && this.node.tasks.close_if_idle() {
            if this.poll_close(cx).is_pending() {
                return Poll::Pending;
            }
            return Poll::Ready(this.finish());
        }
        Poll::Pending
    }
}

impl<F: Future<Output = Result<T, BoxError>>, T> Drop for Driver<F, T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Dropped before it finished: tear the scope down as a failure would.
        self.drop_body();
        self.node.begin_close();
        self.node.tasks.cancel_all();
        // Local tasks are dropped with `local`; each reports `Cancelled` to its handle.
        self.local = FuturesUnordered::new();
        drop(self.node.tasks.close());
        {
            // Nothing can await `close` now: the resources are dropped, last opened first.
            let _enter = current::enter(&mut self.frame);
            self.resources.opening = None;
            self.resources.closing = None;
            while let Some(resource) = self.resources.opened.pop() {
                drop(resource);
            }
        }
        if self.node.owns_bus {
            self.node.bus.close();
        }
        super::observe::scope_exited(&self.node, self.started.elapsed(), "dropped");
    }
}

/// Polls `future` once with `frame` as the current scope, catching a panic of the poll: the
/// body's and each resource's opening and closing are polled this way.
fn poll_in_frame<F: Future + ?Sized>(
    frame: &mut Option<Arc<Frame>>,
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> std::thread::Result<Poll<F::Output>> {
    let _enter = current::enter(frame);
    catch_unwind(AssertUnwindSafe(|| future.poll(cx)))
}
