//! Helpers shared by the scope tests.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once to the executor, waking itself so that it is polled again.
pub fn yield_now() -> impl Future<Output = ()> {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false)
}

/// Drains what is ready now.
pub fn drain<E: Clone + Send + Sync + 'static>(sub: &mut tidings::ScopedSubscription<E>) -> Vec<E> {
    std::iter::from_fn(|| sub.try_recv().ok()).collect()
}
