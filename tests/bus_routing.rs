//! Events are routed by exact type.

use std::sync::Arc;

use tidings::{Bus, SendError, TryRecvError};

#[derive(Clone, Debug, PartialEq)]
struct Login(u32);

#[derive(Clone, Debug, PartialEq)]
struct Wrapped(Login);

#[test]
fn exact_type_routing_keeps_e_arc_e_and_wrapper_apart() {
    let bus = Bus::new();
    let mut plain = bus.subscribe::<Login>();
    let mut arced = bus.subscribe::<Arc<Login>>();
    let mut wrapped = bus.subscribe::<Wrapped>();

    bus.send(Login(1)).unwrap();
    assert_eq!(plain.try_recv(), Ok(Login(1)));
    assert_eq!(arced.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(wrapped.try_recv(), Err(TryRecvError::Empty));

    bus.send(Arc::new(Login(2))).unwrap();
    assert_eq!(arced.try_recv().as_deref(), Ok(&Login(2)));
    assert_eq!(plain.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(wrapped.try_recv(), Err(TryRecvError::Empty));

    bus.send(Wrapped(Login(3))).unwrap();
    assert_eq!(wrapped.try_recv(), Ok(Wrapped(Login(3))));
    assert_eq!(plain.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(arced.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn a_type_without_subscription_is_not_delivered_elsewhere() {
    let bus = Bus::new();
    let mut numbers = bus.subscribe::<u64>();
    assert_eq!(bus.send(7u32), Err(SendError::NoSubscribers(7u32)));
    assert_eq!(bus.send(7i64), Err(SendError::NoSubscribers(7i64)));
    assert_eq!(numbers.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn many_types_interleaved_each_get_their_own_stream() {
    let bus = Bus::new();
    let mut a = bus.subscribe::<u8>();
    let mut b = bus.subscribe::<u16>();
    let mut c = bus.subscribe::<String>();
    for i in 0..200u16 {
        bus.send(i as u8).unwrap();
        bus.send(i).unwrap();
        bus.send(i.to_string()).unwrap();
    }
    for i in 0..200u16 {
        assert_eq!(a.try_recv(), Ok(i as u8));
        assert_eq!(b.try_recv(), Ok(i));
        assert_eq!(c.try_recv(), Ok(i.to_string()));
    }
    assert_eq!(a.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn buses_do_not_share_events() {
    let one = Bus::new();
    let two = Bus::new();
    let mut on_two = two.subscribe::<u8>();
    assert!(one.send(1u8).is_err());
    assert_eq!(on_two.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn dropping_one_of_two_subscriptions_keeps_the_type_routed() {
    let bus = Bus::new();
    for _ in 0..3 {
        let a = bus.subscribe::<u32>();
        let mut b = bus.subscribe::<u32>();
        drop(a);
        assert_eq!(bus.send(7u32), Ok(()), "b still listens");
        assert_eq!(b.try_recv(), Ok(7));
        drop(b);
        assert_eq!(
            bus.send(8u32),
            Err(tidings::SendError::NoSubscribers(8)),
            "nobody listens any more"
        );
    }
}
