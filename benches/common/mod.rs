//! Helpers shared by the benches: the event type, the order check every subscriber runs, the
//! runtime, process CPU time, and the side files (`target/criterion/tidings-*.csv`) that
//! `benches/compare.sh` reads for what criterion does not record (CPU time,
//! percentiles, heap). `workloads` holds tidings' W1–W5 runs, written once for every bench
//! that runs them.

// Each bench binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

pub mod workloads;

/// The event every system carries: 24 bytes, `Clone`, not `Copy`.
#[derive(Clone, Debug, Default)]
pub struct Ev {
    /// Which sender made it.
    pub sender: u64,
    /// Its place in that sender's sequence, from 0.
    pub seq: u64,
    /// Payload, so the event is not smaller than a real one.
    pub stamp: u64,
}

const _: () = assert!(std::mem::size_of::<Ev>() == 24);

impl Ev {
    pub fn new(sender: usize, seq: u64) -> Self {
        Ev {
            sender: sender as u64,
            seq,
            stamp: seq.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        }
    }
}

/// What one subscriber has seen: for each sender, the next sequence number it expects. A
/// system that drops, duplicates or reorders an event fails the check, so nobody wins by losing.
pub struct Check {
    next: Vec<u64>,
}

impl Check {
    pub fn new(senders: usize) -> Self {
        Check {
            next: vec![0; senders],
        }
    }

    #[inline]
    pub fn see(&mut self, ev: &Ev) {
        let next = &mut self.next[ev.sender as usize];
        assert_eq!(
            ev.seq, *next,
            "event out of order or lost (sender {})",
            ev.sender
        );
        assert_eq!(ev.stamp, ev.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        *next += 1;
    }

    /// Whether every sender's `per_sender` events have been seen.
    #[inline]
    pub fn done(&self, per_sender: u64) -> bool {
        self.next.iter().all(|&n| n == per_sender)
    }

    /// Panics unless exactly `per_sender` events of every sender were seen.
    pub fn finish(&self, per_sender: u64) {
        for (s, &n) in self.next.iter().enumerate() {
            assert_eq!(n, per_sender, "sender {s}: received {n} of {per_sender}");
        }
    }
}

/// The runtime async systems run on: two workers, as many as the machine has cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// CPU time used by the whole process so far (every thread, including finished ones).
pub fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The CPUs this process may run on (its affinity mask), in ascending order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero `cpu_set_t` is a valid (empty) set; `sched_getaffinity` writes at
    // most `size_of::<cpu_set_t>()` bytes into it, and `CPU_ISSET` reads it in bounds.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let rc = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        assert_eq!(rc, 0, "sched_getaffinity");
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

/// Pins the calling thread to `cpu` (one of [`allowed_cpus`]).
pub fn pin_to(cpu: usize) {
    // SAFETY: as in `allowed_cpus`; `sched_setaffinity(0, ..)` sets the calling thread's mask
    // from a set it only reads.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let rc = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(rc, 0, "sched_setaffinity to CPU {cpu}");
    }
}

/// Where criterion writes its results; the side files go next to them.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("criterion")
}

/// Appends one line to `target/criterion/<file>`; `benches/compare.sh` keeps the last
/// line per key.
pub fn record(file: &str, line: &str) {
    let dir = criterion_dir();
    let _ = std::fs::create_dir_all(&dir);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(file))
        .expect("open side file");
    writeln!(f, "{line}").expect("write side file");
}

/// Wall and CPU time summed over the timed windows of one benchmark id.
#[derive(Default)]
pub struct CpuMeter {
    pub wall: Duration,
    pub cpu: Duration,
}

impl CpuMeter {
    pub fn add(&mut self, wall: Duration, cpu: Duration) {
        self.wall += wall;
        self.cpu += cpu;
    }

    /// Writes `group,id,cores` to `tidings-cpu.csv`: the average number of cores busy while
    /// the benchmark was timed (2.0 on this machine means both cores were saturated).
    pub fn save(&self, group: &str, id: &str) {
        if self.wall.is_zero() {
            return;
        }
        let cores = self.cpu.as_secs_f64() / self.wall.as_secs_f64();
        record("tidings-cpu.csv", &format!("{group},{id},{cores:.2}"));
    }
}

/// A count-down any thread can sleep on until it reaches zero. Used to learn when thread-based
/// peers (`disruptor`, whose handlers run on threads it owns) have seen everything.
pub struct Countdown {
    left: Mutex<usize>,
    zero: Condvar,
}

impl Countdown {
    pub fn new(n: usize) -> Self {
        Countdown {
            left: Mutex::new(n),
            zero: Condvar::new(),
        }
    }

    pub fn arrive(&self) {
        let mut left = self.left.lock().unwrap();
        *left -= 1;
        if *left == 0 {
            self.zero.notify_all();
        }
    }

    /// Sleeps until every party arrived; panics after a minute (a handler thread died), so a
    /// broken run fails instead of hanging the comparison.
    pub fn wait(&self) {
        let left = self.left.lock().unwrap();
        let (left, timeout) = self
            .zero
            .wait_timeout_while(left, Duration::from_secs(60), |n| *n != 0)
            .unwrap();
        assert!(!timeout.timed_out(), "{} handlers never finished", *left);
    }
}

/// Percentile `p` (0..=100) of sorted nanosecond samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// How long a cache line takes to go from one CPU to the other and back: the median, in ns,
/// of 9 batches of 200 round trips between two threads pinned to the first two of `cpus`
/// (`None` with fewer than two; pass [`allowed_cpus`] as read before any pinning, since a
/// pinned thread is allowed only its own CPU). Every cross-thread workload waits on such
/// transfers, so its time follows this number.
///
/// Why it is measured: on the 2-core KVM machine the benches run on (AMD EPYC, 2026-12-03), the
/// host moves the two vCPUs between cores that share a cache and cores that do not, and the
/// round trip switches between some 55 ns and some 455 ns, staying in one state for tens of
/// seconds to minutes at a time. A bench that records the link beside its times can tell a
/// change in the code from a change in where the machine ran it.
pub fn core_link_ns(cpus: &[usize]) -> Option<f64> {
    use std::sync::atomic::{AtomicU64, Ordering};
    if cpus.len() < 2 {
        return None;
    }
    const ROUND_TRIPS: u64 = 200;
    const BATCHES: usize = 9;
    /// A cache line of its own (128: the pair of lines some CPUs prefetch together).
    #[repr(align(128))]
    struct Line(AtomicU64);
    // Odd values are written by the initiator, even ones by the responder; `u64::MAX` ends the
    // responder. Neither loop has a spin-loop hint: on some CPUs one costs more than the
    // transfer being timed, and both loops are short (the initiator's is bounded; the
    // responder's ends with it).
    let Line(line) = &Line(AtomicU64::new(0));
    let mut batches = std::thread::scope(|s| {
        s.spawn(|| {
            pin_to(cpus[1]);
            loop {
                // Acquire/Release: the two threads only hand the line back and forth; the
                // values carry everything.
                let v = line.load(Ordering::Acquire);
                if v == u64::MAX {
                    return;
                }
                if v % 2 == 1 {
                    line.store(v + 1, Ordering::Release);
                }
            }
        });
        s.spawn(|| {
            pin_to(cpus[0]);
            let mut next = 1;
            let batches: Vec<f64> = (0..BATCHES)
                .map(|_| {
                    let t0 = std::time::Instant::now();
                    for _ in 0..ROUND_TRIPS {
                        line.store(next, Ordering::Release);
                        while line.load(Ordering::Acquire) != next + 1 {}
                        next += 2;
                    }
                    t0.elapsed().as_secs_f64() * 1e9 / ROUND_TRIPS as f64
                })
                .collect();
            line.store(u64::MAX, Ordering::Release);
            batches
        })
        .join()
        .expect("the initiator thread")
    });
    batches.sort_by(f64::total_cmp);
    Some(batches[BATCHES / 2])
}
