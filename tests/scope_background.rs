//! Background tasks (issue 18 point 7). One test function: the background set is
//! process-wide, and `shutdown_background` would cancel a parallel test's tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures::executor::block_on;
use tidings::{JoinError, Scope, ctx};

struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        // Slow to go: shutdown must still wait for it.
        std::thread::sleep(std::time::Duration::from_millis(10));
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn background_tasks_outlive_scopes_fail_alone_and_shut_down_together() {
    // 1. Not tied to the scope: it keeps running after `run` returned, with no context.
    let release = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&release);
    let (outlives, ()) = block_on(Scope::new("app").run(async move {
        let handle = ctx::spawn_background(async move {
            while !r.load(Ordering::SeqCst) {
                // A busy background job that yields (and asks to be polled again).
                std::thread::yield_now();
                let mut yielded = false;
                std::future::poll_fn(|cx| {
                    if yielded {
                        return std::task::Poll::Ready(());
                    }
                    yielded = true;
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                })
                .await;
            }
            ctx::scope_name().is_err()
        });
        (handle, ())
    }))
    .unwrap();
    assert!(
        !outlives.is_finished(),
        "run returned without waiting for it"
    );
    release.store(true, Ordering::SeqCst);
    let outlives = block_on(outlives);
    assert!(outlives.unwrap_or(false), "ran with no context");

    // 2. A failure is the task's own: the scope that spawned it is not failed.
    let (panicked, failed) = block_on(Scope::new("app").run(async {
        (
            ctx::spawn_background(async { panic!("background boom") }),
            ctx::try_spawn_background(async { Err::<(), _>("background error") }),
        )
    }))
    .unwrap();
    assert!(matches!(block_on(panicked), Err(JoinError::Panicked(m)) if m == "background boom"));
    assert!(
        matches!(block_on(failed), Err(JoinError::Failed(e)) if e.to_string() == "background error")
    );

    // 3. Shut down together: every running one is cancelled, and the call waits for them.
    let gone = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let guard = CountOnDrop(Arc::clone(&gone));
            ctx::spawn_background(async move {
                let _guard = guard;
                std::future::pending::<()>().await
            })
        })
        .collect();
    block_on(ctx::shutdown_background());
    assert_eq!(
        gone.load(Ordering::SeqCst),
        4,
        "shutdown returned before they stopped"
    );
    for handle in handles {
        assert!(block_on(handle).unwrap_err().is_cancelled());
    }
    // Shutting down with nothing running returns at once; later spawns run normally.
    block_on(ctx::shutdown_background());
    assert_eq!(block_on(ctx::spawn_background(async { 7 })).unwrap(), 7);
}
