//! loom models of tidings' concurrency protocol. Run them with `scripts/loom.sh`.
//!
//! Each model is tiny (two or three threads, a handful of operations) and names the bug it
//! would catch. Under `--cfg tidings_loom` segments hold 2 slots, so a few sends cross segment
//! boundaries, and every segment is registered (`tidings::__loom`), so a model can check that
//! none is used after it was freed, freed twice or leaked.

use std::cell::Cell;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use tidings::{Bus, Overflow, SendError, Subscription, TryRecvError};

thread_local! {
    /// Live `Ev` values on this OS thread, which runs every thread of a loom model.
    static LIVE_EVENTS: Cell<isize> = const { Cell::new(0) };
}

/// An event that counts its live copies, and owns heap memory so that a torn or
/// half-published value would be read through loom's checked cells.
#[derive(Debug, PartialEq)]
struct Ev(Box<u32>);

impl Ev {
    fn new(v: u32) -> Self {
        LIVE_EVENTS.with(|c| c.set(c.get() + 1));
        Ev(Box::new(v))
    }
}

impl Clone for Ev {
    fn clone(&self) -> Self {
        Ev::new(*self.0)
    }
}

impl Drop for Ev {
    fn drop(&mut self) {
        LIVE_EVENTS.with(|c| c.set(c.get() - 1));
    }
}

#[cfg(tidings_loom_epoch)]
fn assert_all_freed() {}

// Unused when the leak check is off (`tidings_loom_epoch`).
#[cfg_attr(tidings_loom_epoch, allow(dead_code))]
fn live_events() -> isize {
    LIVE_EVENTS.with(Cell::get)
}

/// Drains what is ready now.
fn drain(sub: &mut Subscription<Ev>) -> Vec<u32> {
    let mut out = Vec::new();
    while let Ok(ev) = sub.try_recv() {
        out.push(*ev.0);
    }
    out
}

/// The end of every model: with everything dropped and no thread pinned, the epoch gives back
/// every retired segment, and no segment or event value is left.
///
/// With the real crossbeam-epoch (`--cfg tidings_loom_epoch`) this cannot be checked: loom
/// threads hand their bags of deferred frees to the collector only when the execution is torn
/// down. Use-after-free and double free are still checked on every access.
#[cfg(not(tidings_loom_epoch))]
fn assert_all_freed() {
    tidings::__loom::flush_epoch(1);
    assert_eq!(tidings::__loom::live_segments(), 0, "a segment leaked");
    assert_eq!(live_events(), 0, "an event value leaked");
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    loom::model(move || {
        LIVE_EVENTS.with(|c| c.set(0));
        f();
        assert_all_freed();
    });
}

/// Subscribe racing a send. Catches a subscription that reads its start index before its
/// count is visible to senders (so a send that starts after `subscribe` returned is lost), a
/// cursor that starts inside an index already claimed (event seen twice or half-written), and
/// a registry update that hides the topic from the sender.
#[test]
fn subscribe_vs_send() {
    model(|| {
        let bus = Bus::new();
        let mut early = bus.subscribe::<Ev>();
        let subscribed = Arc::new(AtomicBool::new(false));
        let (b, flag) = (bus.clone(), subscribed.clone());
        let sender = thread::spawn(move || {
            // Read before the send starts: if set, `subscribe` returned before it.
            let after = flag.load(Ordering::SeqCst);
            b.send(Ev::new(1)).unwrap();
            after
        });
        let mut late = bus.subscribe::<Ev>();
        subscribed.store(true, Ordering::SeqCst);
        // Read while the send may be half-way through, and again after it.
        let mut got = drain(&mut late);
        let after = sender.join().unwrap();
        got.extend(drain(&mut late));
        assert_eq!(drain(&mut early), [1]);
        assert!(got.len() <= 1, "seen twice: {got:?}");
        if after {
            assert_eq!(
                got,
                [1],
                "a send that started after subscribe returned was lost"
            );
        }
    });
}

/// Two senders race to fill the last slots of a segment that neither finds installed, so both
/// try to install it, while a subscription reads across the boundary. Catches a successor
/// installed twice or a loser that writes into its own unpublished copy (an event lost, a
/// segment leaked), a claim written into the wrong segment, a value read before it is
/// published (loom's cell checks), and two subscriptions disagreeing on the order.
#[test]
fn segment_boundary() {
    model(|| {
        let bus = Bus::new();
        let mut a = bus.subscribe::<Ev>();
        let mut b = bus.subscribe::<Ev>();
        // Indices 0 and 1 fill the first segment; 2 and 3 go to the second, not yet installed.
        bus.send(Ev::new(0)).unwrap();
        bus.send(Ev::new(1)).unwrap();
        let senders: Vec<_> = [2, 3]
            .into_iter()
            .map(|v| {
                let bus = bus.clone();
                thread::spawn(move || bus.send(Ev::new(v)).unwrap())
            })
            .collect();
        let mut seen = drain(&mut a);
        for s in senders {
            s.join().unwrap();
        }
        seen.extend(drain(&mut a));
        assert!(seen == [0, 1, 2, 3] || seen == [0, 1, 3, 2], "{seen:?}");
        assert_eq!(drain(&mut b), seen, "subscriptions disagree on the order");
    });
}

/// One subscription advances past segments while another, behind in the first segment, is
/// dropped and a sender appends into a new segment. Dropping the one behind lets two
/// segments die in one cascade. Catches a segment freed while a cursor or a sender still
/// uses it, one freed twice (two reference drops both seeing zero), and segments or values
/// never freed (a cascade that stops early, a reference never dropped).
#[test]
fn reclamation() {
    model(|| {
        let bus = Bus::new();
        let mut ahead = bus.subscribe::<Ev>();
        let behind = bus.subscribe::<Ev>();
        for v in 0..4 {
            bus.send(Ev::new(v)).unwrap();
        }
        // `ahead` is at the end of the second segment, `behind` at the start of the first.
        let mut seen = drain(&mut ahead);
        let b = bus.clone();
        let sender = thread::spawn(move || b.send(Ev::new(4)).unwrap());
        let dropper = thread::spawn(move || drop(behind));
        seen.extend(drain(&mut ahead));
        sender.join().unwrap();
        dropper.join().unwrap();
        seen.extend(drain(&mut ahead));
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        // Everything but the segment `ahead` is in is dead; the model's end checks that it
        // and every value are freed once `ahead` and the bus go.
        drop(ahead);
        drop(bus);
    });
}

/// A subscription parked in `recv` while a sender publishes: it must be woken, also when the
/// wake races with the registration of the waker. A lost wake-up shows as a loom deadlock.
/// Catches a missing fence on either side of the Dekker pattern, and a sender that skips the
/// wake because it read a stale empty wait list.
#[test]
fn wake_up() {
    model(|| {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<Ev>();
        let b = bus.clone();
        let sender = thread::spawn(move || b.send(Ev::new(7)).unwrap());
        let got = loom::future::block_on(sub.recv());
        assert_eq!(got, Some(Ev::new(7)));
        sender.join().unwrap();
    });
}

/// A sender finds its topic in the registry's shard while the last subscription's drop takes
/// the topic out of the registry and lets go of its own reference. The registry owns one
/// reference per topic and gives it back through the epoch: the topic, and the segments it
/// holds (freed at once when a topic is dropped), must stay alive until the sender unpins, and
/// be freed after. Catches the registry's reference given back at once instead of deferred
/// (injected once in `Registry::swap`: loom failed the model, the sender having used the freed
/// topic, with "an event value leaked") and one never given back (a segment leaked).
#[test]
fn send_vs_last_unsubscribe_keeps_the_topic_alive() {
    model(|| {
        let bus = Bus::new();
        let sub = bus.subscribe::<Ev>();
        let b = bus.clone();
        let sender = thread::spawn(move || match b.send(Ev::new(1)) {
            Ok(()) | Err(SendError::NoSubscribers(_)) => {}
            Err(other) => panic!("send: {other:?}"),
        });
        drop(sub);
        sender.join().unwrap();
    });
}

/// Two threads subscribe to two new types at once while a third sends to an existing type.
/// Catches a copy-on-write registry update that is lost (a subscription whose topic is not in
/// the registry never gets events) or that drops an existing topic.
#[test]
fn registry() {
    #[derive(Clone, Debug, PartialEq)]
    struct A(u8);
    #[derive(Clone, Debug, PartialEq)]
    struct B(u8);
    loom::model(|| {
        let bus = Bus::new();
        let mut existing = bus.subscribe::<u32>();
        let (ba, bb) = (bus.clone(), bus.clone());
        let ta = thread::spawn(move || ba.subscribe::<A>());
        let tb = thread::spawn(move || bb.subscribe::<B>());
        bus.send(9u32).unwrap();
        let (mut a, mut b) = (ta.join().unwrap(), tb.join().unwrap());
        bus.send(A(1)).unwrap();
        bus.send(B(2)).unwrap();
        assert_eq!(a.try_recv(), Ok(A(1)));
        assert_eq!(b.try_recv(), Ok(B(2)));
        assert_eq!(existing.try_recv(), Ok(9));
        assert_eq!(existing.try_recv(), Err(TryRecvError::Empty));
    });
}

/// Two first subscriptions of one type on a new bus, each finding its shard without a cell,
/// race to make the cell (`registry::Cells`). Catches a cell installed over another (a plain
/// store instead of the compare-and-swap): the first registration's topic is lost with the
/// cell it was in, so its subscription never gets the event and the count reads 1.
#[test]
fn first_registrations_race_to_make_the_shard_cell() {
    model(|| {
        let bus = Bus::new();
        let (b1, b2) = (bus.clone(), bus.clone());
        let t1 = thread::spawn(move || b1.subscribe::<Ev>());
        let t2 = thread::spawn(move || b2.subscribe::<Ev>());
        let (mut s1, mut s2) = (t1.join().unwrap(), t2.join().unwrap());
        assert_eq!(bus.subscriber_count::<Ev>(), 2);
        bus.send(Ev::new(7)).unwrap();
        assert_eq!(drain(&mut s1), [7], "a subscription lost its topic");
        assert_eq!(drain(&mut s2), [7], "a subscription lost its topic");
    });
}

/// A subscription parks twice in a row while two senders publish, so its wait node is queued,
/// taken and queued again while a waker may still be walking it. Catches a lost wake-up when
/// the taker's clearing of `queued` does not synchronise with the owner's re-registration.
#[test]
fn wake_up_twice() {
    model(|| {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<Ev>();
        let senders: Vec<_> = [1, 2]
            .into_iter()
            .map(|v| {
                let bus = bus.clone();
                thread::spawn(move || bus.send(Ev::new(v)).unwrap())
            })
            .collect();
        let first = loom::future::block_on(sub.recv()).unwrap();
        let second = loom::future::block_on(sub.recv()).unwrap();
        let mut got = [*first.0, *second.0];
        got.sort();
        assert_eq!(got, [1, 2]);
        for s in senders {
            s.join().unwrap();
        }
    });
}

/// Closing races a send and a parked receive. The receive must end (no lost wake-up of a
/// receiver that registered and re-checked `closed` concurrently) and must first deliver the
/// event if and only if the send succeeded.
#[test]
fn close_vs_send_and_recv() {
    model(|| {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<Ev>();
        let (b1, b2) = (bus.clone(), bus.clone());
        let sender = thread::spawn(move || b1.send(Ev::new(5)).is_ok());
        let closer = thread::spawn(move || b2.close());
        let mut got = Vec::new();
        while let Some(ev) = loom::future::block_on(sub.recv()) {
            got.push(*ev.0);
        }
        let sent = sender.join().unwrap();
        closer.join().unwrap();
        assert_eq!(got, if sent { vec![5] } else { vec![] });
    });
}

/// A subscription that has just received a burst (two events in a row) yields once before it
/// parks (wakes its own task and returns `Pending`; `BURST`) while a third send and a close race
/// it. The poll after the yield may find the event, the end, or nothing and park; in every case
/// the receive must end with exactly the events that were sent. Catches a yield that consumes a
/// slot it did not find ready, that misses the close, or that returns `Pending` without waking
/// itself or parking (a loom deadlock).
#[test]
fn burst_then_park() {
    model(|| {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<Ev>();
        bus.send(Ev::new(1)).unwrap();
        bus.send(Ev::new(2)).unwrap();
        let (b1, b2) = (bus.clone(), bus.clone());
        let sender = thread::spawn(move || b1.send(Ev::new(3)).is_ok());
        let closer = thread::spawn(move || b2.close());
        let mut got = Vec::new();
        while let Some(ev) = loom::future::block_on(sub.recv()) {
            got.push(*ev.0);
        }
        let sent = sender.join().unwrap();
        closer.join().unwrap();
        assert_eq!(got, if sent { vec![1, 2, 3] } else { vec![1, 2] });
    });
}

/// A send after `close` must fail with `Closed`, whatever it finds in the registry: also when
/// the last subscription is leaving concurrently and the topic is dead or already removed.
#[test]
fn send_after_close_reports_closed() {
    model(|| {
        let bus = Bus::new();
        let sub = bus.subscribe::<Ev>();
        bus.close();
        let dropper = thread::spawn(move || drop(sub));
        match bus.send(Ev::new(1)) {
            Err(SendError::Closed(_)) => {}
            other => panic!("send after close: {other:?}"),
        }
        dropper.join().unwrap();
    });
}

/// Senders race to move the tail segment forward while a subscription reads past it. A sender
/// that took a reference on its segment to make it the tail, and then found the tail already
/// further on, gives the reference back, and that may be the last one (the subscription has
/// moved past too): catches statistics (`retained_segments`) that forget the segments freed
/// there, and a reference given back twice or never.
#[test]
fn tail_advance_race_keeps_segment_count() {
    model(|| {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<Ev>();
        bus.send(Ev::new(0)).unwrap();
        bus.send(Ev::new(1)).unwrap();
        let b1 = bus.clone();
        let t1 = thread::spawn(move || b1.send(Ev::new(2)).unwrap());
        let b2 = bus.clone();
        let t2 = thread::spawn(move || {
            b2.send(Ev::new(3)).unwrap();
            b2.send(Ev::new(4)).unwrap();
        });
        let mut seen = drain(&mut sub);
        t1.join().unwrap();
        t2.join().unwrap();
        seen.extend(drain(&mut sub));
        assert_eq!(seen.len(), 5, "{seen:?}");
        tidings::__loom::flush_epoch(1);
        let retained = bus.stats().topic::<Ev>().unwrap().retained_segments;
        assert_eq!(
            retained,
            tidings::__loom::live_segments(),
            "statistics drifted"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Bounded topics (issue 14). Under loom a segment holds 2 slots, so capacity 1 makes `head`
// move past a segment every other send.

/// DropOldest: a laggard crosses out of its segment while a sender moves `head` past that
/// segment and the next one, freeing what no cursor holds. The laggard must either step into
/// the successor (if `head` had not passed its segment when it looked) or jump to `head`, and
/// never touch a freed segment; what it gets is in order, and received + missed = sent.
/// Catches a cursor that follows `next` out of a cut segment without checking `head` (a use of
/// a freed segment: injected once by replacing the `head_start` check in
/// `Live::cross_dropping` with `true`, loom reported "use of a freed segment"), a cut that
/// does not stop the cascade (window segments freed under `head`), and a miscount of missed.
#[test]
fn drop_oldest_laggard_vs_trim() {
    model(|| {
        let bus = Bus::builder().bound::<Ev>(1, Overflow::DropOldest).build();
        let mut lag = bus.subscribe::<Ev>();
        bus.send(Ev::new(0)).unwrap();
        bus.send(Ev::new(1)).unwrap();
        assert_eq!(drain(&mut lag), [0, 1]);
        let b = bus.clone();
        let sender = thread::spawn(move || {
            for v in 2..6 {
                b.send(Ev::new(v)).unwrap();
            }
        });
        let mut got = drain(&mut lag);
        sender.join().unwrap();
        got.extend(drain(&mut lag));
        assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order: {got:?}");
        assert_eq!(
            got.len() as u64 + lag.missed(),
            4,
            "{got:?}, missed {}",
            lag.missed()
        );
        assert_eq!(got.last(), Some(&5), "the newest is always retained");
    });
}

/// DropOldest: a subscription is dropped (its segment freed) while a sender trims and another
/// subscription crosses segments. Catches a dead cut segment that still cascades (its link
/// reference belongs to `head`: injected once by deleting `hs.cut()` in `Topic::trim`, loom
/// reported a use of a freed segment), a segment freed twice, and a segment or value leaked by
/// a cascade cut short.
#[test]
fn drop_oldest_drop_vs_trim() {
    model(|| {
        let bus = Bus::builder().bound::<Ev>(1, Overflow::DropOldest).build();
        let lag = bus.subscribe::<Ev>();
        let mut fast = bus.subscribe::<Ev>();
        bus.send(Ev::new(0)).unwrap();
        bus.send(Ev::new(1)).unwrap();
        let b = bus.clone();
        let sender = thread::spawn(move || {
            for v in 2..6 {
                b.send(Ev::new(v)).unwrap();
            }
        });
        let dropper = thread::spawn(move || drop(lag));
        let mut got = drain(&mut fast);
        sender.join().unwrap();
        dropper.join().unwrap();
        got.extend(drain(&mut fast));
        assert_eq!(got.len() as u64 + fast.missed(), 6, "{got:?}");
    });
}

/// Backpressure: a sender finds the topic full and waits in `send_async` while the reader reads
/// the event that makes room. A lost wake-up shows as a loom deadlock. Catches a sender that
/// parks without the SeqCst fence before its second look, and a reader that publishes its
/// position without looking for parked senders (injected once by deleting the wake in
/// `Topic::publish_position`: loom reported a deadlock).
#[test]
fn full_sender_vs_reader() {
    model(|| {
        let bus = Bus::builder()
            .bound::<Ev>(1, Overflow::Backpressure)
            .build();
        let mut sub = bus.subscribe::<Ev>();
        bus.send(Ev::new(1)).unwrap();
        let reader = thread::spawn(move || {
            let first = sub.try_recv().map(|e| *e.0);
            (first, sub)
        });
        let sent = loom::future::block_on(bus.send_async(Ev::new(2)));
        assert!(sent.is_ok());
        let (first, mut sub) = reader.join().unwrap();
        assert_eq!(first, Ok(1), "room appeared only through this read");
        assert_eq!(drain(&mut sub), [2]);
    });
}

/// Backpressure: as `full_sender_vs_reader`, with the room made by a batch read
/// (`try_recv_many`), which publishes its position once per segment run, when the run's cursor
/// mover is dropped. Catches a batch read that moves the cursor without publishing (injected
/// once by deleting the publish in `CursorMover`'s `Drop`: loom reported a deadlock).
#[test]
fn full_sender_vs_batch_reader() {
    model(|| {
        let bus = Bus::builder()
            .bound::<Ev>(2, Overflow::Backpressure)
            .build();
        let mut sub = bus.subscribe::<Ev>();
        bus.send(Ev::new(1)).unwrap();
        bus.send(Ev::new(2)).unwrap();
        let reader = thread::spawn(move || {
            let mut buf = Vec::new();
            let taken = sub.try_recv_many(&mut buf, 8);
            let got: Vec<u32> = buf.iter().map(|e: &Ev| *e.0).collect();
            (taken, got, sub)
        });
        let sent = loom::future::block_on(bus.send_async(Ev::new(3)));
        assert!(sent.is_ok());
        let (taken, mut got, mut sub) = reader.join().unwrap();
        // The run ends at the first segment's end (2 events under loom), where the position
        // is published; the read may then go on into the next segment and find 3 there.
        assert_eq!(taken, Ok(got.len()));
        got.extend(drain(&mut sub));
        assert_eq!(got, [1, 2, 3]);
    });
}

/// Backpressure: a sender waits on a full topic while the bus closes. It must wake and get its
/// event back in `Closed` (a deadlock otherwise). Catches a close that does not wake parked
/// senders (injected once by deleting `self.senders.wake_all()` in `Topic::close`: loom
/// reported a deadlock) and a sender that re-checks room but not the close.
#[test]
fn full_sender_vs_close() {
    model(|| {
        let bus = Bus::builder()
            .bound::<Ev>(1, Overflow::Backpressure)
            .build();
        let mut sub = bus.subscribe::<Ev>();
        bus.send(Ev::new(1)).unwrap();
        let b = bus.clone();
        let closer = thread::spawn(move || b.close());
        match loom::future::block_on(bus.send_async(Ev::new(2))) {
            Err(SendError::Closed(e)) => assert_eq!(*e.0, 2),
            other => panic!("nobody read, so only the close can end the wait: {other:?}"),
        }
        closer.join().unwrap();
        assert_eq!(drain(&mut sub), [1]);
    });
}

/// Backpressure: a sender waits on a full topic while its slowest subscription is dropped; the
/// other one has read everything, so the drop makes room. Catches a drop that frees the
/// position without waking parked senders (injected once by deleting the wake in
/// `Topic::release_position`: loom reported a deadlock), and a scan that still counts the
/// freed position.
#[test]
fn full_sender_vs_slow_subscription_drop() {
    model(|| {
        let bus = Bus::builder()
            .bound::<Ev>(1, Overflow::Backpressure)
            .build();
        let slow = bus.subscribe::<Ev>();
        let mut fast = bus.subscribe::<Ev>();
        bus.send(Ev::new(1)).unwrap();
        assert_eq!(drain(&mut fast), [1]);
        let dropper = thread::spawn(move || drop(slow));
        let sent = loom::future::block_on(bus.send_async(Ev::new(2)));
        assert!(sent.is_ok(), "{sent:?}");
        dropper.join().unwrap();
        assert_eq!(drain(&mut fast), [2]);
    });
}

/// Backpressure: the first subscription of a type is made (its topic registered, then its
/// position cell) while a sender sends four events. The sender may find the topic before the
/// cell exists and scan no position at all; the subscription must still never be more than the
/// bound (1) behind. Catches a gate raised to "no position" (`u64::MAX`) by such a scan, after
/// which every send is accepted (injected once by removing the cap `.min(raw)` in
/// `Topic::claim_gated`: loom found the subscription two behind).
#[test]
fn backpressure_first_subscription_vs_sender() {
    model(|| {
        let bus = Bus::builder()
            .bound::<Ev>(1, Overflow::Backpressure)
            .build();
        let b = bus.clone();
        let sender = thread::spawn(move || {
            for v in 0..4 {
                let _ = b.send(Ev::new(v));
            }
        });
        let mut sub = bus.subscribe::<Ev>();
        sender.join().unwrap();
        let got = drain(&mut sub);
        assert!(got.len() <= 1, "more than the bound behind: {got:?}");
    });
}

/// A run of two events (`send_all`) claimed from the last slot of one segment into the next
/// (segments hold 2 slots under loom) races a close, while a subscription waits in
/// `recv_many`. The run must land whole or not at all, and the waiting receive must end.
/// Catches a run claimed in pieces (part before the close and part after: half a run
/// delivered), a run written into the wrong segment or before its successor is installed, and
/// a `recv_many` parked on the run and never woken (a loom deadlock).
#[test]
fn send_all_across_a_segment_vs_close() {
    model(|| {
        let bus = Bus::new();
        let mut sub = bus.subscribe::<Ev>();
        // Index 0; the run claims 1 (segment 0's last slot) and 2 (segment 1's first).
        bus.send(Ev::new(1)).unwrap();
        let (b1, b2) = (bus.clone(), bus.clone());
        let sender = thread::spawn(move || b1.send_all([Ev::new(2), Ev::new(3)]).is_ok());
        let closer = thread::spawn(move || b2.close());
        let mut buf = Vec::new();
        while loom::future::block_on(sub.recv_many(&mut buf, 4)) > 0 {}
        let sent = sender.join().unwrap();
        closer.join().unwrap();
        let got: Vec<u32> = buf.iter().map(|e| *e.0).collect();
        assert_eq!(got, if sent { vec![1, 2, 3] } else { vec![1] });
    });
}

/// A run crossing a segment boundary races a new subscription. The subscription gets the whole
/// run or none of it, and the whole run if `subscribe` returned before `send_all` started.
/// Catches a late subscription whose cursor starts inside the run (half a run, or an event
/// read before it is written), and a run claimed in pieces that a subscription can fall
/// between.
#[test]
fn send_all_across_a_segment_vs_subscribe() {
    model(|| {
        let bus = Bus::new();
        let mut early = bus.subscribe::<Ev>();
        bus.send(Ev::new(1)).unwrap();
        let subscribed = Arc::new(AtomicBool::new(false));
        let (b, flag) = (bus.clone(), subscribed.clone());
        let sender = thread::spawn(move || {
            let after = flag.load(Ordering::SeqCst);
            b.send_all([Ev::new(2), Ev::new(3)]).unwrap();
            after
        });
        let mut late = bus.subscribe::<Ev>();
        subscribed.store(true, Ordering::SeqCst);
        let mut got = drain(&mut late);
        let after = sender.join().unwrap();
        got.extend(drain(&mut late));
        assert_eq!(drain(&mut early), [1, 2, 3]);
        assert!(got.is_empty() || got == [2, 3], "part of a run: {got:?}");
        if after {
            assert_eq!(
                got,
                [2, 3],
                "a run that started after subscribe returned was lost"
            );
        }
    });
}

/// Counts its wake-ups; a std `Arc`, so a model can check who still holds it.
struct Count(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn counting_waker() -> (std::sync::Arc<Count>, std::task::Waker) {
    let count = std::sync::Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
    (count.clone(), std::task::Waker::from(count))
}

fn wakes(count: &Count) -> usize {
    count.0.load(std::sync::atomic::Ordering::SeqCst)
}

/// Polls `sub` once with `waker`.
fn poll_once(sub: &mut Subscription<Ev>, waker: &std::task::Waker) -> std::task::Poll<Option<Ev>> {
    sub.poll_recv(&mut std::task::Context::from_waker(waker))
}

/// A parked subscription is dropped while a sender publishes and another subscription waits.
/// The leaving one takes the wait list (the loom limit on gone nodes is 0) racing the sender's
/// take. Catches a leave that takes the list without waking the live nodes on it (the waiting
/// subscription then sleeps through the send: a loom deadlock), a node woken after its owner
/// left, a waker kept after the drop, and a gone-node count that drifts (checked when the
/// topic's wait list is freed at the end).
#[test]
fn leave_while_parked_vs_send() {
    model(|| {
        let bus = Bus::new();
        let mut keep = bus.subscribe::<Ev>();
        let mut gone = bus.subscribe::<Ev>();
        let (count, waker) = counting_waker();
        assert!(poll_once(&mut gone, &waker).is_pending());
        drop(waker);
        let dropper = thread::spawn(move || drop(gone));
        let b = bus.clone();
        let sender = thread::spawn(move || b.send(Ev::new(1)).unwrap());
        assert_eq!(loom::future::block_on(keep.recv()), Some(Ev::new(1)));
        dropper.join().unwrap();
        sender.join().unwrap();
        assert_eq!(
            std::sync::Arc::strong_count(&count),
            1,
            "the waker was kept"
        );
        assert!(
            tidings::__loom::live_wait_nodes() <= 1,
            "the gone subscription's node is still allocated"
        );
    });
}

/// A parked subscription is dropped while no send comes and another subscription parks again.
/// Catches a node left on the list until the next send (the leak of the request-with-timeout
/// pattern), and a live node that the leave took off the list and did not wake, so that the
/// next send finds an empty list and wakes nobody.
#[test]
fn leave_while_parked_without_a_send() {
    model(|| {
        let bus = Bus::new();
        let mut keep = bus.subscribe::<Ev>();
        let mut gone = bus.subscribe::<Ev>();
        let (keep_count, keep_waker) = counting_waker();
        let (gone_count, gone_waker) = counting_waker();
        assert!(poll_once(&mut keep, &keep_waker).is_pending());
        assert!(poll_once(&mut gone, &gone_waker).is_pending());
        drop(gone_waker);
        let dropper = thread::spawn(move || drop(gone));
        // Polled again while the other leaves (an executor's spurious or real re-poll).
        assert!(poll_once(&mut keep, &keep_waker).is_pending());
        dropper.join().unwrap();
        assert_eq!(
            std::sync::Arc::strong_count(&gone_count),
            1,
            "the waker was kept"
        );
        assert_eq!(
            tidings::__loom::live_wait_nodes(),
            1,
            "the gone subscription's node outlived it without a send"
        );
        // Woken (maybe spuriously by the leave): an executor polls again, and it parks again.
        if wakes(&keep_count) > 0 {
            assert!(poll_once(&mut keep, &keep_waker).is_pending());
        }
        let before = wakes(&keep_count);
        bus.send(Ev::new(2)).unwrap();
        assert!(
            wakes(&keep_count) > before,
            "the send did not wake the parked subscription"
        );
        assert_eq!(
            poll_once(&mut keep, &keep_waker),
            std::task::Poll::Ready(Some(Ev::new(2)))
        );
    });
}
