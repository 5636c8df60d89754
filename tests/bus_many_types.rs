//! Many event types on one bus (issue 12, item 6): 1024 types route exactly, register
//! concurrently without loss, and registering one more type copies only a small shard of the
//! registry, so retired copies stay small however many types are live. Its own test binary,
//! with the counting global allocator of `support/counting_alloc.rs`; the tests take a lock so
//! that their counts do not mix.

mod support;

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
