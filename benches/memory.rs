//! W8: heap held by a channel whose one subscription is far behind, and what is left once it
//! catches up or is dropped (a counting global allocator; the channel's sender stays alive).
//!
//! For each system: subscribe, send `N` events without reading (peak and "behind" heap), then
//! either read them all and find nothing more ("after catch-up") or drop the subscription
//! ("after drop"). Bytes are relative to the heap before the channel was made. Not a timing
//! bench, so not criterion: it prints a table and writes `target/criterion/tidings-memory.csv`.
//! `-- --test`, or running it without `--bench` (as `cargo test --benches` does), runs it with
//! 100,000 events as a smoke test, like criterion's test mode.
//!
//! `bus` and `disruptor` are left out: both preallocate a fixed ring, so they hold its whole
//! capacity from creation to drop and cannot hold a million unread events at all.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Check, Ev, record};

/// Counts live heap bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers every call to `System`, only adding bookkeeping on atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            // Relaxed: a statistic; the benchmark reads it on the same thread after the work.
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                    + (new_size - layout.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Heap figures of one run, in bytes above the starting point.
struct Figures {
    /// Just made, with its subscription, before any send.
    empty: usize,
    peak: usize,
    behind: usize,
    after: usize,
}

/// The operations W8 needs from a system.
trait System1 {
    fn send(&mut self, ev: Ev);
    fn read_all(&mut self, n: u64);
    fn drop_subscription(&mut self);
}

fn measure<S: System1>(make: impl FnOnce() -> S, n: u64, catch_up: bool) -> Figures {
    let base = live();
    PEAK.store(base, Ordering::Relaxed);
    let mut sys = make();
    let empty = live().saturating_sub(base);
    for seq in 0..n {
        sys.send(Ev::new(0, seq));
    }
    let behind = live().saturating_sub(base);
    if catch_up {
        sys.read_all(n);
    } else {
        sys.drop_subscription();
    }
    let after = live().saturating_sub(base);
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    drop(sys);
    Figures {
        empty,
        peak,
        behind,
        after,
    }
}

struct Tidings {
    bus: tidings::Bus,
    sub: Option<tidings::Subscription<Ev>>,
    _other: tidings::Subscription<u8>,
}

impl System1 for Tidings {
    fn send(&mut self, ev: Ev) {
        self.bus.send(ev).expect("subscribed");
    }
    fn read_all(&mut self, n: u64) {
        let sub = self.sub.as_mut().unwrap();
        let mut check = Check::new(1);
        for _ in 0..n {
            check.see(&sub.try_recv().expect("sent"));
        }
        check.finish(n);
        // Caught up: a consumer loop learns so by finding nothing more.
        assert!(sub.try_recv().is_err());
    }
    fn drop_subscription(&mut self) {
        self.sub = None;
    }
}

fn tidings() -> Tidings {
    let bus = tidings::Bus::new();
    Tidings {
        sub: Some(bus.subscribe()),
        // Keeps the bus in use after the lagging subscription is dropped.
        _other: bus.subscribe(),
        bus,
    }
}

/// A peer: a sender, its one subscription, and how to use them.
struct Peer<T, R> {
    tx: T,
    rx: Option<R>,
    send: fn(&T, Ev),
    recv: fn(&mut R) -> Option<Ev>,
    /// Kept alive beside the subscription (`async-broadcast` closes without a receiver).
    _keep: Option<Box<dyn std::any::Any>>,
}

impl<T, R> System1 for Peer<T, R> {
    fn send(&mut self, ev: Ev) {
        (self.send)(&self.tx, ev);
    }
    fn read_all(&mut self, n: u64) {
        let rx = self.rx.as_mut().unwrap();
        let mut check = Check::new(1);
        for _ in 0..n {
            check.see(&(self.recv)(rx).expect("sent"));
        }
        check.finish(n);
        // Caught up: a consumer loop learns so by finding nothing more.
        assert!((self.recv)(rx).is_none());
    }
    fn drop_subscription(&mut self) {
        self.rx = None;
    }
}

fn peer<T, R>(tx: T, rx: R, send: fn(&T, Ev), recv: fn(&mut R) -> Option<Ev>) -> Peer<T, R> {
    Peer {
        tx,
        rx: Some(rx),
        send,
        recv,
        _keep: None,
    }
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn report(name: &str, n: u64, catch_up: bool, f: Figures) {
    let case = if catch_up { "catch_up" } else { "drop" };
    println!(
        "| {name} | {case} | {} | {} | {} | {} |",
        kib(f.empty),
        kib(f.peak),
        kib(f.behind),
        kib(f.after)
    );
    if n >= 1_000_000 {
        record(
            "tidings-memory.csv",
            &format!(
                "W8_memory,{name},{case},{},{},{},{}",
                f.peak, f.behind, f.after, f.empty
            ),
        );
    }
}

fn run_all(n: u64) {
    let cap = n as usize;
    for catch_up in [true, false] {
        report("tidings", n, catch_up, measure(tidings, n, catch_up));
        let f = measure(
            || {
                // Capacity for every event, so it holds them all without lagging.
                let (tx, rx) = tokio::sync::broadcast::channel(cap);
                peer(
                    tx,
                    rx,
                    |tx, ev| {
                        tx.send(ev).unwrap();
                    },
                    |rx| rx.try_recv().ok(),
                )
            },
            n,
            catch_up,
        );
        report("tokio_broadcast", n, catch_up, f);
        let f = measure(
            || {
                let (tx, rx) = async_broadcast::broadcast(cap);
                let mut p = peer(
                    tx,
                    rx,
                    |tx, ev| tx.try_broadcast(ev).map(drop).expect("room for all"),
                    |rx| rx.try_recv().ok(),
                );
                p._keep = Some(Box::new(p.rx.as_ref().unwrap().clone().deactivate()));
                p
            },
            n,
            catch_up,
        );
        report("async_broadcast", n, catch_up, f);
        let f = measure(
            || {
                let (tx, rx) = crossbeam_channel::unbounded();
                peer(
                    tx,
                    rx,
                    |tx, ev| tx.send(ev).expect("subscribed"),
                    |rx| rx.try_recv().ok(),
                )
            },
            n,
            catch_up,
        );
        report("crossbeam_channel", n, catch_up, f);
        let f = measure(
            || {
                let (tx, rx) = flume::unbounded();
                peer(
                    tx,
                    rx,
                    |tx, ev| tx.send(ev).expect("subscribed"),
                    |rx| rx.try_recv().ok(),
                )
            },
            n,
            catch_up,
        );
        report("flume", n, catch_up, f);
    }
}

fn main() {
    // As criterion does: `cargo bench` passes `--bench`; `cargo test --benches` does not.
    let args: Vec<String> = std::env::args().collect();
    let test = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let n = if test { 100_000 } else { 1_000_000 };
    println!("W8_memory: one subscription {n} events behind, then caught up or dropped");
    println!("| system | case | empty | peak | behind | after |");
    println!("| --- | --- | --- | --- | --- | --- |");
    run_all(n);
}
