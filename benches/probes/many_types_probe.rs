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
use many_types::{Visit, each_type};
use tidings::Bus;
use type_ops::{Ops, send_one, subscribe_one};

/// Counted rounds per batch, as in W10 (its `ROUNDS`): queues stay short, so no send allocates
/// a segment, in either mode.
const ROUNDS: usize = 16;

struct Collect(Vec<Ops>);

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

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "round_robin".into());
    let batches: usize = args.next().map_or(64, |s| s.parse().expect("BATCHES"));
    let mut all = Collect(Vec::new());
    each_type::<Types, _>(&mut all);
    let ops = match mode.as_str() {
        "single" => &all.0[..1],
        "round_robin" => &all.0[..],
        other => panic!("unknown mode {other} (single or round_robin)"),
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
