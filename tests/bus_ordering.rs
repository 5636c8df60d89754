//! One total order per type, consistent with each sender's program order.

use std::sync::{Arc, Barrier};

use tidings::Bus;

#[test]
fn four_senders_four_subscriptions_see_one_order() {
    const SENDERS: u32 = 4;
    // Fewer under miri (scripts/miri.sh), which runs every test file at reduced size.
    const PER_SENDER: u64 = if cfg!(miri) { 100 } else { 100_000 };
    let bus = Bus::new();
    let subs: Vec<_> = (0..4).map(|_| bus.subscribe::<(u32, u64)>()).collect();
    let start = Arc::new(Barrier::new(SENDERS as usize));
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (bus, start) = (bus.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for i in 0..PER_SENDER {
                    bus.send((s, i)).unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = subs
        .into_iter()
        .map(|mut sub| {
            std::thread::spawn(move || {
                let mut next = [0u64; SENDERS as usize];
                let mut seen = Vec::with_capacity((SENDERS as u64 * PER_SENDER) as usize);
                while let Some((s, i)) = sub.recv_blocking() {
                    assert_eq!(next[s as usize], i, "sender {s}'s events out of order");
                    next[s as usize] += 1;
                    seen.push((s, i));
                }
                seen
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    bus.close();
    let seqs: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    assert_eq!(seqs[0].len(), (SENDERS as u64 * PER_SENDER) as usize);
    for s in &seqs[1..] {
        assert!(s == &seqs[0], "subscriptions disagree on the order");
    }
}

#[test]
fn order_follows_happens_before_between_senders() {
    // Sender B sends only after seeing A's send return (through a channel): every
    // subscription must see A's event first.
    let bus = Bus::new();
    let mut subs: Vec<_> = (0..3).map(|_| bus.subscribe::<&'static str>()).collect();
    for _ in 0..if cfg!(miri) { 4 } else { 200 } {
        let (tx, rx) = std::sync::mpsc::channel();
        let a = {
            let bus = bus.clone();
            std::thread::spawn(move || {
                bus.send("a").unwrap();
                tx.send(()).unwrap();
            })
        };
        let b = {
            let bus = bus.clone();
            std::thread::spawn(move || {
                rx.recv().unwrap();
                bus.send("b").unwrap();
            })
        };
        a.join().unwrap();
        b.join().unwrap();
        for sub in &mut subs {
            assert_eq!(sub.try_recv(), Ok("a"));
            assert_eq!(sub.try_recv(), Ok("b"));
        }
    }
}
