//! Haiway docs, "With Observability": events with attributes, a histogram of processing
//! times and error logging around event processing, all through `tracing` (scopes are spans).
//! A small `tracing` layer plays the metrics exporter: it reads the documented fields of
//! `tidings::metric` events (`metric`, `value`, `unit`, `kind`, `attributes`) and aggregates
//! them by kind, as a bridge to Prometheus or OpenTelemetry metrics would. With
//! `tracing-opentelemetry` in place of the fmt layer, the same spans and events become
//! OpenTelemetry spans and span events with these fields as attributes. Needs the `tracing`
//! feature:
//!
//! `cargo run --example observability --features tracing`

use std::time::Instant;

use tidings::{MetricKind, Scope, ctx};

#[derive(Clone, Debug)]
struct ImportantEvent {
    id: u32,
}

#[derive(Debug)]
struct ProcessingError(u32);

impl std::fmt::Display for ProcessingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not process event {}", self.0)
    }
}

impl std::error::Error for ProcessingError {}

async fn process_event(event: &ImportantEvent) -> Result<(), ProcessingError> {
    tokio::task::yield_now().await;
    if event.id == 2 {
        return Err(ProcessingError(event.id));
    }
    Ok(())
}

async fn monitored_processor(mut events: tidings::ScopedSubscription<ImportantEvent>) {
    let event_type = std::any::type_name::<ImportantEvent>();
    while let Some(event) = events.recv().await {
        ctx::event("event_received")
            .attribute("event_type", event_type)
            .record();
        let start = Instant::now();
        if let Err(e) = process_event(&event).await {
            ctx::log_error(format_args!("error processing {event_type}"), &e);
        }
        ctx::metric(
            "event_processing_time",
            start.elapsed().as_secs_f64(),
            MetricKind::Histogram,
        )
        .unit("seconds")
        .attribute("event_type", event_type)
        .record();
        ctx::metric("events_processed", 1.0, MetricKind::Counter).record();
    }
}

#[cfg(feature = "tracing")]
mod exporter {
    //! The metrics "exporter": a `tracing_subscriber` layer over the `tidings::metric` events.
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, Layer};

    #[derive(Default, Debug)]
    pub struct Aggregate {
        pub counters: BTreeMap<String, f64>,
        pub gauges: BTreeMap<String, f64>,
        /// name -> (count, sum)
        pub histograms: BTreeMap<String, (u64, f64)>,
    }

    #[derive(Clone, Default)]
    pub struct Metrics(pub Arc<Mutex<Aggregate>>);

    #[derive(Default)]
    struct Sample {
        metric: String,
        kind: String,
        value: f64,
    }

    impl Visit for Sample {
        fn record_str(&mut self, field: &Field, value: &str) {
            match field.name() {
                "metric" => self.metric = value.to_owned(),
                "kind" => self.kind = value.to_owned(),
                _ => {}
            }
        }
        fn record_f64(&mut self, field: &Field, value: f64) {
            if field.name() == "value" {
                self.value = value;
            }
        }
        fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
    }

    impl<S: tracing::Subscriber> Layer<S> for Metrics {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            if event.metadata().target() != "tidings::metric" {
                return;
            }
            let mut s = Sample::default();
            event.record(&mut s);
            let mut all = self.0.lock().unwrap();
            match s.kind.as_str() {
                "counter" => *all.counters.entry(s.metric).or_default() += s.value,
                "gauge" => drop(all.gauges.insert(s.metric, s.value)),
                "histogram" => {
                    let h = all.histograms.entry(s.metric).or_default();
                    h.0 += 1;
                    h.1 += s.value;
                }
                _ => {}
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    #[cfg(feature = "tracing")]
    let metrics = {
        use tracing_subscriber::prelude::*;
        let metrics = exporter::Metrics::default();
        tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().without_time())
            .with(metrics.clone())
            .init();
        metrics
    };
    #[cfg(not(feature = "tracing"))]
    println!("(built without the `tracing` feature: records are no-ops)");
    let result = Scope::new("app")
        .run(async {
            ctx::spawn(monitored_processor(ctx::subscribe().unwrap())).unwrap();
            for id in 0..3 {
                ctx::send(ImportantEvent { id }).unwrap();
                tokio::task::yield_now().await;
            }
        })
        .await;
    println!("scope result: {result:?}");
    #[cfg(feature = "tracing")]
    {
        let all = metrics.0.lock().unwrap();
        println!("exported metrics: {all:?}");
        assert_eq!(all.counters["events_processed"], 3.0);
        assert_eq!(all.histograms["event_processing_time"].0, 3);
    }
}
