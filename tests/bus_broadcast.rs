//! Every subscription gets every event, independently.

use tidings::{Bus, TryRecvError};

#[test]
fn every_subscription_gets_every_event() {
    let bus = Bus::new();
    let mut subs: Vec<_> = (0..8).map(|_| bus.subscribe::<u32>()).collect();
    for i in 0..500u32 {
        bus.send(i).unwrap();
    }
    for sub in &mut subs {
        for i in 0..500u32 {
            assert_eq!(sub.try_recv(), Ok(i));
        }
        assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
    }
}

#[test]
fn stalled_subscription_does_not_block_senders_or_others() {
    // One subscription never reads. A sender on another thread still completes a million
    // sends (nothing bounds the backlog), and a reading subscription gets all of them while
    // they are being sent.
    let bus = Bus::new();
    let _stalled = bus.subscribe::<u64>();
    let mut reader = bus.subscribe::<u64>();
    // Fewer under miri (scripts/miri.sh), which runs every test file at reduced size.
    const N: u64 = if cfg!(miri) { 300 } else { 1_000_000 };
    let sender = {
        let bus = bus.clone();
        std::thread::spawn(move || {
            for i in 0..N {
                bus.send(i).unwrap();
            }
        })
    };
    for i in 0..N {
        assert_eq!(reader.recv_blocking(), Some(i));
    }
    sender.join().unwrap();
    assert_eq!(reader.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn reading_one_subscription_does_not_consume_for_another() {
    let bus = Bus::new();
    let mut a = bus.subscribe::<u8>();
    let mut b = bus.subscribe::<u8>();
    bus.send(1u8).unwrap();
    assert_eq!(a.try_recv(), Ok(1));
    assert_eq!(a.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(b.try_recv(), Ok(1));
}
