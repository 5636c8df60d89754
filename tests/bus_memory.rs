//! Memory: what the bus holds and when it frees it. Its own test binary, with the counting
//! global allocator of `support/counting_alloc.rs`; the tests take a lock so that their counts
//! do not mix.

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use support::counting_alloc::{CountingAlloc, allocs_in, live_bytes};
use support::waker::CountingWaker;
use support::{flush_epoch, serial};
use tidings::{Bus, Overflow, TryRecvError};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// A 24-byte event.
#[derive(Clone, Debug, PartialEq)]
struct Event {
    seq: u64,
    a: u64,
    b: u64,
}

fn ev(seq: u64) -> Event {
    Event { seq, a: 1, b: 2 }
}

/// `n`, divided by 1000 under miri (scripts/miri.sh), which runs every test file at reduced
/// size; the bounds these tests check do not depend on it.
const fn scaled(n: u64) -> u64 {
    if cfg!(miri) { n / 1_000 } else { n }
}

/// Bytes one segment of `Event`s takes, roughly: a bound for "a few segments".
const SEGMENT_BYTES: isize = 64 * 40 + 64;

#[test]
fn send_without_subscription_allocates_nothing() {
    let _serial = serial();
    let bus = Bus::new();
    // Another type is subscribed, so this also covers the bus's slower lookup path when the
    // filter bucket happens to be shared.
    let _other = bus.subscribe::<u16>();
    assert!(bus.send(ev(0)).is_err());
    let n = allocs_in(|| {
        for i in 0..scaled(100_000) {
            assert!(bus.send(ev(i)).is_err());
        }
    });
    assert_eq!(n, 0, "allocations while sending to nobody");

    // Also after all subscriptions of the type were dropped: nothing stays behind.
    let subs: Vec<_> = (0..3).map(|_| bus.subscribe::<Event>()).collect();
    for i in 0..if cfg!(miri) { 100 } else { 1_000 } {
        bus.send(ev(i)).unwrap();
    }
    drop(subs);
    assert!(
        bus.stats().topic::<Event>().is_none(),
        "the type's topic was removed"
    );
    let n = allocs_in(|| {
        for i in 0..scaled(100_000) {
            assert!(bus.send(ev(i)).is_err());
        }
    });
    assert_eq!(n, 0, "allocations after the last subscription left");
}

#[test]
fn sending_to_subscribers_allocates_at_most_one_in_32_events() {
    let _serial = serial();
    let bus = Bus::new();
    let mut subs: Vec<_> = (0..4).map(|_| bus.subscribe::<Event>()).collect();
    // Warm up thread-local state (epoch handle, arc-swap slots).
    bus.send(ev(0)).unwrap();
    for s in &mut subs {
        s.try_recv().unwrap();
    }
    const N: u64 = 64 * if cfg!(miri) { 5 } else { 1_000 };
    let n = allocs_in(|| {
        for i in 0..N {
            bus.send(ev(i)).unwrap();
            if i % 100 == 99 {
                for s in &mut subs {
                    while s.try_recv().is_ok() {}
                }
            }
        }
    });
    eprintln!("{n} allocations for {N} events");
    assert!(
        n as u64 * 32 <= N,
        "{n} allocations for {N} events: more than 1 in 32"
    );
}

#[test]
fn caught_up_topic_retains_a_bounded_number_of_segments() {
    let _serial = serial();
    let bus = Bus::new();
    let mut sub = bus.subscribe::<Event>();
    let mut max_retained = 0;
    let base = live_bytes();
    for round in 0..if cfg!(miri) { 3 } else { 1_000u64 } {
        for i in 0..if cfg!(miri) { 200 } else { 1_000 } {
            bus.send(ev(round * 1_000 + i)).unwrap();
        }
        while sub.try_recv().is_ok() {}
        let retained = bus.stats().topic::<Event>().unwrap().retained_segments;
        max_retained = max_retained.max(retained);
    }
    flush_epoch();
    assert!(
        max_retained <= 2,
        "retained {max_retained} segments once caught up"
    );
    let grown = live_bytes() - base;
    assert!(
        grown <= 4 * SEGMENT_BYTES,
        "{grown} bytes still held after a million events"
    );
}

#[test]
fn a_lagging_subscription_that_catches_up_gives_its_backlog_back_without_help() {
    let _serial = serial();
    let bus = Bus::new();
    let mut sub = bus.subscribe::<Event>();
    flush_epoch();
    let base = live_bytes();
    const N: u64 = if cfg!(miri) { 300 } else { 200_000 };
    for i in 0..N {
        bus.send(ev(i)).unwrap();
    }
    for i in 0..N {
        assert_eq!(sub.try_recv().map(|e| e.seq), Ok(i));
    }
    assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
    // No `flush_epoch` here: catching up alone must give the dead segments back, rather than
    // leave up to 64 of them in this thread's epoch bag until something else collects.
    let held = live_bytes() - base;
    assert!(
        held <= 12 * SEGMENT_BYTES,
        "{held} bytes still held after catching up with {N} events"
    );
}

#[test]
fn subscribing_to_a_live_topic_and_dropping_again_allocates_nothing() {
    let _serial = serial();
    let bus = Bus::new();
    let _keep = bus.subscribe::<Event>();
    // Warm up thread-local state (epoch handle, arc-swap slots).
    drop(bus.subscribe::<Event>());
    let n = allocs_in(|| {
        for _ in 0..if cfg!(miri) { 100 } else { 1_000 } {
            drop(bus.subscribe::<Event>());
        }
    });
    assert_eq!(n, 0, "allocations for 1000 subscribe + drop pairs");
}

#[test]
fn dropping_a_lagging_subscription_frees_its_segments() {
    let _serial = serial();
    let bus = Bus::new();
    let mut reader = bus.subscribe::<Event>();
    let lagging = bus.subscribe::<Event>();
    flush_epoch();
    let base = live_bytes();
    const N: u64 = if cfg!(miri) { 500 } else { 1_000_000 };
    for i in 0..N {
        bus.send(ev(i)).unwrap();
        if i % 1_000 == 0 {
            while reader.try_recv().is_ok() {}
        }
    }
    while reader.try_recv().is_ok() {}
    let held = live_bytes() - base;
    assert!(
        held >= (N * 24) as isize,
        "the lagging subscription holds its backlog"
    );
    assert!(bus.stats().topic::<Event>().unwrap().retained_segments as u64 > N / 100);

    // The drop itself gives memory back, without the reader doing anything.
    drop(lagging);
    let after = live_bytes() - base;
    assert!(
        after <= 4 * SEGMENT_BYTES,
        "{after} bytes still held right after dropping the lagging subscription"
    );
    assert!(bus.stats().topic::<Event>().unwrap().retained_segments <= 2);
    assert_eq!(reader.try_recv(), Err(TryRecvError::Empty));
}

// --- Every event value is dropped exactly once. ---

const MAX_IDS: usize = if cfg!(miri) { 10_001 } else { 10_000_001 };
static CREATED: AtomicUsize = AtomicUsize::new(0);
static DROPPED_TOTAL: AtomicUsize = AtomicUsize::new(0);
static DROPPED: Mutex<Vec<AtomicBool>> = Mutex::new(Vec::new());

#[derive(Debug)]
struct Counted(usize);

impl Counted {
    fn new() -> Counted {
        Counted(CREATED.fetch_add(1, Ordering::SeqCst))
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted::new()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        DROPPED_TOTAL.fetch_add(1, Ordering::SeqCst);
        let flags = DROPPED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flag) = flags.get(self.0) {
            assert!(
                !flag.swap(true, Ordering::SeqCst),
                "value {} dropped twice",
                self.0
            );
        }
    }
}

fn reset_counts() {
    let mut flags = DROPPED.lock().unwrap();
    if flags.is_empty() {
        flags.extend((0..MAX_IDS).map(|_| AtomicBool::new(false)));
    } else {
        for f in flags.iter() {
            f.store(false, Ordering::SeqCst);
        }
    }
    CREATED.store(0, Ordering::SeqCst);
    DROPPED_TOTAL.store(0, Ordering::SeqCst);
}

fn assert_all_dropped_once() {
    flush_epoch();
    let created = CREATED.load(Ordering::SeqCst);
    assert_eq!(
        DROPPED_TOTAL.load(Ordering::SeqCst),
        created,
        "values leaked"
    );
    let flags = DROPPED.lock().unwrap();
    assert!(flags[..created].iter().all(|f| f.load(Ordering::SeqCst)));
}

#[test]
fn every_event_is_dropped_exactly_once_read_or_not() {
    let _serial = serial();
    reset_counts();
    {
        let bus = Bus::new();
        let mut reader = bus.subscribe::<Counted>();
        let mut half = bus.subscribe::<Counted>();
        let _never = bus.subscribe::<Counted>();
        for i in 0..scaled(100_000_000) / 1_000 {
            bus.send(Counted::new()).unwrap();
            if i % 7 == 0 {
                while reader.try_recv().is_ok() {}
            }
        }
        for _ in 0..scaled(50_000_000) / 1_000 {
            half.try_recv_ref().unwrap();
        }
        // Some dropped with no subscription at all (given back by `send`, dropped here).
        let other = Bus::new();
        for _ in 0..1_000 {
            drop(other.send(Counted::new()));
        }
        // Dropping the lagging subscriptions, then the bus (with unread events still in the
        // tail segment for `reader`).
        drop(half);
        bus.send(Counted::new()).unwrap();
    }
    assert_all_dropped_once();
}

#[test]
fn dropping_ten_million_retained_events_neither_recurses_nor_leaks() {
    let _serial = serial();
    reset_counts();
    // The subscription outlives the bus here; the next test drops it first.
    let bus = Bus::new();
    let sub = bus.subscribe::<Counted>();
    // Under miri (scripts/miri.sh) 2 000: still a chain of 32 segments.
    for _ in 0..if cfg!(miri) { 2_000 } else { 10_000_000 } {
        bus.send(Counted::new()).unwrap();
    }
    drop(bus);
    // A small stack: recursion over ~156,000 segments would overflow it.
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || drop(sub))
        .unwrap()
        .join()
        .unwrap();
    assert_all_dropped_once();
}

#[test]
fn dropping_a_bus_with_a_million_retained_events_frees_them() {
    let _serial = serial();
    reset_counts();
    let bus = Bus::new();
    let sub = bus.subscribe::<Counted>();
    for _ in 0..scaled(1_000_000) {
        bus.send(Counted::new()).unwrap();
    }
    drop(sub);
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || drop(bus))
        .unwrap()
        .join()
        .unwrap();
    assert_all_dropped_once();
}

// ---------------------------------------------------------------------------------------------
// Issue 14: a DropOldest topic bounds memory even if a subscription never reads
// again.

/// Events per segment (`SEGMENT_CAP`).
const SEG: u64 = 64;

/// The documented bound (README, "When a consumer is slow"): a DropOldest topic of capacity
/// `c` retains at most `ceil((c - 1) / 64) + 1` segments from its oldest retained one to the
/// newest, plus one segment per subscription it has overtaken.
fn bound_segments(c: u64, overtaken: u64) -> u64 {
    (c - 1).div_ceil(SEG) + 1 + overtaken
}

/// Bytes of one segment of `u64` events: what the 65th send allocates (the callers hold the
/// serial lock, so no other test allocates meanwhile).
fn segment_bytes() -> isize {
    let bus = Bus::new();
    let _sub = bus.subscribe::<u64>();
    for i in 0..SEG {
        bus.send(i).unwrap();
    }
    // Earlier tests' threads may have left garbage that a pin would free meanwhile.
    flush_epoch();
    let before = live_bytes();
    bus.send(SEG).unwrap();
    live_bytes() - before
}

/// A subscription that never reads again while many events are sent: the topic retains at most
/// the bound, in segments (exactly, from the topic's own count) and in bytes (from the
/// allocator), and the senders never fail. 10 M events in release builds, 1 M in debug ones.
#[test]
fn a_stalled_subscription_leaves_memory_bounded() {
    let _serial = serial();
    let n: u64 = if cfg!(miri) {
        // Under miri (scripts/miri.sh) the capacities up to a third of it.
        600
    } else if cfg!(debug_assertions) {
        1_000_000
    } else {
        10_000_000
    };
    let seg_bytes = segment_bytes();
    assert!(
        seg_bytes > 64 * 16,
        "a segment of u64 holds 64 slots: {seg_bytes}"
    );
    for c in [1u64, 64, 1000, 4096].into_iter().filter(|&c| c < n / 3) {
        let bus = Bus::builder()
            .bound::<u64>(c as usize, Overflow::DropOldest)
            .build();
        let stalled = bus.subscribe::<u64>();
        bus.send(0u64).unwrap();
        flush_epoch();
        let base = live_bytes();
        let mut max_segments = 0;
        for i in 1..n {
            bus.send(i).unwrap();
            if i % 4096 == 0 {
                let s = bus.stats().topic::<u64>().unwrap().retained_segments as u64;
                max_segments = max_segments.max(s);
            }
        }
        flush_epoch();
        let grown = live_bytes() - base;
        let segments = bus.stats().topic::<u64>().unwrap().retained_segments as u64;
        let bound = bound_segments(c, 1);
        assert!(
            max_segments <= bound,
            "c = {c}: {max_segments} > {bound} segments"
        );
        assert!(segments <= bound, "c = {c}: {segments} > {bound} segments");
        // The base held one segment; everything since is at most the rest of the bound, plus
        // the epoch's own bookkeeping (a queue node of sealed garbage bags may be left over,
        // under 4 KiB; 10 M events kept would be 160 MB).
        assert!(
            grown <= (bound as isize - 1) * seg_bytes + 4096,
            "c = {c}: {grown} bytes retained beyond the first segment, bound {} segments of {seg_bytes}",
            bound - 1
        );
        drop(stalled);
        drop(bus);
    }
}

/// Several stalled subscriptions at different places: one segment each on top of the window.
#[test]
fn each_overtaken_subscription_keeps_one_segment() {
    let _serial = serial();
    let c = 200u64;
    let bus = Bus::builder()
        .bound::<u64>(c as usize, Overflow::DropOldest)
        .build();
    let mut stalled = Vec::new();
    let mut sent = 0u64;
    // Sends after each new stalled subscription: past the window and its segment either way.
    const PER: u64 = if cfg!(miri) { 300 } else { 1000 };
    for _ in 0..5 {
        stalled.push(bus.subscribe::<u64>());
        for _ in 0..PER {
            bus.send(sent).unwrap();
            sent += 1;
        }
    }
    for _ in 0..scaled(100_000) {
        bus.send(sent).unwrap();
        sent += 1;
    }
    let segments = bus.stats().topic::<u64>().unwrap().retained_segments as u64;
    assert!(segments <= bound_segments(c, 5), "{segments}");
    assert!(
        segments > bound_segments(c, 0),
        "each stalled one holds its own: {segments}"
    );
    // Each one resumes, and received + missed = sent to it.
    for (k, mut sub) in stalled.into_iter().enumerate() {
        let mut received = 0u64;
        while sub.try_recv().is_ok() {
            received += 1;
        }
        assert_eq!(received + sub.missed(), sent - PER * k as u64);
    }
}

/// Every event value is dropped exactly once, including those the topic dropped unread.
#[test]
fn drop_oldest_drops_every_value_once() {
    let _serial = serial();
    static LIVE_VALUES: AtomicUsize = AtomicUsize::new(0);
    static MADE: AtomicUsize = AtomicUsize::new(0);
    #[derive(Debug)]
    struct V;
    impl V {
        fn new() -> Self {
            MADE.fetch_add(1, Ordering::SeqCst);
            LIVE_VALUES.fetch_add(1, Ordering::SeqCst);
            V
        }
    }
    impl Clone for V {
        fn clone(&self) -> Self {
            V::new()
        }
    }
    impl Drop for V {
        fn drop(&mut self) {
            LIVE_VALUES.fetch_sub(1, Ordering::SeqCst);
        }
    }
    const N: usize = if cfg!(miri) { 300 } else { 10_000 };
    {
        let bus = Bus::builder().bound::<V>(30, Overflow::DropOldest).build();
        let mut lag = bus.subscribe::<V>();
        let mut fast = bus.subscribe::<V>();
        for i in 0..N {
            bus.send(V::new()).unwrap();
            drop(fast.try_recv().unwrap());
            if i % 997 == 0 {
                while let Ok(v) = lag.try_recv() {
                    drop(v);
                }
            }
        }
    }
    flush_epoch();
    assert!(MADE.load(Ordering::SeqCst) > N);
    assert_eq!(
        LIVE_VALUES.load(Ordering::SeqCst),
        0,
        "a value leaked or was dropped twice"
    );
}

/// Issue 12, item 3: the request-with-timeout pattern. A subscription that parked and is then
/// dropped, with no send of its type coming, must not leave its wait node behind (200k such
/// cycles used to grow the heap by 11 MB).
#[test]
fn a_million_subscriptions_parked_then_dropped_without_a_send_keep_memory_flat() {
    let _serial = serial();
    let bus = Bus::new();
    // Keeps the topic alive (a server's subscription), so the wait list is never freed whole.
    let _keep = bus.subscribe::<Event>();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let cycle = || {
        let mut sub = bus.subscribe::<Event>();
        assert!(sub.poll_recv(&mut cx).is_pending());
        drop(sub);
    };
    let mut cycle = cycle;
    for _ in 0..if cfg!(miri) { 100 } else { 1_000 } {
        cycle();
    }
    flush_epoch();
    let before = live_bytes();
    for _ in 0..scaled(1_000_000) {
        cycle();
    }
    flush_epoch();
    let grown = live_bytes() - before;
    assert!(
        grown < 16 * 1024,
        "{grown} bytes more after 1M parked-then-dropped subscriptions"
    );
}

/// With tokio, a parked node held its task's waker, and so the finished task's memory.
#[test]
fn tasks_that_timed_out_waiting_leave_nothing_behind() {
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let bus = Bus::new();
    let _keep = bus.subscribe::<Event>();
    let batch = |n: usize| {
        rt.block_on(async {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let mut sub = bus.subscribe::<Event>();
                    tokio::spawn(async move {
                        let waited =
                            tokio::time::timeout(std::time::Duration::from_millis(1), sub.recv())
                                .await;
                        assert!(waited.is_err(), "nothing was sent");
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        })
    };
    // Tasks per batch; fewer under miri (scripts/miri.sh).
    let per_batch = if cfg!(miri) { 50 } else { 2_000 };
    batch(per_batch);
    flush_epoch();
    let before = live_bytes();
    for _ in 0..5 {
        batch(per_batch);
    }
    flush_epoch();
    let grown = live_bytes() - before;
    assert!(
        grown < 256 * 1024,
        "{grown} bytes more after 10,000 tasks timed out waiting"
    );
}

/// A dropped subscription lets go of the waker it parked with at once.
#[test]
fn a_subscription_dropped_while_parked_releases_its_waker() {
    let _serial = serial();
    let bus = Bus::new();
    let _keep = bus.subscribe::<Event>();
    let (flag, waker) = CountingWaker::new();
    let mut sub = bus.subscribe::<Event>();
    assert!(
        sub.poll_recv(&mut std::task::Context::from_waker(&waker))
            .is_pending()
    );
    drop(waker);
    assert_eq!(
        std::sync::Arc::strong_count(&flag),
        2,
        "held by the parked node"
    );
    drop(sub);
    assert_eq!(
        std::sync::Arc::strong_count(&flag),
        1,
        "released by the drop"
    );
}
