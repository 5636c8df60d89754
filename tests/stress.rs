//! A stress run for the sanitizers (`scripts/tsan.sh`, `scripts/asan.sh`): many senders, a
//! long-lived blocking reader and a parked async reader that must see everything, subscriptions
//! created and dropped while sending, and a close racing the last sends.
//!
//! `TIDINGS_STRESS_SCALE` multiplies the event count (default 1, which `cargo test` runs).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use tidings::{Bus, SendError, Subscription, TryRecvError};

const SENDERS: usize = 4;
const CHURNERS: usize = 2;

/// Heap-owning, so that a value freed too early or twice is a sanitizer report.
#[derive(Clone, Debug)]
struct Msg {
    sender: usize,
    seq: u64,
    payload: String,
}

fn per_sender() -> u64 {
    let scale: u64 = std::env::var("TIDINGS_STRESS_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    2_000 * scale
}

/// Checks one message against the last seen from its sender: per-sender FIFO, no duplicates,
/// payload intact.
fn check(last: &mut [Option<u64>; SENDERS + 1], m: &Msg) {
    assert_eq!(
        m.payload,
        format!("{}:{}", m.sender, m.seq),
        "payload corrupted"
    );
    if let Some(prev) = last[m.sender] {
        assert!(
            m.seq > prev,
            "sender {} out of order: {} after {prev}",
            m.sender,
            m.seq
        );
    }
    last[m.sender] = Some(m.seq);
}

fn msg(sender: usize, seq: u64) -> Msg {
    Msg {
        sender,
        seq,
        payload: format!("{sender}:{seq}"),
    }
}

/// Reads until the end, checking order; returns how many messages each sender delivered.
fn read_all_blocking(mut sub: Subscription<Msg>) -> [u64; SENDERS + 1] {
    let mut last = [None; SENDERS + 1];
    let mut counts = [0; SENDERS + 1];
    while let Some(m) = sub.recv_blocking() {
        check(&mut last, &m);
        counts[m.sender] += 1;
    }
    counts
}

#[test]
fn stress_senders_churn_and_close() {
    let n = per_sender();
    let bus = Bus::new();
    // Both exist before any send: each must get every message of the fixed senders.
    let blocking = bus.subscribe::<Msg>();
    let parked = bus.subscribe::<Msg>();
    let stop = Arc::new(AtomicBool::new(false));

    let blocking = thread::spawn(move || read_all_blocking(blocking));
    let parked = thread::spawn(move || {
        futures::executor::block_on(async move {
            let mut sub = parked;
            let mut last = [None; SENDERS + 1];
            let mut counts = [0u64; SENDERS + 1];
            while let Some(m) = sub.recv().await {
                check(&mut last, &m);
                counts[m.sender] += 1;
            }
            counts
        })
    });
    let churners: Vec<_> = (0..CHURNERS)
        .map(|c| {
            let (bus, stop) = (bus.clone(), stop.clone());
            thread::spawn(move || {
                let mut round = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let mut sub = bus.subscribe::<Msg>();
                    let mut last = [None; SENDERS + 1];
                    for _ in 0..(round + c) % 64 {
                        match sub.try_recv() {
                            Ok(m) => check(&mut last, &m),
                            Err(TryRecvError::Empty) => thread::yield_now(),
                            Err(TryRecvError::Closed) => return,
                        }
                    }
                    // Sometimes drop while events are still queued for it.
                    drop(sub);
                    round += 1;
                }
            })
        })
        .collect();
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let bus = bus.clone();
            thread::spawn(move || {
                for seq in 0..n {
                    bus.send(msg(s, seq)).unwrap();
                }
            })
        })
        .collect();
    // One more sender races the close: it sends until the bus refuses.
    let racer = {
        let bus = bus.clone();
        thread::spawn(move || {
            let mut seq = 0;
            loop {
                match bus.send(msg(SENDERS, seq)) {
                    Ok(()) => seq += 1,
                    Err(SendError::Closed(_)) => return seq,
                    Err(SendError::NoSubscribers(_)) => panic!("the readers are subscribed"),
                    Err(SendError::Full(_)) => panic!("the bus is unbounded"),
                }
            }
        })
    };
    for s in senders {
        s.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for c in churners {
        c.join().unwrap();
    }
    bus.close();
    let raced = racer.join().unwrap();
    for counts in [blocking.join().unwrap(), parked.join().unwrap()] {
        assert_eq!(&counts[..SENDERS], &[n; SENDERS], "a message was lost");
        assert_eq!(counts[SENDERS], raced, "the racing sender's accepted sends");
    }
    assert_eq!(bus.stats().topics.len(), 0, "every subscription is gone");
}
