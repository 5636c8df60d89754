//! A small multi-thread run sized for miri (`scripts/miri.sh`): two senders cross segment
//! boundaries while one subscription reads, one is dropped behind, and a third parks; then
//! the bus closes.

use std::thread;

use tidings::Bus;

#[test]
fn senders_readers_and_a_dropped_subscription_under_miri() {
    const N: u64 = 150; // more than two 64-slot segments per sender
    let bus = Bus::new();
    let reader = bus.subscribe::<(u8, u64, String)>();
    let behind = bus.subscribe::<(u8, u64, String)>();
    let parked = bus.subscribe::<(u8, u64, String)>();
    let senders: Vec<_> = (0..2u8)
        .map(|s| {
            let bus = bus.clone();
            thread::spawn(move || {
                for i in 0..N {
                    bus.send((s, i, i.to_string())).unwrap();
                }
            })
        })
        .collect();
    let dropper = thread::spawn(move || drop(behind));
    let read = |mut sub: tidings::Subscription<(u8, u64, String)>| {
        thread::spawn(move || {
            let mut next = [0u64; 2];
            while let Some((s, i, text)) = sub.recv_blocking() {
                assert_eq!(i, next[s as usize], "per-sender order");
                assert_eq!(text, i.to_string());
                next[s as usize] += 1;
            }
            next
        })
    };
    let (reader, parked) = (read(reader), read(parked));
    for s in senders {
        s.join().unwrap();
    }
    dropper.join().unwrap();
    bus.close();
    assert_eq!(reader.join().unwrap(), [N, N]);
    assert_eq!(parked.join().unwrap(), [N, N]);
}
