//! Instruction-count probe for batch reads and sends, for `valgrind --tool=callgrind`
//! (wall-clock timings are noisy on a shared machine; instruction counts are not).
//!
//! `cargo run --release --example batch_cost_probe -- MODE N` sends N `u64` events in runs of
//! 256 and receives each run, single-threaded, by one of:
//! `recv` (`recv().await`, one poll per event), `stream` (`StreamExt::next`), `try_recv`,
//! `recv_many` (`recv_many(&mut buf, 256).await`), `try_recv_many`, `recv_many_ref`
//! (`try_recv_many_ref`, by reference); or sends each run with `send_all` and receives it with
//! `try_recv_many` (`send_all`); or sends only (`send_only`), the baseline for receiving.
//! `scripts/batch_cost.sh` runs each for N = 0 and N = 1_000_000 and prints the cost per event.
//! A measuring tool, so it sits with the benches; an example target (see Cargo.toml), so the
//! script finds it in `target/release/examples/` and `cargo bench` leaves it alone.

use std::hint::black_box;

use futures::StreamExt;
use futures::executor::block_on;
use tidings::Bus;

const RUN: u64 = 256;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "recv_many".into());
    let n: u64 = args.next().map_or(1_000_000, |s| s.parse().expect("N"));
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u64>();
    let mut buf = Vec::with_capacity(RUN as usize);
    block_on(async {
        for chunk in 0..n / RUN {
            if mode == "send_all" {
                bus.send_all((0..RUN).map(|i| black_box(chunk * RUN + i)))
                    .unwrap();
            } else {
                for i in 0..RUN {
                    bus.send(black_box(chunk * RUN + i)).unwrap();
                }
            }
            match mode.as_str() {
                "recv" => {
                    for _ in 0..RUN {
                        black_box(sub.recv().await.unwrap());
                    }
                }
                "stream" => {
                    for _ in 0..RUN {
                        black_box(sub.next().await.unwrap());
                    }
                }
                "try_recv" => {
                    for _ in 0..RUN {
                        black_box(sub.try_recv().unwrap());
                    }
                }
                "recv_many" => {
                    let mut got = 0;
                    while got < RUN as usize {
                        got += sub.recv_many(&mut buf, RUN as usize).await;
                    }
                    black_box(&buf);
                    buf.clear();
                }
                "try_recv_many" | "send_all" => {
                    let mut got = 0;
                    while got < RUN as usize {
                        got += sub.try_recv_many(&mut buf, RUN as usize).unwrap();
                    }
                    black_box(&buf);
                    buf.clear();
                }
                "recv_many_ref" => {
                    let mut got = 0;
                    while got < RUN {
                        for ev in sub.try_recv_many_ref(RUN as usize).unwrap() {
                            black_box(ev);
                            got += 1;
                        }
                    }
                }
                // Sends only, for the cost of receiving by difference (the subscription keeps
                // its backlog; dropping it at the end frees it).
                "send_only" => {}
                other => panic!("unknown mode {other}"),
            }
        }
    });
}
