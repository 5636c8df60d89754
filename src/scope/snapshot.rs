//! The current context, captured: `ctx::snapshot()` and `ctx::stream()`.
//!
//! A [`Snapshot`] holds the frame (scope and state) current where it was taken; [`InContext`]
//! enters it around each poll of the future or stream it wraps, as a scope's own tasks do. It
//! does not keep the scope open: a scope that has finished still answers `ctx::state` and
//! `ctx::trace_id` for it, its bus is closed (sends are dropped, subscriptions end), and
//! `ctx::spawn` fails.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::current;
use super::node::Frame;

/// The context (scope and state) current where [`ctx::snapshot`](crate::ctx::snapshot) was
/// called, to run code in later: callbacks handed to code that knows nothing of scopes,
/// futures polled by another executor, work on a blocking thread.
///
/// ```
/// use tidings::{Scope, ctx};
///
/// # futures::executor::block_on(async {
/// Scope::new("app")
///     .with_state(7u32)
///     .run(async {
///         let snapshot = ctx::snapshot().unwrap();
///         // A plain thread: no scope there, until the snapshot is entered.
///         let seen = std::thread::spawn(move || {
///             assert!(ctx::scope_name().is_err());
///             snapshot.enter(|| *ctx::state::<u32>().unwrap())
///         })
///         .join()
///         .unwrap();
///         assert_eq!(seen, 7);
///     })
///     .await
///     .unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct Snapshot {
    pub(crate) frame: Arc<Frame>,
}

impl Snapshot {
    /// Wraps `fut` so that it runs in this context wherever it is polled.
    pub fn run<F: Future>(&self, fut: F) -> InContext<F> {
        InContext::new(Arc::clone(&self.frame), fut)
    }

    /// Wraps `stream` so that each of its polls runs in this context (Haiway's `ctx.stream`).
    pub fn stream<S: Stream>(&self, stream: S) -> InContext<S> {
        InContext::new(Arc::clone(&self.frame), stream)
    }

    /// Calls `f` in this context.
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        let mut slot = Some(Arc::clone(&self.frame));
        #[cfg(feature = "tracing")]
        let _span = self.frame.node.span.enter();
        let _enter = current::enter(&mut slot);
        f()
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("scope", &self.frame.node.name)
            .finish_non_exhaustive()
    }
}

/// A future or stream that runs in a captured context: from [`Snapshot::run`],
/// [`Snapshot::stream`] or [`ctx::stream`](crate::ctx::stream).
#[must_use = "futures and streams do nothing unless polled"]
pub struct InContext<T> {
    frame: Option<Arc<Frame>>,
    /// `None` only while being dropped.
    inner: Option<Pin<Box<T>>>,
}

impl<T> InContext<T> {
    fn new(frame: Arc<Frame>, inner: T) -> Self {
        InContext {
            frame: Some(frame),
            inner: Some(Box::pin(inner)),
        }
    }

    fn in_frame<R>(&mut self, f: impl FnOnce(Pin<&mut T>) -> R) -> R {
        #[cfg(feature = "tracing")]
        let _span = self.frame.as_ref().map(|f| f.node.span.clone().entered());
        let _enter = current::enter(&mut self.frame);
        f(self.inner.as_mut().expect("taken only in drop").as_mut())
    }
}

impl<F: Future> Future for InContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.get_mut().in_frame(|fut| fut.poll(cx))
    }
}

impl<S: Stream> Stream for InContext<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.get_mut().in_frame(|stream| stream.poll_next(cx))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.as_ref().map_or((0, None), |s| s.size_hint())
    }
}

impl<T> Drop for InContext<T> {
    fn drop(&mut self) {
        // The wrapped future's destructors run in its context too.
        let _enter = current::enter(&mut self.frame);
        self.inner = None;
    }
}

impl<T> fmt::Debug for InContext<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InContext").finish_non_exhaustive()
    }
}
