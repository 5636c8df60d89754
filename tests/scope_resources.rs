//! Resources with a lifetime (issue 18 point 5, Haiway's disposables).

mod support;

use std::sync::{Arc, Mutex};

use futures::executor::block_on;
use support::yield_now;
use tidings::{BoxError, Resource, Scope, ScopeError, ctx};

type Log = Arc<Mutex<Vec<String>>>;

fn log(log: &Log, line: impl Into<String>) {
    log.lock().unwrap().push(line.into());
}

/// A resource that logs its life; `fail_open`/`fail_close`/`panic_open` make it misbehave.
struct Res {
    name: &'static str,
    log: Log,
    fail_open: bool,
    panic_open: bool,
    fail_close: bool,
}

fn res(name: &'static str, log: &Log) -> Res {
    Res {
        name,
        log: Arc::clone(log),
        fail_open: false,
        panic_open: false,
        fail_close: false,
    }
}

/// The state a `Res` provides: its name.
#[derive(Debug, PartialEq)]
struct Provided(&'static str);

impl Resource for Res {
    type State = Provided;

    async fn open(&mut self) -> Result<Provided, BoxError> {
        yield_now().await; // opening really is async
        assert!(ctx::scope_name().is_ok(), "opened in the scope's context");
        if self.panic_open {
            panic!("open {} panicked", self.name);
        }
        if self.fail_open {
            log(&self.log, format!("open {} failed", self.name));
            return Err(format!("cannot open {}", self.name).into());
        }
        log(&self.log, format!("open {}", self.name));
        Ok(Provided(self.name))
    }

    async fn close(self) -> Result<(), BoxError> {
        yield_now().await;
        log(&self.log, format!("close {}", self.name));
        if self.fail_close {
            return Err(format!("cannot close {}", self.name).into());
        }
        Ok(())
    }
}

impl Res {
    fn set(mut self, f: impl FnOnce(&mut Res)) -> Res {
        f(&mut self);
        self
    }
}

impl Drop for Res {
    fn drop(&mut self) {
        log(&self.log, format!("drop {}", self.name));
    }
}

/// A second resource type, so that two states are visible at once.
struct Counter(Log);

impl Resource for Counter {
    type State = u64;

    async fn open(&mut self) -> Result<u64, BoxError> {
        log(&self.0, "open counter");
        Ok(41)
    }

    async fn close(self) -> Result<(), BoxError> {
        log(&self.0, "close counter");
        Ok(())
    }
}

fn lines(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[test]
fn resources_open_in_order_provide_state_and_close_in_reverse_after_tasks() {
    let l = Log::default();
    let body_log = Arc::clone(&l);
    let out = block_on(
        Scope::new("app")
            .with_resource(res("db", &l))
            .with_resource(Counter(Arc::clone(&l)))
            .run(async move {
                log(&body_log, "body");
                let task_log = Arc::clone(&body_log);
                ctx::spawn(async move {
                    for _ in 0..3 {
                        yield_now().await;
                    }
                    assert_eq!(*ctx::state::<u64>().unwrap(), 41, "tasks see it too");
                    log(&task_log, "task done");
                })
                .unwrap();
                (
                    ctx::try_state::<Provided>().unwrap().0,
                    *ctx::state::<u64>().unwrap(),
                )
            }),
    )
    .unwrap();
    assert_eq!(out, ("db", 41));
    assert_eq!(
        lines(&l),
        [
            "open db",
            "open counter",
            "body",
            "task done",
            "close counter",
            "close db",
            "drop db"
        ]
    );
}

#[test]
fn a_panicking_body_still_closes_everything_in_reverse() {
    let l = Log::default();
    let err = block_on(
        Scope::new("app")
            .with_resource(res("a", &l))
            .with_resource(res("b", &l))
            .run(async {
                ctx::spawn(std::future::pending::<()>()).unwrap();
                yield_now().await;
                panic!("body crashed");
            }),
    )
    .unwrap_err();
    assert!(matches!(err, ScopeError::Panicked { .. }), "{err:?}");
    assert_eq!(
        lines(&l),
        ["open a", "open b", "close b", "drop b", "close a", "drop a"]
    );
}

#[test]
fn an_error_while_opening_closes_what_was_opened_and_the_body_never_runs() {
    let l = Log::default();
    let ran = Arc::new(Mutex::new(false));
    let r = Arc::clone(&ran);
    let err = block_on(
        Scope::new("app")
            .with_resource(res("a", &l))
            .with_resource(res("b", &l).set(|r| r.fail_open = true))
            .with_resource(res("c", &l))
            .run(async move { *r.lock().unwrap() = true }),
    )
    .unwrap_err();
    assert!(
        matches!(err, ScopeError::Failed { ref error, .. } if error.to_string() == "cannot open b"),
        "{err:?}"
    );
    assert!(!*ran.lock().unwrap());
    // c is never opened (dropped at once); a is closed.
    assert_eq!(
        lines(&l),
        [
            "open a",
            "open b failed",
            "drop b",
            "drop c",
            "close a",
            "drop a"
        ]
    );
}

#[test]
fn a_panic_while_opening_closes_what_was_opened() {
    let l = Log::default();
    let err = block_on(
        Scope::new("app")
            .with_resource(res("a", &l))
            .with_resource(res("b", &l).set(|r| r.panic_open = true))
            .run(async {}),
    )
    .unwrap_err();
    assert!(
        matches!(err, ScopeError::Panicked { ref message, .. } if message == "open b panicked")
    );
    assert_eq!(
        lines(&l),
        ["drop b", "close a", "drop a"][..]
            .iter()
            .fold(vec!["open a".to_owned()], |mut v, s| {
                v.push((*s).to_owned());
                v
            })
    );
}

#[test]
fn errors_while_closing_are_failures_and_the_rest_still_close() {
    let l = Log::default();
    let err = block_on(
        Scope::new("app")
            .with_resource(res("a", &l).set(|r| r.fail_close = true))
            .with_resource(res("b", &l).set(|r| r.fail_close = true))
            .run(async {}),
    )
    .unwrap_err();
    let messages: Vec<String> = err.failures().map(|f| f.to_string()).collect();
    assert_eq!(
        messages,
        [
            "failure in scope app: cannot close b",
            "failure in scope app: cannot close a"
        ]
    );
    assert_eq!(
        lines(&l),
        ["open a", "open b", "close b", "drop b", "close a", "drop a"]
    );
}

#[test]
fn a_scope_state_value_wins_over_a_resource_of_the_same_type() {
    let l = Log::default();
    let seen = block_on(
        Scope::new("app")
            .with_state(Provided("explicit"))
            .with_resource(res("db", &l))
            .run(async { ctx::try_state::<Provided>().unwrap().0 }),
    )
    .unwrap();
    assert_eq!(seen, "explicit");
}

#[test]
fn a_cancelled_scope_closes_its_resources() {
    let l = Log::default();
    let err = block_on(Scope::new("app").with_resource(res("a", &l)).run(async {
        ctx::cancel().unwrap();
        std::future::pending::<()>().await
    }))
    .unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(lines(&l), ["open a", "close a", "drop a"]);
}

#[test]
fn dropping_run_drops_the_resources_in_reverse() {
    let l = Log::default();
    let mut run = Box::pin(
        Scope::new("app")
            .with_resource(res("a", &l))
            .with_resource(res("b", &l))
            .run(std::future::pending::<()>()),
    );
    block_on(async {
        for _ in 0..5 {
            assert!(futures::poll!(run.as_mut()).is_pending());
        }
    });
    drop(run);
    assert_eq!(lines(&l), ["open a", "open b", "drop b", "drop a"]);
}
