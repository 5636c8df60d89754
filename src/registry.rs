//! A bus's topics by event type: a fixed array of shards, each a small copy-on-write list of
//! topics behind its own arc-swap cell (made by the shard's first registration), selected by a
//! hash of the `TypeId`.
//! How a send finds its topic, in the whole protocol: [`crate::docs::protocol`].
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
//! 2. retire the replaced shard into crossbeam-epoch instead of dropping it, and with it the
//!    registry's reference to the topic the swap took out of the registry (if any), so a
//!    sender that pinned before step 1 may keep using a topic it found in that shard until it
//!    unpins.
//!
//! A send cache entry records the generation its sender loaded *before* it looked the topic up
//! (see `send_cache` for the whole argument). The pin comes before the swap because pinning can
//! panic (it may collect garbage, which runs user `Drop`s): a panic there changes nothing,
//! whereas after the swap it would drop the replaced shard on the spot. Nothing after the swap
//! can panic.
//!
//! # Who owns a topic
//!
//! The registry holds exactly one strong reference on each topic in a cell's current shard,
//! whatever the number of shard copies that point to it: a shard entry is a raw pointer
//! ([`Entry`]), so copying a shard copies pointers and touches no topic, and dropping a retired
//! shard frees only its vector. (Each entry an `Arc` made a copy-on-write update cost one
//! atomic read-modify-write on every other topic of the shard, on a cache line nobody else
//! touched lately, and the copy's retirement as many again: the likely cause of W10_register's
//! rise at 4096 live types.)
//! The reference is given back exactly once: by the swap that takes the topic out of the
//! current shard (`remove`, or `insert` replacing a dead topic), deferred through the epoch in
//! the same guard as that swap's retirement of the shard it replaced; or by the registry's
//! drop, for the topics still registered then. So a topic found in a shard by a thread pinned
//! from before it loaded that shard stays alive until the thread unpins, as the shard does.
//! Every accessor that reads a topic takes the caller's [`Guard`] and loads the shard after it:
//! a topic never outlives the pin it was found under (`crate::sync::epoch` exports only `pin`,
//! so every `Guard` is a pin). The module's unsafe code is for this:
//! [`Entry`]'s few functions (reading, sharing and giving back the reference) and their calls,
//! and the retirement in `swap`; and for the shards' cells, made on demand ([`Cells`]).
//!
//! # The bus's shared state
//!
//! [`Shared`] holds the registry with the filter in front of it: 64 counters, one per hash
//! bucket of `TypeId`, counting live topics (a topic lives from its first subscription until
//! its last leaves). A send whose bucket counts zero knows without touching the registry that
//! nobody listens, which keeps a send with no subscription at a couple of loads. It also makes
//! and removes topics as subscriptions come and go, and closes them with the bus.
//!
//! # One registration path for every type
//!
//! Subscribing, a subscription's leaving and the registry's insert and remove are not generic:
//! they take the type as data (a [`Kind`]: its `TypeId`, name, filter bucket and a constructor
//! for its topic) and the topic as `dyn ErasedTopic`; `Shared::subscribe::<E>` and
//! `Shared::unsubscribe::<E>` are shims that make the `Kind` and cast the result back. Each
//! event type so compiles a few small functions instead of its own copy of the whole path,
//! which was most of the build of a program with many event types (issue 12, item 6).
//! `insert` checks that a topic is registered under its own type's id: the send cache relies
//! on it when it casts an entry back to `Topic<E>`.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ptr::NonNull;

use crate::bound::Bound;
use crate::error::SendError;
use crate::lag;
use crate::segment::Segment;
use crate::stats::{TopicStats, UserPanics};
use crate::sync::epoch::{self, Guard};
use crate::sync::{AtomicArc, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use crate::topic::Topic;

/// Number of shards. A power of two; small under loom, where each cell is a modelled lock, and
/// under miri, where making and dropping 256 cells took most of a bus's cost (every unit test
/// makes buses; the shard count changes no code path, only how types spread).
#[cfg(not(any(tidings_loom, miri)))]
const SHARDS: usize = 256;
#[cfg(all(miri, not(tidings_loom)))]
const SHARDS: usize = 16;
#[cfg(tidings_loom)]
const SHARDS: usize = 2;

/// The registry of one bus.
pub(crate) struct Registry {
    /// The topics, by `shard::<E>()`. Each cell's shard is replaced whole (copy-on-write) when a
    /// type of the shard gains its first subscription or loses its last; read without locks.
    /// A cell is made by the first registration in its shard (see [`Cells`]).
    shards: Cells,
    /// Raised by one (SeqCst) after every successful shard swap and before the replaced shard
    /// is retired into the epoch; the send cache's entries are valid while it equals theirs.
    generation: AtomicU64,
}

/// The shards' cells, each made by the first registration in its shard and kept until the
/// registry is dropped: a shard no type ever registered in has no cell, and reads as empty.
/// A bus with a few types so makes and drops a few arc-swap cells, not `SHARDS` (dropping a cell
/// walks every thread's arc-swap debt slots: with 256 made up front a bus's life, new, four
/// subscriptions, a send and the drop, took 22.9 µs, and takes 2.03 µs with cells made on
/// demand: `W7_bus_lifetime` in `benches/churn.rs`).
///
/// Invariant: a slot is null or holds a pointer from `Box::into_raw`, installed once by a
/// compare-and-swap from null and never changed or freed until `Cells` is dropped; so a cell
/// reached through `&self` stays valid for as long as that borrow.
struct Cells(Box<[AtomicPtr<AtomicArc<Shard>>]>);

impl Cells {
    fn new() -> Self {
        Cells(
            (0..SHARDS)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
        )
    }

    /// Shard `i`'s cell, if made.
    #[inline]
    fn get(&self, i: usize) -> Option<&AtomicArc<Shard>> {
        // Acquire: pairs with the Release of the install in `get_or_make`, so the cell's
        // initialisation is visible. A thread that knows of a registration in this shard (it
        // synchronised with the subscribe that made it) sees the cell: the install happened
        // before that registration's swap.
        let cell = self.0[i].load(Ordering::Acquire);
        // SAFETY: the type's invariant: non-null means installed and alive while `&self` is.
        unsafe { cell.as_ref() }
    }

    /// Shard `i`'s cell, made (holding an empty shard) if it is not yet.
    fn get_or_make(&self, i: usize) -> &AtomicArc<Shard> {
        if let Some(cell) = self.get(i) {
            return cell;
        }
        let made = Box::into_raw(Box::new(AtomicArc::new(std::sync::Arc::new(
            Shard::default(),
        ))));
        // Release: publishes the cell's initialisation (see `get`); Acquire on failure: to read
        // the winner's.
        match self.0[i].compare_exchange(
            std::ptr::null_mut(),
            made,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: installed just now; the type's invariant keeps it while `&self` is.
            Ok(_) => unsafe { &*made },
            Err(winner) => {
                // SAFETY: `made` came from `Box::into_raw` above and was never published, so
                // no other thread can have seen it.
                drop(unsafe { Box::from_raw(made) });
                // SAFETY: a non-null slot holds an installed cell (the type's invariant).
                unsafe { &*winner }
            }
        }
    }

    /// How many cells are made (tests).
    #[cfg(test)]
    fn made(&self) -> usize {
        self.iter().count()
    }

    /// The cells made so far.
    fn iter(&self) -> impl Iterator<Item = &AtomicArc<Shard>> {
        (0..self.0.len()).filter_map(|i| self.get(i))
    }
}

impl Drop for Cells {
    fn drop(&mut self) {
        for slot in self.0.iter() {
            // Acquire: as in `get` (`&mut self`: no thread installs any more).
            let cell = slot.load(Ordering::Acquire);
            if !cell.is_null() {
                // SAFETY: the type's invariant: from `Box::into_raw`, installed once, and freed
                // only here, once, with no borrow of `self` left.
                drop(unsafe { Box::from_raw(cell) });
            }
        }
    }
}

/// A shard that no cell holds: what a shard without a cell reads as.
static EMPTY: Shard = Shard { topics: Vec::new() };

/// The topics of one shard: a few entries, searched linearly. Dropping a shard drops its
/// vector only, never a topic (see [`Entry`]).
#[derive(Default)]
pub(crate) struct Shard {
    topics: Vec<Entry>,
}

/// A registered topic: the type it was registered under and a pointer made by `Arc::into_raw`
/// (or `Arc::as_ptr` of an `Arc` then forgotten into the registry: the same pointer).
///
/// Invariant (module docs, *Who owns a topic*): the registry owns one strong reference on
/// `topic` for as long as the entry is in a cell's *current* shard; a copy of the entry in a
/// retired shard owns nothing. The reference is given back once, with [`Entry::release`]:
/// deferred through the epoch by the `swap` that took the entry out of its cell's current
/// shard (after that swap's generation raise, in the guard that retires the shard it
/// replaced), or by `Registry`'s drop. Hence `topic` is valid for a thread that has been pinned
/// since before it loaded any shard holding the entry, until it unpins: the swap that takes the
/// entry out comes after that load, so its deferred release runs after the unpin.
#[derive(Clone, Copy)]
struct Entry {
    id: TypeId,
    topic: NonNull<dyn ErasedTopic>,
}

// SAFETY: an `Entry` is a shared pointer to a `dyn ErasedTopic`, which is `Send + Sync`: reading
// the topic from another thread is sharing `&dyn ErasedTopic`, and giving back the registry's
// reference from another thread (the epoch runs `release` wherever it collects) is dropping an
// `Arc<dyn ErasedTopic>` there, which `Send + Sync` allows. The invariant on who may
// dereference it is the registry's (type docs), not the thread's.
unsafe impl Send for Entry {}
// SAFETY: as for `Send`; `&Entry` only gives out copies of the pointer.
unsafe impl Sync for Entry {}

impl Entry {
    /// The entry of `topic` under the type `id`. Owns nothing yet: the caller hands the
    /// registry its reference (`insert`, after a successful swap) or drops the entry unused.
    fn new(id: TypeId, topic: &std::sync::Arc<dyn ErasedTopic>) -> Self {
        // `as_ptr`, not a reference: the pointer keeps the `Arc`'s own provenance, which
        // `Arc::from_raw` needs to free the topic through it (`into_raw` gives the same).
        let topic = NonNull::new(std::sync::Arc::as_ptr(topic).cast_mut())
            .expect("an `Arc` points to its value");
        Entry { id, topic }
    }

    /// Whether this is `topic` (the same allocation).
    fn is(&self, topic: &dyn ErasedTopic) -> bool {
        std::ptr::addr_eq(self.topic.as_ptr(), topic)
    }

    /// The topic, for as long as `guard` and `self` are borrowed.
    ///
    /// # Safety
    /// `guard` was pinned before the shard this entry was read from was loaded from its cell
    /// (type docs: the topic then lives until `guard` is dropped).
    unsafe fn topic<'a>(&'a self, guard: &'a Guard) -> &'a dyn ErasedTopic {
        let _ = guard;
        // SAFETY: the registry's reference keeps the topic alive while `guard` is held (type
        // docs, and the caller's contract); it is only ever read through shared references.
        unsafe { self.topic.as_ref() }
    }

    /// A strong reference of the caller's own on the topic.
    ///
    /// # Safety
    /// As [`Entry::topic`].
    unsafe fn clone_arc(&self, guard: &Guard) -> std::sync::Arc<dyn ErasedTopic> {
        let _ = guard;
        // SAFETY: `topic` came from `Arc::into_raw` (type docs) and the registry's reference is
        // not given back before `guard` is dropped (the caller's contract), so the count is at
        // least one while it is raised; `ManuallyDrop` leaves the registry's reference alone.
        let registry = std::mem::ManuallyDrop::new(unsafe {
            std::sync::Arc::from_raw(self.topic.as_ptr().cast_const())
        });
        std::sync::Arc::clone(&registry)
    }

    /// Gives back the registry's reference on `topic` (an entry's pointer), which may free it.
    /// Takes the pointer alone, not the entry, so that `swap`'s deferred function stays within
    /// crossbeam-epoch's three inline words (a larger one is boxed: an allocation per swap).
    ///
    /// # Safety
    /// The entry left the registry (no current shard holds it any more), this is the one call
    /// for it (type docs), and no thread can still be using the topic through the registry:
    /// the call is deferred through the epoch after the swap that took it out, or made by the
    /// registry's drop.
    unsafe fn release(topic: NonNull<dyn ErasedTopic>) {
        // SAFETY: `topic` came from `Arc::into_raw` and the registry still owns that reference
        // (the caller's contract: released once, and only now).
        drop(unsafe { std::sync::Arc::from_raw(topic.as_ptr().cast_const()) });
    }
}

/// The shard of `E`; a constant after inlining.
#[inline(always)]
fn shard<E: 'static>() -> usize {
    shard_of(TypeId::of::<E>())
}

/// The shard of the type `id`.
#[inline(always)]
fn shard_of(id: TypeId) -> usize {
    let mut h = TypeIdHasher::default();
    id.hash(&mut h);
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
    fn entry(&self, id: TypeId) -> Option<&Entry> {
        self.topics.iter().find(|e| e.id == id)
    }
}

/// A shard loaded while pinned ([`Registry::with_shard`]): its topics are alive while it is
/// borrowed.
pub(crate) struct PinnedShard<'a> {
    shard: &'a Shard,
    /// Pinned before `shard` was loaded.
    guard: &'a Guard,
}

impl<'a> PinnedShard<'a> {
    /// `E`'s topic in this shard.
    #[inline]
    pub(crate) fn get<E: Send + Sync + 'static>(&self) -> Option<&'a Topic<E>> {
        let entry = self.shard.entry(TypeId::of::<E>())?;
        // SAFETY: `guard` was pinned before `shard` was loaded (`Registry::with_shard`).
        let topic = unsafe { entry.topic(self.guard) };
        topic.as_any().downcast_ref::<Topic<E>>()
    }
}

impl Registry {
    pub(crate) fn new() -> Self {
        Registry {
            shards: Cells::new(),
            generation: AtomicU64::new(0),
        }
    }

    /// The current generation. SeqCst: ordered after the caller's pin (its fence) and with the
    /// raise in `swap`.
    #[inline(always)]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Calls `f` with `E`'s shard as it is now, loaded under `guard` (a pin the caller holds:
    /// the topics `f` finds live while it runs).
    #[inline]
    pub(crate) fn with_shard<E: 'static, R>(
        &self,
        guard: &Guard,
        f: impl FnOnce(PinnedShard<'_>) -> R,
    ) -> R {
        match self.shards.get(shard::<E>()) {
            Some(cell) => {
                let shard = cell.load();
                f(PinnedShard {
                    shard: &shard,
                    guard,
                })
            }
            None => f(PinnedShard {
                shard: &EMPTY,
                guard,
            }),
        }
    }

    /// The topic of the type `id`, if registered: a pointer to the whole `Topic<E>` of the `E`
    /// whose `TypeId` is `id` (`insert` registers nothing else under it), valid until `guard`
    /// is dropped (the shard is loaded after the caller pinned it: see [`Entry`]). Not generic.
    #[inline]
    pub(crate) fn find(&self, id: TypeId, guard: &Guard) -> Option<*const ()> {
        let _ = guard;
        let shard = self.shards.get(shard_of(id))?.load();
        shard
            .entry(id)
            .map(|e| e.topic.as_ptr().cast_const().cast::<()>())
    }

    /// The topic of the type `id`, if registered, with a strong reference of the caller's own.
    fn get_arc_of(&self, id: TypeId, guard: &Guard) -> Option<std::sync::Arc<dyn ErasedTopic>> {
        let shard = self.shards.get(shard_of(id))?.load();
        // SAFETY: `guard` is pinned, and was before this load.
        shard.entry(id).map(|e| unsafe { e.clone_arc(guard) })
    }

    /// `E`'s live or dying topic, if registered.
    #[cfg(test)]
    pub(crate) fn get_arc<E: Send + Sync + 'static>(
        &self,
        guard: &Guard,
    ) -> Option<std::sync::Arc<Topic<E>>> {
        let topic = self.get_arc_of(TypeId::of::<E>(), guard)?;
        topic.into_any().downcast().ok()
    }

    /// Calls `f` with every registered topic, as the shards are loaded one after the other
    /// under `guard` (a pin the caller holds).
    pub(crate) fn for_each(&self, guard: &Guard, mut f: impl FnMut(&dyn ErasedTopic)) {
        for cell in self.shards.iter() {
            for entry in &cell.load().topics {
                // SAFETY: `guard` is pinned, and was before this shard was loaded.
                f(unsafe { entry.topic(guard) });
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

    /// Registers `topic` as the topic of the type `id`, replacing `replacing` (a dead topic of
    /// that type) if that is still registered. Fails, changing nothing, if the shard holds any
    /// other topic of the type. Not generic: one copy for every event type (issue 12, item 6).
    ///
    /// # Panics
    /// If `topic` is not a topic of the type `id`: every entry under `TypeId::of::<E>()` is a
    /// `Topic<E>`, which the send cache relies on when it casts an entry back (`send_cache`).
    fn insert(
        &self,
        id: TypeId,
        topic: &std::sync::Arc<dyn ErasedTopic>,
        replacing: Option<&std::sync::Arc<dyn ErasedTopic>>,
    ) -> bool {
        assert!(
            topic.event_type() == id,
            "a topic registered under another type's id"
        );
        let cell = self.shards.get_or_make(shard_of(id));
        // The registry's reference, counted before the topic is published and handed over
        // (forgotten) only once it is.
        let reference = std::sync::Arc::clone(topic);
        loop {
            let current = std::sync::Arc::clone(&cell.load());
            let mut next = Shard {
                topics: Vec::with_capacity(current.topics.len() + 1),
            };
            let mut leaving = None;
            for entry in &current.topics {
                if entry.id != id {
                    next.topics.push(*entry);
                } else if replacing.is_some_and(|r| entry.is(&**r)) {
                    leaving = Some(*entry);
                } else {
                    return false;
                }
            }
            next.topics.push(Entry::new(id, &reference));
            if self.swap(cell, &current, next, leaving) {
                // Now the entry's reference (`Entry`); given back by `remove` or the drop.
                let _ = std::sync::Arc::into_raw(reference);
                return true;
            }
        }
    }

    /// Takes `topic` (of the type `id`) out of the registry unless it is gone or was replaced
    /// already; says whether it did. Not generic, as `insert`.
    fn remove(&self, id: TypeId, topic: &dyn ErasedTopic) -> bool {
        let Some(cell) = self.shards.get(shard_of(id)) else {
            return false;
        };
        loop {
            let current = std::sync::Arc::clone(&cell.load());
            let Some(leaving) = current.topics.iter().find(|e| e.is(topic)).copied() else {
                return false;
            };
            // Allocated once at its final size (`collect` from a filter grows it step by step).
            let mut next = Shard {
                topics: Vec::with_capacity(current.topics.len() - 1),
            };
            next.topics
                .extend(current.topics.iter().filter(|e| !e.is(topic)).copied());
            if self.swap(cell, &current, next, Some(leaving)) {
                return true;
            }
        }
    }

    /// Swaps `next` into `cell` if it still holds `current`; then raises the generation and
    /// retires the replaced shard and, with it, the registry's reference to `leaving`, the
    /// entry of `current` that `next` left out (module docs). Says whether it did.
    fn swap(
        &self,
        cell: &AtomicArc<Shard>,
        current: &std::sync::Arc<Shard>,
        next: Shard,
        leaving: Option<Entry>,
    ) -> bool {
        let next = std::sync::Arc::new(next);
        // Before the swap: see the module docs.
        let guard = pin_for_swap();
        let Some(replaced) = cell.compare_and_swap(current, next) else {
            return false;
        };
        // SeqCst: see `generation`.
        self.generation.fetch_add(1, Ordering::SeqCst);
        let leaving = leaving.map(|e| e.topic);
        // SAFETY: the closure drops an `Arc<Shard>` and gives back a reference on a topic, both
        // `Send + 'static` (as `Entry`'s `Send` says), so it may run on whichever thread collects,
        // whenever it does. `leaving` was in `current`, the cell's current shard until this swap,
        // and is in no shard made later (`next` and its successors leave it out: a topic is
        // registered once), so this swap is the one that takes it out: the release is its one call,
        // run only after every thread pinned before this point unpinned (`Entry`).
        unsafe {
            guard.defer_unchecked(move || {
                drop(replaced);
                if let Some(topic) = leaving {
                    Entry::release(topic);
                }
            })
        };
        true
    }
}

// `swap`'s deferred function holds these two: within crossbeam-epoch's three inline words.
const _: () = assert!(
    std::mem::size_of::<(std::sync::Arc<Shard>, Option<NonNull<dyn ErasedTopic>>)>()
        <= 3 * std::mem::size_of::<usize>()
);

impl Drop for Registry {
    fn drop(&mut self) {
        for cell in self.shards.iter() {
            for entry in &cell.load().topics {
                // SAFETY: `&mut self`: no thread can load a shard of this registry any more,
                // and no sender uses a topic it found in one (a send holds the bus, hence the
                // registry); retired shards own no reference. Each current entry's reference
                // is given back here, once (`Entry`).
                unsafe { Entry::release(entry.topic) };
            }
        }
    }
}

// ---- The bus's shared state: the registry, the bucket filter in front of it, the bus id.

/// Number of buckets in the subscription filter.
pub(crate) const BUCKETS: usize = 64;

/// State shared by every handle and subscription of one bus.
pub(crate) struct Shared {
    /// Topics by type, in copy-on-write shards read without locks by every send; see
    /// `registry` for how a replaced shard is retired and what its generation means.
    pub(crate) registry: Registry,
    /// This bus's number, distinct from every other bus created by this process: the send
    /// cache's key, and [`Bus::id`].
    pub(crate) id: u64,
    /// Live topics per `TypeId` bucket. Incremented (SeqCst) before a topic is registered,
    /// decremented after it died and left the registry, so a zero proves that no subscription of
    /// any type in the bucket exists for a send that starts after any subscribe returned (a
    /// subscription keeps its topic alive). Counting topics rather than subscriptions keeps
    /// subscribing to a live topic off this line, which every send reads.
    pub(crate) buckets: [AtomicUsize; BUCKETS],
    /// Set once by `close`; never cleared.
    pub(crate) closed: AtomicBool,
    /// Live `Bus` handles; the last one to go closes the bus.
    pub(crate) handles: AtomicUsize,
    /// Bounds by event type, from [`BusBuilder`]; fixed at build. Read only when a topic is
    /// made, so every topic a type ever has gets its bound.
    pub(crate) bounds: HashMap<TypeId, Bound>,
    /// User panics contained on this bus's behalf ([`Stats::user_panics`]); shared with its
    /// topics and their deferred segment destructions, which may outlive the bus.
    pub(crate) user_panics: std::sync::Arc<UserPanics>,
    /// The lag warning threshold given to new topics ([`Bus::set_lag_warning`]).
    pub(crate) lag_warning: AtomicU64,
}

/// What the bus needs of a topic without knowing its event type.
pub(crate) trait ErasedTopic: Send + Sync {
    /// `TypeId::of::<E>()` for a `Topic<E>`.
    fn event_type(&self) -> TypeId;
    /// [`Topic::try_add_subscriber`].
    fn try_add_subscriber(&self) -> bool;
    /// [`Topic::remove_subscriber`].
    fn remove_subscriber(&self) -> bool;
    /// [`Topic::is_closed`].
    fn is_closed(&self) -> bool;
    fn as_any(&self) -> &dyn Any;
    fn into_any(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn Any + Send + Sync>;
    fn close(&self);
    fn stats(&self) -> TopicStats;
    fn set_lag_warning(&self, threshold: u64);
}

impl<E: Send + Sync + 'static> ErasedTopic for Topic<E> {
    fn event_type(&self) -> TypeId {
        TypeId::of::<E>()
    }

    fn try_add_subscriber(&self) -> bool {
        Topic::try_add_subscriber(self)
    }

    fn remove_subscriber(&self) -> bool {
        Topic::remove_subscriber(self)
    }

    fn is_closed(&self) -> bool {
        Topic::is_closed(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn Any + Send + Sync> {
        self
    }

    fn close(&self) {
        Topic::close(self)
    }

    fn set_lag_warning(&self, threshold: u64) {
        self.lag.set(threshold);
    }

    fn stats(&self) -> TopicStats {
        TopicStats {
            type_name: std::any::type_name::<E>(),
            type_id: TypeId::of::<E>(),
            sent: self.sent(),
            dropped: self.dropped(),
            subscribers: self.subscriber_count(),
            retained_segments: self.retained_segments(),
            backlog: self.backlog(),
            retained_bytes: self.retained_segments() * std::mem::size_of::<Segment<E>>(),
        }
    }
}

/// `TypeId` is already a hash: keep the bits it writes instead of hashing them again.
#[derive(Default)]
pub(crate) struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `TypeId` today; fold anything else in rather than ignore it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    fn write_u128(&mut self, n: u128) {
        self.0 ^= n as u64 ^ (n >> 64) as u64;
    }
}

/// The filter bucket of `E`; a constant after inlining.
#[inline(always)]
pub(crate) fn bucket<E: 'static>() -> usize {
    let mut h = TypeIdHasher::default();
    TypeId::of::<E>().hash(&mut h);
    let x = h.finish();
    // Mix the high bits down: the low bits of a type hash are not guaranteed to be spread.
    ((x ^ (x >> 29) ^ (x >> 47)) as usize) % BUCKETS
}

/// A new bus id, never used before in this process. A plain std atomic: a `static` needs a
/// `const` constructor (loom's have none), and handing out ids takes part in no protocol a loom
/// model checks.
fn bus_id() -> u64 {
    static NEXT_BUS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    // Relaxed: only uniqueness matters, which `fetch_add` gives whatever the ordering.
    NEXT_BUS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Shared {
    /// The state of a new, open bus with no topics; `bounds` by event type.
    pub(crate) fn new(bounds: HashMap<TypeId, Bound>) -> Self {
        Shared {
            registry: Registry::new(),
            id: bus_id(),
            buckets: std::array::from_fn(|_| AtomicUsize::new(0)),
            closed: AtomicBool::new(false),
            handles: AtomicUsize::new(1),
            bounds,
            user_panics: std::sync::Arc::new(UserPanics::new()),
            lag_warning: AtomicU64::new(lag::DEFAULT_LAG_WARNING),
        }
    }

    #[cold]
    pub(crate) fn unrouted<E>(&self, event: E) -> SendError<E> {
        // Relaxed: only picks which error to report; nothing was stored either way, and a send
        // racing `close` may report either.
        if self.closed.load(Ordering::Relaxed) {
            SendError::Closed(event)
        } else {
            SendError::NoSubscribers(event)
        }
    }

    /// The registry's half of `Bus::subscribe`: `E`'s topic, with this subscription counted
    /// in it (made and registered if `E` had none), or `None` if the bus is closed (then the
    /// subscription ends at once). A typed shim over [`subscribe_erased`](Self::subscribe_erased).
    ///
    /// `pin` is held by the caller from before this call until the subscription that takes
    /// the count is made: only an outermost pin collects the epoch's garbage, which may run
    /// someone else's panicking deferred function, so a pin can then unwind only before the
    /// count, and a panic never leaves a subscription counted that nobody holds.
    #[inline]
    pub(crate) fn subscribe<E: Send + Sync + 'static>(
        &self,
        pin: &Guard,
    ) -> Option<std::sync::Arc<Topic<E>>> {
        let topic = self.subscribe_erased(Kind::of::<E>(), pin)?;
        match topic.into_any().downcast::<Topic<E>>() {
            Ok(topic) => Some(topic),
            // `insert` registers a topic only under its own type's id.
            Err(_) => unreachable!("the topic registered for a type is of that type"),
        }
    }

    /// `subscribe` for every event type: one copy of the registration path, `kind` says which
    /// type (issue 12, item 6: a copy per type was most of the build of a bus with many
    /// types, and of the code each type adds).
    #[inline(never)]
    fn subscribe_erased(&self, kind: Kind, pin: &Guard) -> Option<std::sync::Arc<dyn ErasedTopic>> {
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        let topic = loop {
            let current = self.registry.get_arc_of(kind.id, pin);
            if let Some(topic) = &current {
                if topic.try_add_subscriber() {
                    // Live, so its bucket already counts it.
                    break std::sync::Arc::clone(topic);
                }
                // Dead: its last subscription is removing it. Replace it below.
            }
            // SeqCst: see `buckets`. Counted before the topic exists, so a sender never skips
            // the registry while the topic is registered.
            self.buckets[kind.bucket].fetch_add(1, Ordering::SeqCst);
            let bound = self.bounds.get(&kind.id).copied();
            let topic = (kind.make)(bound, std::sync::Arc::clone(&self.user_panics));
            // Relaxed: a setting; `set_lag_warning` also updates registered topics.
            topic.set_lag_warning(self.lag_warning.load(Ordering::Relaxed));
            if self.registry.insert(kind.id, &topic, current.as_ref()) {
                trace_topic(self.id, kind.name, "created");
                break topic;
            }
            // Another topic of the type was registered meanwhile; the new one was never
            // visible.
            self.buckets[kind.bucket].fetch_sub(1, Ordering::SeqCst);
        };
        // SeqCst, after the registry update: either `close` sees this topic in the registry
        // and closes it, or this load sees the flag and closes it here. (`close` is idempotent.)
        if self.closed.load(Ordering::SeqCst) {
            topic.close();
        }
        if topic.is_closed() {
            // Nothing sent from now on can reach it: it ends at once.
            self.unsubscribe_erased(kind.erased(), &*topic);
            return None;
        }
        Some(topic)
    }

    /// Called by a subscription as it goes away. A typed shim over `unsubscribe_erased`.
    #[inline]
    pub(crate) fn unsubscribe<E: Send + Sync + 'static>(&self, topic: &std::sync::Arc<Topic<E>>) {
        self.unsubscribe_erased(Kind::of::<E>().erased(), &**topic);
    }

    /// `unsubscribe` for every event type: counts one subscription of `topic` (of the type
    /// `kind`) less, and removes the topic if that was its last.
    #[inline(never)]
    fn unsubscribe_erased(&self, kind: KindId, topic: &dyn ErasedTopic) {
        if topic.remove_subscriber() {
            // The topic is dead: take it out of the registry unless it was replaced already.
            if self.registry.remove(kind.id, topic) {
                trace_topic(self.id, kind.name, "removed");
            }
            // SeqCst: see `buckets`. After the topic left the registry (or was replaced).
            self.buckets[kind.bucket].fetch_sub(1, Ordering::SeqCst);
        }
    }

    pub(crate) fn close(&self) {
        // Pinned to read the topics (`Registry::for_each`). Pinning may run someone else's
        // panicking deferred function (module docs); the bus is closed all the same, and the
        // first such panic is resumed once it is.
        let mut foreign = None;
        let guard = loop {
            match std::panic::catch_unwind(epoch::pin) {
                Ok(guard) => break guard,
                // Each failed pin ran (and used up) the function that panicked.
                Err(panic) => _ = foreign.get_or_insert(panic),
            }
        };
        #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
        let was_closed = self.closed.swap(true, Ordering::SeqCst);
        #[cfg(feature = "tracing")]
        if !was_closed {
            tracing::debug!(target: "tidings", bus = self.id, "bus closed");
        }
        self.registry.for_each(&guard, |topic| topic.close());
        drop(guard);
        if let Some(panic) = foreign {
            std::panic::resume_unwind(panic);
        }
    }
}

/// What the registration path needs of an event type `E`, as data: its id, name and filter
/// bucket (constants after inlining) and how to make its topic, the one typed step.
#[derive(Clone, Copy)]
struct Kind {
    id: TypeId,
    name: &'static str,
    bucket: usize,
    make: fn(Option<Bound>, std::sync::Arc<UserPanics>) -> std::sync::Arc<dyn ErasedTopic>,
}

/// The part of a [`Kind`] that removing a topic needs (no constructor).
#[derive(Clone, Copy)]
struct KindId {
    id: TypeId,
    name: &'static str,
    bucket: usize,
}

impl Kind {
    #[inline(always)]
    fn of<E: Send + Sync + 'static>() -> Self {
        Kind {
            id: TypeId::of::<E>(),
            name: std::any::type_name::<E>(),
            bucket: bucket::<E>(),
            make: make_topic::<E>,
        }
    }

    #[inline(always)]
    fn erased(self) -> KindId {
        KindId {
            id: self.id,
            name: self.name,
            bucket: self.bucket,
        }
    }
}

/// A new topic of `E` (`Kind::make`).
fn make_topic<E: Send + Sync + 'static>(
    bound: Option<Bound>,
    user_panics: std::sync::Arc<UserPanics>,
) -> std::sync::Arc<dyn ErasedTopic> {
    std::sync::Arc::new(Topic::<E>::new(bound, user_panics))
}

/// A topic entered or left the registry: a `debug` event with the `tracing` feature.
#[cold]
fn trace_topic(bus: u64, event_type: &'static str, what: &'static str) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "tidings", bus, event_type, "topic {what}");
    #[cfg(not(feature = "tracing"))]
    let _ = (bus, event_type, what);
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a snapshot for display.
        f.debug_struct("Shared")
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(tidings_loom)))]
mod tests {
    use std::mem::ManuallyDrop;

    use super::*;

    /// The send cache casts a registry entry found under `TypeId::of::<E>()` back to a
    /// `Topic<E>` (`send_cache::find`): registering a topic under another type's id must fail
    /// loudly, before anything is published.
    #[test]
    #[should_panic(expected = "a topic registered under another type's id")]
    fn a_topic_registered_under_another_types_id_is_refused() {
        let registry = Registry::new();
        let topic = make_topic::<u32>(None, std::sync::Arc::new(UserPanics::new()));
        registry.insert(TypeId::of::<u64>(), &topic, None);
    }

    /// The erased paths find, replace and remove exactly the topic of the id they are given,
    /// and leave other types' topics alone.
    #[test]
    fn the_erased_registry_finds_and_removes_by_type_id() {
        let registry = Registry::new();
        let panics = std::sync::Arc::new(UserPanics::new());
        let a = make_topic::<u32>(None, std::sync::Arc::clone(&panics));
        let b = make_topic::<u64>(None, std::sync::Arc::clone(&panics));
        let (ida, idb) = (TypeId::of::<u32>(), TypeId::of::<u64>());
        assert!(registry.insert(ida, &a, None));
        assert!(registry.insert(idb, &b, None));
        assert!(!registry.insert(ida, &a, None), "a second topic of a type");
        let addr = |t: &std::sync::Arc<dyn ErasedTopic>| std::sync::Arc::as_ptr(t).cast::<()>();
        let find = |id| registry.find(id, &epoch::pin());
        assert_eq!(find(ida), Some(addr(&a)));
        assert_eq!(find(idb), Some(addr(&b)));
        // `b` replaced by a new topic of its type: found in its place.
        let b2 = make_topic::<u64>(None, std::sync::Arc::clone(&panics));
        assert!(registry.insert(idb, &b2, Some(&b)));
        assert_eq!(find(idb), Some(addr(&b2)));
        assert!(!registry.remove(idb, &*b), "already replaced");
        assert!(registry.remove(idb, &*b2));
        assert_eq!(find(idb), None);
        assert_eq!(find(ida), Some(addr(&a)));
        assert_eq!(registry.len(), 1);
    }

    /// A shard's cell is made by the first registration in the shard and kept: a new registry
    /// has none (dropping a bus then drops no arc-swap cell), two types make at most two, and
    /// a type that leaves keeps its cell, which the next registration there reuses.
    /// Unregistered types read as absent whether or not their shard has a cell.
    #[test]
    fn shard_cells_are_made_by_the_first_registration_in_their_shard() {
        let registry = Registry::new();
        assert_eq!(registry.shards.made(), 0);
        let (ida, idb) = (TypeId::of::<u32>(), TypeId::of::<u64>());
        assert_eq!(registry.find(ida, &epoch::pin()), None);
        assert!(
            !registry.remove(ida, &*new_topic::<u32>()),
            "nothing to remove"
        );
        assert_eq!(
            registry.shards.made(),
            0,
            "reads and failed removes make no cell"
        );
        let a = new_topic::<u32>();
        assert!(registry.insert(ida, &a, None));
        assert_eq!(registry.shards.made(), 1);
        let b = new_topic::<u64>();
        assert!(registry.insert(idb, &b, None));
        let both = if shard_of(ida) == shard_of(idb) { 1 } else { 2 };
        assert_eq!(registry.shards.made(), both);
        assert!(registry.remove(ida, &*a));
        assert_eq!(
            registry.shards.made(),
            both,
            "a cell outlives its last type"
        );
        let a2 = new_topic::<u32>();
        assert!(registry.insert(ida, &a2, None));
        assert_eq!(registry.shards.made(), both);
        let addr = |t: &std::sync::Arc<dyn ErasedTopic>| std::sync::Arc::as_ptr(t).cast::<()>();
        assert_eq!(registry.find(ida, &epoch::pin()), Some(addr(&a2)));
        assert_eq!(registry.find(idb, &epoch::pin()), Some(addr(&b)));
        assert_eq!(registry.len(), 2);
        // Types never registered read as absent, whichever shard they fall in.
        let absent = [
            TypeId::of::<[u8; 1]>(),
            TypeId::of::<[u16; 2]>(),
            TypeId::of::<[u32; 3]>(),
            TypeId::of::<(u8, u16)>(),
        ];
        for id in absent {
            assert_eq!(registry.find(id, &epoch::pin()), None);
        }
    }

    /// Collects the epoch's garbage until `done`, for up to 30 s (other tests' pinned threads
    /// may hold the epoch back); says whether `done` came true.
    fn collect_until(done: impl Fn() -> bool) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !done() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            (0..64).for_each(|_| epoch::pin().flush());
            std::thread::yield_now();
        }
        true
    }

    /// A new topic of `E`, as the registration path makes it.
    fn new_topic<E: Send + Sync + 'static>() -> std::sync::Arc<dyn ErasedTopic> {
        make_topic::<E>(None, std::sync::Arc::new(UserPanics::new()))
    }

    /// A reference of the test's own that it gives back only after its checks passed: a
    /// reference the registry gives back twice then fails a check on the count instead of
    /// freeing the topic under the test (which would abort the test binary).
    fn spare(
        topic: &std::sync::Arc<dyn ErasedTopic>,
    ) -> ManuallyDrop<std::sync::Arc<dyn ErasedTopic>> {
        ManuallyDrop::new(std::sync::Arc::clone(topic))
    }

    fn count(topic: &std::sync::Arc<dyn ErasedTopic>) -> usize {
        std::sync::Arc::strong_count(topic)
    }

    /// `topic` just left the registry, and `sender` was pinned before it did: the registry's
    /// reference is not given back while `sender` is held, and given back once after. `held`:
    /// the references besides the registry's.
    fn assert_given_back_once_after(
        sender: Guard,
        topic: &std::sync::Arc<dyn ErasedTopic>,
        held: usize,
    ) {
        (0..64).for_each(|_| epoch::pin().flush());
        assert_eq!(
            count(topic),
            held + 1,
            "given back while a thread pinned before the removal may still use it"
        );
        drop(sender);
        assert!(collect_until(|| count(topic) <= held), "never given back");
        (0..64).for_each(|_| epoch::pin().flush());
        assert_eq!(count(topic), held, "given back twice");
    }

    /// The registry owns one reference on a registered topic, however many shard copies point
    /// to it, and gives it back exactly once when the topic leaves: not while a thread pinned
    /// before the removal may still use it (it found the topic in a shard), and not twice.
    /// Catches a release made at once instead of deferred, a release forgotten, and a release
    /// made twice (each injected once: this test failed on each).
    #[test]
    fn a_removed_topic_is_released_once_after_every_earlier_pin() {
        let registry = Registry::new();
        let id = TypeId::of::<u32>();
        let topic = new_topic::<u32>();
        let ours = spare(&topic);
        assert!(registry.insert(id, &topic, None));
        // Other types: a swap of a shard they share with `u32` copies their entries, which
        // must not count references either.
        let others = [new_topic::<u8>(), new_topic::<u16>(), new_topic::<u64>()];
        let spares: Vec<_> = others.iter().map(spare).collect();
        for t in &others {
            assert!(registry.insert(t.event_type(), t, None));
        }
        assert_eq!(count(&topic), 3, "one for the registry");
        assert!(others.iter().all(|t| count(t) == 3), "one for the registry");
        // A sender on this thread, pinned before the removal, that found the topic.
        let sender = epoch::pin();
        assert!(registry.find(id, &sender).is_some());
        assert!(registry.remove(id, &*topic));
        assert_given_back_once_after(sender, &topic, 2);
        assert!(
            others.iter().all(|t| count(t) == 3),
            "another type's count moved"
        );
        drop(registry);
        drop(ManuallyDrop::into_inner(ours));
        spares
            .into_iter()
            .for_each(|s| drop(ManuallyDrop::into_inner(s)));
    }

    /// A subscription that finds its type's topic dead replaces it (`insert` with
    /// `replacing`): the registry's reference on the dead topic is given back once, after the
    /// epoch, and the new topic holds one. Catches a replaced topic never released (a leak),
    /// released twice, or released at once under a pinned sender (each injected once: this
    /// test failed on each).
    #[test]
    fn a_replaced_dead_topic_is_released_once() {
        let registry = Registry::new();
        let id = TypeId::of::<u32>();
        let (dead, new) = (new_topic::<u32>(), new_topic::<u32>());
        let spares = [spare(&dead), spare(&new)];
        assert!(registry.insert(id, &dead, None));
        let sender = epoch::pin();
        assert!(registry.insert(id, &new, Some(&dead)));
        assert_given_back_once_after(sender, &dead, 2);
        assert_eq!(count(&new), 3, "one for the registry");
        assert!(!registry.remove(id, &*dead), "already replaced");
        drop(registry);
        assert_eq!(count(&new), 2, "the drop gave it back, once");
        spares
            .into_iter()
            .for_each(|s| drop(ManuallyDrop::into_inner(s)));
    }

    /// Dropping a registry gives back its reference on every topic still registered, at once,
    /// and frees them when nobody else holds one. Catches a drop that forgets them (a leak of
    /// every topic a bus had registered) or gives one back twice (each injected once: this test
    /// failed on each).
    #[test]
    fn dropping_the_registry_releases_every_registered_topic() {
        let registry = Registry::new();
        let topics = [
            new_topic::<u8>(),
            new_topic::<u16>(),
            new_topic::<u32>(),
            new_topic::<u64>(),
        ];
        for t in &topics {
            assert!(registry.insert(t.event_type(), t, None));
        }
        let spares: Vec<_> = topics.iter().map(spare).collect();
        let weak: Vec<_> = topics.iter().map(std::sync::Arc::downgrade).collect();
        drop(topics);
        assert!(weak.iter().all(|w| w.strong_count() == 2));
        drop(registry);
        assert!(
            weak.iter().all(|w| w.strong_count() == 1),
            "the drop gave back each reference once"
        );
        spares
            .into_iter()
            .for_each(|s| drop(ManuallyDrop::into_inner(s)));
        assert!(
            weak.iter().all(|w| w.upgrade().is_none()),
            "every topic freed"
        );
    }
}
