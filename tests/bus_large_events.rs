//! Issue 12, item 4: large events on an ordinary thread. A segment holds 64 events, so building
//! one on the stack before boxing it needs 64 times the event's size there: a debug build
//! overflowed a 2 MiB stack in `subscribe` for 8 KiB events. Segments are built in place. A
//! send passed the event by value through every call down to its slot, and a debug build kept a
//! copy in each frame (about 4.5 MiB for a 256 KiB event); it is now moved once, into its slot.

use std::thread;

/// A 256 KiB event.
#[derive(Clone)]
struct Big([u8; 256 << 10]);

/// Runs `f` on a fresh thread with a stack of `mib` MiB.
fn on_a_thread(mib: usize, f: impl FnOnce() + Send + 'static) {
    thread::Builder::new()
        .stack_size(mib << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the thread did not overflow its stack or panic");
}

#[test]
fn subscribing_to_256_kib_events_fits_a_2_mib_thread() {
    assert_eq!(std::mem::size_of::<Big>(), 256 << 10);
    on_a_thread(2, || {
        let bus = tidings::Bus::new();
        let sub = bus.subscribe::<Big>();
        let more = bus.subscribe::<Big>();
        assert_eq!(bus.stats().topic::<Big>().unwrap().retained_segments, 1);
        drop((sub, more));
    });
}

// The test bodies below keep their own 256 KiB values in small helper functions: a debug build
// gives every temporary of a function its own stack slot, and a body holding a handful of
// events would fill a 2 MiB stack by itself, before the bus is called.

/// A 256 KiB event marked `i` at both ends.
#[inline(never)]
fn big(i: u8) -> Big {
    let mut big = Big([0; 256 << 10]);
    big.0[0] = i;
    big.0[(256 << 10) - 1] = i;
    big
}

/// Sends `big(i)`.
#[inline(never)]
fn send_big(bus: &tidings::Bus, i: u8) -> bool {
    bus.send(big(i)).is_ok()
}

/// The marks of an event sent by `send_big`.
fn marks(big: &Big) -> (u8, u8) {
    (big.0[0], big.0[(256 << 10) - 1])
}

#[inline(never)]
fn try_recv_ref_marks(sub: &mut tidings::Subscription<Big>) -> (u8, u8) {
    marks(sub.try_recv_ref().expect("sent"))
}

#[inline(never)]
fn try_recv_marks(sub: &mut tidings::Subscription<Big>) -> (u8, u8) {
    marks(&sub.try_recv().unwrap_or_else(|_| panic!("sent")))
}

#[inline(never)]
fn recv_blocking_marks(sub: &mut tidings::Subscription<Big>) -> (u8, u8) {
    marks(&sub.recv_blocking().expect("sent"))
}

#[test]
fn sending_and_receiving_256_kib_events_works() {
    on_a_thread(2, || {
        let bus = tidings::Bus::new();
        let mut sub = bus.subscribe::<Big>();
        for i in 0..4u8 {
            assert!(send_big(&bus, i));
        }
        assert_eq!(try_recv_ref_marks(&mut sub), (0, 0));
        assert_eq!(try_recv_ref_marks(&mut sub), (1, 1));
        assert_eq!(try_recv_marks(&mut sub), (2, 2));
        assert_eq!(recv_blocking_marks(&mut sub), (3, 3));
        drop((sub, bus));
    });
}

/// Sends `big(i)` and names the error that gave it back, with its marks.
#[inline(never)]
fn refused(bus: &tidings::Bus, i: u8) -> (&'static str, (u8, u8)) {
    use tidings::SendError;
    match &bus.send(big(i)) {
        Ok(()) => ("sent", (0, 0)),
        Err(SendError::NoSubscribers(back)) => ("no subscribers", marks(back)),
        Err(SendError::Closed(back)) => ("closed", marks(back)),
        Err(SendError::Full(back)) => ("full", marks(back)),
    }
}

/// Not yet on 2 MiB in a debug build: handing a refused event back by value still copies it in
/// `Bus::send` and the function that builds the error (about 1.5 MiB for 256 KiB, measured in
/// gdb); a successful send moves it once.
#[test]
fn a_refused_256_kib_event_comes_back_whole() {
    on_a_thread(4, || {
        let bus = tidings::Bus::new();
        assert_eq!(refused(&bus, 1), ("no subscribers", (1, 1)));
        let sub = bus.subscribe::<Big>();
        bus.close();
        assert_eq!(refused(&bus, 2), ("closed", (2, 2)));
        drop(sub);
    });
}

/// Every event sent is dropped exactly once: by the bus once nobody can read it, or by the
/// sender when it comes back.
#[test]
fn sent_and_refused_events_are_dropped_exactly_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Large enough to travel by reference.
    struct Counted(Arc<AtomicUsize>, #[allow(dead_code)] [u8; 64 << 10]);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    on_a_thread(2, {
        let drops = drops.clone();
        move || {
            let bus = tidings::Bus::new();
            drop(
                bus.send(Counted(drops.clone(), [0; 64 << 10]))
                    .expect_err("nobody"),
            );
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            let sub = bus.subscribe::<Counted>();
            for _ in 0..3 {
                assert!(bus.send(Counted(drops.clone(), [0; 64 << 10])).is_ok());
            }
            assert_eq!(drops.load(Ordering::SeqCst), 1, "stored, not dropped");
            drop(sub);
            drop(bus);
        }
    });
    // Reclamation is deferred through the epoch; flush it from this thread.
    for _ in 0..64 {
        if drops.load(Ordering::SeqCst) == 4 {
            break;
        }
        crossbeam_epoch::pin().flush();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}
