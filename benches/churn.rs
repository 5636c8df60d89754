//! W7: subscribe and drop again, while another thread sends all the time (ns per pair).
//!
//! `W7_bus_lifetime`: a whole bus's life, as a short-lived root scope's: made, four
//! subscriptions, one send, everything dropped (ns per lifetime), beside a tokio broadcast and
//! an async-broadcast channel with four receivers. (A bus's registry made and dropped 256 arc-swap
//! cells until each shard's cell was made by its first registration: 22.9 µs a lifetime, then
//! 2.03 µs, tokio broadcast 2.08 µs, async-broadcast 0.45 µs; 2026-12-03, the 2-core machine,
//! `cargo bench --bench churn -- W7_bus_lifetime`.)
//!
//! The sending thread also keeps one subscription of its own and drains it after every send,
//! so events are flowing and memory stays flat. Only the systems that can add a subscriber
//! through a shared handle take part: `bus` needs `&mut` to add a reader, and fan-out over
//! channels has no registry of its own.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::Ev;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Runs `step` on its own thread until the returned guard is dropped; returns once the first
/// step is done, so the thread is sending before anything is measured.
fn background(mut step: impl FnMut(u64) + Send + 'static) -> impl Drop {
    struct Stop(Arc<AtomicBool>, Option<thread::JoinHandle<u64>>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
            let sent = self.1.take().unwrap().join().expect("sender thread");
            assert!(sent > 0, "the sender never sent");
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let (started_tx, started) = std::sync::mpsc::channel();
    let handle = thread::spawn(move || {
        step(0);
        started_tx.send(()).expect("waiting");
        let mut seq = 1;
        // Relaxed: only tells the loop to end.
        while !flag.load(Ordering::Relaxed) {
            step(seq);
            seq += 1;
        }
        seq
    });
    started.recv().expect("sender thread started");
    Stop(stop, Some(handle))
}

fn churn(c: &mut Criterion) {
    let mut group = c.benchmark_group("W7_churn");
    group.throughput(Throughput::Elements(1));

    {
        let bus = tidings::Bus::new();
        let mut own = bus.subscribe::<Ev>();
        let sender = bus.clone();
        let _running = background(move |seq| {
            sender.send(Ev::new(0, seq)).expect("subscribed");
            while own.try_recv().is_ok() {}
        });
        group.bench_function(BenchmarkId::from_parameter("tidings"), |b| {
            b.iter(|| drop(black_box(bus.subscribe::<Ev>())))
        });
    }

    {
        let (tx, mut own) = tokio::sync::broadcast::channel::<Ev>(1024);
        let sender = tx.clone();
        let _running = background(move |seq| {
            sender.send(Ev::new(0, seq)).expect("subscribed");
            while own.try_recv().is_ok() {}
        });
        group.bench_function(BenchmarkId::from_parameter("tokio_broadcast"), |b| {
            b.iter(|| drop(black_box(tx.subscribe())))
        });
    }

    {
        let (tx, mut own) = async_broadcast::broadcast::<Ev>(1024);
        let inactive = own.clone().deactivate();
        let _running = background(move |seq| {
            // Never waits: a new receiver that fills the channel must not stall the sender.
            let _ = tx.try_broadcast(Ev::new(0, seq));
            while own.try_recv().is_ok() {}
        });
        group.bench_function(BenchmarkId::from_parameter("async_broadcast"), |b| {
            b.iter(|| drop(black_box(inactive.activate_cloned())))
        });
    }
    group.finish();
}

fn bus_lifetime(c: &mut Criterion) {
    const SUBS: usize = 4;
    let mut group = c.benchmark_group("W7_bus_lifetime");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::from_parameter("tidings"), |b| {
        b.iter(|| {
            let bus = tidings::Bus::new();
            let subs: Vec<_> = (0..SUBS).map(|_| bus.subscribe::<Ev>()).collect();
            bus.send(Ev::new(0, 1)).expect("subscribed");
            drop(black_box(bus));
            drop(black_box(subs));
        })
    });
    group.bench_function(BenchmarkId::from_parameter("tokio_broadcast"), |b| {
        b.iter(|| {
            let (tx, first) = tokio::sync::broadcast::channel::<Ev>(1024);
            let mut subs: Vec<_> = (1..SUBS).map(|_| tx.subscribe()).collect();
            subs.push(first);
            tx.send(Ev::new(0, 1)).expect("subscribed");
            drop(black_box(tx));
            drop(black_box(subs));
        })
    });
    group.bench_function(BenchmarkId::from_parameter("async_broadcast"), |b| {
        b.iter(|| {
            let (tx, first) = async_broadcast::broadcast::<Ev>(1024);
            let mut subs: Vec<_> = (1..SUBS).map(|_| first.clone()).collect();
            subs.push(first);
            tx.try_broadcast(Ev::new(0, 1)).expect("subscribed");
            drop(black_box(tx));
            drop(black_box(subs));
        })
    });
    group.finish();
}

criterion_group!(benches, churn, bus_lifetime);
criterion_main!(benches);
