//! Helpers shared by the integration tests, one copy each: a test binary takes them with
//! `mod support;` and uses what it needs.
//!
//! - [`waker::CountingWaker`]: a waker that counts its wake-ups;
//! - [`counting_alloc::CountingAlloc`]: a global allocator that counts live bytes, the peak and
//!   each thread's allocations (a binary installs it with its own one-line
//!   `#[global_allocator]`, which Rust allows once per binary);
//! - [`log_capture::capture`]: what a closure logged through `tracing` (feature `tracing`);
//! - [`many_types`]: thousands of distinct event types without writing them out;
//! - [`nats_server::NatsServer`]: a real `nats-server` (the bridge tests; the bridge bench
//!   includes the file by path);
//! - below: a lock that keeps tests with global counts apart, an epoch flush, a yield, a drain.
#![allow(dead_code)]

pub mod counting_alloc;
#[cfg(feature = "tracing")]
pub mod log_capture;
pub mod many_types;
#[cfg(feature = "nats")]
pub mod nats_server;
pub mod waker;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

/// Serialises the tests of one binary that read process-wide counts (the allocator's, the
/// bus's panic count): hold the guard for the whole test. A test that panicked while holding
/// it does not poison the others.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs deferred frees: the epoch needs a few advances, and each collection frees a few bags.
pub fn flush_epoch() {
    for _ in 0..256 {
        crossbeam_epoch::pin().flush();
    }
}

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
