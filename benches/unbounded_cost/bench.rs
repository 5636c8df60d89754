//! What bounded topics cost the unbounded path (issue 14 point 4): W1–W5 on today's tidings
//! (`now`) and on tidings as it was just before bounded topics landed (`baseline`, the crate
//! `tidings_baseline`), in one criterion run, then the ratio table.
//!
//! Not a target of the tidings package: `scripts/unbounded_cost.sh` exports the baseline
//! commit into `target/unbounded-baseline/`, renames its package, generates the crate
//! `target/unbounded-cost/` that depends on both and names this file as its bench, and runs it.
//!
//! The runs are `common::workloads`' (the very code `fanout.rs` and `no_subscriber.rs` time),
//! expanded once per crate. Each row (a workload and a way of reading) measures `now` and
//! `baseline` back to back, and which goes first alternates from row to row, so drift over the
//! run (heat, a neighbour's load) falls on both alike. At the end the bench reads criterion's
//! estimates written by this process, and prints (and writes to `$UNBOUNDED_COST_REPORT`) a
//! table of time per iteration, the ratio now/baseline with the interval the two 95%
//! confidence intervals allow, and a verdict:
//! - "within noise": the two intervals overlap (the ratio's interval holds 1), or the ratio is
//!   within the threshold (`$UNBOUNDED_COST_THRESHOLD` percent, 3 by default) of 1. Criterion's
//!   interval covers the sampling noise of one benchmark only; two benchmarks of the same code,
//!   run one after the other on a 2-core machine, differ by more than that (scheduling, where
//!   the threads land, code layout), by up to a few percent. `--control` measures that
//!   directly: `now` a second time (`now_again`) in each row, whose ratio to `now` is printed
//!   beside, so the threshold can be checked against the same run.
//! - "now slower by X%" / "now faster by X%" otherwise.

#[path = "../common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::time::SystemTime;

use common::workloads::{EVENTS, Run, SHAPES, time_runs};
use common::{CpuMeter, criterion_dir, runtime};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};

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

/// One row of the table: a criterion group and function; its ids are the versions.
struct Row {
    group: &'static str,
    system: &'static str,
}

/// The versions one row measures, in the order that row runs them.
fn versions(row: usize, control: bool) -> Vec<&'static str> {
    let mut v = if row.is_multiple_of(2) {
        vec!["now", "baseline"]
    } else {
        vec!["baseline", "now"]
    };
    if control {
        // Last, so `now` and its repetition are apart, with `baseline` between them half the
        // time.
        v.push("now_again");
    }
    v
}

fn main() {
    let started = SystemTime::now();
    let control = std::env::var_os("UNBOUNDED_COST_CONTROL").is_some();
    let mut c = Criterion::default().configure_from_args();
    let rt = runtime();
    let mut rows = Vec::new();
    for shape in SHAPES {
        let mut group = c.benchmark_group(shape.group);
        group.throughput(Throughput::Elements(EVENTS * shape.subs as u64));
        // As in fanout.rs: iterations take milliseconds, flat sampling bounds the run time.
        group.sampling_mode(SamplingMode::Flat);
        for (system, now_run, baseline_run) in SYSTEMS {
            for version in versions(rows.len(), control) {
                let run = if version == "baseline" {
                    baseline_run
                } else {
                    now_run
                };
                let mut meter = CpuMeter::default();
                group.bench_function(BenchmarkId::new(system, version), |b| {
                    b.iter_custom(|iters| time_runs(&rt, shape, run, iters, &mut meter))
                });
            }
            rows.push(Row {
                group: shape.group,
                system,
            });
        }
        group.finish();
    }
    let mut group = c.benchmark_group(W5);
    group.throughput(Throughput::Elements(1));
    for version in versions(rows.len(), control) {
        let id = BenchmarkId::new("tidings", version);
        if version == "baseline" {
            group.bench_function(id, baseline::no_subscriber());
        } else {
            group.bench_function(id, now::no_subscriber());
        }
    }
    group.finish();
    rows.push(Row {
        group: W5,
        system: "tidings",
    });
    c.final_summary();
    report(&rows, started, control);
}

/// A criterion estimate: the point and its 95% confidence interval, in ns per iteration.
#[derive(Clone, Copy)]
struct Estimate {
    point: f64,
    lo: f64,
    hi: f64,
}

/// The estimate criterion printed as `time:` for one benchmark (the slope where it fitted one,
/// otherwise the mean), if this process wrote it (criterion writes none in `--test` mode, and
/// none for a benchmark a filter left out).
fn estimate(row: &Row, version: &str, since: SystemTime) -> Option<Estimate> {
    let path = criterion_dir()
        .join(row.group)
        .join(row.system)
        .join(version)
        .join("new/estimates.json");
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).ok()?).expect("criterion's estimates.json");
    let e = if json["slope"].is_object() {
        &json["slope"]
    } else {
        &json["mean"]
    };
    let ci = &e["confidence_interval"];
    Some(Estimate {
        point: e["point_estimate"].as_f64()?,
        lo: ci["lower_bound"].as_f64()?,
        hi: ci["upper_bound"].as_f64()?,
    })
}

/// `ns` with a unit that keeps three or four significant digits.
fn time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.3} µs", ns / 1e3)
    } else {
        format!("{ns:.2} ns")
    }
}

fn with_ci(e: Estimate) -> String {
    format!("{} [{}, {}]", time(e.point), time(e.lo), time(e.hi))
}

/// The ratio `a / b` and the widest interval the two confidence intervals allow.
fn ratio(a: Estimate, b: Estimate) -> Estimate {
    Estimate {
        point: a.point / b.point,
        lo: a.lo / b.hi,
        hi: a.hi / b.lo,
    }
}

fn verdict(r: Estimate, threshold: f64) -> (bool, String) {
    let pct = (r.point - 1.0) * 100.0;
    if r.lo <= 1.0 && 1.0 <= r.hi {
        (true, "within noise (intervals overlap)".into())
    } else if pct.abs() <= threshold {
        (true, format!("within noise ({pct:+.1}%, ≤ {threshold}%)"))
    } else if pct > 0.0 {
        (false, format!("now slower by {pct:.1}%"))
    } else {
        (false, format!("now faster by {:.1}%", -pct))
    }
}

fn report(rows: &[Row], since: SystemTime, control: bool) {
    let threshold: f64 = std::env::var("UNBOUNDED_COST_THRESHOLD").map_or(3.0, |t| {
        t.parse().expect("UNBOUNDED_COST_THRESHOLD: a percentage")
    });
    let mut out = String::new();
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "?".into());
    writeln!(
        out,
        "Unbounded path: today's tidings (now, {}) against the commit before bounded topics \
         (baseline, {}), one criterion run ({})",
        env("UNBOUNDED_COST_NOW"),
        env("UNBOUNDED_COST_BASELINE"),
        env("UNBOUNDED_COST_MODE"),
    )
    .unwrap();
    writeln!(
        out,
        "Time per iteration (W1–W4: {EVENTS} events to every subscriber; W5: one send), \
         point [95% CI]. Ratio now/baseline > 1: now is slower. Threshold: {threshold}%."
    )
    .unwrap();
    writeln!(out).unwrap();
    let control_col = if control { " now_again/now |" } else { "" };
    writeln!(
        out,
        "| workload | reading | now | baseline | now/baseline [CI] | verdict |{control_col}"
    )
    .unwrap();
    writeln!(
        out,
        "|---|---|---|---|---|---|{}",
        if control { "---|" } else { "" }
    )
    .unwrap();
    let (mut measured, mut outside) = (0, Vec::new());
    for row in rows {
        let (Some(now), Some(base)) = (
            estimate(row, "now", since),
            estimate(row, "baseline", since),
        ) else {
            continue;
        };
        measured += 1;
        let r = ratio(now, base);
        let (ok, words) = verdict(r, threshold);
        if !ok {
            outside.push(format!("{} {}", row.group, row.system));
        }
        let aa = if control {
            estimate(row, "now_again", since).map_or(" – |".into(), |again| {
                let a = ratio(again, now);
                format!(" {:.3} [{:.3}, {:.3}] |", a.point, a.lo, a.hi)
            })
        } else {
            String::new()
        };
        writeln!(
            out,
            "| {} | {} | {} | {} | {:.3} [{:.3}, {:.3}] | {} |{aa}",
            row.group,
            row.system,
            with_ci(now),
            with_ci(base),
            r.point,
            r.lo,
            r.hi,
            words
        )
        .unwrap();
    }
    writeln!(out).unwrap();
    if measured == 0 {
        writeln!(
            out,
            "No estimates from this run (criterion's --test mode, or a filter that matched \
             nothing): no verdict."
        )
        .unwrap();
    } else if outside.is_empty() {
        writeln!(
            out,
            "Verdict: all {measured} rows within noise (intervals overlap or |ratio - 1| ≤ \
             {threshold}%)."
        )
        .unwrap();
    } else {
        writeln!(
            out,
            "Verdict: {} of {measured} rows outside noise: {}.",
            outside.len(),
            outside.join(", ")
        )
        .unwrap();
    }
    print!("\n{out}");
    if let Ok(path) = std::env::var("UNBOUNDED_COST_REPORT") {
        std::fs::write(Path::new(&path), &out).expect("write the report");
        println!("(written to {path})");
    }
}
