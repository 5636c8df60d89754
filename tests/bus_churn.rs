//! Subscriptions created and dropped while events are sent: the registry's copy-on-write
//! updates, topic removal and re-creation, and segment reclamation under churn.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tidings::{Bus, TryRecvError};

#[test]
fn churning_subscriptions_each_see_a_gapless_run() {
    let bus = Bus::new();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (bus, stop) = (bus.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Errors are expected whenever no subscription happens to be alive.
                let _ = bus.send(i);
                i += 1;
            }
        })
    };
    let churners: Vec<_> = (0..3)
        .map(|t| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                let mut checked = 0u64;
                // Fewer rounds under miri (scripts/miri.sh).
                for round in 0..if cfg!(miri) { 12 } else { 2_000u64 } {
                    let mut sub = bus.subscribe::<u64>();
                    // Also churn a second type, so registry updates for two types interleave.
                    let other = bus.subscribe::<(u8, u64)>();
                    let mut last: Option<u64> = None;
                    for _ in 0..((round + t) % 50) {
                        match sub.try_recv() {
                            Ok(i) => {
                                if let Some(prev) = last {
                                    assert_eq!(i, prev + 1, "gap or duplicate");
                                }
                                last = Some(i);
                                checked += 1;
                            }
                            Err(TryRecvError::Empty) => std::thread::yield_now(),
                            Err(TryRecvError::Closed) => unreachable!(),
                        }
                    }
                    drop(other);
                }
                checked
            })
        })
        .collect();
    let checked: u64 = churners.into_iter().map(|c| c.join().unwrap()).sum();
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    assert!(checked > 0, "the churners received events");
    assert_eq!(bus.subscriber_count::<u64>(), 0);
    assert!(bus.stats().topics.is_empty(), "every topic was removed");
}
