//! A per-thread cache from (bus, event type) to the type's topic, so that a send finds its topic
//! with one plain load of the bus's registry generation, instead of an arc-swap load (two locked
//! instructions: taking and paying back a debt slot) and a map probe.
//!
//! # Why a cached pointer is safe to use
//!
//! - A bus's registry is a set of shards (`registry`), each replaced whole by compare-and-swap
//!   when a type gains its first subscription or loses its last. After a successful swap the
//!   swapper raises the bus's registry *generation* by one (`fetch_add`, SeqCst), and only
//!   *then* retires the replaced shard into crossbeam-epoch instead of dropping it. The
//!   registry owns one reference on each registered topic; the swap that takes a topic out of
//!   its shard gives that reference back through the epoch too, deferred with its retirement
//!   of the shard it replaced (`registry`, *Who owns a topic*).
//! - A sender pins the epoch, then loads the generation (SeqCst). On a miss it looks the topic
//!   up in the type's shard and stores an entry: the bus, the type, the topic and the
//!   generation it loaded *before* looking. The shard it found the topic in was not yet
//!   replaced when it looked, so the raise that follows that replacement comes after the value
//!   it loaded in the generation's modification order. (Had that raise come at or before it,
//!   the load would have synchronised with the raise, every write to the generation being a
//!   read-modify-write, and the swap before the raise would happen before the look-up, which
//!   could then not have seen the replaced shard.)
//! - A later send pins, loads the generation and uses the entry only if it still equals the
//!   entry's. Then the raise following the topic's shard's replacement has not happened before
//!   that load, so the shard's retirement, and the release of the topic by that swap or a
//!   later one of the same cell (raising the generation after it), come after the sender's
//!   pin: the epoch keeps the topic alive until the sender unpins.
//! - Generations only grow, so an entry whose shard is gone never matches again and its
//!   pointer is never read. Bus ids are never reused, so an entry never matches another bus.
//! - No path frees a shard or gives back a topic any other way: the swapper pins before it
//!   swaps (pinning may panic; nothing after the swap can), and a bus's shards, with the
//!   registry's references to the topics still in them, are dropped with the bus itself, when
//!   no sender can be using it.
//!
//! Semantics are unchanged: the generation is raised before the subscribe or unsubscribe that
//! swapped returns, so a send that starts after it misses the cache and takes the registry
//! path; a subscription added to an existing topic changes no registry and is seen through the
//! topic's own subscriber count, as before. A topic whose last subscription left is `DEAD`, and
//! a send into it fails exactly as it would have through the registry.
//!
//! # Two levels
//!
//! The first level is `WAYS` entries in the thread's static storage, direct-mapped: a send to a
//! type it holds costs one load of the entry. A thread that sends to more types than that
//! (a service with hundreds of event types, each sent now and then) would keep evicting them,
//! and each miss costs an arc-swap load and a shard scan; so the first entry evicted for another
//! key allocates the thread a second level (with everything the first level held): an
//! open-addressing table (linear probing) that from then on holds every key the thread sends
//! to, growing by doubling while it is more than half full, up to `MAX_SLOTS` slots, where it
//! starts over empty. A first-level miss that hits the second
//! level copies the entry up. Both levels hold the same entries (bus, type, generation, topic),
//! checked the same way, so the argument above covers both.
//!
//! Loom builds leave the cache out (every send takes the registry path, which the models cover).

use std::any::TypeId;

use crate::registry::Shared;
use crate::sync::epoch::Guard;
use crate::topic::Topic;

/// What a send that missed the cache needs to fill it: its bus and the generation it loaded
/// before looking the topic up (module docs). Only [`lookup`] makes one.
pub(crate) struct Miss {
    #[cfg_attr(tidings_loom, allow(dead_code))]
    bus: u64,
    #[cfg_attr(tidings_loom, allow(dead_code))]
    generation: u64,
}

/// `E`'s topic on `bus` if this thread's first level holds it under the bus registry's current
/// generation; valid while `guard` is (module docs). On a miss, what [`find`] needs. Generic
/// only in the `TypeId`, a constant after inlining.
#[inline(always)]
pub(crate) fn lookup<'g, E: Send + Sync + 'static>(
    bus: &Shared,
    guard: &'g Guard,
) -> Result<&'g Topic<E>, Miss> {
    let _ = guard;
    // Loaded after the pin `guard` proves (module docs).
    let generation = bus.registry.generation();
    match imp::lookup_first(bus.id, TypeId::of::<E>(), generation) {
        // SAFETY: the entry matched this bus, `E` and the generation loaded while pinned, so it
        // points to `E`'s `Topic<E>`, which the epoch keeps alive until `guard` is dropped
        // (module docs); entries for `E`'s `TypeId` are only made from `E`'s registry entry, a
        // `Topic<E>` (`find`).
        Some(topic) => Ok(unsafe { &*topic.cast::<Topic<E>>() }),
        None => Err(Miss {
            bus: bus.id,
            generation,
        }),
    }
}

/// After a first-level miss (`miss`, which `lookup` returned while `guard` was held): `E`'s
/// topic from this thread's second level, else from the bus's registry, whose topic then fills
/// the cache; `None` if `E` has no topic.
///
/// The work is not generic ([`find_erased`]): every event type shares one copy of it, so a
/// thread sending round robin over many types runs one copy of its miss path instead of one
/// per type (issue 12, item 6: per-type copies of the send path were most of the
/// instruction-cache misses of such a round). Only the cast back to `Topic<E>` is typed.
#[inline(always)]
pub(crate) fn find<'g, E: Send + Sync + 'static>(
    bus: &Shared,
    miss: Miss,
    guard: &'g Guard,
) -> Option<&'g Topic<E>> {
    let topic = find_erased(bus, TypeId::of::<E>(), miss, guard)?;
    // SAFETY: `find_erased` returns a topic registered under `E`'s `TypeId`, which is a
    // `Topic<E>` (`Registry::insert` asserts it; cache entries are made only from registry
    // entries), alive until `guard` is dropped (its docs).
    Some(unsafe { &*topic.cast::<Topic<E>>() })
}

/// `find` for every event type: the topic of the type `type_id` on `bus`, as a pointer to the
/// whole `Topic<E>` of that type, which stays alive while `guard` is held. From the second
/// level if it holds it under the generation of `miss` (a hit is copied up to the first
/// level); else from the registry, loaded after `miss`'s generation was (module docs: the
/// topic found there is given back by the registry, if ever, only after this thread pinned
/// `guard`, so the epoch keeps it while `guard` is held); then both levels remember it.
#[inline(never)]
fn find_erased(bus: &Shared, type_id: TypeId, miss: Miss, guard: &Guard) -> Option<*const ()> {
    let _ = guard;
    if let Some(topic) = imp::lookup_second(miss.bus, type_id, miss.generation) {
        return Some(topic);
    }
    let topic = bus.registry.find(type_id, guard)?;
    imp::store(miss.bus, type_id, miss.generation, topic);
    Some(topic)
}

#[cfg(not(tidings_loom))]
mod imp {
    use std::any::TypeId;
    use std::cell::{Cell, RefCell};
    use std::hash::{Hash, Hasher};

    use crate::registry::TypeIdHasher;

    /// First-level entries per thread; direct-mapped.
    const WAYS: usize = 16;
    /// The second level's first size; a power of two.
    const MIN_SLOTS: usize = 64;
    /// The second level's largest size, a power of two: room for `MAX_SLOTS / 2` (bus, type)
    /// keys, at most half full.
    const MAX_SLOTS: usize = 4096;

    #[derive(Clone, Copy)]
    struct Entry {
        bus: u64,
        type_id: TypeId,
        generation: u64,
        /// A `*const Topic<E>` for the `E` of `type_id`.
        topic: *const (),
    }

    impl Entry {
        #[inline(always)]
        fn is(&self, bus: u64, type_id: TypeId) -> bool {
            self.bus == bus && self.type_id == type_id
        }
    }

    /// The second level: open addressing with linear probing, at most half full, so a probe
    /// always ends at an empty slot.
    struct Table {
        /// A power of two long.
        slots: Box<[Option<Entry>]>,
        used: usize,
    }

    impl Table {
        fn new(len: usize) -> Self {
            Table {
                slots: vec![None; len].into_boxed_slice(),
                used: 0,
            }
        }

        #[inline]
        fn get(&self, bus: u64, type_id: TypeId) -> Option<&Entry> {
            let mask = self.slots.len() - 1;
            let mut i = slot(bus, type_id) & mask;
            loop {
                match &self.slots[i] {
                    Some(entry) if entry.is(bus, type_id) => return Some(entry),
                    Some(_) => i = (i + 1) & mask,
                    None => return None,
                }
            }
        }

        /// Puts `entry` in, replacing the entry of its key. Doubles the table (or, at
        /// `MAX_SLOTS`, empties it) first if a new key would make it more than half full.
        fn put(&mut self, entry: Entry) {
            let mask = self.slots.len() - 1;
            let mut i = slot(entry.bus, entry.type_id) & mask;
            while let Some(old) = self.slots[i] {
                if old.is(entry.bus, entry.type_id) {
                    self.slots[i] = Some(entry);
                    return;
                }
                i = (i + 1) & mask;
            }
            if 2 * (self.used + 1) > self.slots.len() {
                let len = self.slots.len();
                let old = std::mem::replace(self, Table::new((2 * len).min(MAX_SLOTS)));
                if len < MAX_SLOTS {
                    old.slots.iter().flatten().for_each(|e| self.put(*e));
                }
                return self.put(entry);
            }
            self.used += 1;
            self.slots[i] = Some(entry);
        }
    }

    thread_local! {
        static ENTRIES: [Cell<Option<Entry>>; WAYS] = const { [const { Cell::new(None) }; WAYS] };
        /// The second level, made when the first evicts an entry for another key.
        static TABLE: RefCell<Option<Table>> = const { RefCell::new(None) };
    }

    /// The hash of `type_id`; a constant after inlining when it is a constant.
    #[inline(always)]
    fn hash(type_id: TypeId) -> u64 {
        let mut h = TypeIdHasher::default();
        type_id.hash(&mut h);
        h.finish()
    }

    #[inline(always)]
    fn way(bus: u64, type_id: TypeId) -> usize {
        // The high bits: the low bits of a type hash are not guaranteed to be spread.
        ((hash(type_id) >> 52) ^ bus) as usize % WAYS
    }

    #[inline(always)]
    fn slot(bus: u64, type_id: TypeId) -> usize {
        let x = hash(type_id) ^ bus.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (x.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 40) as usize
    }

    /// The first level's entry for `type_id` on bus `bus` if it was found under `generation`.
    #[inline(always)]
    pub(crate) fn lookup_first(bus: u64, type_id: TypeId, generation: u64) -> Option<*const ()> {
        let entry = ENTRIES.with(|e| e[way(bus, type_id)].get())?;
        if entry.is(bus, type_id) && entry.generation == generation {
            Some(entry.topic)
        } else {
            None
        }
    }

    /// After a first-level miss: the second level's entry for `type_id` on bus `bus` if it was
    /// found under `generation`; a hit is copied up to the first level.
    #[inline]
    pub(crate) fn lookup_second(bus: u64, type_id: TypeId, generation: u64) -> Option<*const ()> {
        // After the table's destructor ran (a send from another thread-local's `Drop`), a miss.
        let entry = TABLE
            .try_with(|table| table.borrow().as_ref()?.get(bus, type_id).copied())
            .ok()
            .flatten()
            .filter(|entry| entry.generation == generation)?;
        ENTRIES.with(|e| e[way(bus, type_id)].set(Some(entry)));
        Some(entry.topic)
    }

    #[cfg(test)]
    thread_local! {
        /// Stores on this thread, for the unit tests.
        pub(crate) static STORES: Cell<usize> = const { Cell::new(0) };
    }

    /// Remembers that `topic` is the topic of `type_id` on bus `bus`, found under `generation`.
    #[inline]
    pub(crate) fn store(bus: u64, type_id: TypeId, generation: u64, topic: *const ()) {
        #[cfg(test)]
        STORES.with(|s| s.set(s.get() + 1));
        let entry = Entry {
            bus,
            type_id,
            generation,
            topic,
        };
        let evicted = ENTRIES.with(|e| e[way(bus, type_id)].replace(Some(entry)));
        store_table(entry, evicted);
    }

    /// `store` in the second level, which is made when the first evicts another key.
    #[inline(never)]
    fn store_table(entry: Entry, evicted: Option<Entry>) {
        // After the table's destructor ran, the first level only.
        let _ = TABLE.try_with(|table| {
            let mut table = table.borrow_mut();
            if table.is_none() {
                match evicted {
                    Some(old) if !old.is(entry.bus, entry.type_id) => {
                        // Everything the first level held, so that both hold every key.
                        let mut t = Table::new(MIN_SLOTS);
                        t.put(old);
                        ENTRIES.with(|e| e.iter().filter_map(Cell::get).for_each(|e| t.put(e)));
                        *table = Some(t);
                    }
                    _ => return,
                }
            }
            if let Some(t) = table.as_mut() {
                t.put(entry);
            }
        });
    }

    /// The second level's size on this thread (0: not made yet), for the unit tests.
    #[cfg(test)]
    pub(crate) fn table_len() -> usize {
        TABLE.with(|t| t.borrow().as_ref().map_or(0, |t| t.slots.len()))
    }
}

#[cfg(tidings_loom)]
mod imp {
    use std::any::TypeId;

    pub(crate) fn lookup_first(_: u64, _: TypeId, _: u64) -> Option<*const ()> {
        None
    }

    pub(crate) fn lookup_second(_: u64, _: TypeId, _: u64) -> Option<*const ()> {
        None
    }

    pub(crate) fn store(_: u64, _: TypeId, _: u64, _: *const ()) {}
}

#[cfg(all(test, not(tidings_loom)))]
mod tests {
    use super::imp::{STORES, table_len};
    use crate::Bus;

    #[derive(Clone)]
    struct Ping;

    /// Sends one `Ping` on each bus; returns how many sends missed the cache.
    fn round(buses: &[Bus]) -> usize {
        let before = STORES.with(|s| s.get());
        for bus in buses {
            bus.send(Ping).unwrap();
        }
        STORES.with(|s| s.get()) - before
    }

    /// Issue 12, item 6: round robin over far more keys than the first level's 16 misses only
    /// the first time round (it missed every time with the first level alone), and the second
    /// level is made only once the first evicts another key.
    #[test]
    fn round_robin_over_many_keys_hits_after_the_first_round() {
        std::thread::spawn(|| {
            // Under miri 18 keys: more than the 16 first-level slots (so the second level is made),
            // and each bus costs miri its 256 registry shards.
            let keys = if cfg!(miri) { 18 } else { 1024 };
            let buses: Vec<Bus> = (0..keys).map(|_| Bus::new()).collect();
            let subs: Vec<_> = buses.iter().map(|b| b.subscribe::<Ping>()).collect();
            assert_eq!(round(&buses[..1]), 1);
            assert_eq!(round(&buses[..1]), 0);
            assert_eq!(table_len(), 0, "one key needs no second level");
            assert_eq!(round(&buses), keys - 1);
            assert!(table_len() >= 2 * keys, "at most half full");
            assert_eq!(round(&buses), 0, "every key is cached");
            assert_eq!(round(&buses), 0);
            drop(subs);
        })
        .join()
        .unwrap();
    }
}
