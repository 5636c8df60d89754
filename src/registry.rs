//! A bus's topics by event type: a fixed array of shards, each a small copy-on-write list of
//! topics behind its own arc-swap cell, selected by a hash of the `TypeId`.
//!
//! # Why shards
//!
//! One copy-on-write map for all types made registering the n-th type cost O(n) (the whole map
//! was copied, and every retired copy held n topic references until the epoch freed it), and a
//! send that missed the per-thread cache probed the whole map. With `SHARDS` cells, registering
//! copies one shard of about n / `SHARDS` entries, a retired copy is that small, and a lookup
//! loads one cell and compares a few `TypeId`s. Up to a few thousand types per bus a shard holds
//! a handful of entries, so both stay near their cost for the first type.
//!
//! # Publication and retirement
//!
//! Every change to a shard is a compare-and-swap of its cell (arc-swap, as for the one map
//! before), done while pinned, and followed by two steps that the send cache relies on:
//!
//! 1. raise `generation` by one (`fetch_add`, SeqCst), so every send cache entry of this bus
//!    stops matching;
//! 2. retire the replaced shard into crossbeam-epoch instead of dropping it, so a sender that
//!    pinned before step 1 may keep using a topic it found in that shard until it unpins.
//!
//! A send cache entry records the generation its sender loaded *before* it looked the topic up
//! (see `send_cache` for the whole argument). The pin comes before the swap because pinning can
//! panic (it may collect garbage, which runs user `Drop`s): a panic there changes nothing,
//! whereas after the swap it would drop the replaced shard on the spot. Nothing after the swap
//! can panic.

use std::any::TypeId;
use std::hash::{Hash, Hasher};

use crate::bus::{ErasedTopic, TypeIdHasher};
use crate::sync::epoch::{self, Guard};
use crate::sync::{AtomicArc, AtomicU64, Ordering};
use crate::topic::Topic;

/// Number of shards. A power of two; small under loom, where each cell is a modelled lock.
#[cfg(not(tidings_loom))]
const SHARDS: usize = 256;
#[cfg(tidings_loom)]
const SHARDS: usize = 2;

/// The registry of one bus.
pub(crate) struct Registry {
    /// The topics, by `shard::<E>()`. Each cell is replaced whole (copy-on-write) when a type of
    /// its shard gains its first subscription or loses its last; read without locks.
    shards: Box<[AtomicArc<Shard>]>,
    /// Raised by one (SeqCst) after every successful shard swap and before the replaced shard
    /// is retired into the epoch; the send cache's entries are valid while it equals theirs.
    generation: AtomicU64,
}

/// The topics of one shard: a few entries, searched linearly.
#[derive(Default, Clone)]
pub(crate) struct Shard {
    topics: Vec<(TypeId, std::sync::Arc<dyn ErasedTopic>)>,
}

/// The shard of `E`; a constant after inlining.
#[inline(always)]
fn shard<E: 'static>() -> usize {
    let mut h = TypeIdHasher::default();
    TypeId::of::<E>().hash(&mut h);
    let x = h.finish();
    // Other bits than the bucket filter's, so that one bucket's types spread over many shards.
    let x = x ^ (x >> 33);
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize % SHARDS
}

#[cfg(test)]
thread_local! {
    /// Makes `pin_for_swap` panic on this thread (unit tests only).
    pub(crate) static PIN_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `epoch::pin` for a shard swap. Unit tests can make it panic, as a pin that collects a value
/// whose `Drop` panics would.
#[inline]
fn pin_for_swap() -> Guard {
    #[cfg(test)]
    if PIN_PANICS.with(std::cell::Cell::get) {
        panic!("injected: epoch::pin panicked");
    }
    epoch::pin()
}

impl Shard {
    #[inline]
    fn entry(&self, id: TypeId) -> Option<&std::sync::Arc<dyn ErasedTopic>> {
        self.topics
            .iter()
            .find(|(t, _)| *t == id)
            .map(|(_, topic)| topic)
    }

    /// `E`'s topic in this shard.
    #[inline]
    pub(crate) fn get<E: Send + Sync + 'static>(&self) -> Option<&Topic<E>> {
        self.entry(TypeId::of::<E>())?
            .as_any()
            .downcast_ref::<Topic<E>>()
    }

    fn get_arc<E: Send + Sync + 'static>(&self) -> Option<std::sync::Arc<Topic<E>>> {
        let topic = self.entry(TypeId::of::<E>())?;
        std::sync::Arc::clone(topic).into_any().downcast().ok()
    }
}

impl Registry {
    pub(crate) fn new() -> Self {
        // One empty shard shared by every cell until it changes.
        let empty = std::sync::Arc::new(Shard::default());
        Registry {
            shards: (0..SHARDS)
                .map(|_| AtomicArc::new(std::sync::Arc::clone(&empty)))
                .collect(),
            generation: AtomicU64::new(0),
        }
    }

    /// The current generation. SeqCst: ordered after the caller's pin (its fence) and with the
    /// raise in `swap`.
    #[inline(always)]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Calls `f` with `E`'s shard as it is now.
    #[inline]
    pub(crate) fn with_shard<E: 'static, R>(&self, f: impl FnOnce(&Shard) -> R) -> R {
        f(&self.shards[shard::<E>()].load())
    }

    /// `E`'s live or dying topic, if registered.
    pub(crate) fn get_arc<E: Send + Sync + 'static>(&self) -> Option<std::sync::Arc<Topic<E>>> {
        self.with_shard::<E, _>(|s| s.get_arc::<E>())
    }

    /// Calls `f` with every registered topic.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&dyn ErasedTopic)) {
        for cell in self.shards.iter() {
            for (_, topic) in &cell.load().topics {
                f(&**topic);
            }
        }
    }

    /// Registered topics.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|cell| cell.load().topics.len())
            .sum()
    }

    /// Registers `topic` as `E`'s, replacing `replacing` (a dead topic of `E`) if that is still
    /// registered. Fails, changing nothing, if `E`'s shard holds any other topic of `E`.
    pub(crate) fn insert<E: Send + Sync + 'static>(
        &self,
        topic: &std::sync::Arc<Topic<E>>,
        replacing: Option<&std::sync::Arc<Topic<E>>>,
    ) -> bool {
        let cell = &self.shards[shard::<E>()];
        let id = TypeId::of::<E>();
        loop {
            let current = std::sync::Arc::clone(&cell.load());
            let mut next = Shard {
                topics: Vec::with_capacity(current.topics.len() + 1),
            };
            for (t, entry) in &current.topics {
                if *t != id {
                    next.topics.push((*t, std::sync::Arc::clone(entry)));
                } else if !replacing.is_some_and(|r| same(entry, r)) {
                    return false;
                }
            }
            next.topics.push((
                id,
                std::sync::Arc::clone(topic) as std::sync::Arc<dyn ErasedTopic>,
            ));
            if self.swap(cell, &current, next) {
                return true;
            }
        }
    }

    /// Takes `topic` out of the registry unless it is gone or was replaced already; says
    /// whether it did.
    pub(crate) fn remove<E: Send + Sync + 'static>(
        &self,
        topic: &std::sync::Arc<Topic<E>>,
    ) -> bool {
        let cell = &self.shards[shard::<E>()];
        loop {
            let current = std::sync::Arc::clone(&cell.load());
            if !current.topics.iter().any(|(_, entry)| same(entry, topic)) {
                return false;
            }
            let next = Shard {
                topics: current
                    .topics
                    .iter()
                    .filter(|(_, entry)| !same(entry, topic))
                    .cloned()
                    .collect(),
            };
            if self.swap(cell, &current, next) {
                return true;
            }
        }
    }

    /// Swaps `next` into `cell` if it still holds `current`; then raises the generation and
    /// retires the replaced shard (module docs). Says whether it did.
    fn swap(&self, cell: &AtomicArc<Shard>, current: &std::sync::Arc<Shard>, next: Shard) -> bool {
        let next = std::sync::Arc::new(next);
        // Before the swap: see the module docs.
        let guard = pin_for_swap();
        let Some(replaced) = cell.compare_and_swap(current, next) else {
            return false;
        };
        // SeqCst: see `generation`.
        self.generation.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the closure only drops an `Arc<Shard>`, which is `Send + 'static`, so it may
        // run on whichever thread collects, whenever it does.
        unsafe { guard.defer_unchecked(move || drop(replaced)) };
        true
    }
}

fn same<E: Send + Sync + 'static>(
    entry: &std::sync::Arc<dyn ErasedTopic>,
    topic: &std::sync::Arc<Topic<E>>,
) -> bool {
    std::ptr::addr_eq(std::sync::Arc::as_ptr(entry), std::sync::Arc::as_ptr(topic))
}
