//! W10 (issue 12, item 6): many event types on one bus.
//!
//! - `W10_register/<n>`: subscribe and drop a fresh type on a bus that already has `n` live
//!   types, each its own event type: registering the (n+1)-th type (subscribe, its first) and
//!   removing it again (drop, its last). Target: the largest `n` within 2x of `n = 0`. The peak
//!   heap above the bus's steady state over 10 000 such pairs (the replaced shard copies the
//!   epoch has not freed yet) goes to `tidings-many-types.csv`: it must stay bounded, a few
//!   KiB, whatever `n` is.
//! - `W10_send/single` and `W10_send/round_robin_<n>`: one send, to one type every time, or to
//!   each of `n` live types in turn. Target: round robin within 2x of single.
//! - `W10_send/round_robin_<n>_buses`: not a target, a diagnosis: one type live on each of `n`
//!   buses, sent to in turn. As many topics (data) as the round robin over `n` types, but one
//!   copy of the send code instead of `n`, so the two rows split the round robin's cost into
//!   data and code.
//! - `W10_send/<peer>_single` and `W10_send/<peer>_round_robin_<n>`: not targets, the same
//!   two sends for the peers a service with many event types would use instead, one channel
//!   per type (`tokio::sync::broadcast`, capacity 16, and an unbounded `crossbeam-channel`),
//!   each with one receiver alive that never reads, as tidings' subscriptions: what a round
//!   robin over `n` types costs a peer against its own single type, on the same machine in
//!   the same run.
//!
//! The ratios are printed at the end of a run (and by `benches/compare.sh`).
//!
//! The types are real and distinct (`Ev<P>` for each path `P` of a binary type tree, as in
//! tests/many_types.rs), used only through the public API. Each distinct type compiles its own
//! small typed part of the bus's send, subscribe and drop paths (the rest is shared since issue
//! 12, item 6; it was about 2 s of release build per type before, now about 0.2 s on a
//! 2-core machine at load 4: 3 min for the bench, 4 since it builds the peers' rows too); of
//! tidings the bench keeps per-type code to exactly those three (a subscription is drained by
//! dropping it and subscribing again, not by a per-type `recv`), is its own bench target, and
//! uses 1024 types.
//! `--cfg tidings_many_types_4096` (in RUSTFLAGS, with its own target dir) adds `n = 4096` to
//! `W10_register`: 3072 more types, subscribe and drop only (31 min from an empty target dir
//! at load 8).

mod common;

#[path = "../tests/support/many_types.rs"]
mod many_types;
#[path = "common/type_ops.rs"]
mod type_ops;

use std::alloc::{GlobalAlloc, Layout, System};
use std::any::Any;
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
#[cfg(tidings_many_types_4096)]
use many_types::Tree;
use many_types::{Node, Types256, Visit, each_type};
use tidings::Bus;
use type_ops::{Ops, send_one, subscribe_one};

/// Counts live heap bytes and their peak, for the retired-copies figure. Relaxed: a single
/// thread allocates while it is read.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now =
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed) + layout.size() as isize;
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// 1024 types; every one is registered, and sent to round robin.
type Types1024 = Node<Node<Types256>>;

const ROUND_ROBIN: usize = 1024;

/// A fresh type, not in the tree: the one registered and removed by `W10_register`.
struct Probe;

/// Whether the visited types are sent to; a trait rather than a flag, so that only the types
/// sent to compile a send.
trait Sends {
    fn send<E: Default + Clone + Send + Sync + 'static>() -> fn(&Bus) -> bool;
}

struct Sent;
#[cfg_attr(not(tidings_many_types_4096), allow(dead_code))]
struct OnlyRegistered;

impl Sends for Sent {
    fn send<E: Default + Clone + Send + Sync + 'static>() -> fn(&Bus) -> bool {
        send_one::<E>
    }
}

impl Sends for OnlyRegistered {
    fn send<E: Default + Clone + Send + Sync + 'static>() -> fn(&Bus) -> bool {
        |_| unreachable!("only the first {ROUND_ROBIN} types are sent to")
    }
}

/// Collects the `Ops` of every type it visits.
struct Collect<S>(Vec<Ops>, std::marker::PhantomData<S>);

impl<S: Sends> Visit for Collect<S> {
    #[inline(never)]
    fn visit<E: Default + Clone + Send + Sync + 'static>(&mut self) {
        self.0.push(Ops {
            subscribe: subscribe_one::<E>,
            send: S::send::<E>(),
        });
    }
}

/// Every type's `Ops`: the `ROUND_ROBIN` types that are sent to first.
fn all_types() -> Vec<Ops> {
    let mut sent = Collect::<Sent>(Vec::new(), std::marker::PhantomData);
    each_type::<Types1024, _>(&mut sent);
    #[cfg(tidings_many_types_4096)]
    {
        // Three more trees of 1024, under other roots: registered, never sent to.
        struct A;
        struct B;
        struct C;
        let mut registered = Collect::<OnlyRegistered>(Vec::new(), std::marker::PhantomData);
        Types1024::each::<A, _>(&mut registered);
        Types1024::each::<B, _>(&mut registered);
        Types1024::each::<C, _>(&mut registered);
        sent.0.extend(registered.0);
    }
    sent.0
}

/// Live types, each with one subscription: the first `n` types on one bus (`new`), or one type
/// on each of `n` buses (`one_type_on_buses`).
struct Live {
    buses: Vec<Bus>,
    /// What is live: a bus (an index into `buses`) and a type.
    targets: Vec<(usize, Ops)>,
    subs: Vec<Box<dyn Any>>,
}

impl Live {
    fn new(ops: &[Ops]) -> Self {
        Self::with(vec![Bus::new()], ops.iter().map(|&o| (0, o)).collect())
    }

    /// The type of `op` live on each of `n` buses: as many topics as `n` types on one bus,
    /// sent to round robin through one copy of the send code instead of `n`.
    fn one_type_on_buses(op: Ops, n: usize) -> Self {
        Self::with(
            (0..n).map(|_| Bus::new()).collect(),
            (0..n).map(|i| (i, op)).collect(),
        )
    }

    fn with(buses: Vec<Bus>, targets: Vec<(usize, Ops)>) -> Self {
        let mut live = Live {
            buses,
            targets,
            subs: Vec::new(),
        };
        live.resubscribe();
        live
    }

    /// Drops every subscription (and the events it held) and subscribes again; then sends once
    /// to every type, so that each is in this thread's send cache before anything is timed.
    fn resubscribe(&mut self) {
        self.subs.clear();
        self.subs = self
            .targets
            .iter()
            .map(|&(bus, o)| (o.subscribe)(&self.buses[bus]))
            .collect();
        self.send_round();
    }

    /// The targets sent to: the first `ROUND_ROBIN` (with `--cfg tidings_many_types_4096` the
    /// rest are only registered).
    fn sent(&self) -> &[(usize, Ops)] {
        &self.targets[..self.targets.len().min(ROUND_ROBIN)]
    }

    /// One send to each target sent to.
    #[inline]
    fn send_round(&self) {
        for &(bus, o) in self.sent() {
            assert!((o.send)(&self.buses[bus]), "a live type was not routed");
        }
    }
}

/// A peer's channel for one event type, with one receiver alive that never reads.
trait PeerChannel {
    /// Sends `E::default()`; whether it was accepted.
    fn send(&self) -> bool;
}

struct TokioBroadcast<E> {
    tx: tokio::sync::broadcast::Sender<E>,
    /// Kept alive, never read: the channel has a receiver, as a live type has a subscription.
    _rx: tokio::sync::broadcast::Receiver<E>,
}

impl<E: Default + Clone + Send + Sync + 'static> PeerChannel for TokioBroadcast<E> {
    fn send(&self) -> bool {
        self.tx.send(E::default()).is_ok()
    }
}

struct Crossbeam<E> {
    tx: crossbeam_channel::Sender<E>,
    /// Kept alive, never read: the channel has a receiver, as a live type has a subscription.
    _rx: crossbeam_channel::Receiver<E>,
}

impl<E: Default + Clone + Send + Sync + 'static> PeerChannel for Crossbeam<E> {
    fn send(&self) -> bool {
        self.tx.send(E::default()).is_ok()
    }
}

/// A peer's channel maker for one type.
type MakePeer = fn() -> Box<dyn PeerChannel>;

#[inline(never)]
fn tokio_broadcast<E: Default + Clone + Send + Sync + 'static>() -> Box<dyn PeerChannel> {
    // Room for the `ROUNDS` timed events each type gets between two resets; with the
    // reset's untimed round the last one overwrites the oldest, which costs a tokio
    // broadcast send no more than any other (it never looks at its receivers' positions).
    let (tx, rx) = tokio::sync::broadcast::channel::<E>(ROUNDS);
    Box::new(TokioBroadcast { tx, _rx: rx })
}

#[inline(never)]
fn crossbeam<E: Default + Clone + Send + Sync + 'static>() -> Box<dyn PeerChannel> {
    let (tx, rx) = crossbeam_channel::unbounded::<E>();
    Box::new(Crossbeam { tx, _rx: rx })
}

/// Collects, for every type it visits, its tokio broadcast maker and its crossbeam-channel one.
struct PeerCollect(Vec<MakePeer>, Vec<MakePeer>);

impl Visit for PeerCollect {
    #[inline(never)]
    fn visit<E: Default + Clone + Send + Sync + 'static>(&mut self) {
        self.0.push(tokio_broadcast::<E>);
        self.1.push(crossbeam::<E>);
    }
}

/// A peer's channels, one per type, sent to round robin.
struct PeerLive {
    makers: Vec<MakePeer>,
    channels: Vec<Box<dyn PeerChannel>>,
}

impl PeerLive {
    fn new(makers: &[MakePeer]) -> Self {
        let mut live = PeerLive {
            makers: makers.to_vec(),
            channels: Vec::new(),
        };
        live.reset();
        live
    }
}

/// What `time_sends` sends to: tidings' live types, or a peer's channels.
trait Rounds {
    /// Sends once to each target, in turn.
    fn send_round(&self);
    /// How many sends a round is.
    fn per_round(&self) -> usize;
    /// Drops what the receivers hold (by making them again) and sends a round untimed.
    fn reset(&mut self);
}

impl Rounds for Live {
    #[inline]
    fn send_round(&self) {
        Live::send_round(self)
    }
    fn per_round(&self) -> usize {
        self.sent().len()
    }
    fn reset(&mut self) {
        self.resubscribe()
    }
}

impl Rounds for PeerLive {
    #[inline]
    fn send_round(&self) {
        for c in &self.channels {
            assert!(c.send(), "a live channel refused");
        }
    }
    fn per_round(&self) -> usize {
        self.channels.len()
    }
    fn reset(&mut self) {
        self.channels.clear();
        self.channels = self.makers.iter().map(|make| make()).collect();
        self.send_round();
    }
}

/// Rounds between two resets of the receivers (`time_sends`).
const ROUNDS: usize = 16;

/// What timing a block adds to it: the shortest of many empty blocks (a clock read's worth,
/// 20 ns on the 2-core machine). A single-type row times a block of only `ROUNDS` sends, so
/// left in, it would add 1-2 ns to every send of that row and almost nothing to a round
/// robin's, and so flatter every round robin's ratio; the least empty block is taken off every
/// block, which takes off no more than the clock's share.
fn clock_overhead() -> Duration {
    static OVERHEAD: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *OVERHEAD.get_or_init(|| {
        let least = (0..100_000)
            .map(|_| {
                let start = Instant::now();
                black_box(start).elapsed()
            })
            .min()
            .expect("some blocks");
        eprintln!("W10_send: an empty timed block takes {least:?}, taken off every block");
        least
    })
}

/// `iters` sends, over every target of `live` in turn, timed; subscriptions (receivers) are
/// dropped and made again (untimed) every `ROUNDS` rounds, so that queues stay short.
fn time_sends(live: &mut impl Rounds, iters: u64) -> Duration {
    let per_round = live.per_round() as u64;
    let mut left = iters.div_ceil(per_round);
    let mut total = Duration::ZERO;
    let overhead = clock_overhead();
    while left > 0 {
        let rounds = left.min(ROUNDS as u64);
        let start = Instant::now();
        for _ in 0..rounds {
            live.send_round();
        }
        total += start.elapsed().saturating_sub(overhead);
        left -= rounds;
        live.reset();
    }
    // Per send: criterion divides by `iters`, which rounds up to whole rounds.
    total.mul_f64(iters as f64 / (iters.div_ceil(per_round) * per_round) as f64)
}

fn register(c: &mut Criterion, ops: &[Ops]) {
    let mut group = c.benchmark_group("W10_register");
    group.throughput(Throughput::Elements(1));
    let mut sizes = vec![0, 256, 1024, 4096];
    sizes.retain(|&n| n <= ops.len());
    for n in sizes {
        let live = Live::new(&ops[..n]);
        let bus = &live.buses[0];
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| drop(black_box(bus.subscribe::<Probe>())))
        });
        // The retired shard copies held at the peak of 10 000 registrations.
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        for _ in 0..10_000 {
            drop(black_box(bus.subscribe::<Probe>()));
        }
        let peak = PEAK.load(Ordering::Relaxed) - base;
        eprintln!(
            "W10_register/{n}: peak heap above the steady state over 10000 registrations: {peak} bytes"
        );
        common::record(
            "tidings-many-types.csv",
            &format!("W10_register,{n},{peak}"),
        );
    }
    group.finish();
}

fn send(c: &mut Criterion, ops: &[Ops], peers: &[(&str, Vec<MakePeer>)]) {
    let mut group = c.benchmark_group("W10_send");
    group.throughput(Throughput::Elements(1));
    row(&mut group, "single".into(), Live::new(&ops[..1]));
    row(
        &mut group,
        format!("round_robin_{ROUND_ROBIN}"),
        Live::new(&ops[..ROUND_ROBIN]),
    );
    row(
        &mut group,
        format!("round_robin_{ROUND_ROBIN}_buses"),
        Live::one_type_on_buses(ops[0], ROUND_ROBIN),
    );
    for (peer, makers) in peers {
        row(
            &mut group,
            format!("{peer}_single"),
            PeerLive::new(&makers[..1]),
        );
        row(
            &mut group,
            format!("{peer}_round_robin_{ROUND_ROBIN}"),
            PeerLive::new(&makers[..ROUND_ROBIN]),
        );
    }
    group.finish();
}

/// One `W10_send` row: `live`'s sends, timed; what it holds is dropped before the next row.
fn row(group: &mut BenchmarkGroup<'_, WallTime>, id: String, mut live: impl Rounds) {
    group.bench_function(BenchmarkId::from_parameter(id), |b| {
        b.iter_custom(|iters| time_sends(&mut live, iters))
    });
}

/// Criterion's median for `group/id` from this run, in ns.
fn median(group: &str, id: &str) -> Option<f64> {
    let path = common::criterion_dir().join(format!("{group}/{id}/new/estimates.json"));
    let text = std::fs::read_to_string(path).ok()?;
    let rest = &text[text.find("\"median\"")?..];
    let rest = &rest[rest.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = rest.find([',', '}'])?;
    rest[..end].trim().parse().ok()
}

fn ratios(ops: &[Ops], peers: &[(&str, Vec<MakePeer>)]) {
    let show = |what: &str, a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => {
            let verdict = if a <= 2.0 * b { "met" } else { "NOT met" };
            println!(
                "{what}: {a:.1} ns vs {b:.1} ns = {:.2}x (target <= 2x: {verdict})",
                a / b
            )
        }
        _ => println!("{what}: no estimates (run without --test)"),
    };
    let last = [4096, 1024, 256, 0]
        .into_iter()
        .find(|&n| n <= ops.len())
        .unwrap_or(0);
    show(
        &format!("W10 register the {}-th type vs the first", last + 1),
        median("W10_register", &last.to_string()),
        median("W10_register", "0"),
    );
    show(
        &format!("W10 send round robin over {ROUND_ROBIN} types vs one type"),
        median("W10_send", &format!("round_robin_{ROUND_ROBIN}")),
        median("W10_send", "single"),
    );
    // Not a target: as many topics as the round robin over types, one copy of the send code.
    // What this costs over `single` is the topics' data; the rest of the round robin over
    // types is each type's own copy of the send code.
    if let (Some(buses), Some(single)) = (
        median("W10_send", &format!("round_robin_{ROUND_ROBIN}_buses")),
        median("W10_send", "single"),
    ) {
        println!(
            "W10 send round robin over {ROUND_ROBIN} buses, one type (data only): {buses:.1} ns = {:.2}x one type",
            buses / single
        );
    }
    // Not targets: the peers' own round robin against their own single type.
    for (peer, _) in peers {
        if let (Some(many), Some(single)) = (
            median("W10_send", &format!("{peer}_round_robin_{ROUND_ROBIN}")),
            median("W10_send", &format!("{peer}_single")),
        ) {
            println!(
                "W10 {peer}: send round robin over {ROUND_ROBIN} types {many:.1} ns vs one type {single:.1} ns = {:.2}x",
                many / single
            );
        }
    }
}

/// The peers' channel makers, for the types sent to.
fn peers() -> Vec<(&'static str, Vec<MakePeer>)> {
    let mut collect = PeerCollect(Vec::new(), Vec::new());
    each_type::<Types1024, _>(&mut collect);
    vec![
        ("tokio_broadcast", collect.0),
        ("crossbeam_channel", collect.1),
    ]
}

fn main() {
    let ops = all_types();
    let peers = peers();
    let mut c = Criterion::default().configure_from_args();
    register(&mut c, &ops);
    send(&mut c, &ops, &peers);
    c.final_summary();
    ratios(&ops, &peers);
}
