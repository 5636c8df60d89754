//! W9: one stalled subscription plus one fast one under sustained sends, at capacity 1024.
//!
//! Two parts, side by side with tokio's broadcast channel at the same capacity:
//!
//! 1. Criterion: the fast subscription's throughput (one send and one receive by the fast one
//!    per event, on one thread) while the other subscription never reads. tidings runs with
//!    `Overflow::DropOldest` (the stalled one is overtaken, senders never wait) and, for
//!    reference, unbounded (the stalled one keeps everything).
//! 2. Retained heap over time (a counting global allocator): after every `STEP` events, the
//!    bytes held relative to before the channel was made. Flat for DropOldest and tokio, rising
//!    for unbounded. Printed as a table and written to `target/criterion/tidings-overload.csv`.
//!
//! `-- --test` (as `.ci/run` does) runs both with few events as a smoke test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use tidings::{Bus, Overflow};

const CAPACITY: usize = 1024;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers every call to `System`, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            // Relaxed: a statistic read on the same thread after the work.
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.dealloc(ptr, layout) };
        // Relaxed: as above.
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

fn flush_epoch() {
    for _ in 0..64 {
        crossbeam_epoch::pin().flush();
    }
}

fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench")
}

/// The fast subscription's cost per event with a stalled one beside it.
fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("W9_stalled_plus_fast");
    g.throughput(Throughput::Elements(1));
    g.bench_function("tidings_drop_oldest", |b| {
        let bus = Bus::builder()
            .bound::<u64>(CAPACITY, Overflow::DropOldest)
            .build();
        let _stalled = bus.subscribe::<u64>();
        let mut fast = bus.subscribe::<u64>();
        let mut i = 0u64;
        b.iter(|| {
            bus.send(i).unwrap();
            i += 1;
            fast.try_recv().unwrap()
        });
    });
    g.bench_function("tidings_unbounded", |b| {
        b.iter_custom(|iters| {
            // A fresh bus per sample, so the stalled backlog of one sample does not carry on.
            let bus = Bus::new();
            let stalled = bus.subscribe::<u64>();
            let mut fast = bus.subscribe::<u64>();
            let start = Instant::now();
            for i in 0..iters {
                bus.send(i).unwrap();
                std::hint::black_box(fast.try_recv().unwrap());
            }
            let t = start.elapsed();
            drop(stalled);
            t
        });
    });
    g.bench_function("tokio_broadcast", |b| {
        let (tx, _stalled) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
        let mut fast = tx.subscribe();
        let mut i = 0u64;
        b.iter(|| {
            tx.send(i).unwrap();
            i += 1;
            fast.try_recv().unwrap()
        });
    });
    g.finish();
}

/// Retained bytes after every `step` of `total` events, one stalled and one fast subscription.
fn retained(total: u64, step: u64) {
    type Run = Box<dyn FnMut(u64)>;
    type Make = Box<dyn Fn() -> Run>;
    let systems: Vec<(&str, Make)> = vec![
        (
            "tidings_drop_oldest",
            Box::new(|| {
                let bus = Bus::builder()
                    .bound::<u64>(CAPACITY, Overflow::DropOldest)
                    .build();
                let stalled = bus.subscribe::<u64>();
                let mut fast = bus.subscribe::<u64>();
                Box::new(move |i| {
                    let _ = &stalled;
                    bus.send(i).unwrap();
                    fast.try_recv().unwrap();
                })
            }),
        ),
        (
            "tidings_unbounded",
            Box::new(|| {
                let bus = Bus::new();
                let stalled = bus.subscribe::<u64>();
                let mut fast = bus.subscribe::<u64>();
                Box::new(move |i| {
                    let _ = &stalled;
                    bus.send(i).unwrap();
                    fast.try_recv().unwrap();
                })
            }),
        ),
        (
            "tokio_broadcast",
            Box::new(|| {
                let (tx, stalled) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
                let mut fast = tx.subscribe();
                Box::new(move |i| {
                    let _ = &stalled;
                    tx.send(i).unwrap();
                    fast.try_recv().unwrap();
                })
            }),
        ),
    ];
    let mut rows = Vec::new();
    println!("W9 retained heap bytes (one stalled + one fast subscription, capacity {CAPACITY})");
    for (name, make) in &systems {
        flush_epoch();
        let base = live();
        let mut run = make();
        let mut line = format!("{name:>22}:");
        let started = Instant::now();
        for i in 0..total {
            run(i);
            if (i + 1) % step == 0 {
                flush_epoch();
                let bytes = live().saturating_sub(base);
                line.push_str(&format!(" {bytes}"));
                rows.push(format!("{name},{},{bytes}", i + 1));
            }
        }
        let secs = started.elapsed().max(Duration::from_nanos(1)).as_secs_f64();
        println!(
            "{line}   ({:.1} M events/s incl. sampling)",
            total as f64 / secs / 1e6
        );
        drop(run);
    }
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let dir = format!("{dir}/criterion");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        format!("{dir}/tidings-overload.csv"),
        rows.join("\n") + "\n",
    );
}

criterion_group!(benches, throughput);

fn main() {
    if test_mode() {
        retained(20_000, 5_000);
    } else {
        retained(10_000_000, 1_000_000);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
