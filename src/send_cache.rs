//! A per-thread cache from (bus, event type) to the type's topic, so that a send finds its topic
//! with one plain load of the bus's registry generation, instead of an arc-swap load (two locked
//! instructions: taking and paying back a debt slot) and a map probe.
//!
//! # Why a cached pointer is safe to use
//!
//! - A bus's registry is a set of shards (`registry`), each replaced whole by compare-and-swap
//!   when a type gains its first subscription or loses its last. After a successful swap the
//!   swapper raises the bus's registry *generation* by one (`fetch_add`, SeqCst), and only
//!   *then* retires the replaced shard into crossbeam-epoch instead of dropping it. A shard
//!   owns an `Arc` of each of its topics.
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
//!   that load, so the shard's retirement comes after the sender's pin: the epoch keeps that
//!   shard, and with it the topic, alive until the sender unpins.
//! - Generations only grow, so an entry whose shard is gone never matches again and its
//!   pointer is never read. Bus ids are never reused, so an entry never matches another bus.
//! - No path frees a shard any other way: the swapper pins before it swaps (pinning may panic;
//!   nothing after the swap can), and a bus's shards are dropped with the bus itself, when no
//!   sender can be using it.
//!
//! Semantics are unchanged: the generation is raised before the subscribe or unsubscribe that
//! swapped returns, so a send that starts after it misses the cache and takes the registry
//! path; a subscription added to an existing topic changes no registry and is seen through the
//! topic's own subscriber count, as before. A topic whose last subscription left is `DEAD`, and
//! a send into it fails exactly as it would have through the registry.
//!
//! Loom builds leave the cache out (every send takes the registry path, which the models cover).

#[cfg(not(tidings_loom))]
mod imp {
    use std::any::TypeId;
    use std::cell::Cell;

    /// Entries per thread; direct-mapped.
    const WAYS: usize = 16;

    #[derive(Clone, Copy)]
    struct Entry {
        bus: u64,
        type_id: TypeId,
        generation: u64,
        /// A `*const Topic<E>` for the `E` of `type_id`.
        topic: *const (),
    }

    thread_local! {
        static ENTRIES: [Cell<Option<Entry>>; WAYS] = const { [const { Cell::new(None) }; WAYS] };
    }

    #[inline(always)]
    fn way(bus: u64, bucket: usize) -> usize {
        (bucket ^ bus as usize) % WAYS
    }

    /// The cached topic of `E` on bus `bus` if it was found under `generation`.
    #[inline(always)]
    pub(crate) fn lookup<E: 'static>(
        bus: u64,
        bucket: usize,
        generation: u64,
    ) -> Option<*const ()> {
        let entry = ENTRIES.with(|e| e[way(bus, bucket)].get())?;
        if entry.bus == bus && entry.generation == generation && entry.type_id == TypeId::of::<E>()
        {
            Some(entry.topic)
        } else {
            None
        }
    }

    /// Remembers that `topic` is `E`'s topic on bus `bus`, found under `generation`.
    #[inline]
    pub(crate) fn store<E: 'static>(bus: u64, bucket: usize, generation: u64, topic: *const ()) {
        let entry = Entry {
            bus,
            type_id: TypeId::of::<E>(),
            generation,
            topic,
        };
        ENTRIES.with(|e| e[way(bus, bucket)].set(Some(entry)));
    }
}

#[cfg(tidings_loom)]
mod imp {
    pub(crate) fn lookup<E: 'static>(_: u64, _: usize, _: u64) -> Option<*const ()> {
        None
    }

    pub(crate) fn store<E: 'static>(_: u64, _: usize, _: u64, _: *const ()) {}
}

pub(crate) use imp::*;
