//! What bounded topics cost the unbounded path (issue 14 point 4): W1–W5 on today's tidings
//! (`now`) and on tidings as it was just before bounded topics landed (`baseline`, the crate
//! `tidings_baseline`), interleaved in one run, then the ratio table and a verdict.
//!
//! Not a target of the tidings package: `scripts/unbounded_cost.sh` exports the baseline
//! commit into `target/unbounded-baseline/`, renames its package, generates the crate
//! `target/unbounded-cost/` that depends on both and names this file as its bench, and runs it.
//! The runs are `common::workloads`' (the very code `fanout.rs` and `no_subscriber.rs` time),
//! expanded once per crate.
//!
//! # Method
//!
//! The question is a ratio of two versions' times, to within a few percent, on a 2-core machine
//! whose run-to-run variation is larger than that: measured one after the other (criterion's
//! way, each benchmark's samples in one stretch of seconds), the same code twice differed by
//! 0.86x to 1.57x in one run, because what varies is not the sampling noise criterion's
//! intervals cover but the stretch (where the scheduler put the threads, a neighbour's load,
//! heat). So each row (a workload and a way of reading) is measured as a paired experiment:
//!
//! - **Three arms**: `now`, `baseline`, and `now_again`, a second instance of `now` measured
//!   exactly like the others: the control. Its ratio to `now` is what the method reports when
//!   nothing differs, in the same run, so a verdict is only given when the control says the
//!   run could tell.
//! - **Interleaved rounds**: `ROUNDS` rounds (30); in each, every arm runs one block, in an
//!   order that cycles through all six orders of the three arms, so every arm runs first,
//!   second and third equally often. Drift slower than a round (some 0.6 s) falls on the
//!   three arms alike, and each round gives a ratio of its own: `now/baseline` and the
//!   control `now_again/now`.
//! - **Blocks**: a block is `k` complete runs of the workload (W5: `k` sends), `k` sized in the
//!   warm-up so that a block takes about `BLOCK` (200 ms, some fifty scheduler ticks) and the
//!   same for all three arms; its time is the summed wall time of its runs (W1–W4: each run's
//!   timed part, as `fanout.rs` times it), over `k`.
//! - **Warm-up**: every arm runs for `WARM` (300 ms) before the first round (caches, the
//!   allocator, the runtime's threads), which also sizes `k`.
//! - **Pinning**: every thread of a run is pinned to a fixed CPU (senders first, then readers,
//!   round-robin over the CPUs the process may use; the tokio runtime's two workers one per
//!   CPU), so both versions get the same placement in every run instead of whatever the
//!   scheduler chose that time (`--no-pin` turns it off).
//! - **Statistics**: per row, the median of the rounds' ratios, with its distribution-free 95%
//!   confidence interval (order statistics of the binomial: for 30 rounds, the 10th and 21st
//!   smallest ratios). No assumption of normality or independence between rounds beyond the
//!   median's; a round disturbed by a neighbour moves one ratio, not the estimate.
//!
//! # Verdict
//!
//! Per row, with the threshold `T` (`$UNBOUNDED_COST_THRESHOLD` percent, 3 by default):
//! - **undecided (noise)** if the control's interval is not inside `[1 - T, 1 + T]`: the run
//!   could not tell `T` from nothing on this row;
//! - otherwise **same** if the `now/baseline` interval is inside `[1 - T, 1 + T]`, **faster** if
//!   it ends at or below `1 + T` and reaches below `1 - T`, **slower** if it starts above
//!   `1 + T`, and **undecided** if it straddles `1 + T`.
//!
//! What the control cannot see: `now_again` runs the very machine code of `now`, so a
//! difference that comes from where the linker put the two versions' code (alignment of a hot
//! loop, branch aliasing, which stack slots the harness's loop uses) rather than from their
//! source is measured as a real one. That matters only on the nanosecond-scale W5 row, where
//! it reached 1.94x once (see `sends`); `--callgrind` counts instructions, which layout does
//! not change. Nor can it see what differs from one process to
//! the next: the same two commits measured in two processes gave W2 tasks ratios up to 0.16
//! apart (README, issue 14 point 4), so a verdict near the threshold wants several processes
//! (the script's `--processes N`). Much of that is the machine, not the process: on the 2-core
//! KVM machine these runs use (AMD EPYC, 2026-12-03), the host moves the two vCPUs between
//! cores that share a cache and cores that do not, and a cache line's round trip between them
//! switches between some 55 and some 455 ns, holding each state for tens of seconds to
//! minutes; in the far state W2 runs take about twice as long, and the versions' ratio moves
//! too. So the link is measured before and after every round (`common::core_link_ns`, under a
//! millisecond, outside the blocks), written into the CSV, and a second table gives each
//! row's ratio over the rounds run wholly on a near link and wholly on a far one.
//!
//! Beside each task row, stderr gets tokio's counts per run for each arm: worker parks, and
//! with `RUSTFLAGS="--cfg tokio_unstable"` (best with its own `CARGO_TARGET_DIR`) task polls,
//! steals and schedules from outside the runtime: whether the versions differ in how the
//! runtime schedules them rather than in what a poll costs.
//!
//! The run passes when every row is same or faster: the unbounded path pays nothing above `T`
//! on any row, at 95% per row, with the control showing the method resolves `T` in that run.
//! The table (and every block's time, as CSV, for a second look) is written to
//! `$UNBOUNDED_COST_REPORT` (and `.csv` beside it).
//!
//! Arguments (after `--` of `cargo bench`, passed by the script): `--quick` (6 rounds of 20 ms
//! blocks: a check of the whole path, numbers meaningless), `--test` (one round of one run per
//! arm), `--rounds N`, `--block MS`, `--no-pin`, and a filter: only rows whose
//! `group/reading` contains it.

#[path = "../common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::workloads::{self, Run, SHAPES, Shape};
use tokio::runtime::Runtime;

common::workloads::tidings_runs!(now, tidings);
common::workloads::tidings_runs!(baseline, tidings_baseline);

/// The ways of reading W1–W4 measures, as `fanout.rs` names them: (name, now, baseline).
const SYSTEMS: [(&str, Run, Run); 4] = [
    ("tidings_tasks", now::tasks, baseline::tasks),
    ("tidings_many_tasks", now::many_tasks, baseline::many_tasks),
    ("tidings_threads", now::threads, baseline::threads),
    (
        "tidings_many_threads",
        now::many_threads,
        baseline::many_threads,
    ),
];

/// W5's group, as `no_subscriber.rs` names it.
const W5: &str = "W5_no_subscriber";

/// The arms of every row; index 1 is the baseline.
const ARMS: [&str; 3] = ["now", "baseline", "now_again"];

/// The six orders of the three arms: round `r` runs `ORDERS[r % 6]`, so over any multiple of
/// six rounds each arm holds each place equally often.
const ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [1, 2, 0],
    [2, 0, 1],
    [0, 2, 1],
    [2, 1, 0],
    [1, 0, 2],
];

struct Settings {
    rounds: usize,
    block: Duration,
    warm: Duration,
    pin: bool,
    test: bool,
    filter: Option<String>,
    /// The CPUs the process may use, read before any thread is pinned.
    cpus: Vec<usize>,
}

impl Settings {
    fn from_args() -> Self {
        let mut s = Settings {
            rounds: 30,
            block: Duration::from_millis(200),
            warm: Duration::from_millis(300),
            pin: true,
            test: false,
            filter: None,
            cpus: common::allowed_cpus(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |what: &str| -> u64 {
                args.next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{arg} takes {what}"))
            };
            match arg.as_str() {
                // Cargo passes `--bench` to every bench target.
                "--bench" => {}
                "--quick" => {
                    s.rounds = 6;
                    s.block = Duration::from_millis(20);
                    s.warm = Duration::from_millis(20);
                }
                "--test" => {
                    s.test = true;
                    s.rounds = 1;
                    s.block = Duration::ZERO;
                    s.warm = Duration::ZERO;
                }
                "--rounds" => s.rounds = value("a number").max(1) as usize,
                "--block" => s.block = Duration::from_millis(value("milliseconds")),
                "--no-pin" => s.pin = false,
                other if other.starts_with('-') => panic!("unknown argument {other}"),
                filter => s.filter = Some(filter.to_string()),
            }
        }
        s
    }
}

/// What one row measures, for each arm.
enum Work {
    /// W1–W4: complete runs of a shape.
    Runs {
        rt: Arc<Runtime>,
        shape: Shape,
        runs: [Run; 3],
    },
    /// W5: single sends, each arm on a bus of its own: a block of `k` sends, seconds per
    /// send (the loop monomorphic inside, see `sends`).
    Sends([Box<dyn FnMut(u64) -> f64>; 3]),
}

/// W5's block: `k` calls of `send`, timed as one. The rejections are counted and checked after
/// the clock stops. (Until 2026-12-03 each call's result went through a second `black_box`
/// here, on top of the workload's own: in the now arm's build the compiler gave both the same
/// stack slot, a store, a reload and a store again every send, which cost that arm about 1 ns
/// of its 2.5 and made W5 read 1.94x slower with the same library instructions; measured with
/// the count instead, now/baseline was 1.00 in three processes, and `--null` 1.00 where it
/// had read 0.84. benches/README.md, issue 14 point 4.)
fn sends(mut send: impl FnMut() -> bool + 'static) -> Box<dyn FnMut(u64) -> f64> {
    Box::new(move |k| {
        let t0 = Instant::now();
        let mut rejected = 0u64;
        for _ in 0..k {
            rejected += u64::from(send());
        }
        let t = t0.elapsed().as_secs_f64() / k as f64;
        assert_eq!(black_box(rejected), k, "W5: every send must be rejected");
        t
    })
}

impl Work {
    /// Runs one block of `k` units on `arm`; seconds per unit.
    fn block(&mut self, arm: usize, k: u64) -> f64 {
        match self {
            Work::Runs { rt, shape, runs } => {
                let before = counters(rt);
                let total: Duration = (0..k).map(|_| runs[arm](rt, *shape).wall).sum();
                let after = counters(rt);
                PARKS.with(|p| {
                    for (i, c) in p.borrow_mut()[arm].iter_mut().enumerate() {
                        *c += after[i] - before[i];
                    }
                });
                RUNS.with(|r| r.borrow_mut()[arm] += k);
                total.as_secs_f64() / k as f64
            }
            Work::Sends(blocks) => blocks[arm](k),
        }
    }

    /// Runs `arm` for at least `warm` (one unit at least), in growing blocks; the seconds per
    /// unit of the last block.
    fn warm_up(&mut self, arm: usize, warm: Duration) -> f64 {
        let start = Instant::now();
        let mut k = 1;
        loop {
            let per = self.block(arm, k);
            if start.elapsed() >= warm {
                return per;
            }
            if per * (k as f64) < warm.as_secs_f64() / 8.0 {
                k *= 2;
            }
        }
    }
}

thread_local! {
    /// Tokio worker parks during each arm's timed blocks, and the runs they hold (a diagnosis
    /// printed beside each task row: how often the runtime's workers went to sleep per run).
    static PARKS: std::cell::RefCell<[[u64; COUNTERS]; 3]> =
        const { std::cell::RefCell::new([[0; COUNTERS]; 3]) };
    static RUNS: std::cell::RefCell<[u64; 3]> = const { std::cell::RefCell::new([0; 3]) };
}

/// What `counters` counts.
const COUNTERS: usize = 4;
const COUNTER_NAMES: [&str; COUNTERS] = ["parks", "polls", "steals", "remote schedules"];

/// The runtime's counts so far, all workers together: worker parks, and with `--cfg
/// tokio_unstable` task polls, steals and schedules from outside a worker (0 without it).
fn counters(rt: &Runtime) -> [u64; COUNTERS] {
    let m = rt.metrics();
    let sum = |f: &dyn Fn(usize) -> u64| (0..m.num_workers()).map(f).sum::<u64>();
    let parks = sum(&|w| m.worker_park_count(w));
    #[cfg(tokio_unstable)]
    let rest = [
        sum(&|w| m.worker_poll_count(w)),
        sum(&|w| m.worker_steal_count(w)),
        m.remote_schedule_count(),
    ];
    #[cfg(not(tokio_unstable))]
    let rest = [0; 3];
    [parks, rest[0], rest[1], rest[2]]
}

/// One row's result: the arms' median seconds per unit, and the rounds' ratios.
struct Row {
    group: &'static str,
    reading: &'static str,
    k: u64,
    median: [f64; 3],
    ratio: Estimate,
    control: Estimate,
    seconds: f64,
    /// The link between the CPUs around every round: `links[r]` before round `r`, the last
    /// after the last round (`common::core_link_ns`; empty when it cannot be measured).
    links: Vec<f64>,
    /// `now/baseline` over the rounds run wholly on a near link, and wholly on a far one.
    by_link: [Option<(Estimate, usize)>; 2],
}

/// A round ran on a far link when the link measured before and after it were both longer than
/// this many ns (`$UNBOUNDED_COST_FAR_NS`, default 200), on a near one when both were at most
/// that. The bench machine's two states are some 55 and 455 ns (`common::core_link_ns`); on a
/// machine whose link is steady, every round falls on one side.
fn far_ns() -> f64 {
    std::env::var("UNBOUNDED_COST_FAR_NS").map_or(200.0, |v| {
        v.parse().expect("UNBOUNDED_COST_FAR_NS: nanoseconds")
    })
}

/// A median and its 95% interval.
#[derive(Clone, Copy)]
struct Estimate {
    point: f64,
    lo: f64,
    hi: f64,
}

impl std::fmt::Display for Estimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3} [{:.3}, {:.3}]", self.point, self.lo, self.hi)
    }
}

/// The median of `xs` and its distribution-free 95% confidence interval: the `j`-th smallest
/// and `j`-th largest values, `j` the largest rank with `P(Binomial(n, 1/2) < j) <= 2.5%` (the
/// whole range when there are too few values for any).
fn median_ci(xs: &[f64]) -> Estimate {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let point = if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    };
    let (mut j, mut cdf, mut choose) = (0, 0.0, 1.0);
    let total = 2f64.powi(n as i32);
    for i in 0..n {
        let p = choose / total;
        if cdf + p > 0.025 {
            break;
        }
        cdf += p;
        j = i + 1;
        choose = choose * (n - i) as f64 / (i + 1) as f64;
    }
    let j = j.max(1);
    Estimate {
        point,
        lo: xs[j - 1],
        hi: xs[n - j],
    }
}

fn measure(
    group: &'static str,
    reading: &'static str,
    mut work: Work,
    s: &Settings,
    csv: &mut String,
) -> Row {
    let started = Instant::now();
    let per: Vec<f64> = (0..3).map(|arm| work.warm_up(arm, s.warm)).collect();
    // Counted over the timed blocks only.
    PARKS.with(|p| *p.borrow_mut() = [[0; COUNTERS]; 3]);
    RUNS.with(|r| *r.borrow_mut() = [0; 3]);
    let unit = per.iter().copied().fold(f64::INFINITY, f64::min);
    let k = if s.test {
        1
    } else {
        ((s.block.as_secs_f64() / unit).ceil() as u64).max(1)
    };
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    // `$UNBOUNDED_COST_SPANS`: every timed block's arm and its start and end on the monotonic
    // clock, appended to that file, so that a profile taken with the same clock (`perf record
    // -k CLOCK_MONOTONIC`, the script's `--perf`) can be split by arm.
    let mut spans = std::env::var_os("UNBOUNDED_COST_SPANS").map(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open $UNBOUNDED_COST_SPANS")
    });
    // Probed outside the blocks, so that no block's time includes it (under a millisecond).
    let probe = || common::core_link_ns(&s.cpus).unwrap_or(f64::NAN);
    let mut links = vec![probe()];
    for round in 0..s.rounds {
        for (place, &arm) in ORDERS[round % ORDERS.len()].iter().enumerate() {
            let t0 = monotonic();
            let t = work.block(arm, k);
            if let Some(spans) = spans.as_mut() {
                writeln!(
                    spans,
                    "{group}/{reading} {} {t0:.9} {:.9}",
                    ARMS[arm],
                    monotonic()
                )
                .unwrap();
            }
            times[arm].push(t);
            writeln!(
                csv,
                "{group},{reading},{round},{place},{},{k},{:.3},{:.0}",
                ARMS[arm],
                t * 1e9,
                links[round]
            )
            .unwrap();
        }
        links.push(probe());
    }
    let ratios = |a: usize, b: usize| -> Vec<f64> {
        times[a].iter().zip(&times[b]).map(|(x, y)| x / y).collect()
    };
    let ratio = ratios(0, 1);
    let far_ns = far_ns();
    let by_link = [false, true].map(|far| {
        let rounds: Vec<f64> = (0..s.rounds)
            .filter(|&r| {
                // A NaN link (not measured) is neither near nor far.
                let on = |l: f64| if far { l > far_ns } else { l <= far_ns };
                on(links[r]) && on(links[r + 1])
            })
            .map(|r| ratio[r])
            .collect();
        (!rounds.is_empty()).then(|| (median_ci(&rounds), rounds.len()))
    });
    Row {
        group,
        reading,
        k,
        median: [0, 1, 2].map(|arm| median_ci(&times[arm]).point),
        ratio: median_ci(&ratio),
        control: median_ci(&ratios(2, 0)),
        seconds: started.elapsed().as_secs_f64(),
        links,
        by_link,
    }
}

/// Seconds on `CLOCK_MONOTONIC`, the clock `perf record -k CLOCK_MONOTONIC` stamps samples
/// with (`Instant` reads the same clock on Linux but does not show its value).
fn monotonic() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid `timespec` for the call to write.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// The runtime the task rows run on: two workers, as `common::runtime`, each pinned to a CPU
/// of its own when pinning.
fn runtime() -> Runtime {
    let next = AtomicUsize::new(0);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || workloads::pin(next.fetch_add(1, Ordering::Relaxed)))
        .build()
        .expect("tokio runtime")
}

fn main() {
    let s = Settings::from_args();
    if s.pin {
        workloads::PIN.set(s.cpus.clone()).expect("set once");
        // The main thread runs W5 and the runtime's `block_on`.
        workloads::pin(0);
    }
    let rt = Arc::new(runtime());
    let wanted = |group: &str, reading: &str| {
        s.filter
            .as_deref()
            .is_none_or(|f| format!("{group}/{reading}").contains(f))
    };
    let mut csv = String::from("group,reading,round,place,arm,k,ns_per_unit,link_before_ns\n");
    let mut rows = Vec::new();
    for shape in SHAPES {
        for (reading, now_run, baseline_run) in SYSTEMS {
            if !wanted(shape.group, reading) {
                continue;
            }
            let work = Work::Runs {
                rt: Arc::clone(&rt),
                shape,
                runs: [now_run, baseline_run, now_run],
            };
            let row = measure(shape.group, reading, work, &s, &mut csv);
            progress(&row);
            rows.push(row);
        }
    }
    if wanted(W5, "tidings") {
        let work = Work::Sends([
            sends(now::no_subscriber_send()),
            sends(baseline::no_subscriber_send()),
            sends(now::no_subscriber_send()),
        ]);
        let row = measure(W5, "tidings", work, &s, &mut csv);
        progress(&row);
        rows.push(row);
    }
    report(&rows, &s, &csv);
}

fn progress(row: &Row) {
    let (parks, runs) = (PARKS.with(|p| *p.borrow()), RUNS.with(|r| *r.borrow()));
    if runs.iter().all(|&r| r > 0) {
        for (i, name) in COUNTER_NAMES.iter().enumerate() {
            let per = |arm: usize| parks[arm][i] as f64 / runs[arm] as f64;
            eprintln!(
                "{} {}: tokio {name} per run: now {:.1}, baseline {:.1}, now again {:.1}",
                row.group,
                row.reading,
                per(0),
                per(1),
                per(2)
            );
        }
    }
    eprintln!(
        "{} {}: k = {}, now/baseline {}, control {} ({:.0} s)",
        row.group, row.reading, row.k, row.ratio, row.control, row.seconds
    );
}

/// `secs` with a unit that keeps three or four significant digits.
fn time(secs: f64) -> String {
    let ns = secs * 1e9;
    if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.3} µs", ns / 1e3)
    } else {
        format!("{ns:.2} ns")
    }
}

/// How a row came out: whether it passes, and in words.
fn verdict(row: &Row, t: f64) -> (Outcome, String) {
    let pct = |x: f64| (x - 1.0) * 100.0;
    let (r, c) = (row.ratio, row.control);
    if c.lo < 1.0 - t || c.hi > 1.0 + t {
        return (
            Outcome::Undecided,
            format!(
                "undecided: the control's interval [{:+.1}%, {:+.1}%] leaves ±{:.0}%",
                pct(c.lo),
                pct(c.hi),
                t * 100.0
            ),
        );
    }
    if r.hi <= 1.0 + t && r.lo >= 1.0 - t {
        (Outcome::Pass, format!("same (within ±{:.0}%)", t * 100.0))
    } else if r.hi <= 1.0 + t {
        (
            Outcome::Pass,
            format!("now faster by {:.1}%", -pct(r.point)),
        )
    } else if r.lo > 1.0 + t {
        (Outcome::Fail, format!("now slower by {:.1}%", pct(r.point)))
    } else {
        (
            Outcome::Undecided,
            format!(
                "undecided: the interval reaches {:+.1}%, past +{:.0}%",
                pct(r.hi),
                t * 100.0
            ),
        )
    }
}

#[derive(PartialEq)]
enum Outcome {
    Pass,
    Fail,
    Undecided,
}

fn report(rows: &[Row], s: &Settings, csv: &str) {
    let threshold: f64 = std::env::var("UNBOUNDED_COST_THRESHOLD").map_or(3.0, |t| {
        t.parse().expect("UNBOUNDED_COST_THRESHOLD: a percentage")
    });
    let t = threshold / 100.0;
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "?".into());
    let mut out = String::new();
    writeln!(
        out,
        "Unbounded path: today's tidings (now, {}) against the commit before bounded topics \
         (baseline, {}), interleaved in one run ({}; {} rounds of {} ms blocks{})",
        env("UNBOUNDED_COST_NOW"),
        env("UNBOUNDED_COST_BASELINE"),
        env("UNBOUNDED_COST_MODE"),
        s.rounds,
        s.block.as_millis(),
        match workloads::PIN.get() {
            Some(cpus) => format!(", threads pinned round-robin to CPUs {cpus:?}"),
            None => String::new(),
        },
    )
    .unwrap();
    writeln!(
        out,
        "Time per run (W1–W4: {} events to every subscriber; W5: one send), median over the \
         rounds. Ratios: median of the rounds' ratios [95% CI]; > 1: the first is slower. \
         control = now_again/now, the same code measured as a third arm. Threshold: \
         {threshold}%.",
        workloads::EVENTS
    )
    .unwrap();
    writeln!(out).unwrap();
    writeln!(
        out,
        "| workload | reading | now | baseline | now/baseline [CI] | control [CI] | verdict |"
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|").unwrap();
    let (mut failed, mut undecided) = (Vec::new(), Vec::new());
    for row in rows {
        let (outcome, words) = verdict(row, t);
        let name = format!("{} {}", row.group, row.reading);
        match outcome {
            Outcome::Pass => {}
            Outcome::Fail => failed.push(name),
            Outcome::Undecided => undecided.push(name),
        }
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {words} |",
            row.group,
            row.reading,
            time(row.median[0]),
            time(row.median[1]),
            row.ratio,
            row.control,
        )
        .unwrap();
    }
    writeln!(out).unwrap();
    if s.test || rows.is_empty() {
        writeln!(
            out,
            "No verdict: {}.",
            if s.test {
                "--test runs each arm once"
            } else {
                "the filter matched no row"
            }
        )
        .unwrap();
    } else if failed.is_empty() && undecided.is_empty() {
        writeln!(
            out,
            "Verdict: PASS. On all {} rows now is within {threshold}% of baseline or faster (95% \
             intervals), and the control resolved {threshold}% on every row.",
            rows.len()
        )
        .unwrap();
    } else {
        if !failed.is_empty() {
            writeln!(
                out,
                "Verdict: FAIL. now slower than baseline by more than {threshold}% on {} of {} \
                 rows: {}.",
                failed.len(),
                rows.len(),
                failed.join(", ")
            )
            .unwrap();
        }
        if !undecided.is_empty() {
            writeln!(
                out,
                "{}{} of {} rows undecided (the control or the interval too wide for \
                 {threshold}%): {}.",
                if failed.is_empty() {
                    "Verdict: UNDECIDED. "
                } else {
                    ""
                },
                undecided.len(),
                rows.len(),
                undecided.join(", ")
            )
            .unwrap();
            writeln!(
                out,
                "To decide one, rerun it alone with more rounds, e.g. \
                 `scripts/unbounded_cost.sh --rounds 60 -- GROUP/READING`."
            )
            .unwrap();
        }
    }
    link_table(&mut out, rows);
    print!("\n{out}");
    if let Ok(path) = std::env::var("UNBOUNDED_COST_REPORT") {
        std::fs::write(Path::new(&path), &out).expect("write the report");
        let csv_path = format!("{path}.csv");
        std::fs::write(&csv_path, csv).expect("write the blocks");
        println!("(written to {path}; every block's time in {csv_path})");
    }
}

/// The rows again, split by the link between the CPUs around each round (`Row::by_link`): a
/// difference between two versions that shows on one link and not the other is about how
/// they move cache lines between the cores.
fn link_table(out: &mut String, rows: &[Row]) {
    if rows.iter().all(|row| row.links.iter().all(|l| l.is_nan())) {
        return;
    }
    writeln!(
        out,
        "\nBy the link between the two CPUs (a cache line's round trip, measured before and after \
         every round): a round is far if both were longer than {} ns, near if both were at \
         most that; rounds between the two states are in neither column.",
        far_ns()
    )
    .unwrap();
    writeln!(
        out,
        "| workload | reading | link, ns (fastest-slowest) | near rounds: now/baseline [CI] \
         (rounds) | far rounds: now/baseline [CI] (rounds) |"
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|").unwrap();
    for row in rows {
        let finite = || row.links.iter().copied().filter(|l| l.is_finite());
        let lo = finite().fold(f64::INFINITY, f64::min);
        let hi = finite().fold(0.0, f64::max);
        let cell = |e: Option<(Estimate, usize)>| match e {
            Some((e, n)) => format!("{e} ({n})"),
            None => "-".to_string(),
        };
        writeln!(
            out,
            "| {} | {} | {lo:.0}-{hi:.0} | {} | {} |",
            row.group,
            row.reading,
            cell(row.by_link[0]),
            cell(row.by_link[1])
        )
        .unwrap();
    }
}
