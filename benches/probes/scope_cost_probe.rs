//! Instruction-count probe for the scope layer's overhead, for `valgrind --tool=callgrind`
//! (wall-clock timings are noisy on a shared machine; instruction counts are not).
//!
//! `cargo run --release --example scope_cost_probe -- bus|scope N` sends N `u64` events and
//! receives them, in batches of 256, through the bare bus or through `ctx` in a scope
//! (`scope`: the root scope; `nested`: a scope two levels below the root, whose events carry
//! their origin's path by `Arc`).
//! `scripts/scope_overhead.sh` runs it for N = 0 and N = 1_000_000 and prints the cost per event.
//! A measuring tool, so it sits with the benches; an example target (see Cargo.toml), so the
//! script finds it in `target/release/examples/` and `cargo bench` leaves it alone.

use std::hint::black_box;

use futures::executor::block_on;
use tidings::{Bus, Scope, ctx};

fn main() {
    let mut args = std::env::args().skip(1);
    let system = args.next().unwrap_or_else(|| "scope".into());
    let n: u64 = args.next().map_or(1_000_000, |s| s.parse().expect("N"));
    match system.as_str() {
        "bus" => {
            let bus = Bus::new();
            let mut sub = bus.subscribe::<u64>();
            for chunk in 0..n / 256 {
                for i in 0..256 {
                    bus.send(black_box(chunk * 256 + i)).unwrap();
                }
                for _ in 0..256 {
                    black_box(sub.try_recv().unwrap());
                }
            }
        }
        "scope" => block_on(Scope::new("probe").run(scoped(n))).unwrap(),
        "nested" => block_on(Scope::new("probe").run(async move {
            let inner = Scope::new("grandchild").run(scoped(n));
            Scope::new("child").run(inner).await.unwrap().unwrap();
        }))
        .unwrap(),
        other => panic!("unknown system {other}: use bus, scope or nested"),
    }
}

/// Sends and receives `n` events through `ctx` in the current scope.
async fn scoped(n: u64) {
    let mut sub = ctx::subscribe::<u64>().unwrap();
    for chunk in 0..n / 256 {
        for i in 0..256 {
            ctx::send(black_box(chunk * 256 + i)).unwrap();
        }
        for _ in 0..256 {
            black_box(sub.try_recv().unwrap());
        }
    }
}
