//! Cancellation (issue 18 point 3) and every failure, not the first (point 4).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::executor::block_on;
use support::yield_now;
use tidings::{JoinError, Scope, ScopeError, ctx};

struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn ctx_cancel_drops_body_and_tasks_and_run_says_cancelled() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&dropped);
    let err = block_on(Scope::new("job").run(async move {
        for _ in 0..3 {
            let guard = CountOnDrop(Arc::clone(&d));
            ctx::spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await
            })
            .unwrap();
        }
        let _body_guard = CountOnDrop(d);
        yield_now().await;
        ctx::cancel().unwrap();
        std::future::pending::<()>().await
    }))
    .unwrap_err();
    assert!(
        matches!(err, ScopeError::Cancelled { ref scope } if &**scope == "job"),
        "{err:?}"
    );
    assert!(err.is_cancelled());
    assert_eq!(dropped.load(Ordering::SeqCst), 4, "body and three tasks");
}

#[test]
fn a_task_can_cancel_its_scope_and_handles_say_cancelled() {
    let err = block_on(Scope::new("job").run(async {
        let waiting = ctx::spawn(std::future::pending::<()>()).unwrap();
        let canceller = ctx::spawn(async {
            yield_now().await;
            ctx::cancel().unwrap();
        })
        .unwrap();
        let (w, c) = futures::join!(waiting, canceller);
        (w, c)
    }))
    .unwrap_err();
    assert!(matches!(err, ScopeError::Cancelled { .. }));
}

#[test]
fn cancelled_and_check_cancellation_see_the_scope_and_its_ancestors() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&seen);
    let err = block_on(Scope::new("outer").run(async move {
        assert!(ctx::check_cancellation().is_ok());
        // A snapshot of a nested scope, observed from code the cancellation cannot drop.
        let snapshot = Scope::new("inner")
            .run(async { ctx::snapshot().unwrap() })
            .await
            .unwrap();
        let mut waiting = Box::pin(snapshot.run(async move {
            ctx::cancelled().await;
            let err = ctx::check_cancellation().unwrap_err();
            assert!(matches!(err, ScopeError::Cancelled { ref scope } if &**scope == "inner"));
            s.fetch_add(1, Ordering::SeqCst);
        }));
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        ctx::cancel().unwrap(); // the outer scope
        assert!(futures::poll!(waiting.as_mut()).is_ready());
    }))
    .unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[test]
fn check_cancellation_in_a_try_task_counts_as_the_cancellation_not_a_failure() {
    let err = block_on(Scope::new("job").run(async {
        let task = ctx::try_spawn(async {
            loop {
                ctx::check_cancellation()?;
                yield_now().await;
            }
            #[allow(unreachable_code)]
            Ok::<(), ScopeError>(())
        })
        .unwrap();
        yield_now().await;
        ctx::cancel().unwrap();
        task.await
    }))
    .unwrap_err();
    assert!(matches!(err, ScopeError::Cancelled { .. }), "{err:?}");
}

#[test]
fn a_canceller_before_run_means_the_body_never_runs() {
    let scope = Scope::new("never");
    let canceller = scope.canceller();
    canceller.cancel();
    assert!(canceller.is_cancelled());
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    let err = block_on(scope.run(async move {
        r.fetch_add(1, Ordering::SeqCst);
    }))
    .unwrap_err();
    assert!(matches!(err, ScopeError::Cancelled { .. }));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn cancelled_never_fires_outside_a_scope_and_check_is_ok() {
    assert!(ctx::check_cancellation().is_ok());
    assert!(ctx::cancel().is_err());
    let mut never = Box::pin(ctx::cancelled());
    assert!(block_on(async { futures::poll!(never.as_mut()) }).is_pending());
}

#[test]
fn several_failing_tasks_all_come_back() {
    let err = block_on(Scope::new("app").run(async {
        ctx::spawn(async { panic!("first") }).unwrap();
        ctx::try_spawn(async { Err::<(), _>("second") }).unwrap();
        ctx::spawn(async { panic!("third") }).unwrap();
    }))
    .unwrap_err();
    let ScopeError::Multiple(ref all) = err else {
        panic!("expected every failure, got {err:?}");
    };
    assert_eq!(all.len(), 3);
    let messages: Vec<String> = all
        .iter()
        .map(|f| match f {
            ScopeError::Panicked { message, .. } => message.clone(),
            ScopeError::Failed { error, .. } => error.to_string(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(messages, ["first", "second", "third"]);
    assert_eq!(err.failures().count(), 3);
    assert_eq!((&err).into_iter().count(), 3);
    let owned: Vec<ScopeError> = all.clone().into_iter().collect();
    assert_eq!(owned.len(), 3);
    assert!(err.to_string().starts_with("3 failures"));
}

#[test]
fn a_single_failure_is_itself_and_iterates_once() {
    let err = block_on(Scope::new("app").run(async {
        ctx::spawn(async { panic!("only") }).unwrap();
        std::future::pending::<()>().await
    }))
    .unwrap_err();
    assert!(matches!(err, ScopeError::Panicked { .. }));
    assert_eq!(err.failures().count(), 1);
    let _ = JoinError::Cancelled;
}
