//! Cost probe for W10's round-robin send (`benches/many_types.rs`), for valgrind's callgrind
//! with its cache simulator (wall-clock timings are noisy on a shared machine; instruction and
//! simulated cache-miss counts are not).
//!
//! `cargo run --release --example many_types_probe -- MODE BATCHES` does what W10_send times:
//! with one subscription on each of `K` distinct event types (`Ev<P>` of
//! tests/support/many_types.rs, zero-sized, sent through `bus.send(E::default())` behind a
//! function pointer per type), each batch drops and remakes every subscription, sends once to
//! every type (not counted: this fills the thread's send cache), then sends `ROUNDS` rounds
//! (counted), where a round is one send to one type (`single`) or one to each of `K` types in
//! turn (`round_robin`). Only the counted rounds run inside `counted_rounds`, which
//! `scripts/many_types_cost.sh` passes to callgrind's `--toggle-collect`, so the counts are
//! those of the sends alone; the cache simulator sees everything, as the hardware would.
//!
//! `K` is 256 (about 1 min of release build per 100 types on a loaded 2-core machine before
//! the send path was split, about 1 min for all 256 after; `--cfg tidings_many_types_probe_1024`
//! in RUSTFLAGS makes it 1024, W10's count). A measuring tool, so it sits with the benches; an example target (see
//! Cargo.toml), so the script finds it in `target/release/examples/` and `cargo bench` leaves
//! it alone.
//!
//! The modes `register_empty` and `register_live` do what W10_register times instead: each
//! counted round subscribes to a fresh type and drops the subscription (registering the type
//! and removing it again), on a bus with no other type live, or with one subscription on each of
//! `L` other types. `L` is `K`, or 4096 with `--cfg tidings_many_types_probe_4096` (W10's
//! largest `n`): then 4096 more types are made, subscribed to only (no send is compiled for
//! them, which keeps the build to about its subscribe paths).

#[path = "../../tests/support/many_types.rs"]
mod many_types;
#[path = "../common/type_ops.rs"]
mod type_ops;

use std::any::Any;
use std::hint::black_box;

#[cfg(not(tidings_many_types_probe_1024))]
use many_types::Types256 as Types;
#[cfg(tidings_many_types_probe_1024)]
use many_types::Types1024 as Types;
#[cfg(tidings_many_types_probe_4096)]
use many_types::{Tree, Types1024};
use many_types::{Visit, each_type};
use tidings::Bus;
use type_ops::{Ops, send_one, subscribe_one};

/// Counted rounds per batch, as in W10 (its `ROUNDS`): queues stay short, so no send allocates
/// a segment, in either mode.
const ROUNDS: usize = 16;

struct Collect(Vec<Ops>);

/// Subscribes to one type (`subscribe_one`).
type Subscribe = fn(&Bus) -> Box<dyn Any>;

/// A subscribe function per type, for types that are only kept live (`register_live`).
#[cfg_attr(not(tidings_many_types_probe_4096), allow(dead_code))]
struct CollectSubscribes(Vec<Subscribe>);

impl Visit for CollectSubscribes {
    #[inline(never)]
    fn visit<E: Default + Clone + Send + Sync + 'static>(&mut self) {
        self.0.push(subscribe_one::<E>);
    }
}

/// The types `register_live` keeps live: the `K` types of `all`, or 4096 others with
/// `--cfg tidings_many_types_probe_4096`.
#[cfg_attr(tidings_many_types_probe_4096, allow(unused_variables))]
fn live_types(all: &[Ops]) -> Vec<Subscribe> {
    #[cfg(tidings_many_types_probe_4096)]
    {
        // Four trees of 1024 under roots of their own: distinct from `Types` and each other.
        struct A;
        struct B;
        struct C;
        struct D;
        let mut live = CollectSubscribes(Vec::new());
        Types1024::each::<A, _>(&mut live);
        Types1024::each::<B, _>(&mut live);
        Types1024::each::<C, _>(&mut live);
        Types1024::each::<D, _>(&mut live);
        live.0
    }
    #[cfg(not(tidings_many_types_probe_4096))]
    all.iter().map(|o| o.subscribe).collect()
}

/// The fresh type of the register modes: never live otherwise.
#[derive(Clone)]
struct Fresh;

impl Visit for Collect {
    #[inline(never)]
    fn visit<E: Default + Clone + Send + Sync + 'static>(&mut self) {
        self.0.push(Ops {
            subscribe: subscribe_one::<E>,
            send: send_one::<E>,
        });
    }
}

/// One send to each of `ops`, in order.
#[inline(always)]
fn round(bus: &Bus, ops: &[Ops]) {
    for o in ops {
        assert!((o.send)(bus), "a live type was not routed");
    }
}

/// The counted part: `ROUNDS` rounds. Its name is what the script gives `--toggle-collect`.
#[inline(never)]
fn counted_rounds(bus: &Bus, ops: &[Ops]) {
    for _ in 0..ROUNDS {
        round(bus, black_box(ops));
    }
}

/// The counted part of the register modes: `ROUNDS` registrations and removals of `Fresh`
/// (subscribe, then drop the subscription). Its name matches the script's `--toggle-collect`.
#[inline(never)]
fn counted_rounds_register(bus: &Bus) {
    for _ in 0..ROUNDS {
        drop(black_box(subscribe_one::<Fresh>(black_box(bus))));
    }
}

/// `register_empty` / `register_live`: `batches` batches of counted registrations, with no
/// other type live or with every type of `live_types` live.
fn register(mode: &str, batches: usize, all: &[Ops]) {
    let bus = Bus::new();
    let subs: Vec<Box<dyn Any>> = match mode {
        "register_empty" => Vec::new(),
        _ => live_types(all).iter().map(|s| s(&bus)).collect(),
    };
    // Once uncounted: the first registration of `Fresh` makes what later ones reuse (this
    // thread's epoch handle, the shard's first copy).
    drop(subscribe_one::<Fresh>(&bus));
    for _ in 0..batches {
        counted_rounds_register(&bus);
    }
    assert_eq!(bus.stats().topics.len(), subs.len(), "only the live types");
    println!("live {}", subs.len());
    // Registrations counted, for the script to divide by.
    println!("sends {}", batches * ROUNDS);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "round_robin".into());
    let batches: usize = args.next().map_or(64, |s| s.parse().expect("BATCHES"));
    let mut all = Collect(Vec::new());
    each_type::<Types, _>(&mut all);
    if mode.starts_with("register_") {
        assert!(
            matches!(mode.as_str(), "register_empty" | "register_live"),
            "unknown mode {mode}"
        );
        return register(&mode, batches, &all.0);
    }
    let ops = match mode.as_str() {
        "single" => &all.0[..1],
        "round_robin" => &all.0[..],
        other => {
            panic!("unknown mode {other} (single, round_robin, register_empty or register_live)")
        }
    };
    let bus = Bus::new();
    let mut subs: Vec<Box<dyn Any>> = Vec::new();
    for _ in 0..batches {
        subs.clear();
        subs.extend(ops.iter().map(|o| (o.subscribe)(&bus)));
        round(&bus, ops);
        counted_rounds(&bus, ops);
    }
    // Sends counted, for the script to divide by.
    println!("sends {}", batches * ROUNDS * ops.len());
}
