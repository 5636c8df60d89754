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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Joins every thread, failing if one panicked.
fn join_all(threads: Vec<thread::JoinHandle<()>>) {
    for t in threads {
        t.join().unwrap();
    }
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
                    Err(SendError::Full(_)) => panic!("the bus is unbounded"),
                }
            }
        })
    };
    join_all(senders);
    stop.store(true, Ordering::Relaxed);
    join_all(churners);
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

// ---------------------------------------------------------------------------------------------
// Hostile user code: `Clone` and `Drop` that panic, wakers that panic (issue 12).

mod hostile {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Once};
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread;

    use tidings::{Bus, TryRecvError};

    const CLONE_PANIC: &str = "hostile clone";
    const DROP_PANIC: &str = "hostile drop";
    const WAKE_PANIC: &str = "hostile wake";

    /// Keeps the expected panics of this test off stderr; any other panic still prints.
    fn quiet_hook() {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
                if !matches!(message, Some(CLONE_PANIC | DROP_PANIC | WAKE_PANIC)) {
                    previous(info);
                }
            }));
        });
    }

    /// Counts of one run, shared with every value and waker.
    #[derive(Default)]
    struct Tally {
        originals: AtomicU64,
        originals_dropped: AtomicU64,
        drop_panics: AtomicU64,
        wake_panics: AtomicU64,
    }

    /// An event whose clone panics if `bad_clone`, and whose original's drop panics if
    /// `bad_drop` (clones never panic on drop: they are the reader's own values).
    struct Ev {
        sender: usize,
        seq: u64,
        payload: String,
        bad_clone: bool,
        bad_drop: bool,
        original: bool,
        tally: Arc<Tally>,
    }

    impl Clone for Ev {
        fn clone(&self) -> Self {
            if self.bad_clone {
                panic!("{CLONE_PANIC}");
            }
            Ev {
                payload: self.payload.clone(),
                original: false,
                tally: self.tally.clone(),
                ..*self
            }
        }
    }

    impl Drop for Ev {
        fn drop(&mut self) {
            if !self.original {
                return;
            }
            self.tally.originals_dropped.fetch_add(1, Ordering::SeqCst);
            if self.bad_drop {
                self.tally.drop_panics.fetch_add(1, Ordering::SeqCst);
                panic!("{DROP_PANIC}");
            }
        }
    }

    /// `sub.poll_recv(cx)`, catching a hostile clone. A panic of the poll's own waker (a poll
    /// that wakes itself: a yield after a burst, or a sender between its claim and its write)
    /// is contained by the bus like any other waker's.
    fn poll(
        sub: &mut tidings::Subscription<Ev>,
        cx: &mut Context<'_>,
    ) -> std::thread::Result<Poll<Option<(usize, u64)>>> {
        catch_unwind(AssertUnwindSafe(|| {
            sub.poll_recv(cx).map(|e| e.map(|e| (e.sender, e.seq)))
        }))
    }

    /// Unparks its thread, then panics on every `n`th wake.
    struct Waking {
        thread: thread::Thread,
        n: u64,
        wakes: AtomicU64,
        tally: Arc<Tally>,
    }

    impl Wake for Waking {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.thread.unpark();
            if self.wakes.fetch_add(1, Ordering::SeqCst) % self.n == self.n - 1 {
                self.tally.wake_panics.fetch_add(1, Ordering::SeqCst);
                panic!("{WAKE_PANIC}");
            }
        }
    }

    /// Reads one event by clone, falling back to a read by reference when the clone panics
    /// (which must not have consumed it).
    fn read(sub: &mut tidings::Subscription<Ev>) -> Result<(usize, u64), TryRecvError> {
        match catch_unwind(AssertUnwindSafe(|| {
            sub.try_recv().map(|e| (e.sender, e.seq))
        })) {
            Ok(r) => r,
            Err(_) => sub.try_recv_ref().map(|e| {
                assert!(e.bad_clone, "only a hostile clone panics");
                (e.sender, e.seq)
            }),
        }
    }

    #[test]
    fn stress_with_panicking_clone_drop_and_wakers() {
        quiet_hook();
        super::rounds("panicking clone, drop and wakers", round);
    }

    fn round() {
        const SENDERS: usize = 3;
        let n = super::per_sender();
        let tally = Arc::new(Tally::default());
        let bus = Bus::new();
        let stop = Arc::new(AtomicBool::new(false));
        // Parked readers, polled by hand with wakers that panic every third wake: they must
        // still see every event in order, and every panic must be counted.
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let mut sub = bus.subscribe::<Ev>();
                let tally = tally.clone();
                thread::spawn(move || {
                    let waker = Waker::from(Arc::new(Waking {
                        thread: thread::current(),
                        n: 3 + r,
                        wakes: AtomicU64::new(0),
                        tally,
                    }));
                    let mut cx = Context::from_waker(&waker);
                    let mut last = [None; SENDERS];
                    let mut got = 0u64;
                    loop {
                        match read(&mut sub) {
                            Ok((s, seq)) => {
                                assert!(last[s].is_none_or(|p| seq > p), "out of order");
                                last[s] = Some(seq);
                                got += 1;
                            }
                            Err(TryRecvError::Closed) => return got,
                            Err(TryRecvError::Empty) => {
                                // Park: `poll_recv` registers the waker; a hostile clone here
                                // is caught and the event read next time round.
                                match poll(&mut sub, &mut cx) {
                                    Ok(Poll::Pending) => thread::park(),
                                    Ok(Poll::Ready(Some((s, seq)))) => {
                                        assert!(last[s].is_none_or(|p| seq > p));
                                        last[s] = Some(seq);
                                        got += 1;
                                    }
                                    Ok(Poll::Ready(None)) => return got,
                                    Err(_) => {}
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        // Churners: subscribe, park with a waker that always panics, drop (sometimes after
        // reading a little): the parked node must go with it, and a send must never panic.
        let churners: Vec<_> = (0..2)
            .map(|_| {
                let (bus, stop, tally) = (bus.clone(), stop.clone(), tally.clone());
                thread::spawn(move || {
                    let waker = Waker::from(Arc::new(Waking {
                        thread: thread::current(),
                        n: 1,
                        wakes: AtomicU64::new(0),
                        tally,
                    }));
                    let mut cx = Context::from_waker(&waker);
                    let mut round = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let mut sub = bus.subscribe::<Ev>();
                        for _ in 0..round % 8 {
                            let _ = read(&mut sub);
                        }
                        let _ = poll(&mut sub, &mut cx);
                        drop(sub);
                        round += 1;
                    }
                })
            })
            .collect();
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let (bus, tally) = (bus.clone(), tally.clone());
                thread::spawn(move || {
                    for seq in 0..n {
                        tally.originals.fetch_add(1, Ordering::SeqCst);
                        let ev = Ev {
                            sender: s,
                            seq,
                            payload: format!("{s}:{seq}"),
                            bad_clone: seq % 7 == 1,
                            bad_drop: seq % 5 == 2,
                            original: true,
                            tally: tally.clone(),
                        };
                        let sent = catch_unwind(AssertUnwindSafe(|| bus.send(ev).is_ok()));
                        assert!(matches!(sent, Ok(true)), "send panicked or failed");
                    }
                })
            })
            .collect();
        super::join_all(senders);
        stop.store(true, Ordering::Relaxed);
        super::join_all(churners);
        bus.close();
        for r in readers {
            assert_eq!(
                r.join().unwrap(),
                SENDERS as u64 * n,
                "a reader lost events"
            );
        }
        assert_eq!(bus.stats().topics.len(), 0, "every subscription is gone");
        // Every original is dropped once, by the bus (every send succeeded).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while tally.originals_dropped.load(Ordering::SeqCst)
            < tally.originals.load(Ordering::SeqCst)
            && std::time::Instant::now() < deadline
        {
            for _ in 0..64 {
                crossbeam_epoch::pin().flush();
            }
            thread::yield_now();
        }
        assert_eq!(
            tally.originals_dropped.load(Ordering::SeqCst),
            tally.originals.load(Ordering::SeqCst),
            "an event value leaked"
        );
        let expected =
            tally.drop_panics.load(Ordering::SeqCst) + tally.wake_panics.load(Ordering::SeqCst);
        assert!(tally.drop_panics.load(Ordering::SeqCst) > 0);
        assert_eq!(
            bus.stats().user_panics,
            expected,
            "contained panics miscounted"
        );
    }
}
