//! Feature `tracing`: scopes are spans; records, metrics and failures are tracing events.
#![cfg(feature = "tracing")]

mod support;

use futures::executor::block_on;
use support::log_capture::capture;
use tidings::{Level, Scope, ctx};

#[test]
fn records_are_events_inside_the_nested_scope_spans() {
    let log = capture(|| {
        block_on(Scope::new("app").run(async {
            Scope::new("worker")
                .run(async {
                    ctx::record(Level::Warning, format_args!("disk at {}%", 91)).unwrap();
                    ctx::record_metric("latency", 0.5, "seconds").unwrap();
                })
                .await
                .unwrap();
        }))
        .unwrap();
    });
    let warn = log.lines().find(|l| l.contains("disk at 91%")).expect(&log);
    assert!(warn.contains("WARN"), "{warn}");
    assert!(
        warn.contains(r#"scope{name="app"}:scope{name="worker"}"#),
        "{warn}"
    );
    let metric = log.lines().find(|l| l.contains("metric=")).expect(&log);
    assert!(
        metric.contains(r#"metric="latency" value=0.5 unit="seconds""#),
        "{metric}"
    );
}

#[test]
fn spawned_tasks_log_in_their_scope_span_and_failures_are_errors() {
    let log = capture(|| {
        let err = block_on(Scope::new("app").run(async {
            ctx::spawn(async {
                ctx::record(Level::Info, format_args!("in task")).unwrap();
                panic!("processor crashed");
            })
            .unwrap();
        }));
        assert!(err.is_err());
    });
    let info = log.lines().find(|l| l.contains("in task")).expect(&log);
    assert!(info.contains(r#"scope{name="app"}"#), "{info}");
    let error = log
        .lines()
        .find(|l| l.contains("task panicked"))
        .expect(&log);
    assert!(error.contains("ERROR"), "{error}");
    assert!(error.contains("processor crashed"), "{error}");
}

// --- Issue 18 point 1: observability as Haiway's event-bus page uses it. A layer that keeps
// every event's target, level, fields and enclosing span names, as an exporter would see them.

mod fields {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, Layer};
    use tracing_subscriber::prelude::*;

    #[derive(Debug, Clone)]
    pub struct Seen {
        pub target: String,
        pub level: tracing::Level,
        pub fields: BTreeMap<String, String>,
        pub spans: Vec<String>,
    }

    #[derive(Clone, Default)]
    pub struct Keep(pub Arc<Mutex<Vec<Seen>>>);

    struct Visitor<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Visitor<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().into(), format!("{value:?}"));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().into(), value.into());
        }
        fn record_f64(&mut self, field: &Field, value: f64) {
            self.0.insert(field.name().into(), value.to_string());
        }
        fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
            self.0
                .insert(field.name().into(), format!("error: {value}"));
        }
    }

    impl<S> Layer<S> for Keep
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
            let mut fields = BTreeMap::new();
            event.record(&mut Visitor(&mut fields));
            let spans = ctx
                .event_scope(event)
                .map(|scope| scope.from_root().map(|s| s.name().to_owned()).collect())
                .unwrap_or_default();
            self.0.lock().unwrap().push(Seen {
                target: event.metadata().target().into(),
                level: *event.metadata().level(),
                fields,
                spans,
            });
        }
    }

    pub fn keep<R>(f: impl FnOnce() -> R) -> (R, Vec<Seen>) {
        let keep = Keep::default();
        let subscriber = tracing_subscriber::registry().with(keep.clone());
        let out = tracing::subscriber::with_default(subscriber, f);
        let seen = keep.0.lock().unwrap().clone();
        (out, seen)
    }
}

use tidings::{MetricKind, ScopeError};

fn one<'a>(
    seen: &'a [fields::Seen],
    target: &str,
    pick: impl Fn(&fields::Seen) -> bool,
) -> &'a fields::Seen {
    let found: Vec<_> = seen
        .iter()
        .filter(|s| s.target == target && pick(s))
        .collect();
    assert_eq!(found.len(), 1, "{target}: {seen:#?}");
    found[0]
}

#[test]
fn events_and_metrics_carry_attributes_kinds_and_units_in_the_scope_span() {
    let (_, seen) = fields::keep(|| {
        block_on(Scope::new("app").run(async {
            ctx::event("event_received")
                .attribute("event_type", "UserLoggedIn")
                .attribute("attempt", 2)
                .attribute("ok", true)
                .record();
            ctx::event("disk_low").level(Level::Warning).record();
            ctx::metric("event_processing_time", 0.25, MetricKind::Histogram)
                .unit("seconds")
                .attribute("event_type", "UserLoggedIn")
                .record();
            ctx::metric("events_processed", 1.0, MetricKind::Counter).record();
            ctx::record_metric("queue_depth", 12.0, "events").unwrap();
        }))
        .unwrap()
    });
    let received = one(&seen, "tidings::event", |s| {
        s.fields["event"] == "event_received"
    });
    assert_eq!(received.level, tracing::Level::INFO);
    assert_eq!(
        received.fields["attributes"],
        r#"{event_type="UserLoggedIn", attempt=2, ok=true}"#
    );
    assert_eq!(received.spans, ["scope"]);
    let low = one(&seen, "tidings::event", |s| s.fields["event"] == "disk_low");
    assert_eq!(low.level, tracing::Level::WARN);
    let hist = one(&seen, "tidings::metric", |s| {
        s.fields["metric"] == "event_processing_time"
    });
    assert_eq!(hist.fields["value"], "0.25");
    assert_eq!(hist.fields["unit"], "seconds");
    assert_eq!(hist.fields["kind"], "histogram");
    assert_eq!(hist.fields["attributes"], r#"{event_type="UserLoggedIn"}"#);
    assert_eq!(hist.spans, ["scope"]);
    let counter = one(&seen, "tidings::metric", |s| {
        s.fields["metric"] == "events_processed"
    });
    assert_eq!(counter.fields["kind"], "counter");
    assert_eq!(counter.fields["attributes"], "{}");
    let gauge = one(&seen, "tidings::metric", |s| {
        s.fields["metric"] == "queue_depth"
    });
    assert_eq!(
        (gauge.fields["kind"].as_str(), gauge.fields["unit"].as_str()),
        ("gauge", "events")
    );
}

#[test]
fn log_error_carries_the_error_value() {
    let (_, seen) = fields::keep(|| {
        block_on(Scope::new("app").run(async {
            let err = "x".parse::<u32>().unwrap_err();
            ctx::log_error(format_args!("bad port {}", "x"), &err);
        }))
        .unwrap()
    });
    let logged = one(&seen, "tidings::record", |s| s.fields.contains_key("error"));
    assert_eq!(logged.level, tracing::Level::ERROR);
    assert_eq!(logged.fields["message"], "bad port x");
    assert_eq!(
        logged.fields["error"],
        "error: invalid digit found in string"
    );
    assert_eq!(logged.spans, ["scope"]);
}

#[test]
fn observability_works_outside_a_scope() {
    let (_, seen) = fields::keep(|| {
        ctx::record(Level::Info, format_args!("no scope here")).unwrap();
        ctx::event("boot").record();
        ctx::metric("boot_time", 1.5, MetricKind::Gauge)
            .unit("seconds")
            .record();
        ctx::log_error("failed", &std::fmt::Error);
    });
    let rec = one(&seen, "tidings::record", |s| {
        s.fields["message"] == "no scope here"
    });
    assert!(rec.spans.is_empty());
    one(&seen, "tidings::event", |s| s.fields["event"] == "boot");
    one(&seen, "tidings::metric", |s| {
        s.fields["metric"] == "boot_time"
    });
    one(&seen, "tidings::record", |s| s.fields.contains_key("error"));
}

#[test]
fn scopes_log_entry_and_exit_with_ids_duration_and_outcome() {
    let (ids, seen) = fields::keep(|| {
        let ids = block_on(Scope::new("app").run(async {
            let outer = (ctx::scope_id().unwrap(), ctx::trace_id().unwrap());
            let inner = Scope::new("inner")
                .run(async {
                    std::thread::sleep(std::time::Duration::from_millis(30));
                    ctx::scope_id().unwrap()
                })
                .await
                .unwrap();
            (outer, inner)
        }))
        .unwrap();
        let err = block_on(Scope::new("doomed").run(async {
            ctx::cancel().unwrap();
        }))
        .unwrap_err();
        assert!(matches!(err, ScopeError::Cancelled { .. }));
        ids
    });
    let ((app_id, trace), inner_id) = ids;
    let entered = one(&seen, "tidings::scope", |s| {
        s.fields["message"] == "scope entered" && s.fields["scope"] == "inner"
    });
    assert_eq!(entered.fields["scope_id"], inner_id.to_string());
    assert_eq!(entered.fields["parent_id"], app_id.to_string());
    assert_eq!(entered.fields["trace_id"], trace.to_string());
    let exited = one(&seen, "tidings::scope", |s| {
        s.fields["message"] == "scope exited" && s.fields["scope"] == "inner"
    });
    assert_eq!(exited.fields["outcome"], "ok");
    let duration: f64 = exited.fields["duration_s"].parse().unwrap();
    assert!(duration >= 0.03, "{duration}");
    assert_eq!(
        exited.spans,
        ["scope", "scope"],
        "inside its own span, inside app's"
    );
    let doomed = one(&seen, "tidings::scope", |s| {
        s.fields["message"] == "scope exited" && s.fields["scope"] == "doomed"
    });
    assert_eq!(doomed.fields["outcome"], "cancelled");
    let root = one(&seen, "tidings::scope", |s| {
        s.fields["message"] == "scope entered" && s.fields["scope"] == "app"
    });
    assert!(!root.fields.contains_key("parent_id"));
}

/// Issue 18 point 7: a background task's failure is logged (and fails no scope). Background
/// tasks run on threads of their own, so this test installs a global subscriber (the other
/// tests' thread-local ones take precedence on their threads).
#[test]
fn background_failures_are_logged() {
    use tracing_subscriber::prelude::*;
    let keep = fields::Keep::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(keep.clone()))
        .expect("the only global subscriber of this binary");
    let handle = ctx::try_spawn_background(async { Err::<(), _>("lost connection") });
    assert!(block_on(handle).is_err());
    let handle = ctx::spawn_background(async { panic!("background crash") });
    assert!(block_on(handle).is_err());
    let seen = keep.0.lock().unwrap().clone();
    let failed = one(&seen, "tidings::task", |s| {
        s.fields
            .get("error")
            .is_some_and(|e| e.contains("lost connection"))
    });
    assert_eq!(failed.level, tracing::Level::ERROR);
    assert_eq!(failed.fields["scope"], "background");
    let panicked = one(&seen, "tidings::task", |s| {
        s.fields
            .get("panic")
            .is_some_and(|p| p == "background crash")
    });
    assert_eq!(panicked.fields["scope"], "background");
}
