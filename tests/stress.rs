//! A stress run for the sanitizers (`scripts/tsan.sh`, `scripts/asan.sh`), three scenarios
//! repeated in rounds:
//!
//! - many senders, a long-lived blocking reader and a parked async reader that must see
//!   everything, subscriptions created and dropped while sending, and a close racing the last
//!   sends;
//! - scopes on several threads: nested scopes sending, subscribing and spawning tasks, each
//!   seeing exactly its own events and its children's;
//! - user code that panics where the bus calls it: `Clone` while reading, `Drop` when a value is
//!   reclaimed (on whichever thread collects), and wakers of parked subscriptions.
//!
//! `TIDINGS_STRESS_SECS` is how long each scenario keeps starting rounds (unset: one round, as
//! `cargo test` runs it; the sanitizer scripts set 20 s times the scale). `TIDINGS_STRESS_SCALE`
//! multiplies the events per round (default 1). Under miri a round is smaller still.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use tidings::{Bus, Scope, SendError, Subscription, TryRecvError, ctx};

const SENDERS: usize = 4;
const CHURNERS: usize = 2;

/// Heap-owning, so that a value freed too early or twice is a sanitizer report.
#[derive(Clone, Debug)]
struct Msg {
    sender: usize,
    seq: u64,
    payload: String,
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

fn per_sender() -> u64 {
    let scale = env("TIDINGS_STRESS_SCALE").unwrap_or(1);
    if cfg!(miri) { 50 } else { 2_000 * scale }
}

/// Runs `round` until `TIDINGS_STRESS_SECS` have passed since the start (at least once).
fn rounds(name: &str, mut round: impl FnMut()) {
    let secs = env("TIDINGS_STRESS_SECS").unwrap_or(0);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut n = 0u64;
    loop {
        round();
        n += 1;
        if Instant::now() >= end {
            break;
        }
    }
    eprintln!("{name}: {n} rounds in {secs} s");
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
    rounds("senders, churn and close", senders_churn_and_close);
}

fn senders_churn_and_close() {
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

#[test]
fn stress_scopes_on_threads() {
    rounds("scopes on threads", scopes_on_threads);
}

/// Three threads, each a root scope with two child scopes that subscribe, spawn a sender task
/// and read; the root sees every child's events, each child only its own, roots nothing of
/// each other.
fn scopes_on_threads() {
    let n = per_sender() / 4;
    let threads: Vec<_> = (0..3u64)
        .map(|t| {
            thread::spawn(move || {
                futures::executor::block_on(Scope::new("root").run(async move {
                    let mut root = ctx::subscribe::<(u64, u64, u64)>().unwrap();
                    let children: Vec<_> = (0..2u64)
                        .map(|c| {
                            ctx::spawn(Scope::new("child").run(async move {
                                let mut mine = ctx::subscribe::<(u64, u64, u64)>().unwrap();
                                let sender = ctx::spawn(async move {
                                    for i in 0..n {
                                        ctx::send((t, c, i)).unwrap();
                                    }
                                })
                                .unwrap();
                                for i in 0..n {
                                    assert_eq!(mine.recv().await, Some((t, c, i)), "child {c}");
                                }
                                sender.await.unwrap();
                            }))
                            .unwrap()
                        })
                        .collect();
                    let mut next = [0u64; 2];
                    for _ in 0..2 * n {
                        let (from, c, i) = root.recv().await.unwrap();
                        assert_eq!((from, i), (t, next[c as usize]), "root of thread {t}");
                        next[c as usize] += 1;
                    }
                    for child in children {
                        child.await.unwrap().unwrap();
                    }
                    assert!(root.try_recv().is_err(), "nothing from other roots");
                }))
                .unwrap()
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Clones and drops that panic now and then: a clone when the process-wide clone count hits a
/// multiple of 13 (so the retry, which clones again, succeeds), a drop for every 17th value
/// (never while already unwinding, which would abort).
struct Touchy {
    seq: u64,
    payload: String,
}

static CLONES: AtomicU64 = AtomicU64::new(0);

impl Clone for Touchy {
    fn clone(&self) -> Self {
        if CLONES.fetch_add(1, Ordering::Relaxed) % 13 == 0 {
            panic!("hostile clone");
        }
        Touchy {
            seq: self.seq,
            payload: self.payload.clone(),
        }
    }
}

impl Drop for Touchy {
    fn drop(&mut self) {
        if self.seq % 17 == 0 && !thread::panicking() {
            panic!("hostile drop");
        }
    }
}

/// A waker whose `wake` panics.
struct Hostile;

impl Wake for Hostile {
    fn wake(self: Arc<Self>) {
        panic!("hostile waker");
    }
}

#[test]
fn stress_panicking_clone_drop_and_wakers() {
    rounds("panicking clone, drop and wakers", panicking_user_code);
}

/// One sender; two readers whose clones panic (retried, so they still get every event once, in
/// order); a thread parking subscriptions with panicking wakers and dropping them; every value
/// dropped, some with a panic, by readers and by reclamation on whichever thread collects.
fn panicking_user_code() {
    let n = per_sender();
    let bus = Bus::new();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let mut sub = bus.subscribe::<Touchy>();
            thread::spawn(move || {
                let mut next = 0u64;
                loop {
                    match catch_unwind(AssertUnwindSafe(|| sub.recv_blocking())) {
                        Ok(Some(v)) => {
                            assert_eq!(v.seq, next, "lost, repeated or reordered");
                            assert_eq!(v.payload, v.seq.to_string());
                            next += 1;
                            let _ = catch_unwind(AssertUnwindSafe(|| drop(v)));
                        }
                        Ok(None) => return next,
                        Err(_) => {} // a clone panicked; the event is still there
                    }
                }
            })
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let parker = {
        let (bus, stop) = (bus.clone(), stop.clone());
        thread::spawn(move || {
            let waker = Waker::from(Arc::new(Hostile));
            let mut cx = Context::from_waker(&waker);
            while !stop.load(Ordering::Relaxed) {
                let mut sub = bus.subscribe::<Touchy>();
                // Parks (or finds an event, whose clone may panic: caught, and dropped).
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    let _ = sub.poll_recv(&mut cx);
                }));
                thread::yield_now();
                drop(sub);
            }
        })
    };
    let sender = {
        let bus = bus.clone();
        thread::spawn(move || {
            for seq in 0..n {
                let v = Touchy {
                    seq,
                    payload: seq.to_string(),
                };
                bus.send(v).ok().expect("the readers are subscribed");
            }
        })
    };
    sender.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    parker.join().unwrap();
    bus.close();
    for r in readers {
        assert_eq!(r.join().unwrap(), n, "a reader missed events");
    }
}
