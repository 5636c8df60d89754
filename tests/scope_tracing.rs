//! Feature `tracing`: scopes are spans; records, metrics and failures are tracing events.
#![cfg(feature = "tracing")]

use std::io::Write;
use std::sync::{Arc, Mutex};

use futures::executor::block_on;
use tidings::{Level, Scope, ctx};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture(f: impl FnOnce()) -> String {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .without_time()
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = out.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

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
