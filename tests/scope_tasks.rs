//! Structured tasks: `ctx::spawn`, handles, cancellation, failure propagation.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures::executor::block_on;
use support::yield_now;
use tidings::{JoinError, Scope, ScopeError, ctx};

#[test]
fn run_returns_only_after_spawned_tasks_finish() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&finished);
    block_on(Scope::new("app").run(async move {
        for _ in 0..10 {
            let f = Arc::clone(&f);
            ctx::spawn(async move {
                for _ in 0..5 {
                    yield_now().await;
                }
                f.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        // The body returns at once; the handles are dropped (detached).
    }))
    .unwrap();
    assert_eq!(finished.load(Ordering::SeqCst), 10);
}

#[test]
fn awaiting_a_handle_gives_the_output() {
    let out = block_on(Scope::new("app").run(async {
        let a = ctx::spawn(async { 1 }).unwrap();
        let b = ctx::spawn(async {
            yield_now().await;
            2
        })
        .unwrap();
        a.await.unwrap() + b.await.unwrap()
    }))
    .unwrap();
    assert_eq!(out, 3);
}

#[test]
fn cancel_stops_a_parked_task_and_the_handle_says_cancelled() {
    let dropped = Arc::new(AtomicBool::new(false));
    let d = Arc::clone(&dropped);
    block_on(Scope::new("app").run(async move {
        let guard = SetOnDrop(d);
        let task = ctx::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        })
        .unwrap();
        yield_now().await;
        assert!(!task.is_finished());
        task.cancel();
        let err = task.await.unwrap_err();
        assert!(err.is_cancelled(), "{err}");
    }))
    .unwrap();
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn cancelling_a_finished_task_keeps_its_output() {
    block_on(Scope::new("app").run(async {
        let task = ctx::spawn(async { 5 }).unwrap();
        while !task.is_finished() {
            yield_now().await;
        }
        task.cancel();
        assert_eq!(task.await.unwrap(), 5);
    }))
    .unwrap();
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_panicking_task_cancels_the_body_and_the_others_and_the_panic_propagates() {
    let other_dropped = Arc::new(AtomicBool::new(false));
    let body_dropped = Arc::new(AtomicBool::new(false));
    let other_guard = SetOnDrop(Arc::clone(&other_dropped));
    let body_guard = SetOnDrop(Arc::clone(&body_dropped));
    let err = block_on(Scope::new("app").run(async move {
        let _body_guard = body_guard;
        ctx::spawn(async move {
            let _guard = other_guard;
            std::future::pending::<()>().await
        })
        .unwrap();
        ctx::spawn(async {
            yield_now().await;
            panic!("processor exploded");
        })
        .unwrap();
        std::future::pending::<()>().await
    }))
    .unwrap_err();
    match err {
        ScopeError::Panicked { scope, message } => {
            assert_eq!(&*scope, "app");
            assert_eq!(message, "processor exploded");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        other_dropped.load(Ordering::SeqCst),
        "the other task was cancelled"
    );
    assert!(
        body_dropped.load(Ordering::SeqCst),
        "the body was cancelled"
    );
}

#[test]
fn a_panicking_body_cancels_its_tasks() {
    let task_dropped = Arc::new(AtomicBool::new(false));
    let guard = SetOnDrop(Arc::clone(&task_dropped));
    let err = block_on(Scope::new("app").run(async move {
        ctx::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        })
        .unwrap();
        yield_now().await;
        panic!("body failed");
    }))
    .unwrap_err();
    assert!(matches!(err, ScopeError::Panicked { ref message, .. } if message == "body failed"));
    assert!(task_dropped.load(Ordering::SeqCst));
}

#[test]
fn a_failing_try_spawn_task_fails_the_scope_with_its_error() {
    #[derive(Debug)]
    struct Boom;
    impl std::fmt::Display for Boom {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("boom")
        }
    }
    impl std::error::Error for Boom {}

    let err = block_on(Scope::new("app").run(async {
        let failing = ctx::try_spawn(async {
            yield_now().await;
            Err::<(), _>(Boom)
        })
        .unwrap();
        let r = failing.await;
        assert!(matches!(r, Err(JoinError::Failed(ref e)) if e.to_string() == "boom"));
        // The body is cancelled by the failure: this never completes.
        std::future::pending::<()>().await
    }))
    .unwrap_err();
    match err {
        ScopeError::Failed { error, .. } => assert!(error.downcast_ref::<Boom>().is_some()),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn try_run_fails_the_scope_on_err_and_cancels_tasks() {
    let err = block_on(Scope::new("app").try_run(async {
        let forever = ctx::spawn(std::future::pending::<()>()).unwrap();
        drop(forever);
        Err::<(), _>("bad input")
    }))
    .unwrap_err();
    assert_eq!(err.to_string(), "failure in scope app: bad input");
}

#[test]
fn tasks_spawned_by_tasks_belong_to_the_scope() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    block_on(Scope::new("app").run(async move {
        ctx::spawn(async move {
            for _ in 0..3 {
                let c = Arc::clone(&c);
                ctx::spawn(async move {
                    yield_now().await;
                    c.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            }
        })
        .unwrap();
    }))
    .unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[test]
fn tasks_see_their_scope_and_state() {
    block_on(Scope::new("app").with_state(7u32).run(async {
        let seen = ctx::spawn(async {
            yield_now().await;
            (ctx::scope_name().unwrap(), *ctx::state::<u32>().unwrap())
        })
        .unwrap()
        .await
        .unwrap();
        assert_eq!(&*seen.0, "app");
        assert_eq!(seen.1, 7);
    }))
    .unwrap();
}

#[test]
fn dropping_the_run_future_cancels_its_tasks() {
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = SetOnDrop(Arc::clone(&dropped));
    let mut run = Box::pin(Scope::new("app").run(async move {
        ctx::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        })
        .unwrap();
        std::future::pending::<()>().await
    }));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(run.as_mut().poll(&mut cx).is_pending());
    assert!(!dropped.load(Ordering::SeqCst));
    drop(run);
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn a_nested_scope_failure_does_not_fail_the_parent() {
    block_on(Scope::new("app").run(async {
        let inner = Scope::new("inner")
            .run(async {
                ctx::spawn(async { panic!("inner task") }).unwrap();
            })
            .await;
        assert!(
            matches!(inner, Err(ScopeError::Panicked { ref scope, .. }) if &**scope == "inner")
        );
    }))
    .unwrap();
}

/// Issue 12 item 7: a future that captured a scope's frame (here through `ctx::updating`) and
/// runs after that scope's `run` returned must not get a handle to a task nothing will drive.
#[test]
fn spawning_into_a_finished_scope_is_an_error() {
    let gate = Arc::new(AtomicBool::new(false));
    let g = Arc::clone(&gate);
    let mut late = block_on(Scope::new("app").run(async move {
        let mut late = Box::pin(ctx::updating(1u8, async move {
            while !g.load(Ordering::SeqCst) {
                yield_now().await;
            }
            ctx::spawn(async { 5 })
        }));
        // Polled once here: the future has taken this scope's frame.
        assert!(futures::poll!(late.as_mut()).is_pending());
        Some(late) // (not the future itself: the body does not await it)
    }))
    .unwrap()
    .unwrap();
    gate.store(true, Ordering::SeqCst);
    let spawned = block_on(late.as_mut()).expect("the frame was taken inside the scope");
    assert!(
        spawned.is_err(),
        "spawn into a finished scope returned a handle"
    );
}
