//! Feature `tokio`: a scope's tasks spawned on the tokio runtime, in parallel, keep their scope.
#![cfg(feature = "tokio")]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tidings::{Scope, ScopeError, ctx};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_on_tokio_inherit_the_scope_across_threads() {
    // Tokio task ids of the spawned tasks: each must be a tokio task of its own (driven inside
    // the scope's future instead, they would share one id, or have none at all here).
    let ids = Arc::new(Mutex::new(HashSet::new()));
    let t = Arc::clone(&ids);
    let total = Scope::new("app")
        .on_tokio()
        .with_state(7u32)
        .run(async move {
            let mut sub = ctx::subscribe::<u64>().unwrap();
            let handles: Vec<_> = (0..8u64)
                .map(|i| {
                    let t = Arc::clone(&t);
                    ctx::spawn(async move {
                        // Fewer under miri (scripts/miri.sh).
                        for _ in 0..if cfg!(miri) { 10 } else { 100 } {
                            tokio::task::yield_now().await;
                            t.lock().unwrap().insert(tokio::task::id());
                            assert_eq!(&*ctx::scope_name().unwrap(), "app");
                            assert_eq!(*ctx::state::<u32>().unwrap(), 7);
                        }
                        // Nested scopes inside a tokio task are nested in its scope.
                        Scope::new("inner")
                            .run(async move { ctx::send(i).unwrap() })
                            .await
                            .unwrap();
                    })
                    .unwrap()
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
            let mut total = 0;
            for _ in 0..8 {
                total += sub.recv().await.unwrap();
            }
            total
        })
        .await
        .unwrap();
    assert_eq!(total, (0..8).sum::<u64>());
    // Spawned on the runtime: 8 tokio tasks. (Which worker threads ran them is up to tokio's
    // scheduler; forced migration is tested in `scope_threads.rs`.)
    assert_eq!(
        ids.lock().unwrap().len(),
        8,
        "each spawned task is a tokio task of its own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_waits_for_tokio_tasks_and_a_panic_cancels_the_others() {
    let other_dropped = Arc::new(AtomicBool::new(false));
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let guard = SetOnDrop(Arc::clone(&other_dropped));
    let err = Scope::new("app")
        .on_tokio()
        .run(async move {
            ctx::spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await
            })
            .unwrap();
            ctx::spawn(async {
                tokio::task::yield_now().await;
                panic!("tokio task failed");
            })
            .unwrap();
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScopeError::Panicked { ref message, .. } if message == "tokio task failed")
    );
    // `run` returned only after the parked task was cancelled and dropped.
    assert!(other_dropped.load(Ordering::SeqCst));
}

#[test]
fn on_tokio_without_a_runtime_drives_tasks_locally() {
    let out = futures::executor::block_on(
        Scope::new("app")
            .on_tokio()
            .run(async { ctx::spawn(async { 3 }).unwrap().await.unwrap() }),
    )
    .unwrap();
    assert_eq!(out, 3);
}

/// Issue 18 point 3: cancel a scope whose tasks run on tokio, and wait until they are gone.
/// Dropping `run`'s future returns before they stop; a `Canceller` plus awaiting `run` does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canceller_cancels_tokio_tasks_and_run_waits_for_them() {
    struct SlowDrop(Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            // A task that takes a while to go: run must still wait for it.
            std::thread::sleep(std::time::Duration::from_millis(20));
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let gone = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let g = Arc::clone(&gone);
    let scope = Scope::new("server").on_tokio();
    let canceller = scope.canceller();
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = Arc::clone(&running);
    let run = tokio::spawn(scope.run(async move {
        for _ in 0..8 {
            let guard = SlowDrop(Arc::clone(&g));
            let r = Arc::clone(&r);
            ctx::spawn(async move {
                let _guard = guard;
                r.fetch_add(1, Ordering::SeqCst);
                loop {
                    tokio::task::yield_now().await;
                }
            })
            .unwrap();
        }
        std::future::pending::<()>().await
    }));
    while running.load(Ordering::SeqCst) < 8 {
        tokio::task::yield_now().await;
    }
    canceller.cancel();
    let err = run.await.unwrap().unwrap_err();
    assert!(matches!(err, ScopeError::Cancelled { .. }), "{err:?}");
    assert_eq!(
        gone.load(Ordering::SeqCst),
        8,
        "run returned before its tasks stopped"
    );
}
