//! What the scope layer adds to `send` and `recv` over the bare `Bus`.
//!
//! One group per operation, one id per system, same process: `bus` is `Bus::send` /
//! `Subscription::try_recv`, `scope` is `ctx::send` / `ScopedSubscription::try_recv` inside a
//! scope (one subscriber, in the sending scope, so every event is taken).
//! The target: `scope` within 20% of `bus`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::executor::block_on;
use tidings::{Bus, Scope, ctx};

const BATCH: u64 = 256;

fn in_scope<R>(f: impl FnOnce() -> R) -> R {
    block_on(Scope::new("bench").run(async { f() })).unwrap()
}

fn send(c: &mut Criterion) {
    let mut g = c.benchmark_group("send");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("bus", |b| {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u64>();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for i in 0..BATCH {
                    bus.send(black_box(i)).unwrap();
                }
                total += start.elapsed();
                while sub.try_recv().is_ok() {}
            }
            total
        });
    });
    g.bench_function("scope", |b| {
        in_scope(|| {
            let mut sub = ctx::subscribe::<u64>().unwrap();
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    for i in 0..BATCH {
                        ctx::send(black_box(i)).unwrap();
                    }
                    total += start.elapsed();
                    while sub.try_recv().is_ok() {}
                }
                total
            });
        })
    });
    g.finish();
}

fn recv(c: &mut Criterion) {
    let mut g = c.benchmark_group("recv");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("bus", |b| {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u64>();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for i in 0..BATCH {
                    bus.send(i).unwrap();
                }
                let start = Instant::now();
                for _ in 0..BATCH {
                    black_box(sub.try_recv().unwrap());
                }
                total += start.elapsed();
            }
            total
        });
    });
    g.bench_function("scope", |b| {
        in_scope(|| {
            let mut sub = ctx::subscribe::<u64>().unwrap();
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    for i in 0..BATCH {
                        ctx::send(i).unwrap();
                    }
                    let start = Instant::now();
                    for _ in 0..BATCH {
                        black_box(sub.try_recv().unwrap());
                    }
                    total += start.elapsed();
                }
                total
            });
        })
    });
    g.finish();
}

fn send_recv(c: &mut Criterion) {
    let mut g = c.benchmark_group("send_recv");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("bus", |b| {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u64>();
        b.iter(|| {
            for i in 0..BATCH {
                bus.send(black_box(i)).unwrap();
            }
            for _ in 0..BATCH {
                black_box(sub.try_recv().unwrap());
            }
        });
    });
    g.bench_function("scope", |b| {
        in_scope(|| {
            let mut sub = ctx::subscribe::<u64>().unwrap();
            b.iter(|| {
                for i in 0..BATCH {
                    ctx::send(black_box(i)).unwrap();
                }
                for _ in 0..BATCH {
                    black_box(sub.try_recv().unwrap());
                }
            });
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = send, recv, send_recv
}
criterion_main!(benches);
