//! Batches (issue 15): `recv_many`, `try_recv_many`, `recv_many_blocking`, `recv_many_ref`,
//! `try_recv_many_ref` and `send_all` keep every guarantee of one-at-a-time sends and reads:
//! one order, registered on return, closing drains, values dropped exactly once, cancel-safety.

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::thread;

use futures::StreamExt;
use support::flush_epoch;
use support::waker::CountingWaker;
use tidings::{Bus, SendError, TryRecvError};

/// More than two segments (64 slots each), so runs cross segment boundaries.
const LONG: u32 = 150;

#[test]
fn try_recv_many_takes_every_ready_event_up_to_the_limit_across_segments() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u32>();
    let mut buf = Vec::new();
    assert_eq!(sub.try_recv_many(&mut buf, 8), Err(TryRecvError::Empty));
    for i in 0..LONG {
        bus.send(i).unwrap();
    }
    assert_eq!(sub.try_recv_many(&mut buf, 10), Ok(10));
    assert_eq!(
        sub.try_recv_many(&mut buf, 0),
        Ok(0),
        "a limit of 0 takes nothing"
    );
    // The rest in one call, across two segment boundaries.
    assert_eq!(sub.try_recv_many(&mut buf, 1000), Ok(LONG as usize - 10));
    assert_eq!(buf, (0..LONG).collect::<Vec<_>>());
    assert_eq!(sub.try_recv_many(&mut buf, 8), Err(TryRecvError::Empty));
    bus.close();
    assert_eq!(sub.try_recv_many(&mut buf, 8), Err(TryRecvError::Closed));
}

#[test]
fn recv_many_appends_and_does_not_clear_the_buffer() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u8>();
    let mut buf = vec![100];
    bus.send_all([1u8, 2]).unwrap();
    futures::executor::block_on(async {
        assert_eq!(sub.recv_many(&mut buf, 16).await, 2);
    });
    assert_eq!(buf, [100, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_many_waits_for_one_then_takes_what_is_ready_and_returns_0_only_when_drained() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u32>();
    let sender = bus.clone();
    let t = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        sender.send_all(0..LONG).unwrap();
        sender.send(LONG).unwrap();
        sender.close();
    });
    let mut buf = Vec::new();
    let mut calls = 0;
    loop {
        let n = sub.recv_many(&mut buf, 64).await;
        if n == 0 {
            break;
        }
        assert!(n <= 64, "more than the limit: {n}");
        calls += 1;
    }
    t.await.unwrap();
    assert_eq!(
        buf,
        (0..=LONG).collect::<Vec<_>>(),
        "closing drains, in order"
    );
    assert!(calls >= 3, "the limit was not respected: {calls} calls");
    // Closed and drained: 0 from now on, also with limit 0 and from the other forms.
    assert_eq!(sub.recv_many(&mut buf, 64).await, 0);
    assert_eq!(sub.recv_many(&mut buf, 0).await, 0);
    assert!(sub.recv_many_ref(8).await.is_empty());
}

#[test]
fn recv_many_with_limit_0_returns_at_once() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u8>();
    let mut buf = Vec::new();
    // Nothing ready and the bus open: a waiting recv_many would never finish here.
    let n = futures::executor::block_on(sub.recv_many(&mut buf, 0));
    assert_eq!(n, 0);
}

#[test]
fn a_parked_recv_many_is_woken_by_send_all_and_by_close() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u8>();
    let (count, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut buf = Vec::new();
    assert_eq!(sub.poll_recv_many(&mut cx, &mut buf, 8), Poll::Pending);
    bus.send_all([1u8, 2, 3]).unwrap();
    assert_eq!(count.wakes(), 1, "send_all woke the parked task");
    assert_eq!(sub.poll_recv_many(&mut cx, &mut buf, 8), Poll::Ready(3));
    assert_eq!(sub.poll_recv_many(&mut cx, &mut buf, 8), Poll::Pending);
    bus.close();
    assert!(count.wakes() >= 2, "close woke the parked task");
    assert_eq!(sub.poll_recv_many(&mut cx, &mut buf, 8), Poll::Ready(0));
    assert_eq!(buf, [1, 2, 3]);
}

#[test]
fn a_dropped_recv_many_consumed_nothing() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u8>();
    let mut buf = Vec::new();
    let (_count, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    {
        let fut = pin!(sub.recv_many(&mut buf, 8));
        assert_eq!(fut.poll(&mut cx), Poll::Pending);
        // Events arrive while the future is parked; it is dropped without being polled again.
        bus.send_all([1u8, 2]).unwrap();
    }
    assert!(buf.is_empty());
    assert_eq!(sub.try_recv_many(&mut buf, 8), Ok(2));
    assert_eq!(buf, [1, 2]);
    // The same for the by-reference form.
    {
        let fut = pin!(sub.recv_many_ref(8));
        assert!(fut.poll(&mut cx).is_pending());
        bus.send(3u8).unwrap();
    }
    assert_eq!(sub.try_recv_many(&mut buf, 8), Ok(1));
    assert_eq!(buf, [1, 2, 3]);
}

#[test]
fn recv_many_blocking_parks_is_woken_and_returns_0_when_drained() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u32>();
    let sender = bus.clone();
    let t = thread::spawn(move || {
        thread::sleep(std::time::Duration::from_millis(20));
        sender.send_all(0..LONG).unwrap();
        thread::sleep(std::time::Duration::from_millis(20));
        sender.send_all(LONG..2 * LONG).unwrap();
        sender.close();
    });
    let mut buf = Vec::new();
    loop {
        let n = sub.recv_many_blocking(&mut buf, 100);
        if n == 0 {
            break;
        }
        assert!(n <= 100);
    }
    t.join().unwrap();
    assert_eq!(buf, (0..2 * LONG).collect::<Vec<_>>());
    assert_eq!(sub.recv_many_blocking(&mut buf, 100), 0);
}

#[test]
fn send_all_returns_the_count_or_gives_every_event_back() {
    let bus = Bus::new();
    assert_eq!(
        bus.send_all(vec![String::from("a"), String::from("b")]),
        Err(SendError::NoSubscribers(vec![
            String::from("a"),
            String::from("b")
        ]))
    );
    let mut sub = bus.subscribe::<String>();
    assert_eq!(bus.send_all(Vec::<String>::new()), Ok(0));
    assert_eq!(bus.send_all(["x", "y"].map(String::from)), Ok(2));
    bus.close();
    let err = bus.send_all(["z"].map(String::from)).unwrap_err();
    assert!(err.is_closed());
    assert_eq!(err.into_inner(), ["z"]);
    let mut buf = Vec::new();
    assert_eq!(sub.try_recv_many(&mut buf, 8), Ok(2));
    assert_eq!(buf, ["x", "y"]);
    assert_eq!(sub.try_recv_many(&mut buf, 8), Err(TryRecvError::Closed));
    assert_eq!(bus.stats().topic::<String>().unwrap().sent, 2);
}

#[test]
fn send_all_reaches_only_subscriptions_registered_before_it() {
    let bus = Bus::new();
    let mut early = bus.subscribe::<u32>();
    bus.send_all([1u32, 2]).unwrap();
    // Registered on return: everything sent after this call returns reaches it.
    let mut late = bus.subscribe::<u32>();
    bus.send_all([3u32, 4]).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    early.try_recv_many(&mut a, 10).unwrap();
    late.try_recv_many(&mut b, 10).unwrap();
    assert_eq!(a, [1, 2, 3, 4]);
    assert_eq!(b, [3, 4]);
}

/// Several threads send runs (long enough to cross segments) and single events at once; every
/// subscription sees each run contiguous and in order, and all see one order.
#[test]
fn concurrent_runs_are_contiguous_and_every_subscription_sees_one_order() {
    const SENDERS: u64 = 3;
    // Fewer runs under miri (scripts/miri.sh).
    const RUNS: u64 = if cfg!(miri) { 3 } else { 40 };
    const RUN: u64 = 70;
    let bus = Bus::new();
    let mut subs: Vec<_> = (0..3).map(|_| bus.subscribe::<(u64, u64)>()).collect();
    let threads: Vec<_> = (0..SENDERS)
        .map(|s| {
            let bus = bus.clone();
            thread::spawn(move || {
                for r in 0..RUNS {
                    // Run `r` of sender `s`: (run id, position in the run).
                    let id = s * RUNS + r;
                    bus.send_all((0..RUN).map(|i| (id, i))).unwrap();
                    bus.send((u64::MAX - s, r)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    bus.close();
    let orders: Vec<Vec<(u64, u64)>> = subs
        .iter_mut()
        .map(|sub| {
            let mut buf = Vec::new();
            while futures::executor::block_on(sub.recv_many(&mut buf, 33)) > 0 {}
            buf
        })
        .collect();
    let total = (SENDERS * RUNS * (RUN + 1)) as usize;
    assert_eq!(orders[0].len(), total);
    assert!(
        orders.iter().all(|o| o == &orders[0]),
        "subscriptions disagree on the order"
    );
    let o = &orders[0];
    let mut i = 0;
    let mut next_run = [0u64; SENDERS as usize];
    let mut next_single = [0u64; SENDERS as usize];
    while i < o.len() {
        let (id, pos) = o[i];
        if id > u64::MAX - SENDERS {
            let s = (u64::MAX - id) as usize;
            assert_eq!(pos, next_single[s], "single sends out of program order");
            next_single[s] += 1;
            i += 1;
            continue;
        }
        assert_eq!(pos, 0, "a run does not start at its first event");
        let s = (id / RUNS) as usize;
        assert_eq!(id % RUNS, next_run[s], "runs out of program order");
        next_run[s] += 1;
        for k in 0..RUN {
            assert_eq!(
                o[i + k as usize],
                (id, k),
                "a run was interleaved with another send"
            );
        }
        i += RUN as usize;
    }
}

/// `send_all` racing `close`, with runs crossing segment boundaries: every run lands whole or
/// not at all, the subscription drains exactly the runs that were accepted, then ends.
#[test]
fn send_all_racing_close_is_all_or_nothing_and_closing_drains() {
    // Fewer rounds under miri (scripts/miri.sh).
    for round in 0..if cfg!(miri) { 3 } else { 200u32 } {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u32>();
        let sender = bus.clone();
        let t = thread::spawn(move || {
            let mut accepted = 0u32;
            for r in 0..20u32 {
                match sender.send_all((0..50).map(|i| r * 1000 + i)) {
                    Ok(n) => {
                        assert_eq!(n, 50);
                        accepted += 1;
                    }
                    Err(e) => {
                        assert!(e.is_closed());
                        assert_eq!(e.into_inner().len(), 50, "a refused run comes back whole");
                    }
                }
            }
            accepted
        });
        if round % 2 == 0 {
            thread::yield_now();
        }
        bus.close();
        let accepted = t.join().unwrap();
        let mut buf = Vec::new();
        while sub.recv_many_blocking(&mut buf, 64) > 0 {}
        let expected: Vec<u32> = (0..accepted)
            .flat_map(|r| (0..50).map(move |i| r * 1000 + i))
            .collect();
        assert_eq!(buf, expected, "round {round}");
    }
}

#[test]
fn an_iterator_that_panics_claims_nothing() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u32>();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        bus.send_all((0..5u32).map(|i| if i == 3 { panic!("iterator") } else { i }))
    }));
    assert!(caught.is_err());
    // Nothing was claimed, so nothing is left half-written for the subscription to wait on.
    bus.send(9u32).unwrap();
    let mut buf = Vec::new();
    assert_eq!(sub.try_recv_many(&mut buf, 10), Ok(1));
    assert_eq!(buf, [9]);
}

static LIVE: AtomicUsize = AtomicUsize::new(0);
static DROPS: AtomicUsize = AtomicUsize::new(0);

/// Counts its live copies and its drops.
struct Probe(u32);

impl Probe {
    fn new(v: u32) -> Self {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Probe(v)
    }
}

impl Clone for Probe {
    fn clone(&self) -> Self {
        Probe::new(self.0)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn batched_values_are_dropped_exactly_once() {
    let made = {
        let bus = Bus::new();
        let mut full = bus.subscribe::<Probe>();
        let mut partial = bus.subscribe::<Probe>();
        let dropped_early = bus.subscribe::<Probe>();
        assert_eq!(
            bus.send_all((0..LONG).map(Probe::new)).ok(),
            Some(LONG as usize)
        );
        drop(dropped_early);
        let mut buf = Vec::new();
        full.try_recv_many(&mut buf, usize::MAX).unwrap();
        assert_eq!(buf.len(), LONG as usize);
        // Read by reference: no clone, no extra value.
        assert_eq!(partial.try_recv_many_ref(10).unwrap().len(), 10);
        drop(buf);
        // A refused batch comes back and is the caller's to drop.
        bus.close();
        let back = bus
            .send_all((0..7).map(Probe::new))
            .unwrap_err()
            .into_inner();
        assert_eq!(back.len(), 7);
        drop(back);
        LONG as usize + LONG as usize + 7
    };
    flush_epoch();
    assert_eq!(LIVE.load(Ordering::SeqCst), 0, "a value leaked");
    // Each value made (sent ones, the clones, the refused ones) dropped once: a double drop
    // would show as more drops than values made.
    assert_eq!(DROPS.load(Ordering::SeqCst), made);
}

/// Clones that panic: the event that failed to clone and the ones after it are not consumed;
/// those already in the buffer are.
#[test]
fn a_panicking_clone_in_recv_many_consumes_only_what_reached_the_buffer() {
    struct Fragile(u32);
    impl Clone for Fragile {
        fn clone(&self) -> Self {
            if self.0 == 3 && !std::thread::panicking() {
                FRAGILE_PANICS.fetch_add(1, Ordering::SeqCst);
                if FRAGILE_PANICS.load(Ordering::SeqCst) == 1 {
                    panic!("clone");
                }
            }
            Fragile(self.0)
        }
    }
    static FRAGILE_PANICS: AtomicUsize = AtomicUsize::new(0);
    let bus = Bus::new();
    let mut sub = bus.subscribe::<Fragile>();
    bus.send_all((0..6).map(Fragile)).unwrap();
    let mut buf = Vec::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sub.try_recv_many(&mut buf, 10)
    }));
    assert!(caught.is_err());
    assert_eq!(buf.iter().map(|f| f.0).collect::<Vec<_>>(), [0, 1, 2]);
    buf.clear();
    assert_eq!(sub.try_recv_many(&mut buf, 10).ok(), Some(3));
    assert_eq!(buf.iter().map(|f| f.0).collect::<Vec<_>>(), [3, 4, 5]);
}

#[test]
fn by_reference_runs_need_no_clone_and_end_at_a_segment_boundary() {
    struct Frame(u32); // not Clone
    let bus = Bus::new();
    let mut sub = bus.subscribe::<Frame>();
    assert_eq!(sub.try_recv_many_ref(8).unwrap_err(), TryRecvError::Empty);
    bus.send_all((0..LONG).map(Frame)).unwrap();
    let mut seen = Vec::new();
    let mut runs = Vec::new();
    while let Ok(run) = sub.try_recv_many_ref(1000) {
        runs.push(run.len());
        seen.extend(run.map(|f| f.0));
    }
    assert_eq!(seen, (0..LONG).collect::<Vec<_>>());
    // 150 events from index 0: the runs are the segments' 64, 64 and 22.
    assert_eq!(runs, [64, 64, 22]);
    // The limit applies, and a run is consumed even if only partly iterated.
    bus.send_all((0..5).map(Frame)).unwrap();
    let mut run = sub.try_recv_many_ref(3).unwrap();
    assert_eq!(run.len(), 3);
    assert_eq!(run.next().map(|f| f.0), Some(0));
    assert_eq!(
        sub.try_recv_many_ref(10)
            .unwrap()
            .map(|f| f.0)
            .collect::<Vec<_>>(),
        [3, 4]
    );
    assert!(sub.try_recv_many_ref(0).unwrap().is_empty());
    bus.close();
    assert_eq!(sub.try_recv_many_ref(8).unwrap_err(), TryRecvError::Closed);
}

#[tokio::test]
async fn recv_many_ref_waits_for_a_run() {
    struct Frame(u32);
    let bus = Bus::new();
    let mut sub = bus.subscribe::<Frame>();
    let sender = bus.clone();
    let t = tokio::spawn(async move {
        tokio::task::yield_now().await;
        sender.send_all((0..4).map(Frame)).unwrap();
        sender.close();
    });
    let mut seen = Vec::new();
    loop {
        let run = sub.recv_many_ref(3).await;
        if run.is_empty() {
            break;
        }
        assert!(run.len() <= 3);
        seen.extend(run.map(|f| f.0));
    }
    t.await.unwrap();
    assert_eq!(seen, [0, 1, 2, 3]);
}

#[test]
fn the_stream_reads_runs_in_order_and_ends_after_closing() {
    let bus = Bus::new();
    let sub = bus.subscribe::<u32>();
    bus.send_all(0..LONG).unwrap();
    bus.send(LONG).unwrap();
    bus.close();
    let got: Vec<u32> = futures::executor::block_on(sub.collect());
    assert_eq!(got, (0..=LONG).collect::<Vec<_>>());
}
