//! W6: request-response round trip between two tasks (and, for reference, two threads).
//!
//! A requester sends a request and waits for the matching response; a responder answers each
//! request. Criterion reports the mean round trip; every round trip is also timed on its own,
//! and p50/p90/p99 go to stderr and to `target/criterion/tidings-latency.csv`.
//!
//! Group `W6_round_trip` runs on the 2-worker runtime of every async bench; group
//! `W6_round_trip_current_thread` runs the task systems again on a current-thread runtime, to
//! separate each system's own tail from the multi-thread scheduler's (see `round_trip`).

mod common;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use common::{Ev, percentile, record, runtime};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

#[derive(Clone, Debug)]
struct Request(Ev);

#[derive(Clone, Debug)]
struct Response(Ev);

/// Runs `n` round trips; returns each one's duration in nanoseconds.
type Run = fn(&Runtime, u64) -> Vec<u64>;

/// A criterion group: its name, the runtime its task systems run on, and its systems.
type Group = (&'static str, Runtime, &'static [(&'static str, Run)]);

const SYSTEMS: [(&str, Run); 5] = [
    ("tidings_tasks", tidings_tasks),
    ("tokio_broadcast", tokio_broadcast),
    ("flume_tasks", flume_tasks),
    ("tidings_threads", tidings_threads),
    ("crossbeam_threads", crossbeam_threads),
];

fn tidings_tasks(rt: &Runtime, n: u64) -> Vec<u64> {
    rt.block_on(async move {
        let bus = tidings::Bus::new();
        let mut requests = bus.subscribe::<Request>();
        let mut responses = bus.subscribe::<Response>();
        let responder_bus = bus.clone();
        let responder = tokio::spawn(async move {
            while let Some(Request(ev)) = requests.recv().await {
                responder_bus.send(Response(ev)).expect("requester listens");
            }
        });
        let requester = tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n as usize);
            for seq in 0..n {
                let t0 = Instant::now();
                bus.send(Request(Ev::new(0, seq)))
                    .expect("responder listens");
                let Response(ev) = responses.recv().await.expect("open");
                lat.push(t0.elapsed().as_nanos() as u64);
                assert_eq!(ev.seq, seq);
            }
            bus.close();
            lat
        });
        let lat = requester.await.expect("requester");
        responder.await.expect("responder");
        lat
    })
}

fn tokio_broadcast(rt: &Runtime, n: u64) -> Vec<u64> {
    use tokio::sync::broadcast;
    rt.block_on(async move {
        let (req_tx, mut req_rx) = broadcast::channel::<Request>(16);
        let (resp_tx, mut resp_rx) = broadcast::channel::<Response>(16);
        let responder = tokio::spawn(async move {
            while let Ok(Request(ev)) = req_rx.recv().await {
                resp_tx.send(Response(ev)).expect("requester listens");
            }
        });
        let requester = tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n as usize);
            for seq in 0..n {
                let t0 = Instant::now();
                req_tx
                    .send(Request(Ev::new(0, seq)))
                    .expect("responder listens");
                let Response(ev) = resp_rx.recv().await.expect("open");
                lat.push(t0.elapsed().as_nanos() as u64);
                assert_eq!(ev.seq, seq);
            }
            lat
        });
        let lat = requester.await.expect("requester");
        responder.await.expect("responder");
        lat
    })
}

fn flume_tasks(rt: &Runtime, n: u64) -> Vec<u64> {
    rt.block_on(async move {
        let (req_tx, req_rx) = flume::unbounded::<Request>();
        let (resp_tx, resp_rx) = flume::unbounded::<Response>();
        let responder = tokio::spawn(async move {
            while let Ok(Request(ev)) = req_rx.recv_async().await {
                resp_tx.send(Response(ev)).expect("requester listens");
            }
        });
        let requester = tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n as usize);
            for seq in 0..n {
                let t0 = Instant::now();
                req_tx
                    .send(Request(Ev::new(0, seq)))
                    .expect("responder listens");
                let Response(ev) = resp_rx.recv_async().await.expect("open");
                lat.push(t0.elapsed().as_nanos() as u64);
                assert_eq!(ev.seq, seq);
            }
            lat
        });
        let lat = requester.await.expect("requester");
        responder.await.expect("responder");
        lat
    })
}

fn tidings_threads(_: &Runtime, n: u64) -> Vec<u64> {
    let bus = tidings::Bus::new();
    let mut requests = bus.subscribe::<Request>();
    let mut responses = bus.subscribe::<Response>();
    let responder_bus = bus.clone();
    let responder = std::thread::spawn(move || {
        while let Some(Request(ev)) = requests.recv_blocking() {
            responder_bus.send(Response(ev)).expect("requester listens");
        }
    });
    let mut lat = Vec::with_capacity(n as usize);
    for seq in 0..n {
        let t0 = Instant::now();
        bus.send(Request(Ev::new(0, seq)))
            .expect("responder listens");
        let Response(ev) = responses.recv_blocking().expect("open");
        lat.push(t0.elapsed().as_nanos() as u64);
        assert_eq!(ev.seq, seq);
    }
    bus.close();
    responder.join().expect("responder");
    lat
}

fn crossbeam_threads(_: &Runtime, n: u64) -> Vec<u64> {
    let (req_tx, req_rx) = crossbeam_channel::unbounded::<Request>();
    let (resp_tx, resp_rx) = crossbeam_channel::unbounded::<Response>();
    let responder = std::thread::spawn(move || {
        while let Ok(Request(ev)) = req_rx.recv() {
            resp_tx.send(Response(ev)).expect("requester listens");
        }
    });
    let mut lat = Vec::with_capacity(n as usize);
    for seq in 0..n {
        let t0 = Instant::now();
        req_tx
            .send(Request(Ev::new(0, seq)))
            .expect("responder listens");
        let Response(ev) = resp_rx.recv().expect("open");
        lat.push(t0.elapsed().as_nanos() as u64);
        assert_eq!(ev.seq, seq);
    }
    drop(req_tx);
    responder.join().expect("responder");
    lat
}

fn round_trip(c: &mut Criterion) {
    // The runtime: two workers. Then, for reference, the task systems again on a
    // current-thread runtime: there no round trip can be handed to the other worker (tokio's
    // multi-thread scheduler moves a woken task to the run queue and wakes the idle worker after
    // three LIFO-slot polls in a row, which puts a few microseconds into the tail of every
    // system alike), so its tail is the systems' own.
    let current_thread = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let runs: [Group; 2] = [
        ("W6_round_trip", runtime(), &SYSTEMS),
        (
            "W6_round_trip_current_thread",
            current_thread,
            &SYSTEMS[..3],
        ),
    ];
    for (group_name, rt, systems) in runs {
        let mut group = c.benchmark_group(group_name);
        for &(name, run) in systems {
            let all = RefCell::new(Vec::new());
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| {
                    let lat = run(&rt, iters);
                    let total: u64 = lat.iter().sum();
                    all.borrow_mut().extend_from_slice(&lat);
                    Duration::from_nanos(total)
                })
            });
            let mut all = all.into_inner();
            if all.is_empty() {
                // Filtered out on the command line.
                continue;
            }
            all.sort_unstable();
            let (p50, p90, p99) = (
                percentile(&all, 50.0),
                percentile(&all, 90.0),
                percentile(&all, 99.0),
            );
            eprintln!(
                "{group_name}/{name}: p50 {p50} ns, p90 {p90} ns, p99 {p99} ns over {} round trips",
                all.len()
            );
            record(
                "tidings-latency.csv",
                &format!("{group_name},{name},{p50},{p99},{},{p90}", all.len()),
            );
        }
        group.finish();
    }
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
