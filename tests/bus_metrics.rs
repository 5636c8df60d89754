//! Numbers a service exports to its metrics: per subscription (`Subscription::stats`) and per
//! event type (`Bus::stats`), each one lock-free snapshot call.

use tidings::{Bus, Overflow};

#[test]
fn subscription_stats_count_backlog_and_received() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u32>();
    let s = sub.stats();
    assert_eq!((s.backlog, s.received, s.closed), (0, 0, false));
    assert_eq!(s.type_name, "u32");
    for i in 0..100u32 {
        bus.send(i).unwrap();
    }
    for _ in 0..30 {
        sub.try_recv().unwrap();
    }
    let s = sub.stats();
    assert_eq!((s.backlog, s.received), (70, 30));
    // A resubscription counts from its own start.
    let again = sub.resubscribe();
    assert_eq!((again.stats().backlog, again.stats().received), (70, 0));
    bus.close();
    while sub.try_recv().is_ok() {}
    let s = sub.stats();
    assert_eq!((s.backlog, s.received, s.closed), (0, 100, true));
    let late = bus.subscribe::<u32>().stats();
    assert_eq!((late.backlog, late.received, late.closed), (0, 0, true));
}

#[test]
fn topic_stats_report_the_bytes_a_backlog_retains() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<[u64; 4]>();
    let empty = bus.stats().topic::<[u64; 4]>().unwrap().retained_bytes;
    assert!(empty >= 64 * 32, "one segment of 64 32-byte slots: {empty}");
    // 100 segments; 10 under miri (scripts/miri.sh).
    const N: u64 = if cfg!(miri) { 640 } else { 6_400 };
    for i in 0..N {
        bus.send([i; 4]).unwrap();
    }
    let t = bus.stats();
    let t = t.topic::<[u64; 4]>().unwrap();
    assert!(t.retained_segments >= N as usize / 64, "{t:?}");
    assert_eq!(t.retained_bytes, t.retained_segments * empty, "{t:?}");
    assert_eq!((t.sent, t.dropped), (N, 0));
    while sub.try_recv().is_ok() {}
    let after = bus.stats().topic::<[u64; 4]>().unwrap().retained_bytes;
    assert!(after <= 8 * empty, "caught up, a few segments: {after}");
}

#[test]
fn subscription_stats_count_what_a_bounded_topic_made_it_miss() {
    let bus = Bus::builder()
        .bound::<u32>(64, Overflow::DropOldest)
        .build();
    let mut sub = bus.subscribe::<u32>();
    for i in 0..1000u32 {
        bus.send(i).unwrap();
    }
    while sub.try_recv().is_ok() {}
    let s = sub.stats();
    assert!(s.missed > 0, "{s:?}");
    assert_eq!(s.missed, sub.missed());
    assert_eq!(s.received + s.missed, 1000, "{s:?}");
    assert_eq!(s.backlog, 0);
}
