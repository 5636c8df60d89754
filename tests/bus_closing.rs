//! Closing the bus: what subscriptions, senders and parked tasks see.

use std::time::Duration;

use futures::StreamExt;
use tidings::{Bus, SendError, TryRecvError};

#[test]
fn close_delivers_pending_events_then_ends() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u32>();
    for i in 0..100u32 {
        bus.send(i).unwrap();
    }
    bus.close();
    for i in 0..100u32 {
        assert_eq!(sub.try_recv(), Ok(i));
    }
    assert_eq!(sub.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(sub.try_recv(), Err(TryRecvError::Closed), "stays closed");
    assert_eq!(sub.recv_blocking(), None);
}

#[tokio::test]
async fn close_ends_recv_and_stream_after_pending_events() {
    let bus = Bus::new();
    let mut a = bus.subscribe::<u32>();
    let b = bus.subscribe::<u32>();
    bus.send(1u32).unwrap();
    bus.send(2u32).unwrap();
    bus.close();
    assert_eq!(a.recv().await, Some(1));
    assert_eq!(a.recv().await, Some(2));
    assert_eq!(a.recv().await, None);
    assert_eq!(b.collect::<Vec<_>>().await, [1, 2]);
}

#[test]
fn close_is_idempotent() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u8>();
    bus.send(1u8).unwrap();
    bus.close();
    bus.close();
    assert!(bus.is_closed());
    assert_eq!(sub.try_recv(), Ok(1));
    assert_eq!(sub.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn dropping_the_last_handle_closes_the_bus() {
    let bus = Bus::new();
    let other = bus.clone();
    let mut sub = bus.subscribe::<u8>();
    other.send(1u8).unwrap();
    drop(bus);
    assert!(!other.is_closed(), "a handle is still alive");
    other.send(2u8).unwrap();
    drop(other);
    assert_eq!(sub.try_recv(), Ok(1));
    assert_eq!(sub.try_recv(), Ok(2));
    assert_eq!(sub.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn subscriptions_never_keep_a_bus_open() {
    let bus = Bus::new();
    let mut subs: Vec<_> = (0..3).map(|_| bus.subscribe::<u8>()).collect();
    drop(bus);
    for sub in &mut subs {
        assert!(sub.is_closed());
        assert_eq!(sub.try_recv(), Err(TryRecvError::Closed));
    }
}

#[test]
fn subscribing_after_close_ends_at_once() {
    let bus = Bus::new();
    bus.close();
    let mut sub = bus.subscribe::<u8>();
    assert_eq!(sub.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(sub.recv_blocking(), None);
    assert!(sub.is_terminated());
    // A type that had a live topic when the bus closed, too.
    let bus = Bus::new();
    let _old = bus.subscribe::<u16>();
    bus.close();
    let mut late = bus.subscribe::<u16>();
    assert_eq!(late.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn send_after_close_is_dropped_and_says_so() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u8>();
    bus.close();
    assert_eq!(bus.send(1u8), Err(SendError::Closed(1)));
    assert!(bus.send(1u8).unwrap_err().is_closed());
    // Also for a type that never had a subscription.
    assert_eq!(bus.send(1u32), Err(SendError::Closed(1)));
    assert_eq!(sub.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(bus.stats().topic::<u8>().unwrap().dropped, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_recv_is_woken_by_close() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u8>();
    let task = tokio::spawn(async move { sub.recv().await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!task.is_finished(), "nothing was sent yet");
    bus.close();
    let got = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("close woke the parked recv")
        .unwrap();
    assert_eq!(got, None);
}

#[test]
fn parked_recv_blocking_is_woken_by_close() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u8>();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || tx.send(sub.recv_blocking()).unwrap());
    std::thread::sleep(Duration::from_millis(50));
    bus.close();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(None));
    reader.join().unwrap();
}

#[test]
fn close_racing_senders_loses_nothing_that_was_accepted() {
    // Every send that returned Ok must be received before the end; every Closed send must
    // not be. Runs many short rounds of a sender racing `close`.
    // Fewer, shorter rounds under miri (scripts/miri.sh).
    for _ in 0..if cfg!(miri) { 3 } else { 200 } {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<u64>();
        let sender = {
            let bus = bus.clone();
            std::thread::spawn(move || {
                let mut accepted = Vec::new();
                for i in 0..if cfg!(miri) { 150 } else { 2_000u64 } {
                    match bus.send(i) {
                        Ok(()) => accepted.push(i),
                        Err(e) => assert!(e.is_closed()),
                    }
                }
                accepted
            })
        };
        std::thread::yield_now();
        bus.close();
        let accepted = sender.join().unwrap();
        let mut got = Vec::new();
        while let Some(i) = sub.recv_blocking() {
            got.push(i);
        }
        assert_eq!(got, accepted);
    }
}

#[test]
fn subscribing_to_a_closed_topic_after_failed_sends_allocates_no_segments() {
    let bus = Bus::new();
    let _live = bus.subscribe::<u64>();
    bus.close();
    for i in 0..if cfg!(miri) { 100 } else { 10_000u64 } {
        assert!(bus.send(i).unwrap_err().is_closed());
    }
    let mut late = bus.subscribe::<u64>();
    assert_eq!(late.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(bus.stats().topic::<u64>().unwrap().retained_segments, 1);
}
