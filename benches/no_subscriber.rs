//! W5: one send with nobody listening, single thread, in ns per send.
//!
//! tidings sends to a type with no subscription; each peer sends into a channel whose receivers
//! are gone (`tokio`: none subscribed; `async-broadcast`: only an inactive receiver;
//! `crossbeam-channel`, `flume`: the receiver dropped). Every system hands the event back.

mod common;

use std::hint::black_box;

use common::Ev;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

// tidings' W5 run (`tidings_runs::no_subscriber`), shared with `scripts/unbounded_cost.sh`'s
// bench.
common::workloads::tidings_runs!(tidings_runs, tidings);

fn no_subscriber(c: &mut Criterion) {
    let mut group = c.benchmark_group("W5_no_subscriber");
    group.throughput(Throughput::Elements(1));
    let ev = Ev::new(0, 1);

    // Another type is subscribed, so the bus is in use, just not for `Ev`.
    group.bench_function(
        BenchmarkId::from_parameter("tidings"),
        tidings_runs::no_subscriber(),
    );

    let (tx, _) = tokio::sync::broadcast::channel::<Ev>(1024);
    group.bench_function(BenchmarkId::from_parameter("tokio_broadcast"), |b| {
        b.iter(|| black_box(tx.send(black_box(ev.clone())).is_err()))
    });

    let (tx, rx) = async_broadcast::broadcast::<Ev>(1024);
    let _inactive = rx.deactivate();
    group.bench_function(BenchmarkId::from_parameter("async_broadcast"), |b| {
        b.iter(|| black_box(tx.try_broadcast(black_box(ev.clone())).is_err()))
    });

    let (tx, rx) = crossbeam_channel::unbounded::<Ev>();
    drop(rx);
    group.bench_function(BenchmarkId::from_parameter("crossbeam_channel"), |b| {
        b.iter(|| black_box(tx.send(black_box(ev.clone())).is_err()))
    });

    let (tx, rx) = flume::unbounded::<Ev>();
    drop(rx);
    group.bench_function(BenchmarkId::from_parameter("flume"), |b| {
        b.iter(|| black_box(tx.send(black_box(ev.clone())).is_err()))
    });
    group.finish();
}

criterion_group!(benches, no_subscriber);
criterion_main!(benches);
