//! Issue 14: bounded topics. `Overflow::Backpressure` (exact, lossless, waits without lost
//! wake-ups) and `Overflow::DropOldest` (laggards skip, count what they missed, never slow
//! senders). The memory bound of DropOldest is in `tests/bus_memory.rs`, the binary with the
//! counting allocator.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use support::waker::CountingWaker;
use tidings::{Bus, Overflow, SendError, TryRecvError};

/// `n`, or `small` under miri (scripts/miri.sh), which runs every test file at reduced size;
/// `small` still crosses the segments and bounds each test is about.
const fn sized(n: u64, small: u64) -> u64 {
    if cfg!(miri) { small } else { n }
}

fn drain<E: Clone + Send + Sync + 'static>(sub: &mut tidings::Subscription<E>) -> Vec<E> {
    std::iter::from_fn(|| sub.try_recv().ok()).collect()
}

// ---------------------------------------------------------------------------------------------
// The builder

#[test]
fn bus_new_is_builder_build_and_unbounded() {
    for bus in [Bus::new(), Bus::builder().build()] {
        let mut sub = bus.subscribe::<u32>();
        let n = sized(10_000, 150) as u32;
        for i in 0..n {
            bus.send(i).unwrap();
        }
        assert_eq!(drain(&mut sub).len(), n as usize);
        assert_eq!(sub.missed(), 0);
    }
}

#[test]
fn types_not_named_stay_unbounded() {
    let bus = Bus::builder()
        .bound::<u8>(1, Overflow::Backpressure)
        .build();
    let mut sub = bus.subscribe::<u16>();
    let n = sized(1000, 150) as u16;
    for i in 0..n {
        bus.send(i).unwrap();
    }
    assert_eq!(drain(&mut sub), (0..n).collect::<Vec<_>>());
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn a_zero_capacity_is_refused() {
    let _ = Bus::builder().bound::<u8>(0, Overflow::DropOldest);
}

#[test]
fn overflow_is_copy_eq_debug() {
    let a = Overflow::DropOldest;
    let b = a;
    assert_eq!(a, b);
    assert_ne!(Overflow::DropOldest, Overflow::Backpressure);
    assert_eq!(format!("{:?}", Overflow::Backpressure), "Backpressure");
}

/// The bound belongs to the type on this bus, not to one topic: a topic that died with its last
/// subscription is replaced by one with the same bound.
#[test]
fn a_bound_holds_for_every_topic_the_type_ever_has() {
    let bus = Bus::builder()
        .bound::<u32>(2, Overflow::Backpressure)
        .build();
    for round in 0..3 {
        let sub = bus.subscribe::<u32>();
        bus.send(1u32).unwrap();
        bus.send(2u32).unwrap();
        assert_eq!(bus.send(3u32), Err(SendError::Full(3)), "round {round}");
        drop(sub);
        assert_eq!(bus.send(4u32), Err(SendError::NoSubscribers(4)));
    }
}

// ---------------------------------------------------------------------------------------------
// Backpressure

/// `send` fails exactly when accepting would put the slowest subscription more than `c` behind,
/// counted per event; each read makes room for exactly one more.
#[test]
fn backpressure_is_full_exactly_at_capacity() {
    // Under miri (scripts/miri.sh) without the largest, which alone costs more than the rest.
    for c in [1usize, 3, 64, 65, 200]
        .into_iter()
        .filter(|&c| !cfg!(miri) || c < 200)
    {
        let bus = Bus::builder()
            .bound::<u64>(c, Overflow::Backpressure)
            .build();
        let mut slow = bus.subscribe::<u64>();
        let mut fast = bus.subscribe::<u64>();
        let mut next = 0u64;
        for _ in 0..c {
            bus.send(next).unwrap();
            next += 1;
        }
        assert_eq!(bus.send(next), Err(SendError::Full(next)), "c = {c}");
        // The fast one reading changes nothing: the slow one decides.
        assert_eq!(drain(&mut fast).len(), c);
        assert_eq!(bus.send(next), Err(SendError::Full(next)), "c = {c}");
        for round in 0..3 * c {
            assert_eq!(
                slow.try_recv(),
                Ok(next - c as u64),
                "c = {c}, round {round}"
            );
            bus.send(next).unwrap();
            next += 1;
            assert!(
                bus.send(next).unwrap_err().is_full(),
                "c = {c}, round {round}"
            );
            assert_eq!(fast.try_recv(), Ok(next - 1));
        }
    }
}

/// Nothing is ever dropped: what the slow subscription gets is every accepted event, in order.
#[test]
fn backpressure_is_lossless_across_segments() {
    let bus = Bus::builder()
        .bound::<u64>(100, Overflow::Backpressure)
        .build();
    let mut sub = bus.subscribe::<u64>();
    let (mut accepted, mut got) = (Vec::new(), Vec::new());
    let mut i = 0u64;
    while accepted.len() < sized(5_000, 200) as usize {
        match bus.send(i) {
            Ok(()) => accepted.push(i),
            Err(SendError::Full(e)) => {
                assert_eq!(e, i, "the event comes back");
                got.extend(std::iter::from_fn(|| sub.try_recv().ok()).take(37));
            }
            Err(e) => panic!("{e:?}"),
        }
        i += 1;
    }
    got.extend(drain(&mut sub));
    assert_eq!(got, accepted);
    assert_eq!(sub.missed(), 0);
}

/// A subscription made while the topic is full starts at the end: it is not behind, and the
/// old one still decides.
#[test]
fn a_new_subscription_on_a_full_topic_is_not_behind() {
    let bus = Bus::builder()
        .bound::<u32>(2, Overflow::Backpressure)
        .build();
    let mut old = bus.subscribe::<u32>();
    bus.send(1u32).unwrap();
    bus.send(2u32).unwrap();
    let mut new = bus.subscribe::<u32>();
    assert!(bus.send(3u32).unwrap_err().is_full());
    assert_eq!(old.try_recv(), Ok(1));
    bus.send(3u32).unwrap();
    assert_eq!(new.try_recv(), Ok(3));
    // Dropping the slow one leaves the new one, one behind (3 was read; nothing unread).
    drop(old);
    bus.send(4u32).unwrap();
    bus.send(5u32).unwrap();
    assert!(bus.send(6u32).unwrap_err().is_full());
}

/// A parked `send_async` is woken by the read that makes room, and not before.
#[test]
fn send_async_is_woken_by_the_read_that_makes_room() {
    let bus = Bus::builder()
        .bound::<u32>(2, Overflow::Backpressure)
        .build();
    let mut sub = bus.subscribe::<u32>();
    bus.send(1u32).unwrap();
    bus.send(2u32).unwrap();
    let (count, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(bus.send_async(3u32));
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Pending);
    assert_eq!(count.wakes(), 0);
    assert_eq!(sub.try_recv(), Ok(1));
    assert_eq!(count.wakes(), 1, "the read must wake the sender");
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(drain(&mut sub), [2, 3]);
}

/// Dropping the slow subscription wakes a parked sender: there may be room (or nobody left).
#[test]
fn send_async_is_woken_by_the_slow_subscription_leaving() {
    let bus = Bus::builder()
        .bound::<u32>(1, Overflow::Backpressure)
        .build();
    let slow = bus.subscribe::<u32>();
    let mut fast = bus.subscribe::<u32>();
    bus.send(1u32).unwrap();
    assert_eq!(fast.try_recv(), Ok(1));
    let (count, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(bus.send_async(2u32));
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Pending);
    drop(slow);
    assert_eq!(count.wakes(), 1);
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(fast.try_recv(), Ok(2));
    // The last one leaving: the sender learns nobody listens.
    bus.send(3u32).unwrap();
    let mut fut = Box::pin(bus.send_async(4u32));
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Pending);
    drop(fast);
    assert_eq!(count.wakes(), 2);
    assert_eq!(
        fut.as_mut().poll(&mut cx),
        Poll::Ready(Err(SendError::NoSubscribers(4)))
    );
}

/// Closing wakes a parked sender, which gets its event back in `Closed`.
#[test]
fn send_async_is_woken_by_close() {
    let bus = Bus::builder()
        .bound::<u32>(1, Overflow::Backpressure)
        .build();
    let mut sub = bus.subscribe::<u32>();
    bus.send(1u32).unwrap();
    let (count, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(bus.send_async(2u32));
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Pending);
    bus.close();
    assert_eq!(count.wakes(), 1);
    assert_eq!(
        fut.as_mut().poll(&mut cx),
        Poll::Ready(Err(SendError::Closed(2)))
    );
    assert_eq!(sub.try_recv(), Ok(1));
    assert_eq!(sub.try_recv(), Err(TryRecvError::Closed));
}

/// A `send_async` dropped before it completes has sent nothing, and its event is dropped once.
#[test]
fn send_async_is_cancel_safe() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    impl Clone for Counted {
        fn clone(&self) -> Self {
            Counted(self.0.clone())
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let bus = Bus::builder()
        .bound::<Counted>(1, Overflow::Backpressure)
        .build();
    let mut sub = bus.subscribe::<Counted>();
    bus.send(Counted(drops.clone())).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut fut = Box::pin(bus.send_async(Counted(drops.clone())));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    drop(fut);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the cancelled event is dropped"
    );
    drop(sub.try_recv().unwrap());
    assert!(
        matches!(sub.try_recv(), Err(TryRecvError::Empty)),
        "sent nothing"
    );
}

/// Unbounded and DropOldest types: `send_async` and `send_blocking` are `send`.
#[test]
fn send_async_and_blocking_never_wait_on_other_policies() {
    let bus = Bus::builder().bound::<u8>(1, Overflow::DropOldest).build();
    let _a = bus.subscribe::<u8>();
    let _b = bus.subscribe::<u16>();
    let mut cx = Context::from_waker(Waker::noop());
    for i in 0..sized(200, 50) as u8 {
        assert!(
            Box::pin(bus.send_async(i))
                .as_mut()
                .poll(&mut cx)
                .is_ready()
        );
        bus.send_blocking(u16::from(i)).unwrap();
        bus.send_blocking(i).unwrap();
    }
    assert_eq!(
        Box::pin(bus.send_async(1u32)).as_mut().poll(&mut cx),
        Poll::Ready(Err(SendError::NoSubscribers(1)))
    );
}

/// Threads: blocking senders against a slow reader; every event arrives once, in each sender's
/// order, and the reader is never more than `c` behind the accepted events.
#[test]
fn send_blocking_threads_lose_nothing() {
    const PER: u64 = sized(20_000, 100);
    let bus = Bus::builder()
        .bound::<(u8, u64)>(8, Overflow::Backpressure)
        .build();
    let mut sub = bus.subscribe::<(u8, u64)>();
    let senders: Vec<_> = (0..3u8)
        .map(|t| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    bus.send_blocking((t, i)).unwrap();
                }
            })
        })
        .collect();
    let mut next = [0u64; 3];
    for _ in 0..3 * PER {
        let (t, i) = sub.recv_blocking().unwrap();
        assert_eq!(i, next[t as usize]);
        next[t as usize] += 1;
    }
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
}

/// Tasks on a multi-threaded runtime: `send_async` against a reader that drops out part-way,
/// then close. Nothing hangs; what was accepted was received or belonged to the dropped one.
#[test]
fn send_async_tasks_finish_on_close() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let bus = Bus::builder()
            .bound::<u64>(4, Overflow::Backpressure)
            .build();
        let mut sub = bus.subscribe::<u64>();
        let b = bus.clone();
        let sender = tokio::spawn(async move {
            let mut sent = 0u64;
            loop {
                match b.send_async(sent).await {
                    Ok(()) => sent += 1,
                    Err(SendError::Closed(_)) => return sent,
                    Err(e) => panic!("{e:?}"),
                }
            }
        });
        let read = sized(1000, 100);
        for i in 0..read {
            assert_eq!(sub.recv().await, Some(i));
        }
        bus.close();
        // Miri runs some thousand times slower than native: a longer wall-clock deadline.
        let deadline = Duration::from_secs(sized(10, 600));
        let sent = tokio::time::timeout(deadline, sender)
            .await
            .expect("a parked sender must be woken by close")
            .unwrap();
        let mut rest = read;
        while let Some(i) = sub.recv().await {
            assert_eq!(i, rest);
            rest += 1;
        }
        assert_eq!(rest, sent);
        assert!(sent <= read + 4);
    });
}

// ---------------------------------------------------------------------------------------------
// DropOldest

/// A laggard resumes at the oldest retained events, in order, and `missed` makes up the rest.
#[test]
fn a_laggard_learns_what_it_lost() {
    let n = sized(50_000, 300);
    // Every capacity well under `n` (under miri, all but 1000).
    for c in [1usize, 5, 64, 100, 1000]
        .into_iter()
        .filter(|&c| (c as u64) < n / 2)
    {
        let bus = Bus::builder().bound::<u64>(c, Overflow::DropOldest).build();
        let mut lag = bus.subscribe::<u64>();
        let mut keep = bus.subscribe::<u64>();
        for i in 0..n {
            bus.send(i).unwrap();
            assert_eq!(keep.try_recv(), Ok(i));
        }
        let got = drain(&mut lag);
        assert_eq!(got.len() as u64 + lag.missed(), n, "c = {c}");
        // First what is left of the segment it was in (kept for it), then one gap, then the
        // oldest events the topic retains, up to the newest.
        assert_eq!(got[..64], (0..64).collect::<Vec<_>>()[..], "c = {c}");
        assert_eq!(
            got[64],
            64 + lag.missed(),
            "c = {c}: one gap, after its own segment"
        );
        assert!(
            got[64..].windows(2).all(|w| w[1] == w[0] + 1),
            "c = {c}: in order"
        );
        assert_eq!(*got.last().unwrap(), n - 1);
        // At least the newest `c` were retained, less than a segment more.
        let retained = got.len() - 64;
        assert!(retained >= c && retained < c + 64, "c = {c}: {retained}");
        assert_eq!(
            keep.missed(),
            0,
            "c = {c}: a subscription that keeps up never misses"
        );
    }
}

/// Issue 14: `len()` of an overtaken laggard counts only what it will still receive (the rest
/// of its segment and what the topic retains), never the events the topic dropped: below
/// `c + 2 * 64` however many were sent, and exactly what its reads then yield.
#[test]
fn an_overtaken_laggards_len_counts_only_what_it_will_receive() {
    let n = sized(100_000, 300);
    // Every capacity well under `n` (under miri, all but 1000).
    for c in [1usize, 5, 63, 64, 65, 100, 1000]
        .into_iter()
        .filter(|&c| (c as u64) < n / 2)
    {
        let bus = Bus::builder().bound::<u64>(c, Overflow::DropOldest).build();
        let mut lag = bus.subscribe::<u64>();
        let mut partly = bus.subscribe::<u64>();
        for i in 0..n {
            bus.send(i).unwrap();
            if i == 10 {
                // One read in: mid-segment when overtaken.
                assert_eq!(partly.try_recv(), Ok(0));
            }
        }
        for sub in [&mut lag, &mut partly] {
            let len = sub.len();
            assert!(len < c + 2 * 64, "c = {c}: len {len} after {n} sends");
            assert_eq!(sub.stats().backlog, len as u64, "c = {c}");
            let before = sub.stats().received;
            let got = drain(sub);
            assert_eq!(got.len(), len, "c = {c}: len is what the reads yield");
            assert_eq!(sub.len(), 0, "c = {c}");
            assert_eq!(before + got.len() as u64 + sub.missed(), n, "c = {c}");
        }
    }
}

/// A subscription that stays within `c` of the newest event never misses, however long.
#[test]
fn keeping_up_within_the_bound_never_misses() {
    let c = 10usize;
    let bus = Bus::builder().bound::<u64>(c, Overflow::DropOldest).build();
    let mut sub = bus.subscribe::<u64>();
    let mut next = 0u64;
    for i in 0..sized(100_000, 300) {
        bus.send(i).unwrap();
        // Read only when exactly `c` behind.
        if i + 1 - next == c as u64 {
            for _ in 0..c {
                assert_eq!(sub.try_recv(), Ok(next));
                next += 1;
            }
        }
    }
    assert_eq!(sub.missed(), 0);
}

/// received + missed = sent after every single read, while a laggard reads now and then.
#[test]
fn received_plus_missed_is_sent_always() {
    let bus = Bus::builder()
        .bound::<u64>(70, Overflow::DropOldest)
        .build();
    let mut sub = bus.subscribe::<u64>();
    let mut received = 0u64;
    let mut last = None;
    let mut sent = 0u64;
    for round in 0..sized(2000, 8) {
        for _ in 0..(round * 7919) % 300 {
            bus.send(sent).unwrap();
            sent += 1;
        }
        for _ in 0..(round * 104_729) % 200 {
            match sub.try_recv() {
                Ok(v) => {
                    received += 1;
                    // What it gets is the event right after what it got and what it missed.
                    assert_eq!(v, received - 1 + sub.missed());
                    assert!(last.is_none_or(|l| v > l));
                    last = Some(v);
                }
                Err(TryRecvError::Empty) => {
                    assert_eq!(received + sub.missed(), sent);
                    break;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
    }
    received += drain(&mut sub).len() as u64;
    assert_eq!(received + sub.missed(), sent);
}

/// Closing: a laggard drains what is retained and then ends.
#[test]
fn a_laggard_drains_then_ends_after_close() {
    let bus = Bus::builder()
        .bound::<u64>(10, Overflow::DropOldest)
        .build();
    let mut sub = bus.subscribe::<u64>();
    let n = sized(1000, 200);
    for i in 0..n {
        bus.send(i).unwrap();
    }
    bus.close();
    let mut got = Vec::new();
    loop {
        match sub.try_recv() {
            Ok(v) => got.push(v),
            Err(TryRecvError::Closed) => break,
            Err(TryRecvError::Empty) => panic!("a closed topic is never just empty"),
        }
    }
    assert_eq!(got.len() as u64 + sub.missed(), n);
    assert_eq!(got.last(), Some(&(n - 1)));
    assert!(sub.is_terminated());
}

/// Dropping a laggard frees the segment it held at once.
#[test]
fn dropping_a_laggard_frees_its_segment_at_once() {
    let bus = Bus::builder()
        .bound::<u64>(64, Overflow::DropOldest)
        .build();
    let lag = bus.subscribe::<u64>();
    let mut fast = bus.subscribe::<u64>();
    for i in 0..sized(10_000, 200) {
        bus.send(i).unwrap();
        assert_eq!(fast.try_recv(), Ok(i));
    }
    let before = bus.stats().topic::<u64>().unwrap().retained_segments;
    drop(lag);
    let after = bus.stats().topic::<u64>().unwrap().retained_segments;
    assert_eq!(after, before - 1);
}

/// Threads: senders never fail for a laggard; one reader per sender order; received + missed
/// = sent for a reader that reads in bursts with pauses.
#[test]
fn drop_oldest_under_concurrent_senders() {
    const PER: u64 = sized(100_000, 300);
    // The reader pauses every `PAUSE_EVERY` events so that it lags; under miri for seconds, as
    // a send there takes some 40 ms on a loaded machine and the senders must get more than the
    // capacity ahead during a pause (50 ms was not enough).
    const PAUSE_EVERY: u64 = sized(1000, 100);
    const PAUSE: Duration = Duration::from_micros(sized(200, 3_000_000));
    let bus = Bus::builder()
        .bound::<(u8, u64)>(50, Overflow::DropOldest)
        .build();
    let mut sub = bus.subscribe::<(u8, u64)>();
    let senders: Vec<_> = (0..2u8)
        .map(|t| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    bus.send((t, i)).unwrap();
                }
            })
        })
        .collect();
    let mut last = [None::<u64>; 2];
    let mut received = 0u64;
    let mut spins = 0u64;
    loop {
        match sub.try_recv() {
            Ok((t, i)) => {
                received += 1;
                assert!(
                    last[t as usize].is_none_or(|l| i > l),
                    "order within a sender"
                );
                last[t as usize] = Some(i);
                if received % PAUSE_EVERY == 0 {
                    std::thread::sleep(PAUSE);
                }
            }
            Err(_) => {
                if senders.iter().all(|s| s.is_finished()) {
                    spins += 1;
                    if spins > 3 {
                        break;
                    }
                }
                std::thread::yield_now();
            }
        }
    }
    for s in senders {
        s.join().unwrap();
    }
    received += drain(&mut sub).len() as u64;
    assert_eq!(received + sub.missed(), 2 * PER);
    assert!(sub.missed() > 0, "the reader was meant to lag");
}

/// `recv_ref` on a DropOldest topic: the reference stays valid while the topic moves on.
#[test]
fn recv_ref_survives_being_overtaken() {
    let bus = Bus::builder()
        .bound::<String>(1, Overflow::DropOldest)
        .build();
    let mut sub = bus.subscribe::<String>();
    bus.send("first".to_string()).unwrap();
    let r = sub.try_recv_ref().unwrap();
    assert_eq!(r, "first");
    // The borrow ends here; send far past it, then read again.
    for i in 0..sized(1000, 150) {
        bus.send(i.to_string()).unwrap();
    }
    let got = sub.try_recv_ref().unwrap().clone();
    // Index 0 was "first"; index 1 + k holds k. It reads the rest of its own segment, which
    // it kept alive, and then resumes right after what it missed.
    assert_eq!(got, "0");
    for k in 1..63 {
        assert_eq!(sub.try_recv_ref().unwrap(), &k.to_string());
    }
    assert_eq!(sub.missed(), 0);
    let after_gap = sub.try_recv_ref().unwrap().clone();
    assert!(sub.missed() > 0);
    assert_eq!(after_gap, (63 + sub.missed()).to_string());
}

// ---------------------------------------------------------------------------------------------
// Batches on bounded topics

/// `send_all` on a Backpressure type: the whole run fits or it is `Full` with every event back;
/// a run longer than the capacity never fits.
#[test]
fn send_all_is_whole_or_full_under_backpressure() {
    let bus = Bus::builder()
        .bound::<u32>(4, Overflow::Backpressure)
        .build();
    let mut sub = bus.subscribe::<u32>();
    assert_eq!(bus.send_all([1u32, 2, 3]), Ok(3));
    assert_eq!(bus.send_all([4u32, 5]), Err(SendError::Full(vec![4, 5])));
    assert_eq!(bus.send_all([4u32]), Ok(1));
    assert_eq!(sub.try_recv(), Ok(1));
    assert_eq!(bus.send_all([5u32]), Ok(1));
    assert_eq!(drain(&mut sub), [2, 3, 4, 5]);
    assert_eq!(
        bus.send_all([1u32, 2, 3, 4, 5]),
        Err(SendError::Full(vec![1, 2, 3, 4, 5]))
    );
    assert_eq!(bus.send_all([1u32, 2, 3, 4]), Ok(4));
}

/// Batch reads make room like single reads: a sender blocked on a full topic is woken by
/// `try_recv_many` and `try_recv_many_ref`.
#[test]
fn batch_reads_make_room_under_backpressure() {
    let bus = Bus::builder()
        .bound::<u32>(3, Overflow::Backpressure)
        .build();
    let mut sub = bus.subscribe::<u32>();
    bus.send_all([1u32, 2, 3]).unwrap();
    let (count, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(bus.send_async(4u32));
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Pending);
    let mut buf = Vec::new();
    assert_eq!(sub.try_recv_many(&mut buf, 2), Ok(2));
    assert!(count.wakes() >= 1);
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    assert!(bus.send(5u32).is_ok());
    assert!(bus.send(6u32).unwrap_err().is_full());
    assert_eq!(sub.try_recv_many_ref(10).unwrap().len(), 3);
    bus.send_all([6u32, 7, 8]).unwrap();
}

/// Every one-at-a-time read of a Backpressure subscription makes room at once, the fast paths
/// of `poll_recv` (so `recv().await` and `Stream::poll_next`) and `recv_blocking` included:
/// those skip a Backpressure subscription (`Live::fast_end`), which must take the path that
/// publishes its position. A fast path that took its event without publishing left a full
/// sender waiting for room that was there.
#[test]
fn every_read_makes_room_under_backpressure() {
    use futures::StreamExt;

    type Read = fn(&mut tidings::Subscription<u32>) -> Option<u32>;
    let reads: [(&str, Read); 5] = [
        ("try_recv", |sub| sub.try_recv().ok()),
        ("poll_recv", |sub| {
            match sub.poll_recv(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(event) => event,
                Poll::Pending => None,
            }
        }),
        ("recv", |sub| futures::executor::block_on(sub.recv())),
        ("poll_next", |sub| futures::executor::block_on(sub.next())),
        ("recv_blocking", |sub| sub.recv_blocking()),
    ];
    for (name, read) in reads {
        let bus = Bus::builder()
            .bound::<u32>(2, Overflow::Backpressure)
            .build();
        let mut sub = bus.subscribe::<u32>();
        bus.send_all([1u32, 2]).unwrap();
        assert!(bus.send(3u32).unwrap_err().is_full(), "{name}");
        assert_eq!(read(&mut sub), Some(1), "{name}");
        bus.send(3u32)
            .unwrap_or_else(|e| panic!("{name}: a read made no room ({e:?})"));
        assert!(bus.send(4u32).unwrap_err().is_full(), "{name}");
    }
}

/// A batch read whose `Clone` panics mid-run still makes room for the events it took (the
/// position is published as the read unwinds) and for none of the rest: room for exactly 3 of
/// the 5, and a sender waiting for room is woken.
#[test]
fn a_batch_read_that_panics_makes_room_for_what_it_took() {
    #[derive(Debug, PartialEq)]
    struct Fragile(u32);
    impl Clone for Fragile {
        fn clone(&self) -> Self {
            if self.0 == 3 && FRAGILE_PANICS.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("clone");
            }
            Fragile(self.0)
        }
    }
    static FRAGILE_PANICS: AtomicUsize = AtomicUsize::new(0);
    let bus = Bus::builder()
        .bound::<Fragile>(5, Overflow::Backpressure)
        .build();
    let mut sub = bus.subscribe::<Fragile>();
    bus.send_all((0..5).map(Fragile)).unwrap();
    let (count, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(bus.send_async(Fragile(5)));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let mut buf = Vec::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sub.try_recv_many(&mut buf, 10)
    }));
    assert!(caught.is_err());
    assert_eq!(buf, [Fragile(0), Fragile(1), Fragile(2)]);
    assert!(count.wakes() >= 1, "the waiting sender was not woken");
    assert!(fut.as_mut().poll(&mut cx).is_ready());
    assert!(bus.send(Fragile(6)).is_ok());
    assert!(bus.send(Fragile(7)).is_ok());
    match bus.send(Fragile(8)) {
        Err(SendError::Full(Fragile(8))) => {}
        other => panic!("room for exactly the 3 taken: {other:?}"),
    }
    buf.clear();
    assert_eq!(sub.try_recv_many(&mut buf, 10), Ok(5));
    assert_eq!(buf.iter().map(|f| f.0).collect::<Vec<_>>(), [3, 4, 5, 6, 7]);
}

/// `send_all` on a DropOldest type trims like single sends; a batch reader that lags resumes
/// with received + missed = sent.
#[test]
fn send_all_and_recv_many_under_drop_oldest() {
    let bus = Bus::builder()
        .bound::<u64>(100, Overflow::DropOldest)
        .build();
    let mut sub = bus.subscribe::<u64>();
    let mut sent = 0u64;
    for _ in 0..sized(1000, 10) {
        bus.send_all(sent..sent + 37).unwrap();
        sent += 37;
    }
    let segments = bus.stats().topic::<u64>().unwrap().retained_segments;
    assert!(segments <= 99usize.div_ceil(64) + 1 + 1, "{segments}");
    let mut buf = Vec::new();
    while sub.try_recv_many(&mut buf, 50).is_ok() {}
    assert_eq!(buf.len() as u64 + sub.missed(), sent);
    assert!(buf.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(sub.len(), 0);
}
