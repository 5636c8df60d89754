//! Haiway docs, "With Observability": records and metrics around event processing, through
//! `tracing` (scopes are spans). Needs the `tracing` feature:
//!
//! `cargo run --example observability --features tracing`

use std::time::Instant;

use tidings::{Level, Scope, ctx};

#[derive(Clone, Debug)]
struct ImportantEvent {
    id: u32,
}

async fn process_event(event: &ImportantEvent) {
    if event.id == 2 {
        panic!("could not process event {}", event.id);
    }
    tokio::task::yield_now().await;
}

async fn monitored_processor(mut events: tidings::ScopedSubscription<ImportantEvent>) {
    while let Some(event) = events.recv().await {
        ctx::record(
            Level::Info,
            format_args!(
                "event_received event_type={}",
                std::any::type_name::<ImportantEvent>()
            ),
        )
        .unwrap();
        let start = Instant::now();
        process_event(&event).await;
        ctx::record_metric(
            "event_processing_time",
            start.elapsed().as_secs_f64(),
            "seconds",
        )
        .unwrap();
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    tracing_subscriber::fmt().without_time().init();
    // The scope logs the processor's panic with tracing::error!; skip the default hook's print.
    std::panic::set_hook(Box::new(|_| {}));
    if !cfg!(feature = "tracing") {
        println!("(built without the `tracing` feature: records are no-ops)");
    }
    let result = Scope::new("app")
        .run(async {
            ctx::spawn(monitored_processor(ctx::subscribe().unwrap())).unwrap();
            for id in 0..3 {
                ctx::send(ImportantEvent { id }).unwrap();
                tokio::task::yield_now().await;
            }
        })
        .await;
    // The processor's panic was logged with tracing::error! and fails the scope.
    println!("scope result: {result:?}");
}
