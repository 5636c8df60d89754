//! `WeakBus`: a handle that does not keep the bus open.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tidings::{Bus, TryRecvError, WeakBus};

#[test]
fn a_weak_handle_upgrades_while_the_bus_is_open() {
    let bus = Bus::new();
    let weak: WeakBus = bus.downgrade();
    let mut sub = bus.subscribe::<u8>();
    let strong = weak.upgrade().expect("open");
    assert_eq!(strong.id(), bus.id());
    strong.send(1u8).unwrap();
    assert_eq!(sub.try_recv(), Ok(1));
}

#[test]
fn a_weak_handle_does_not_keep_the_bus_open() {
    let bus = Bus::new();
    let weak = bus.downgrade();
    let weak2 = weak.clone();
    let mut sub = bus.subscribe::<u8>();
    drop(bus);
    assert_eq!(sub.try_recv(), Err(TryRecvError::Closed));
    assert!(weak.upgrade().is_none());
    assert!(weak2.upgrade().is_none());
}

#[test]
fn a_weak_handle_gives_nothing_once_closed_while_handles_remain() {
    let bus = Bus::new();
    let weak = bus.downgrade();
    bus.close();
    assert!(weak.upgrade().is_none());
    // The refused upgrade did not count a handle that would keep anything alive or close twice.
    assert!(bus.is_closed());
}

#[test]
fn an_upgraded_handle_keeps_the_bus_open_like_any_other() {
    let bus = Bus::new();
    let weak = bus.downgrade();
    let mut sub = bus.subscribe::<u8>();
    let strong = weak.upgrade().unwrap();
    drop(bus);
    assert!(!strong.is_closed());
    strong.send(3u8).unwrap();
    assert_eq!(sub.try_recv(), Ok(3));
    drop(strong);
    assert_eq!(sub.try_recv(), Err(TryRecvError::Closed));
    assert!(weak.upgrade().is_none());
}

/// Upgrading races the last handle's drop: once the bus has closed no upgrade may revive it,
/// and an upgrade that succeeded holds an open bus until it is dropped.
#[test]
fn upgrades_racing_the_last_drop_never_revive_a_closed_bus() {
    for _ in 0..if cfg!(miri) { 5 } else { 300 } {
        let bus = Bus::new();
        let weak = bus.downgrade();
        let saw_none = Arc::new(AtomicBool::new(false));
        let upgrader = {
            let saw_none = saw_none.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    match weak.upgrade() {
                        Some(bus) => {
                            assert!(
                                !saw_none.load(Ordering::SeqCst),
                                "upgraded after an upgrade found the bus closed"
                            );
                            assert!(!bus.is_closed(), "a live handle to a closed bus");
                        }
                        None => saw_none.store(true, Ordering::SeqCst),
                    }
                }
                weak
            })
        };
        drop(bus);
        let weak = upgrader.join().unwrap();
        assert!(weak.upgrade().is_none());
    }
}
