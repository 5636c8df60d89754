//! The per-thread send cache: a send must reach exactly the topic the registry would give it,
//! whatever a thread's cache remembers from earlier sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tidings::{Bus, SendError, TryRecvError};

#[derive(Clone, Debug, PartialEq)]
struct Ping(u64);

#[test]
fn a_send_after_resubscribing_reaches_the_new_subscription() {
    let bus = Bus::new();
    // Fewer rounds under miri (scripts/miri.sh).
    for round in 0..if cfg!(miri) { 30 } else { 100u64 } {
        let mut sub = bus.subscribe::<Ping>();
        // Fills this thread's cache with the round's topic.
        bus.send(Ping(round)).unwrap();
        assert_eq!(sub.try_recv(), Ok(Ping(round)));
        drop(sub);
        // The topic is gone: the cached one must not be used as if it still listened.
        assert_eq!(
            bus.send(Ping(round)),
            Err(SendError::NoSubscribers(Ping(round)))
        );
    }
}

#[test]
fn cached_topics_never_cross_buses() {
    // More buses than a thread's cache has entries, all at the same registry generation, so
    // some share an entry and only the bus id tells them apart.
    // 20 under miri (scripts/miri.sh): still more than the first level's 16 entries.
    let buses: Vec<Bus> = (0..if cfg!(miri) { 20 } else { 40 })
        .map(|_| Bus::new())
        .collect();
    let mut subs: Vec<_> = buses.iter().map(|b| b.subscribe::<Ping>()).collect();
    for round in 0..3 {
        for (i, bus) in buses.iter().enumerate() {
            bus.send(Ping(i as u64 * 10 + round)).unwrap();
        }
    }
    for (i, sub) in subs.iter_mut().enumerate() {
        for round in 0..3 {
            assert_eq!(sub.try_recv(), Ok(Ping(i as u64 * 10 + round)));
        }
        assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
    }
    // A new bus (perhaps at an old one's address) starts with nothing cached for it.
    drop((buses, subs));
    let c = Bus::new();
    assert_eq!(c.send(Ping(4)), Err(SendError::NoSubscribers(Ping(4))));
    let mut on_c = c.subscribe::<Ping>();
    c.send(Ping(5)).unwrap();
    assert_eq!(on_c.try_recv(), Ok(Ping(5)));
}

/// Counts its drops.
struct Probe(Arc<AtomicUsize>);

impl Drop for Probe {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_cached_topic_does_not_keep_events_alive_after_its_bus_is_gone() {
    let drops = Arc::new(AtomicUsize::new(0));
    let bus = Bus::new();
    let sub = bus.subscribe::<Probe>();
    for _ in 0..10 {
        assert!(bus.send(Probe(drops.clone())).is_ok());
    }
    drop(sub);
    drop(bus);
    // Retired registries and segments wait for the epoch. Help it along until they are freed:
    // another test's threads, pinned in this binary at the same moment, can hold the epoch back
    // for a while on a loaded machine, so a fixed number of flushes is not enough.
    // Miri runs some thousand times slower than native: a longer wall-clock deadline.
    let wait = if cfg!(miri) { 600 } else { 30 };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
    while drops.load(Ordering::SeqCst) < 10 && std::time::Instant::now() < deadline {
        for _ in 0..64 {
            crossbeam_epoch::pin().flush();
        }
        std::thread::yield_now();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 10, "every event dropped once");
}

#[test]
fn senders_on_many_threads_follow_topics_as_they_come_and_go() {
    let bus = Bus::new();
    let stop = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..3)
        .map(|_| {
            let bus = bus.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seq = 0u64;
                while stop.load(Ordering::Relaxed) == 0 {
                    let _ = bus.send(Ping(seq));
                    seq += 1;
                }
            })
        })
        .collect();
    // Fewer rounds under miri (scripts/miri.sh).
    for _ in 0..if cfg!(miri) { 10 } else { 2_000 } {
        let mut sub = bus.subscribe::<Ping>();
        // Every sender's next send starts after `subscribe` returned, so an event must come
        // (it would not if a sender kept sending into a dead topic it had cached).
        // Miri runs some thousand times slower than native: a longer wall-clock deadline.
        let wait = if cfg!(miri) { 300 } else { 10 };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
        loop {
            match sub.try_recv() {
                Ok(_) => break,
                Err(TryRecvError::Empty) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "no event reached a new subscription"
                    );
                    std::thread::yield_now();
                }
                Err(TryRecvError::Closed) => unreachable!("the bus is open"),
            }
        }
    }
    stop.store(1, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }
}

/// Issue 12, item 6: a thread that sends to more (bus, type) keys than the first level of its
/// cache holds keeps them in the second level, which grows and, past its largest size, starts
/// over; every send still reaches exactly its own topic, and a resubscribed topic is followed.
#[test]
fn sends_over_more_keys_than_the_cache_holds_reach_their_own_topics() {
    // More keys than the second level's largest size holds (2048), under miri a few past the
    // first level's 16.
    let buses: Vec<Bus> = (0..if cfg!(miri) { 24 } else { 3000 })
        .map(|_| Bus::new())
        .collect();
    let mut subs: Vec<_> = buses.iter().map(|b| b.subscribe::<Ping>()).collect();
    for round in 0..3u64 {
        for (i, bus) in buses.iter().enumerate() {
            bus.send(Ping(i as u64 * 10 + round)).unwrap();
        }
        if round == 1 {
            // Every other topic replaced: its cached entries must not be used again.
            for (i, sub) in subs.iter_mut().enumerate().filter(|(i, _)| i % 2 == 0) {
                assert_eq!(sub.try_recv(), Ok(Ping(i as u64 * 10)));
                assert_eq!(sub.try_recv(), Ok(Ping(i as u64 * 10 + 1)));
                *sub = buses[i].subscribe::<Ping>();
            }
        }
    }
    for (i, sub) in subs.iter_mut().enumerate() {
        let first = if i % 2 == 0 { 2 } else { 0 };
        for round in first..3 {
            assert_eq!(sub.try_recv(), Ok(Ping(i as u64 * 10 + round)), "bus {i}");
        }
        assert_eq!(sub.try_recv(), Err(TryRecvError::Empty), "bus {i}");
    }
}
