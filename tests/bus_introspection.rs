//! `subscriber_count` and `stats`; and the public types' traits.

use std::fmt::Debug;

use tidings::{Bus, SendError, Subscription, TryRecvError};

#[test]
fn subscriber_count_follows_subscribe_and_drop() {
    let bus = Bus::new();
    assert_eq!(bus.subscriber_count::<u8>(), 0);
    let a = bus.subscribe::<u8>();
    let b = bus.subscribe::<u8>();
    let _c = bus.subscribe::<u16>();
    assert_eq!(bus.subscriber_count::<u8>(), 2);
    assert_eq!(bus.subscriber_count::<u16>(), 1);
    drop(a);
    assert_eq!(bus.subscriber_count::<u8>(), 1);
    drop(b);
    assert_eq!(bus.subscriber_count::<u8>(), 0);
    let _d = bus.subscribe::<u8>();
    assert_eq!(
        bus.subscriber_count::<u8>(),
        1,
        "a type can be subscribed again"
    );
}

#[test]
fn stats_report_sent_dropped_subscribers_and_retained_segments() {
    let bus = Bus::new();
    assert!(bus.stats().topics.is_empty());
    let mut fast = bus.subscribe::<u64>();
    let slow = bus.subscribe::<u64>();
    for i in 0..1_000u64 {
        bus.send(i).unwrap();
        fast.try_recv().unwrap();
    }
    let stats = bus.stats();
    assert!(!stats.closed);
    let t = stats.topic::<u64>().unwrap();
    assert_eq!(t.sent, 1_000);
    assert_eq!(t.dropped, 0);
    assert_eq!(t.subscribers, 2);
    assert!(t.type_name.contains("u64"));
    // 1,000 events at 64 per segment, all held by the slow subscription.
    assert!((16..=17).contains(&t.retained_segments), "{t:?}");

    drop(slow);
    let t = bus.stats().topic::<u64>().unwrap().clone();
    assert!(t.retained_segments <= 2, "{t:?}");
    assert_eq!(t.subscribers, 1);

    bus.close();
    assert!(bus.send(1u64).is_err());
    let stats = bus.stats();
    assert!(stats.closed);
    let t = stats.topic::<u64>().unwrap();
    assert_eq!((t.sent, t.dropped), (1_000, 1));
}

/// Issue 17: `TopicStats::backlog`, the events a type's topic holds for its subscriptions, by
/// whole segments: at least the slowest subscription's `len()`, at most one segment more
/// (unbounded and Backpressure); for DropOldest, bounded however many were sent.
#[test]
fn topic_backlog_counts_the_events_held_for_the_slowest_subscription() {
    use tidings::Overflow;

    let backlog = |bus: &Bus| bus.stats().topic::<u64>().unwrap().backlog;
    for bus in [
        Bus::new(),
        Bus::builder()
            .bound::<u64>(1000, Overflow::Backpressure)
            .build(),
    ] {
        let mut slow = bus.subscribe::<u64>();
        let mut fast = bus.subscribe::<u64>();
        assert_eq!(backlog(&bus), 0);
        for i in 0..10u64 {
            bus.send(i).unwrap();
        }
        assert_eq!(backlog(&bus), 10);
        for i in 10..300u64 {
            bus.send(i).unwrap();
            fast.try_recv().unwrap();
        }
        // The slowest has read nothing: all 300 are held for it, whatever the others read.
        assert_eq!(backlog(&bus), 300);
        for _ in 0..10 {
            fast.try_recv().unwrap();
        }
        for _ in 0..200 {
            slow.try_recv().unwrap();
        }
        // It is in the fourth segment (192..256) now: the three before are freed.
        assert_eq!(slow.len(), 100);
        assert_eq!(backlog(&bus), 300 - 192);
        let held = backlog(&bus) as usize;
        assert!(held >= slow.len() && held <= slow.len() + 64);
        drop(slow);
        // `fast` has read everything; what the tail segment holds stays until it is freed.
        assert_eq!(backlog(&bus), 300 - 256);
    }
    // DropOldest: bounded by the capacity (plus the segment an overtaken laggard holds).
    let bus = Bus::builder()
        .bound::<u64>(100, Overflow::DropOldest)
        .build();
    let lag = bus.subscribe::<u64>();
    // Fewer under miri (scripts/miri.sh): still many times the capacity.
    for i in 0..if cfg!(miri) { 500 } else { 100_000u64 } {
        bus.send(i).unwrap();
    }
    let held = backlog(&bus) as usize;
    assert!(held >= lag.len() && held < 100 + 3 * 64, "{held}");
}

#[test]
fn topic_disappears_from_stats_when_its_last_subscription_leaves() {
    // Haiway kept a type's head in its map forever; tidings removes the topic.
    let bus = Bus::new();
    let sub = bus.subscribe::<u32>();
    bus.send(1u32).unwrap();
    assert!(bus.stats().topic::<u32>().is_some());
    drop(sub);
    assert!(bus.stats().topic::<u32>().is_none());
}

fn assert_traits<T: Send + Sync + Clone + Default + Debug>() {}
fn assert_sub_traits<T: Send + Unpin + Debug>() {}
fn assert_error<T: std::error::Error + Clone + Copy + PartialEq + Eq + Send + Sync + 'static>() {}

#[test]
fn public_types_have_the_promised_traits() {
    assert_traits::<Bus>();
    assert_sub_traits::<Subscription<String>>();
    // `E` need not be Clone to subscribe.
    struct NotClone;
    assert_sub_traits::<Subscription<std::sync::Mutex<NotClone>>>();
    assert_error::<TryRecvError>();
    fn std_error<T: std::error::Error + Send + Sync + 'static>() {}
    std_error::<SendError<NotClone>>();

    let bus = Bus::new();
    let sub = bus.subscribe::<u8>();
    assert!(format!("{bus:?}").contains("Bus"));
    assert!(format!("{sub:?}").contains("u8"));
    assert_eq!(TryRecvError::Empty.to_string(), "no event available");
}

#[test]
fn bus_ids_are_shared_by_clones_and_never_reused() {
    let a = Bus::new();
    let a_id = a.id();
    assert_eq!(a.clone().id(), a_id);
    // 20 under miri (scripts/miri.sh), where a bus costs about a second.
    let ids: Vec<u64> = (0..if cfg!(miri) { 20 } else { 100 })
        .map(|_| Bus::new().id()) // each dropped at once
        .chain(std::iter::once(a_id))
        .collect();
    let unique: std::collections::HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an id was handed out twice");
    let t = std::thread::spawn(|| Bus::new().id()).join().unwrap();
    assert!(!unique.contains(&t));
}
