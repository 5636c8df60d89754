//! The W1–W5 workloads of tidings, written once for every bench that runs them: `fanout.rs`
//! (W1–W4 beside the peers), `no_subscriber.rs` (W5) and `unbounded_cost/bench.rs` (today's
//! tidings against the commit before bounded topics, `scripts/unbounded_cost.sh`).
//!
//! `tidings_runs!(module, crate)` writes the tidings runs against `crate` into `module`, so
//! the one source measures whichever build of tidings it is given; `unbounded_cost` expands it
//! twice (`tidings` and `tidings_baseline`), the others once. Only the API that every measured
//! version has is used: `Bus::new`, `subscribe`, `send`, `recv`, `recv_many`, `recv_blocking`,
//! `recv_many_blocking`. The macro names this module as `crate::common::workloads`: every bench
//! has `mod common;` at its root.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use crate::common::{CpuMeter, process_cpu};

/// Events sent per iteration, over all senders.
pub const EVENTS: u64 = 10_000;

/// The `limit` of the `recv_many` rows: the events one call may take.
pub const MANY: usize = 256;

/// One of W1–W4: how many senders send `EVENTS` (split between them) to how many subscribers.
#[derive(Clone, Copy)]
pub struct Shape {
    pub group: &'static str,
    pub senders: usize,
    pub subs: usize,
}

impl Shape {
    pub fn per_sender(self) -> u64 {
        EVENTS / self.senders as u64
    }
}

pub const SHAPES: [Shape; 4] = [
    Shape {
        group: "W1_1to1",
        senders: 1,
        subs: 1,
    },
    Shape {
        group: "W2_1to4",
        senders: 1,
        subs: 4,
    },
    Shape {
        group: "W3_1to16",
        senders: 1,
        subs: 16,
    },
    Shape {
        group: "W4_4to4",
        senders: 4,
        subs: 4,
    },
];

/// Wall and CPU time of one timed run.
pub struct Sample {
    pub wall: Duration,
    pub cpu: Duration,
    /// The wall time over which `cpu` was read (may be longer than `wall` for threads, whose
    /// clocks start after a barrier); busy cores are `cpu / cpu_wall`.
    pub cpu_wall: Duration,
}

/// One complete run of a system on a shape: set up untimed, then timed.
pub type Run = fn(&Runtime, Shape) -> Sample;

/// Criterion's `iter_custom` body: `iters` complete runs, their wall time summed; each run's
/// CPU time also goes to `meter`.
pub fn time_runs(
    rt: &Runtime,
    shape: Shape,
    run: Run,
    iters: u64,
    meter: &mut CpuMeter,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let sample = run(rt, shape);
        meter.add(sample.cpu_wall, sample.cpu);
        total += sample.wall;
    }
    total
}

/// The CPUs whose threads a run pins, round-robin by the thread's place (senders first,
/// then readers; the runtime's workers likewise, in `unbounded_cost`); unset (the default):
/// no pinning. Only `unbounded_cost/bench.rs` sets it, so that both versions it compares get
/// the same placement in every run (`fanout.rs` measures unpinned, as users run).
pub static PIN: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();

/// Pins the calling thread to the `k`-th CPU of [`PIN`] (round-robin), if it is set.
pub fn pin(k: usize) {
    if let Some(cpus) = PIN.get().filter(|cpus| !cpus.is_empty()) {
        crate::common::pin_to(cpus[k % cpus.len()]);
    }
}

/// Starts the clocks.
pub fn start() -> (Instant, Duration) {
    (Instant::now(), process_cpu())
}

pub fn stop((t0, c0): (Instant, Duration)) -> Sample {
    let wall = t0.elapsed();
    Sample {
        wall,
        cpu: process_cpu() - c0,
        cpu_wall: wall,
    }
}

/// Starts the clocks, spawns sender `i` for every `i < s.senders` as a task, drops `handle`
/// (the last sender handle then ends the readers), and waits for senders and `readers`.
pub async fn timed_tasks<H, F>(
    s: Shape,
    readers: Vec<tokio::task::JoinHandle<()>>,
    handle: H,
    sender: impl Fn(&H, usize) -> F,
) -> Sample
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let clock = start();
    let senders: Vec<_> = (0..s.senders)
        .map(|i| tokio::spawn(sender(&handle, i)))
        .collect();
    drop(handle);
    for h in senders.into_iter().chain(readers) {
        h.await.expect("task");
    }
    stop(clock)
}

/// Runs `readers` and `senders` on their own threads, all released at once by a barrier, and
/// times from the first of them starting work until the last finishing. (Each thread reads
/// the clock itself: on 2 cores the releasing thread may be descheduled for a while.)
pub fn on_threads<R, S, Ret>(readers: Vec<R>, senders: Vec<S>) -> (Sample, Vec<Ret>)
where
    R: FnOnce() + Send + 'static,
    S: FnOnce() -> Ret + Send + 'static,
    Ret: Send + 'static,
{
    let gate = Arc::new(Barrier::new(readers.len() + senders.len() + 1));
    let first_reader = senders.len();
    let reader_handles: Vec<_> = readers
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let gate = gate.clone();
            thread::spawn(move || {
                pin(first_reader + i);
                gate.wait();
                let begin = Instant::now();
                r();
                (begin, Instant::now())
            })
        })
        .collect();
    let sender_handles: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let gate = gate.clone();
            thread::spawn(move || {
                pin(i);
                gate.wait();
                let begin = Instant::now();
                let ret = s();
                (begin, Instant::now(), ret)
            })
        })
        .collect();
    // Read before the release, so a descheduled main thread cannot miss CPU time.
    let c0 = process_cpu();
    let cpu_t0 = Instant::now();
    gate.wait();
    let mut spans = Vec::new();
    let mut rets = Vec::new();
    for h in sender_handles {
        let (begin, end, ret) = h.join().expect("sender thread");
        spans.push((begin, end));
        rets.push(ret);
    }
    for h in reader_handles {
        spans.push(h.join().expect("reader thread"));
    }
    let cpu = process_cpu() - c0;
    let cpu_wall = cpu_t0.elapsed();
    let begin = spans.iter().map(|s| s.0).min().expect("threads");
    let end = spans.iter().map(|s| s.1).max().expect("threads");
    (
        Sample {
            wall: end - begin,
            cpu,
            cpu_wall,
        },
        rets,
    )
}

/// Writes tidings' W1–W5 runs against the crate `$krate` into a module `$module`:
/// `tasks`, `many_tasks`, `threads`, `many_threads` (W1–W4, `Run`s: reading one event per
/// call, or every ready event per call) and `no_subscriber` (W5, a criterion routine).
#[allow(unused_macros)]
macro_rules! tidings_runs {
    ($module:ident, $krate:ident) => {
        pub mod $module {
            use std::hint::black_box;

            use tokio::runtime::Runtime;

            use crate::common::workloads::{MANY, Sample, Shape, on_threads, timed_tasks};
            use crate::common::{Check, Ev};

            /// W1–W4 on tasks, one event per `recv().await`.
            pub fn tasks(rt: &Runtime, s: Shape) -> Sample {
                on_tasks(rt, s, false)
            }

            /// W1–W4 on tasks, every ready event (up to `MANY`) per `recv_many().await`.
            pub fn many_tasks(rt: &Runtime, s: Shape) -> Sample {
                on_tasks(rt, s, true)
            }

            /// W1–W4 on threads, one event per `recv_blocking()`.
            pub fn threads(rt: &Runtime, s: Shape) -> Sample {
                on_threads_run(rt, s, false)
            }

            /// W1–W4 on threads, every ready event (up to `MANY`) per `recv_many_blocking()`.
            pub fn many_threads(rt: &Runtime, s: Shape) -> Sample {
                on_threads_run(rt, s, true)
            }

            fn on_tasks(rt: &Runtime, s: Shape, many: bool) -> Sample {
                let per = s.per_sender();
                rt.block_on(async move {
                    let bus = ::$krate::Bus::new();
                    let readers: Vec<_> = (0..s.subs)
                        .map(|_| {
                            let mut sub = bus.subscribe::<Ev>();
                            tokio::spawn(async move {
                                let mut check = Check::new(s.senders);
                                if many {
                                    let mut buf = Vec::with_capacity(MANY);
                                    while sub.recv_many(&mut buf, MANY).await > 0 {
                                        for ev in buf.drain(..) {
                                            check.see(&ev);
                                        }
                                    }
                                } else {
                                    while let Some(ev) = sub.recv().await {
                                        check.see(&ev);
                                    }
                                }
                                check.finish(per);
                            })
                        })
                        .collect();
                    // The last sender's handle closes the bus, which ends the readers after
                    // they drain.
                    timed_tasks(s, readers, bus, |bus, i| {
                        let bus = bus.clone();
                        async move {
                            for seq in 0..per {
                                bus.send(Ev::new(i, seq)).expect("subscribed");
                            }
                        }
                    })
                    .await
                })
            }

            fn on_threads_run(_: &Runtime, s: Shape, many: bool) -> Sample {
                let per = s.per_sender();
                let bus = ::$krate::Bus::new();
                let readers = (0..s.subs)
                    .map(|_| {
                        let mut sub = bus.subscribe::<Ev>();
                        move || {
                            let mut check = Check::new(s.senders);
                            if many {
                                let mut buf = Vec::with_capacity(MANY);
                                while sub.recv_many_blocking(&mut buf, MANY) > 0 {
                                    for ev in buf.drain(..) {
                                        check.see(&ev);
                                    }
                                }
                            } else {
                                while let Some(ev) = sub.recv_blocking() {
                                    check.see(&ev);
                                }
                            }
                            check.finish(per);
                        }
                    })
                    .collect();
                let senders = (0..s.senders)
                    .map(|i| {
                        let bus = bus.clone();
                        move || {
                            for seq in 0..per {
                                bus.send(Ev::new(i, seq)).expect("subscribed");
                            }
                        }
                    })
                    .collect();
                // The sender threads hold the last handles: the last to finish closes the bus.
                drop(bus);
                on_threads(readers, senders).0
            }

            /// W5: a criterion routine sending an event of a type nobody subscribes to, while
            /// another type is subscribed (the bus is in use, just not for `Ev`).
            pub fn no_subscriber() -> impl FnMut(&mut criterion::Bencher<'_>) {
                let mut send = no_subscriber_send();
                move |b| b.iter(&mut send)
            }

            /// W5's operation, one send per call, on a bus of its own.
            pub fn no_subscriber_send() -> impl FnMut() -> bool {
                let bus = ::$krate::Bus::new();
                let other = bus.subscribe::<u64>();
                let ev = Ev::new(0, 1);
                move || {
                    let _subscribed = &other;
                    black_box(bus.send(black_box(ev.clone())).is_err())
                }
            }
        }
    };
}

#[allow(unused_imports)]
pub(crate) use tidings_runs;
