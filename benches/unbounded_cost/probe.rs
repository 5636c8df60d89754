//! Instruction-count probe of the unbounded path, today's tidings against the commit before
//! bounded topics, for `valgrind --tool=callgrind` (load-independent, where the criterion run
//! of `bench.rs` needs a quiet machine). An example of the crate `scripts/unbounded_cost.sh`
//! generates; `scripts/unbounded_cost.sh --callgrind` runs it.
//!
//! `unbounded_cost_probe VERSION MODE N`, VERSION `now` or `baseline`, single-threaded, `u64`
//! events in runs of 256:
//! - `send_recv`: one subscription; each run sent, then read by `try_recv` (W1's path);
//! - `send_recv4`: four subscriptions, each reading every run by `try_recv` (W2's);
//! - `recv_many`: one subscription reading each run by `try_recv_many` (the `_many` rows');
//! - `no_subscriber`: sends of a type nobody subscribes to while another is subscribed (W5's).
//!
//! Run for N = 0 and for N events, the difference over N is the cost per event.

use std::hint::black_box;

const RUN: u64 = 256;

macro_rules! probe {
    ($krate:ident, $mode:expr, $n:expr) => {{
        let (mode, n): (&str, u64) = ($mode, $n);
        let bus = ::$krate::Bus::new();
        match mode {
            "send_recv" | "send_recv4" | "recv_many" => {
                let subs = if mode == "send_recv4" { 4 } else { 1 };
                let mut subs: Vec<_> = (0..subs).map(|_| bus.subscribe::<u64>()).collect();
                let mut buf = Vec::with_capacity(RUN as usize);
                for chunk in 0..n / RUN {
                    for i in 0..RUN {
                        bus.send(black_box(chunk * RUN + i)).unwrap();
                    }
                    for sub in &mut subs {
                        if mode == "recv_many" {
                            let got = sub.try_recv_many(&mut buf, RUN as usize).unwrap();
                            assert_eq!(got, RUN as usize);
                            black_box(&buf);
                            buf.clear();
                        } else {
                            for _ in 0..RUN {
                                black_box(sub.try_recv().unwrap());
                            }
                        }
                    }
                }
            }
            "no_subscriber" => {
                let _other = bus.subscribe::<u32>();
                for i in 0..n {
                    assert!(bus.send(black_box(i)).is_err());
                }
            }
            other => {
                panic!("unknown mode {other}: send_recv, send_recv4, recv_many or no_subscriber")
            }
        }
    }};
}

fn main() {
    let mut args = std::env::args().skip(1);
    let version = args.next().expect("VERSION: now or baseline");
    let mode = args.next().expect("MODE");
    let n: u64 = args.next().map_or(1_000_000, |s| s.parse().expect("N"));
    match version.as_str() {
        "now" => probe!(tidings, &mode, n),
        "baseline" => probe!(tidings_baseline, &mode, n),
        other => panic!("unknown version {other}: now or baseline"),
    }
}
