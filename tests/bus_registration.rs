//! A subscription is registered when `subscribe` returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tidings::{Bus, TryRecvError};

// Smaller under miri (scripts/miri.sh), which runs every test file at reduced size.
/// Events sent before the first poll.
const N: u64 = if cfg!(miri) { 300 } else { 10_000 };
/// Sends a racing sender makes before and after the subscribe.
const AHEAD: u64 = if cfg!(miri) { 30 } else { 1_000 };

#[test]
fn late_subscriber_misses_earlier_events() {
    let bus = Bus::new();
    let _early = bus.subscribe::<u32>();
    bus.send(1u32).unwrap();
    bus.send(2u32).unwrap();
    let mut late = bus.subscribe::<u32>();
    bus.send(3u32).unwrap();
    assert_eq!(late.try_recv(), Ok(3));
    assert_eq!(late.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn events_sent_before_first_poll_are_kept() {
    // Haiway's "subscribe before spawning" rule: the subscription exists from the moment
    // `subscribe` returns, not from its first poll; thousands of events across many segments
    // wait for it.
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u64>();
    for i in 0..N {
        bus.send(i).unwrap();
    }
    for i in 0..N {
        assert_eq!(sub.try_recv(), Ok(i));
    }
    assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn subscribe_racing_a_sender_gets_a_contiguous_suffix() {
    // A sender publishes 0, 1, 2, ... and records, around each send, the index it started and
    // the index that returned. Each round, a subscription is made mid-stream; it must receive
    // exactly the events from some index f on, with every event that returned before
    // `subscribe` was called excluded and every event started after it returned included.
    // Fewer rounds under miri (scripts/miri.sh): each is a bus and a sender thread spinning.
    for _round in 0..if cfg!(miri) { 3 } else { 20 } {
        let bus = Bus::new();
        let _keep = bus.subscribe::<u64>();
        let started = Arc::new(AtomicU64::new(0));
        let returned = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let (bus, started, returned, stop) =
                (bus.clone(), started.clone(), returned.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 1u64;
                while !stop.load(Ordering::SeqCst) {
                    started.store(i, Ordering::SeqCst);
                    bus.send(i).unwrap();
                    returned.store(i, Ordering::SeqCst);
                    i += 1;
                }
                i - 1
            })
        };
        while returned.load(Ordering::SeqCst) < AHEAD {
            std::hint::spin_loop();
        }
        let returned_before = returned.load(Ordering::SeqCst);
        let mut sub = bus.subscribe::<u64>();
        let started_after = started.load(Ordering::SeqCst);
        while returned.load(Ordering::SeqCst) < started_after + AHEAD {
            std::hint::spin_loop();
        }
        stop.store(true, Ordering::SeqCst);
        let last = sender.join().unwrap();
        bus.close();

        let first = sub.try_recv().expect("events after subscribe were sent");
        assert!(
            first > returned_before,
            "got {first}, sent before subscribe"
        );
        assert!(
            first <= started_after + 1,
            "missed {first}..={started_after}"
        );
        let mut expect = first + 1;
        loop {
            match sub.try_recv() {
                Ok(i) => {
                    assert_eq!(i, expect, "skipped or duplicated");
                    expect += 1;
                }
                Err(e) => {
                    assert_eq!(e, TryRecvError::Closed);
                    break;
                }
            }
        }
        assert_eq!(expect, last + 1, "every later event delivered");
    }
}
