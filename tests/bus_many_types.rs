//! Many event types on one bus (issue 12, item 6): 1024 types route exactly, register
//! concurrently without loss, and registering one more type copies only a small shard of the
//! registry, so retired copies stay small however many types are live. Its own test binary,
//! with the counting global allocator of `support/counting_alloc.rs`; the tests take a lock so
//! that their counts do not mix.

mod support;

use std::any::Any;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::counting_alloc::{CountingAlloc, live_bytes, peak_bytes, reset_peak};
use support::many_types::{Ev, Types256, Visit, each_type};
use support::serial;
use tidings::{Bus, SendError, TryRecvError};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// How many types the tests use: all 256 (each distinct type is compiled separately, so more
/// would slow the build more than they add), or a few under miri (each type is a registry
/// swap, which miri runs some ten thousand times slower).
fn types() -> usize {
    if cfg!(miri) { 16 } else { 256 }
}

/// One subscription per type, with a check that it received exactly one event, its own.
struct Subscribe<'a> {
    bus: &'a Bus,
    limit: usize,
    skip: usize,
    step: usize,
    seen: usize,
    checks: Vec<Box<dyn FnMut() -> Result<(), String> + Send>>,
    sends: Vec<fn(&Bus) -> bool>,
}

impl<'a> Subscribe<'a> {
    /// Every `step`-th type from the `skip`-th, up to `limit` types of the tree.
    fn new(bus: &'a Bus, limit: usize, skip: usize, step: usize) -> Self {
        Subscribe {
            bus,
            limit,
            skip,
            step,
            seen: 0,
            checks: Vec::new(),
            sends: Vec::new(),
        }
    }
}

impl Visit for Subscribe<'_> {
    #[inline(never)]
    fn visit<E: Default + Clone + Send + Sync + 'static>(&mut self) {
        let index = self.seen;
        self.seen += 1;
        if index >= self.limit || index < self.skip || (index - self.skip) % self.step != 0 {
            return;
        }
        let mut sub = self.bus.subscribe::<E>();
        self.checks.push(Box::new(move || {
            let name = std::any::type_name::<E>();
            match (sub.try_recv(), sub.try_recv()) {
                (Ok(_), Err(TryRecvError::Empty)) => Ok(()),
                (first, second) => Err(format!(
                    "type {index} ({name}): {:?} then {:?}",
                    first.is_ok(),
                    second.is_ok()
                )),
            }
        }));
        self.sends.push(|bus| bus.send(E::default()).is_ok());
    }
}

#[test]
fn every_one_of_256_types_gets_exactly_its_own_events() {
    let _serial = serial();
    let bus = Bus::new();
    let mut subs = Subscribe::new(&bus, types(), 0, 1);
    each_type::<Types256, _>(&mut subs);
    assert_eq!(subs.sends.len(), types());
    assert_eq!(bus.stats().topics.len(), types());
    for send in &subs.sends {
        assert!(send(&bus), "a subscribed type was not routed");
    }
    let wrong: Vec<String> = subs.checks.iter_mut().filter_map(|c| c().err()).collect();
    assert!(wrong.is_empty(), "misrouted: {wrong:?}");
    assert_eq!(
        bus.stats().topics.iter().map(|t| t.sent).sum::<u64>(),
        types() as u64
    );
    drop(subs);
    assert!(
        bus.stats().topics.is_empty(),
        "every topic left the registry"
    );
    assert!(matches!(
        bus.send(Ev::<()>::default()),
        Err(SendError::NoSubscribers(_))
    ));
}

#[test]
fn types_registered_concurrently_are_all_registered() {
    let _serial = serial();
    const THREADS: usize = 4;
    let bus = Bus::new();
    let subs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let bus = &bus;
                s.spawn(move || {
                    // Each thread registers every THREADS-th type, so threads keep replacing
                    // the same shards under one another.
                    let mut subs = Subscribe::new(bus, types(), t, THREADS);
                    each_type::<Types256, _>(&mut subs);
                    (subs.checks, subs.sends)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(bus.stats().topics.len(), types(), "a registration was lost");
    let mut checks = Vec::new();
    for (c, sends) in subs {
        for send in sends {
            assert!(send(&bus), "a registered type was not routed");
        }
        checks.extend(c);
    }
    let wrong: Vec<String> = checks.iter_mut().filter_map(|c| c().err()).collect();
    assert!(wrong.is_empty(), "misrouted: {wrong:?}");
}

/// Issue 12, item 6: with 1024 types live, registering and removing one more type held 12.7 MB
/// of retired registry copies at the peak (each swap copied the whole map, and the epoch frees
/// copies only every so often). A swap now copies one shard of a few entries.
#[test]
fn retired_registry_copies_stay_small_with_many_types_live() {
    struct Fresh;
    let _serial = serial();
    let bus = Bus::new();
    let mut subs = Subscribe::new(&bus, types(), 0, 1);
    each_type::<Types256, _>(&mut subs);
    let rounds = if cfg!(miri) { 20 } else { 2_000 };
    let base = live_bytes();
    reset_peak();
    for _ in 0..rounds {
        let mut sub = bus.subscribe::<Ev<Fresh>>();
        bus.send(Ev::<Fresh>::default()).unwrap();
        assert!(sub.try_recv().is_ok());
    }
    let peak = peak_bytes() - base;
    // A copy of the old single map with 256 entries took about 10 KiB, and hundreds were
    // waiting for the epoch at once; a shard with a few entries takes about 100 bytes.
    assert!(
        peak < 512 * 1024,
        "registering one type {rounds} times with {} live peaked at {peak} bytes",
        types()
    );
}

/// Live `Held` events: made by `Held::new` and `clone`, unmade by `drop`.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// An event of one type per path `P` that counts itself in `HELD`, so a test sees whether the
/// topics that stored it were freed.
struct Held<P>(PhantomData<fn() -> P>);

impl<P> Held<P> {
    fn new() -> Self {
        HELD.fetch_add(1, Ordering::SeqCst);
        Held(PhantomData)
    }
}

impl<P> Clone for Held<P> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<P> Drop for Held<P> {
    fn drop(&mut self) {
        HELD.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What `CountedTypes` keeps per type: its subscriptions, and checks that know the type.
struct Counted {
    subs: Vec<Box<dyn Any>>,
    count: fn(&Bus) -> usize,
    send: fn(&Bus) -> bool,
}

/// For the `limit` first types `E` of the tree, subscribes to `Held<E>` `1 + index % 3` times
/// and sends it one event that nobody reads.
struct CountedTypes<'a> {
    bus: &'a Bus,
    limit: usize,
    types: Vec<Counted>,
}

impl Visit for CountedTypes<'_> {
    #[inline(never)]
    fn visit<E: Default + Clone + Send + Sync + 'static>(&mut self) {
        let index = self.types.len();
        if index >= self.limit {
            return;
        }
        let subs: Vec<Box<dyn Any>> = (0..=index % 3)
            .map(|_| Box::new(self.bus.subscribe::<Held<E>>()) as Box<dyn Any>)
            .collect();
        let count: fn(&Bus) -> usize = |bus| bus.subscriber_count::<Held<E>>();
        assert_eq!(count(self.bus), subs.len(), "type {index} just subscribed");
        let send: fn(&Bus) -> bool = |bus| bus.send(Held::<E>::new()).is_ok();
        assert!(send(self.bus), "type {index} is routed");
        self.types.push(Counted { subs, count, send });
    }
}

/// Issue 12, item 6: registration is one path for every type (`Registry::insert`/`remove`
/// take a `TypeId` and an erased topic). With many types subscribing and leaving one
/// subscription at a time, every type's count stays exact (a count taken from another type's
/// topic, or a topic removed under another's id, would show here), a type leaves the registry
/// with its last subscription and not before, and every topic is freed once the epoch
/// collects (the unread event each one stored is dropped with it).
#[test]
fn counts_stay_exact_and_topics_are_freed_as_many_types_come_and_go() {
    let _serial = serial();
    let base = HELD.load(Ordering::SeqCst);
    let bus = Bus::new();
    let mut all = CountedTypes {
        bus: &bus,
        limit: if cfg!(miri) { 8 } else { 96 },
        types: Vec::new(),
    };
    each_type::<Types256, _>(&mut all);
    let mut types = all.types;
    assert_eq!(bus.stats().topics.len(), types.len());
    assert_eq!(HELD.load(Ordering::SeqCst) - base, types.len());
    // One subscription of every type leaves per round: types with one go, the rest stay.
    for round in 1..=3 {
        for t in &mut types {
            t.subs.pop();
        }
        for (index, t) in types.iter().enumerate() {
            assert_eq!((t.count)(&bus), t.subs.len(), "type {index}, round {round}");
            assert_eq!(
                (t.send)(&bus),
                !t.subs.is_empty(),
                "type {index}, round {round}: routed only while subscribed"
            );
        }
        let live = types.iter().filter(|t| !t.subs.is_empty()).count();
        assert_eq!(bus.stats().topics.len(), live, "round {round}");
    }
    assert!(
        bus.stats().topics.is_empty(),
        "every topic left the registry"
    );
    support::flush_epoch();
    assert_eq!(
        HELD.load(Ordering::SeqCst),
        base,
        "every topic was freed, with the events it held"
    );
}

/// Distinct event types of every size class and layout (zero-sized, one byte, padded, with a
/// pointer, larger than a send carries by value), sent round robin over more types than the
/// first level of the send cache holds, from fresh threads (empty caches: every first send
/// takes the registry path of the shared miss path, `send_cache::find`), and again after some
/// types were replaced. A topic confused with another type's would deliver a value of the
/// wrong type, or to the wrong subscription, and fail the exact comparisons.
#[test]
fn a_send_through_the_shared_miss_path_reaches_its_own_type_only() {
    #[derive(Clone, Debug, PartialEq)]
    struct Padded(u8, u32, u16);
    #[derive(Clone, Debug, PartialEq)]
    struct Big([u64; 9]);
    #[derive(Clone, Debug, PartialEq)]
    struct Tag<const N: usize>(u64);

    let _serial = serial();
    let bus = Bus::new();
    let mut unit = bus.subscribe::<()>();
    let mut byte = bus.subscribe::<u8>();
    let mut padded = bus.subscribe::<Padded>();
    let mut text = bus.subscribe::<String>();
    let mut big = bus.subscribe::<Big>();
    let mut tags = Tags::subscribe(&bus);
    for round in 0..3u8 {
        std::thread::scope(|s| {
            s.spawn(|| {
                for k in 0..2u8 {
                    let v = round * 10 + k;
                    bus.send(()).unwrap();
                    bus.send(v).unwrap();
                    bus.send(Padded(v, u32::from(v) << 8, u16::from(v)))
                        .unwrap();
                    bus.send(format!("text {v}")).unwrap();
                    bus.send(Big([u64::from(v); 9])).unwrap();
                    Tags::send(&bus, u64::from(v));
                }
            });
        });
        for k in 0..2u8 {
            let v = round * 10 + k;
            assert_eq!(unit.try_recv(), Ok(()));
            assert_eq!(byte.try_recv(), Ok(v));
            assert_eq!(
                padded.try_recv(),
                Ok(Padded(v, u32::from(v) << 8, u16::from(v)))
            );
            assert_eq!(text.try_recv(), Ok(format!("text {v}")));
            assert_eq!(big.try_recv(), Ok(Big([u64::from(v); 9])));
            tags.expect(u64::from(v));
        }
        assert_eq!(byte.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(text.try_recv(), Err(TryRecvError::Empty));
        tags.expect_empty();
        // Replaced topics: cached entries for them must never be used again.
        byte = bus.subscribe::<u8>();
        text = bus.subscribe::<String>();
    }

    /// 24 more types, `Tag<0>` to `Tag<23>`, each sent its own value plus its number.
    struct Tags(Vec<Box<dyn FnMut(u64)>>, Vec<Box<dyn FnMut()>>);
    impl Tags {
        fn subscribe(bus: &Bus) -> Self {
            let mut expect: Vec<Box<dyn FnMut(u64)>> = Vec::new();
            let mut empty: Vec<Box<dyn FnMut()>> = Vec::new();
            macro_rules! tags {
                ($($n:literal)*) => {$(
                    let sub = std::rc::Rc::new(std::cell::RefCell::new(bus.subscribe::<Tag<$n>>()));
                    let s = sub.clone();
                    expect.push(Box::new(move |v| {
                        assert_eq!(s.borrow_mut().try_recv(), Ok(Tag::<$n>(v * 100 + $n)));
                    }));
                    empty.push(Box::new(move || {
                        assert_eq!(sub.borrow_mut().try_recv(), Err(TryRecvError::Empty));
                    }));
                )*};
            }
            tags!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23);
            Tags(expect, empty)
        }

        fn send(bus: &Bus, v: u64) {
            macro_rules! send {
                ($($n:literal)*) => {$( bus.send(Tag::<$n>(v * 100 + $n)).unwrap(); )*};
            }
            send!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23);
        }

        fn expect(&mut self, v: u64) {
            self.0.iter_mut().for_each(|f| f(v));
        }

        fn expect_empty(&mut self) {
            self.1.iter_mut().for_each(|f| f());
        }
    }
}
