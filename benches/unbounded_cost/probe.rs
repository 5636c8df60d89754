//! Instruction-count probe of the unbounded path, today's tidings against the commit before
//! bounded topics, for `valgrind --tool=callgrind` (load-independent, where the timed run of
//! `bench.rs` needs a quiet machine). An example of the crate `scripts/unbounded_cost.sh`
//! generates; `scripts/unbounded_cost.sh --callgrind` runs it.
//!
//! `unbounded_cost_probe VERSION MODE N`, VERSION `now` or `baseline`, single-threaded, `u64`
//! events sent in runs of 256, each run then read (except by `send`) by one subscription (four
//! for `try_recv4`):
//! - `send`: nobody reads; the cost of `send` alone (segment allocation included, one per 64);
//! - `try_recv`: one `try_recv` per event (what `recv_blocking` and `poll_recv` do when an
//!   event is ready);
//! - `try_recv4`: four subscriptions, each reading every event by `try_recv` (W2's shape);
//! - `poll_recv`: one `poll_recv` per event (`recv().await` and `Stream::poll_next`: W1–W4's
//!   `tidings_tasks` rows);
//! - `recv_blocking`: one `recv_blocking` per event, every one ready (`tidings_threads`);
//! - `try_recv_many`, `poll_recv_many`, `recv_many_blocking`: the run in one call (the
//!   `_many` rows);
//! - `no_subscriber`: sends of a type nobody subscribes to while another is subscribed (W5).
//!
//! Run for N = 0 and for N events, the difference over N is the cost per event; a mode's cost
//! minus `send`'s is the read's.

use std::hint::black_box;
use std::task::{Context, Poll, Waker};

const RUN: u64 = 256;

/// Every mode, in the order the script's table lists them.
pub const MODES: [&str; 9] = [
    "send",
    "try_recv",
    "try_recv4",
    "poll_recv",
    "recv_blocking",
    "try_recv_many",
    "poll_recv_many",
    "recv_many_blocking",
    "no_subscriber",
];

macro_rules! probe {
    ($krate:ident, $mode:expr, $n:expr) => {{
        let (mode, n): (&str, u64) = ($mode, $n);
        let bus = ::$krate::Bus::new();
        let mut cx = Context::from_waker(Waker::noop());
        if mode == "no_subscriber" {
            let _other = bus.subscribe::<u32>();
            for i in 0..n {
                assert!(bus.send(black_box(i)).is_err());
            }
            return;
        }
        assert!(MODES.contains(&mode), "unknown mode {mode}: one of {MODES:?}");
        let subs = if mode == "try_recv4" { 4 } else { 1 };
        let mut subs: Vec<_> = (0..subs).map(|_| bus.subscribe::<u64>()).collect();
        let mut buf = Vec::with_capacity(RUN as usize);
        for chunk in 0..n / RUN {
            for i in 0..RUN {
                bus.send(black_box(chunk * RUN + i)).unwrap();
            }
            for sub in &mut subs {
                match mode {
                    "send" => {}
                    "try_recv" | "try_recv4" => {
                        for _ in 0..RUN {
                            black_box(sub.try_recv().unwrap());
                        }
                    }
                    "poll_recv" => {
                        for _ in 0..RUN {
                            let Poll::Ready(Some(e)) = sub.poll_recv(&mut cx) else {
                                panic!("an event is ready");
                            };
                            black_box(e);
                        }
                    }
                    "recv_blocking" => {
                        for _ in 0..RUN {
                            black_box(sub.recv_blocking().unwrap());
                        }
                    }
                    _ => {
                        let got = match mode {
                            "try_recv_many" => sub.try_recv_many(&mut buf, RUN as usize).unwrap(),
                            "poll_recv_many" => match sub.poll_recv_many(&mut cx, &mut buf, RUN as usize) {
                                Poll::Ready(got) => got,
                                Poll::Pending => panic!("events are ready"),
                            },
                            _ => sub.recv_many_blocking(&mut buf, RUN as usize),
                        };
                        assert_eq!(got, RUN as usize);
                        black_box(&buf);
                        buf.clear();
                    }
                }
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
