//! The reading conventions of crossbeam, flume and futures on `Subscription`: `FusedStream`,
//! `recv_timeout`/`recv_deadline`, `len`/`is_empty`, and `resubscribe`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FusedStream;
use tidings::{Bus, RecvTimeoutError, Subscription, TryRecvError};

fn assert_fused<S: FusedStream>(_: &S) {}

#[test]
fn a_subscription_is_a_fused_stream_terminated_once_closed_and_drained() {
    futures::executor::block_on(async {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u32>();
        assert_fused(&sub);
        bus.send(1u32).unwrap();
        assert!(!FusedStream::is_terminated(&sub));
        bus.close();
        // Closed, but an event is still waiting: not terminated yet.
        assert!(!FusedStream::is_terminated(&sub));
        assert_eq!(sub.next().await, Some(1));
        assert!(FusedStream::is_terminated(&sub));
        assert_eq!(sub.next().await, None);
        // A fused stream may be polled again after its end: still `None`.
        assert_eq!(sub.next().await, None);
    });
}

#[test]
fn select_next_some_skips_a_terminated_subscription() {
    futures::executor::block_on(async {
        let bus = Bus::new();
        let mut ended = bus.subscribe::<u8>();
        let other = Bus::new();
        let mut live = other.subscribe::<u8>();
        bus.close();
        other.send(5u8).unwrap();
        // `select!` needs `FusedStream` for `select_next_some`; the ended branch is skipped.
        let got = futures::select! {
            e = ended.select_next_some() => e,
            e = live.select_next_some() => e + 100,
        };
        assert_eq!(got, 105);
    });
}

#[test]
fn recv_timeout_times_out_after_the_timeout_with_nothing_sent() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u32>();
    let started = Instant::now();
    assert_eq!(
        sub.recv_timeout(Duration::from_millis(30)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(started.elapsed() >= Duration::from_millis(30));
    // Nothing was consumed: a later event still arrives.
    bus.send(1u32).unwrap();
    assert_eq!(sub.recv_timeout(Duration::from_millis(30)), Ok(1));
}

#[test]
fn recv_timeout_is_woken_by_a_send_from_another_thread() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u32>();
    let sender = bus.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        sender.send(9u32).unwrap();
    });
    let started = Instant::now();
    assert_eq!(sub.recv_timeout(Duration::from_secs(30)), Ok(9));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "woken, not timed out"
    );
    t.join().unwrap();
}

#[test]
fn recv_timeout_is_woken_by_close_and_reports_closed_after_draining() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u32>();
    bus.send(1u32).unwrap();
    let closer = bus.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        closer.close();
    });
    assert_eq!(sub.recv_timeout(Duration::from_secs(30)), Ok(1));
    let started = Instant::now();
    assert_eq!(
        sub.recv_timeout(Duration::from_secs(30)),
        Err(RecvTimeoutError::Closed)
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "woken by close"
    );
    t.join().unwrap();
}

#[test]
fn recv_deadline_in_the_past_takes_a_ready_event_and_otherwise_times_out_at_once() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u32>();
    let past = Instant::now();
    bus.send(4u32).unwrap();
    assert_eq!(sub.recv_deadline(past), Ok(4));
    assert_eq!(sub.recv_deadline(past), Err(RecvTimeoutError::Timeout));
}

#[test]
fn recv_timeout_without_a_representable_deadline_waits_without_one() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u32>();
    bus.send(2u32).unwrap();
    assert_eq!(sub.recv_timeout(Duration::MAX), Ok(2));
    bus.close();
    assert_eq!(
        sub.recv_timeout(Duration::MAX),
        Err(RecvTimeoutError::Closed)
    );
}

#[test]
fn recv_timeout_on_a_subscription_made_after_close_reports_closed() {
    let bus = Bus::new();
    bus.close();
    let mut sub = bus.subscribe::<u32>();
    assert_eq!(
        sub.recv_deadline(Instant::now() + Duration::from_secs(30)),
        Err(RecvTimeoutError::Closed)
    );
}

#[test]
fn len_counts_the_events_waiting_for_this_subscription_only() {
    let bus = Bus::new();
    let mut a = bus.subscribe::<u64>();
    let b = bus.subscribe::<u64>();
    assert_eq!((a.len(), a.is_empty()), (0, true));
    // Across several segments.
    for i in 0..200u64 {
        bus.send(i).unwrap();
    }
    assert_eq!((a.len(), b.len()), (200, 200));
    for _ in 0..130 {
        a.try_recv().unwrap();
    }
    assert_eq!((a.len(), b.len()), (70, 200));
    // Other types and failed sends do not count.
    bus.send(1u32).unwrap_err();
    assert_eq!(a.len(), 70);
    bus.close();
    bus.send(1u64).unwrap_err();
    assert_eq!(a.len(), 70);
    while a.try_recv().is_ok() {}
    assert_eq!((a.len(), a.is_empty()), (0, true));
    assert_eq!(a.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn a_late_subscription_does_not_count_earlier_events() {
    let bus = Bus::new();
    let _early = bus.subscribe::<u8>();
    bus.send(1u8).unwrap();
    let late = bus.subscribe::<u8>();
    assert!(late.is_empty());
    bus.close();
    assert!(bus.subscribe::<u8>().is_empty());
}

#[test]
fn resubscribe_starts_where_the_original_stands() {
    let bus = Bus::new();
    let mut first = bus.subscribe::<u32>();
    for i in 0..5u32 {
        bus.send(i).unwrap();
    }
    assert_eq!(first.try_recv(), Ok(0));
    assert_eq!(first.try_recv(), Ok(1));
    let mut second = first.resubscribe();
    assert_eq!(second.len(), 3);
    assert_eq!(bus.subscriber_count::<u32>(), 2);
    bus.send(5u32).unwrap();
    // Each reads independently: both get 2..=5.
    let a: Vec<u32> = std::iter::from_fn(|| first.try_recv().ok()).collect();
    let b: Vec<u32> = std::iter::from_fn(|| second.try_recv().ok()).collect();
    assert_eq!(a, [2, 3, 4, 5]);
    assert_eq!(b, [2, 3, 4, 5]);
}

#[test]
fn a_resubscription_outlives_its_original_and_keeps_the_backlog() {
    let bus = Bus::new();
    let first = bus.subscribe::<u64>();
    for i in 0..300u64 {
        bus.send(i).unwrap();
    }
    let mut second = first.resubscribe();
    drop(first);
    assert_eq!(bus.subscriber_count::<u64>(), 1);
    let got: Vec<u64> = std::iter::from_fn(|| second.try_recv().ok()).collect();
    assert_eq!(got, (0..300).collect::<Vec<_>>());
    drop(second);
    assert_eq!(bus.subscriber_count::<u64>(), 0);
    assert!(
        bus.stats().topic::<u64>().is_none(),
        "the topic left with the last one"
    );
}

#[test]
fn resubscribe_at_a_segment_boundary_reads_the_next_segment() {
    let bus = Bus::new();
    let mut first = bus.subscribe::<u64>();
    for i in 0..130u64 {
        bus.send(i).unwrap();
    }
    // By reference: the cursor stays at the end of the first segment until the next read.
    for i in 0..64u64 {
        assert_eq!(first.try_recv_ref(), Ok(&i));
    }
    let mut second = first.resubscribe();
    drop(first);
    let got: Vec<u64> = std::iter::from_fn(|| second.try_recv().ok()).collect();
    assert_eq!(got, (64..130).collect::<Vec<_>>());
}

#[test]
fn a_resubscription_after_close_drains_then_ends_and_an_ended_one_gives_an_ended_one() {
    let bus = Bus::new();
    let mut first = bus.subscribe::<u8>();
    bus.send(1u8).unwrap();
    bus.send(2u8).unwrap();
    bus.close();
    assert_eq!(first.try_recv(), Ok(1));
    let mut second = first.resubscribe();
    assert_eq!(second.try_recv(), Ok(2));
    assert_eq!(second.try_recv(), Err(TryRecvError::Closed));
    let ended: Subscription<u8> = bus.subscribe::<u8>();
    let mut again = ended.resubscribe();
    assert_eq!(again.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn every_event_is_dropped_once_with_resubscriptions() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    let drops = Arc::new(AtomicUsize::new(0));
    let bus = Bus::new();
    let mut first = bus.subscribe::<Counted>();
    for _ in 0..200 {
        bus.send(Counted(drops.clone())).unwrap();
    }
    for _ in 0..70 {
        first.try_recv_ref().unwrap();
    }
    let second = first.resubscribe();
    let third = second.resubscribe();
    drop(first);
    drop(second);
    drop(third);
    drop(bus);
    // Reclamation runs through the epoch: flush it until everything is freed.
    for _ in 0..100 {
        if drops.load(Ordering::SeqCst) == 200 {
            break;
        }
        crossbeam_epoch::pin().flush();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(drops.load(Ordering::SeqCst), 200);
}
