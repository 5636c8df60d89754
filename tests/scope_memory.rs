//! Issue 18 point 8: scoped events nobody in scope can receive. A root send is stored even when
//! the only subscription of its type is in a child scope (which skips it); this measures what
//! that costs, the figure the README states, and that the memory comes back once that
//! subscription reads past the events or ends. Its own binary: the counting global allocator of
//! `support/counting_alloc.rs`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::executor::block_on;
use support::counting_alloc::{CountingAlloc, allocs_in, live_bytes};
use support::flush_epoch;
use tidings::{Scope, TryRecvError, ctx};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const SENDS: u64 = if cfg!(miri) { 300 } else { 100_000 };

/// Waits (yielding, so the scope's driver can poll the others) until `flag` is set.
async fn wait_for(flag: &AtomicBool) {
    std::future::poll_fn(|cx| {
        if flag.load(Ordering::SeqCst) {
            return std::task::Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

#[test]
fn root_sends_with_only_a_child_subscription_are_stored_until_it_reads_past_or_ends() {
    let go = Arc::new(AtomicBool::new(false));
    let (allocs, retained, after_read, after_end) = block_on(Scope::new("root").run(async {
        let g = Arc::clone(&go);
        let mut child = Box::pin(Scope::new("child").run(async move {
            let mut sub = ctx::subscribe::<u64>().unwrap();
            wait_for(&g).await;
            // Reads past every root event: none is for this scope.
            assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
            flush_epoch();
            let after_read = live_bytes();
            drop(sub);
            after_read
        }));
        // The child scope opens and subscribes.
        assert!(futures::poll!(child.as_mut()).is_pending());
        flush_epoch();
        let before = live_bytes();
        let allocs = allocs_in(|| {
            for i in 0..SENDS {
                ctx::send(i).unwrap();
            }
        });
        let retained = live_bytes() - before;
        go.store(true, Ordering::SeqCst);
        let after_read = child.await.unwrap() - before;
        flush_epoch();
        let after_end = live_bytes() - before;
        (allocs, retained, after_read, after_end)
    }))
    .unwrap();
    println!(
        "{SENDS} root sends, only a child-scope subscription: {allocs} allocations, \
         {retained} bytes retained ({:.1} per event); after it read past them: {after_read}; \
         after it ended: {after_end}",
        retained as f64 / SENDS as f64
    );
    // The stated cost (README, Scopes): one segment of 64 events per allocation, nothing per
    // event, and about 32 bytes per event kept while the subscription lags.
    let segments = SENDS.div_ceil(64) as usize;
    assert!(
        allocs <= segments + 16,
        "{allocs} allocations for {segments} segments"
    );
    assert!(
        retained as f64 / SENDS as f64 <= 34.0,
        "{retained} bytes for {SENDS} events: the README's figure is out of date"
    );
    // And it comes back: reading past them (the subscription skips them) frees them.
    assert!(
        after_read < 64 * 1024,
        "{after_read} bytes still held after reading past"
    );
    assert!(
        after_end < 64 * 1024,
        "{after_end} bytes still held after the end"
    );
}
