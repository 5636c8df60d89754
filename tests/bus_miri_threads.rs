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

/// Small events are where a send path is tempted to copy by machine word: these have padding
/// bytes (never initialised) and pointers (whose provenance a copy through an integer loses).
/// Miri reports either as undefined behaviour; each crosses a segment boundary too.
#[test]
fn small_events_with_padding_and_pointers_arrive_intact() {
    fn check<E: Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static>(
        make: impl Fn(u64) -> E,
    ) {
        const N: u64 = 70; // past the first 64-slot segment
        let bus = Bus::new();
        let mut sub = bus.subscribe::<E>();
        for i in 0..N {
            bus.send(make(i)).unwrap();
        }
        for i in 0..N {
            assert_eq!(sub.try_recv(), Ok(make(i)));
        }
    }
    check(|i| (i as u8, i as u16)); // 4 bytes, 1 of padding
    check(|i| (i as u32, i)); // 16 bytes, 4 of padding
    check(|i| (i as u8, i)); // 16 bytes, 7 of padding
    check(Box::new); // 8 bytes, a pointer
    check(|i| (Box::new(i), i as u32)); // 16 bytes, a pointer and padding
    check(|i| std::sync::Arc::new(i.to_string())); // a pointer to a shared value
}
