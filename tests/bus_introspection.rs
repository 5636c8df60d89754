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
    let ids: Vec<u64> = (0..100)
        .map(|_| Bus::new().id()) // each dropped at once
        .chain(std::iter::once(a_id))
        .collect();
    let unique: std::collections::HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an id was handed out twice");
    let t = std::thread::spawn(|| Bus::new().id()).join().unwrap();
    assert!(!unique.contains(&t));
}
