//! Events per second through the NATS bridge, against publishing the same events with
//! async-nats directly. 1 KiB JSON events; each iteration publishes a batch and ends when the
//! server has read all of it (a request round trip on the same connection), so both sides pay
//! the same flush. Needs `nats-server` (Debian package) on PATH or in /usr/sbin.
//!
//! `cargo bench --features nats --bench nats_bridge`

// The bench never restarts the server.
#[allow(dead_code)]
#[path = "../tests/support/nats_server.rs"]
mod nats_server;

use std::time::{Duration, Instant};

use async_nats::{Client, HeaderMap};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde::Serialize;
use tidings::Bus;
use tidings::bridge::nats::{Bridge, ORIGIN_HEADER};

#[derive(Clone, Serialize)]
struct Event {
    id: u64,
    kind: &'static str,
    body: String,
}

fn event(id: u64) -> Event {
    // {"id":…,"kind":"bench.event","body":"xxx…"} comes to 1024 bytes for small ids.
    Event {
        id,
        kind: "bench.event",
        body: "x".repeat(980),
    }
}

const BATCH: u64 = 2_000;

/// Returns once the server has read everything `client` sent before.
async fn round_trip(client: &Client) {
    let _ = client.request("_BENCH.none", "".into()).await;
}

fn bench(c: &mut Criterion) {
    let Some(server) = nats_server::NatsServer::start_with(&[]) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let size = serde_json::to_vec(&event(1)).unwrap().len();
    assert!((1000..=1048).contains(&size), "event is {size} bytes");

    let mut group = c.benchmark_group("nats_publish_1KiB_json");
    group.throughput(Throughput::Elements(BATCH));
    group.measurement_time(Duration::from_secs(10));

    let direct = rt.block_on(async_nats::connect(server.url())).unwrap();
    group.bench_function(BenchmarkId::from_parameter("async-nats"), |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let client = direct.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    for id in 0..BATCH {
                        let payload = serde_json::to_vec(&event(id)).unwrap();
                        client
                            .publish("bench.direct", payload.into())
                            .await
                            .unwrap();
                    }
                    round_trip(&client).await;
                }
                start.elapsed()
            }
        })
    });

    let mut headers = HeaderMap::new();
    headers.insert(ORIGIN_HEADER, "0123456789abcdef-0");
    group.bench_function(BenchmarkId::from_parameter("async-nats+header"), |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let client = direct.clone();
            let headers = headers.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    for id in 0..BATCH {
                        let payload = serde_json::to_vec(&event(id)).unwrap();
                        client
                            .publish_with_headers("bench.header", headers.clone(), payload.into())
                            .await
                            .unwrap();
                    }
                    round_trip(&client).await;
                }
                start.elapsed()
            }
        })
    });

    let bus = Bus::new();
    let bridge = rt.block_on(Bridge::connect(server.url(), &bus)).unwrap();
    rt.block_on(async { bridge.export::<Event>("bench.bridge").unwrap() });
    group.bench_function(BenchmarkId::from_parameter("tidings-bridge"), |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (bus, bridge) = (&bus, &bridge);
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let target = bridge.stats().exported + BATCH;
                    for id in 0..BATCH {
                        bus.send(event(id)).unwrap();
                    }
                    while bridge.stats().exported < target {
                        tokio::task::yield_now().await;
                    }
                    round_trip(bridge.client()).await;
                }
                start.elapsed()
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
