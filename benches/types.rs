//! Many event types (issue 12, item 6): what registering a type costs with n other types live,
//! and what a send costs when a thread sends round-robin over 1024 live types, against one.
//!
//! - `types/register/N`: subscribe to a fresh type and drop the subscription again (the type
//!   is registered, then removed), with N other types live on the bus.
//! - `types/send_round_robin/N`: one send, cycling over N live types (each with one
//!   subscription, drained between timed chunks so memory stays flat).
//!
//! `TIDINGS_TYPES_PROBE="register N ITERS"` or `"send N ITERS"` runs ITERS of one operation
//! outside criterion, for counting instructions with callgrind (`scripts/types_cost.sh`).

#[path = "../tests/support/many_types.rs"]
mod many_types;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use many_types::{Ev, Types1024, Types4096, Visit, each_type};
use tidings::Bus;

/// The type registered and removed by `types/register`; not one of the tree's.
struct Fresh;

/// One subscription to each type of a tree, held: the live types of `types/register`.
/// (Only subscribing is compiled per type here, so 4096 types stay cheap to build.)
struct Hold<'a> {
    bus: &'a Bus,
    limit: usize,
    subs: Vec<Box<dyn std::any::Any>>,
}

impl Visit for Hold<'_> {
    #[inline(never)]
    fn visit<E: Default + Clone + Send + Sync + 'static>(&mut self) {
        if self.subs.len() < self.limit {
            self.subs.push(Box::new(self.bus.subscribe::<E>()));
        }
    }
}

fn hold(bus: &Bus, n: usize) -> Hold<'_> {
    let mut hold = Hold {
        bus,
        limit: n,
        subs: Vec::new(),
    };
    each_type::<Types4096, _>(&mut hold);
    assert_eq!(hold.subs.len(), n);
    hold
}

/// The first `limit` types of a tree, subscribed on `bus`: a drain and a send per type.
struct Live<'a> {
    bus: &'a Bus,
    limit: usize,
    drains: Vec<Box<dyn FnMut() -> usize>>,
    sends: Vec<fn(&Bus)>,
}

impl Visit for Live<'_> {
    #[inline(never)]
    fn visit<E: Default + Clone + Send + Sync + 'static>(&mut self) {
        if self.sends.len() == self.limit {
            return;
        }
        let mut sub = self.bus.subscribe::<E>();
        self.drains.push(Box::new(move || {
            std::iter::from_fn(|| sub.try_recv().ok()).count()
        }));
        self.sends.push(send_one::<E>);
    }
}

fn send_one<E: Default + Send + Sync + 'static>(bus: &Bus) {
    bus.send(E::default()).ok().expect("subscribed");
}

fn live(bus: &Bus, n: usize) -> Live<'_> {
    let mut live = Live {
        bus,
        limit: n,
        drains: Vec::new(),
        sends: Vec::new(),
    };
    each_type::<Types1024, _>(&mut live);
    assert_eq!(live.sends.len(), n);
    live
}

fn register_once(bus: &Bus) {
    drop(bus.subscribe::<Ev<Fresh>>());
}

/// Sends `iters` events round-robin over `live`'s types (a power of two of them), timing only
/// the sends: every 64 Ki sends the subscriptions are drained, untimed.
fn send_round_robin(bus: &Bus, live: &mut Live<'_>, iters: u64) -> Duration {
    let mask = live.sends.len() - 1;
    let (mut total, mut left, mut i) = (Duration::ZERO, iters, 0usize);
    while left > 0 {
        let chunk = left.min(1 << 16);
        let start = Instant::now();
        for _ in 0..chunk {
            (live.sends[i & mask])(bus);
            i = i.wrapping_add(1);
        }
        total += start.elapsed();
        for drain in &mut live.drains {
            drain();
        }
        left -= chunk;
    }
    total
}

fn register(c: &mut Criterion) {
    let mut g = c.benchmark_group("types/register");
    for n in [0, 1024, 4096] {
        let bus = Bus::new();
        let _live = hold(&bus, n);
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| register_once(&bus))
        });
    }
    g.finish();
}

fn round_robin(c: &mut Criterion) {
    let mut g = c.benchmark_group("types/send_round_robin");
    g.throughput(Throughput::Elements(1));
    for n in [1, 1024] {
        let bus = Bus::new();
        let mut live = live(&bus, n);
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| send_round_robin(&bus, &mut live, iters))
        });
    }
    g.finish();
}

/// The callgrind probe: `register N ITERS` or `send N ITERS`.
fn probe(spec: &str) {
    let parts: Vec<&str> = spec.split_whitespace().collect();
    let [what, n, iters] = parts[..] else {
        panic!("TIDINGS_TYPES_PROBE: expected \"register|send N ITERS\", got {spec:?}");
    };
    let (n, iters): (usize, u64) = (n.parse().unwrap(), iters.parse().unwrap());
    let bus = Bus::new();
    match what {
        "register" => {
            let _live = hold(&bus, n);
            for _ in 0..iters {
                register_once(&bus);
            }
        }
        "send" => {
            let mut live = live(&bus, n);
            send_round_robin(&bus, &mut live, iters);
        }
        _ => panic!("TIDINGS_TYPES_PROBE: unknown operation {what:?}"),
    }
}

criterion_group!(benches, register, round_robin);

fn main() {
    if let Ok(spec) = std::env::var("TIDINGS_TYPES_PROBE") {
        probe(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
