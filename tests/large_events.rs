//! Issue 12, item 4: large events on an ordinary thread. A segment holds 64 events, so building
//! one on the stack before boxing it needs 64 times the event's size there: a debug build
//! overflowed a 2 MiB stack in `subscribe` for 8 KiB events. Segments are built in place.

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

#[test]
fn sending_and_receiving_256_kib_events_works() {
    on_a_thread(16, || {
        let bus = tidings::Bus::new();
        let mut sub = bus.subscribe::<Big>();
        for i in 0..3u8 {
            let mut big = Big([0; 256 << 10]);
            big.0[0] = i;
            big.0[(256 << 10) - 1] = i;
            assert!(bus.send(big).is_ok());
        }
        for i in 0..2u8 {
            let got = sub.try_recv_ref().expect("sent");
            assert_eq!((got.0[0], got.0[(256 << 10) - 1]), (i, i));
        }
        let got = sub.try_recv().unwrap_or_else(|_| panic!("sent"));
        assert_eq!((got.0[0], got.0[(256 << 10) - 1]), (2, 2));
    });
}
