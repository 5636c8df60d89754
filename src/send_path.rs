//! The send path, one copy for every event type (issue 12, item 6).
//!
//! A send of an `E` is split in two. The typed part ([`Shared::send`], inlined into the
//! caller) only puts the event in storage it keeps (`ManuallyDrop`), lends it by pointer, and
//! takes it back if the send refused it. Everything else, the bucket filter, the pin, the send
//! cache or registry look-up, the subscriber count, the policy branch, the claim, the move into
//! the slot, the publish and the wake-up check, is one non-generic function
//! ([`Shared::send_erased`], with [`push_erased`] and `segment::SendLine::push_one`), which
//! learns what it needs of `E` as data: the slot layout on the topic's send line, and the rare
//! typed paths (a send that crosses into a new segment, a bounded topic) as function pointers
//! ([`TopicKind`]). A service sending round robin over hundreds of types then runs one copy of
//! the path from the instruction cache instead of one copy per type, and every type adds a few
//! dozen bytes of machine code, not kilobytes (`scripts/many_types_cost.sh` measures both).
//!
//! Why the erased pointers are sound: a topic is `repr(C)` with its list first, and a list
//! `repr(C)` with its send line first, so a pointer to the whole `Topic<E>` is a pointer to its
//! `SendLine<TopicHot>`, which is not generic in `E`. Every such pointer is made from a
//! reference to (or an `Arc` of) the whole topic, so it may be read through as either. A topic
//! pointer from the send cache or the registry is alive while the sender's pin is held
//! (`send_cache`). The event's type is the topic's because both come from the same `TypeId`.

use std::any::TypeId;
use std::mem::ManuallyDrop;

use crate::error::SendError;
use crate::registry::{BUCKETS, Shared, bucket};
use crate::segment::{Borrowed, PushOne, SendLine};
use crate::send_cache;
use crate::sync::Ordering;
use crate::sync::epoch::{self, Guard};
use crate::topic::{DEAD, Rejected, Topic, TopicHot, UNBOUNDED};
use crate::wait_list::WaitNode;

// `send_erased` takes a bucket from the low 8 bits of its `pre` by masking.
const _: () = assert!(BUCKETS.is_power_of_two() && BUCKETS <= 256);

/// What the erased send path ([`push_erased`]) needs of `E` off its common case: the typed
/// paths, as function pointers (`Topic::<E>::KIND`, one constant per type).
pub(crate) struct TopicKind {
    /// Finishes an unbounded send whose claimed index is past the tail segment
    /// (`SegmentList::write_claimed`).
    crossing: unsafe fn(*const (), *mut (), u64, *mut u8, &Guard),
    /// `push_bounded`, with the event borrowed from the caller's storage.
    bounded: unsafe fn(*const (), *mut u8, &Guard) -> Result<(), Rejected>,
}

/// `Topic::push` for every event type: one copy of the send path (issue 12, item 6: a copy per
/// type cost a round robin over many types an instruction-cache miss per send). Only moving
/// the value depends on `E`, and the line's `SlotLayout` describes it.
///
/// # Safety
/// `topic` points to a `Topic<E>` (made from a reference to the whole topic), kept alive by
/// `guard` (see `bus`); `kind` is `Topic::<E>::KIND`; `src` points to an `E` the caller owns:
/// moved out (the caller must not use or drop it again) if this returns `Ok`, still the
/// caller's if it returns `Err`.
#[inline(always)]
pub(crate) unsafe fn push_erased(
    topic: *const (),
    src: *mut u8,
    kind: &'static TopicKind,
    guard: &Guard,
) -> Result<(), Rejected> {
    // SAFETY: a `Topic` is `repr(C)` and starts with its list, a `repr(C)` list with its line
    // first; `topic` points to a live one, with the provenance of the whole topic.
    let line = unsafe { &*topic.cast::<SendLine<TopicHot>>() };
    let hot = &line.hot;
    // SeqCst: pairs with the SeqCst increment in `try_add_subscriber`, so a send that starts
    // after a subscribe returned sees its count.
    let subs = hot.subscribers.load(Ordering::SeqCst);
    if subs == 0 || subs == DEAD {
        // Relaxed: a statistics counter; nothing is ordered by it.
        hot.dropped.fetch_add(1, Ordering::Relaxed);
        return Err(Rejected::NoSubscribers);
    }
    if hot.policy != UNBOUNDED {
        // SAFETY: the caller's contract, passed on.
        return unsafe { (kind.bounded)(topic, src, guard) };
    }
    // SAFETY: `line` is the line of the `Topic<E>`'s list, `src` as the caller says.
    match unsafe { line.push_one(src, guard) } {
        PushOne::Written => {}
        PushOne::Closed => {
            // Relaxed: statistics only.
            hot.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(Rejected::Closed);
        }
        // SAFETY: `push_one`'s answer on this topic's line, under `guard`; the event is moved.
        PushOne::Crossing { tail, first } => unsafe {
            (kind.crossing)(topic, tail, first, src, guard)
        },
    }
    // No fence: the SC claim above and the SC load in `is_empty` are the sender's half of
    // the pattern in `wait_list`; a parking subscription checks `claimed_past`.
    if !hot.waiters.is_empty() {
        hot.waiters.wake_all(&line.user_panics);
    }
    Ok(())
}

impl<E: Send + Sync + 'static> Topic<E> {
    /// `E`'s typed paths, for [`push_erased`].
    pub(crate) const KIND: &'static TopicKind = &TopicKind {
        crossing: Self::crossing,
        bounded: Self::bounded,
    };

    /// [`TopicKind::crossing`].
    ///
    /// # Safety
    /// `topic` points to a `Topic<E>`, `tail` and `first` are what `push_one` answered on its
    /// line under `guard`, and `src` points to the `E` being sent, which this moves.
    unsafe fn crossing(topic: *const (), tail: *mut (), first: u64, src: *mut u8, guard: &Guard) {
        // SAFETY: the caller's contract.
        let topic = unsafe { &*topic.cast::<Topic<E>>() };
        // SAFETY: the caller's contract; `src` is moved once, into the claimed slot.
        unsafe {
            topic
                .list()
                .write_claimed(tail, first, Borrowed::new(src.cast()), &topic.lag, guard)
        }
    }

    /// [`TopicKind::bounded`].
    ///
    /// # Safety
    /// As [`push_erased`].
    #[inline(never)]
    unsafe fn bounded(topic: *const (), src: *mut u8, guard: &Guard) -> Result<(), Rejected> {
        // SAFETY: the caller's contract.
        let topic = unsafe { &*topic.cast::<Topic<E>>() };
        // SAFETY: the caller's contract; on `Err` the borrowed event was not moved, and
        // dropping a `Borrowed` drops nothing: it stays the caller's.
        let event = unsafe { Borrowed::new(src.cast()) };
        topic.push_bounded(event, guard).map_err(|(why, _)| why)
    }
}

/// The event of a send that stored nothing, taken back from its storage and handed back by
/// value in its error. Returns the whole `Result`, so that a debug build writes the event
/// straight into the caller's (a 256 KiB event on a 2 MiB thread: tests/bus_large_events.rs).
///
/// # Safety
/// `storage` holds the event, not moved out (the send refused it), and is not used again.
#[cold]
unsafe fn hand_back<E>(
    why: SendError<()>,
    storage: &mut ManuallyDrop<E>,
) -> Result<(), SendError<E>> {
    // SAFETY: the caller's contract: initialised, ours, taken once.
    let event = unsafe { ManuallyDrop::take(storage) };
    Err(match why {
        SendError::NoSubscribers(()) => SendError::NoSubscribers(event),
        SendError::Closed(()) => SendError::Closed(event),
        SendError::Full(()) => SendError::Full(event),
    })
}

impl Shared {
    /// `Bus::send`: the typed part of a send, which only lends the event to the one copy of
    /// the send path every type shares ([`send_erased`](Shared::send_erased)), by pointer to
    /// its storage, and takes it back if it was refused. So an event type adds a few dozen
    /// bytes of machine code to the send path, not a copy of it (issue 12, item 6), and the
    /// event is moved once, into its slot, however large (issue 12, item 4).
    #[inline]
    pub(crate) fn send<E: Send + Sync + 'static>(&self, event: E) -> Result<(), SendError<E>> {
        // Not dropped here: either the send moves it into a slot, or `hand_back` takes it
        // back. A panic out of the send (none is expected: it runs no user code, and contains
        // the wakers') would leak it, never drop it twice.
        let mut storage = ManuallyDrop::new(event);
        let src = std::ptr::from_mut(&mut storage).cast::<u8>();
        let id = TypeId::of::<E>();
        // Constants: the bucket below 8 bits, the send cache's way bits above.
        let pre = bucket::<E>() as u64 | send_cache::way_bits(id) << 8;
        // SAFETY: `src` points to an `E`, `id`'s type, that we own; `pre` is `E`'s and `KIND`
        // is `E`'s. If the send moved it, `storage` is not touched again.
        match unsafe { self.send_erased(id, pre, src, Topic::<E>::KIND) } {
            Ok(()) => Ok(()),
            // SAFETY: refused, so not moved: still in `storage`, and taken once.
            Err(why) => unsafe { hand_back(why, &mut storage) },
        }
    }

    /// The send path, one copy for every event type: the bucket filter, the pin, the send
    /// cache (or the registry) and the topic's push ([`push_erased`]).
    ///
    /// # Safety
    /// `src` points to an event whose type `E` has the id `type_id`, owned by the caller:
    /// moved out (never to be used or dropped again) if this returns `Ok`, still the caller's
    /// otherwise. `kind` is `Topic::<E>::KIND`; `pre` holds what the caller computed from the
    /// type's hash, where it is a constant: its filter bucket in the low 8 bits, the send
    /// cache's way bits above.
    #[inline(never)]
    unsafe fn send_erased(
        &self,
        type_id: TypeId,
        pre: u64,
        src: *mut u8,
        kind: &'static TopicKind,
    ) -> Result<(), SendError<()>> {
        // SeqCst: pairs with the SeqCst increment in `subscribe`. (A bucket is below
        // `BUCKETS`, a power of two: the mask only spares a bounds check.)
        if self.buckets[(pre as usize) % BUCKETS].load(Ordering::SeqCst) == 0 {
            return Err(self.unrouted(()));
        }
        // Pinned before the generation is loaded: see `send_cache` for why this keeps a cached
        // topic alive. The pin also protects the segments the push walks.
        let guard = epoch::pin();
        let topic = match send_cache::lookup_erased(self, type_id, pre >> 8, &guard) {
            Ok(topic) => topic,
            Err(miss) => match self.topic_uncached(type_id, miss, &guard) {
                Some(topic) => topic,
                None => return Err(self.unrouted(())),
            },
        };
        // SAFETY: `topic` points to the whole topic of `type_id`'s type, `E`, alive while
        // `guard` is held (`topic_uncached`, or `send_cache`); the rest is the caller's
        // contract.
        unsafe { push_erased(topic, src, kind, &guard) }.map_err(|why| self.refused(why))
    }

    /// After the send cache's first level missed: the topic of the type `type_id`, from the
    /// cache's second level, else from the registry (which then fills the cache); as a
    /// pointer to the whole `Topic`, alive while `guard` is held. From the registry because
    /// the shard it was found in, current when loaded under `guard`, is retired through the
    /// epoch when replaced, so freed only after `guard` is dropped (`send_cache`'s argument).
    #[inline(never)]
    fn topic_uncached(
        &self,
        type_id: TypeId,
        miss: send_cache::Miss,
        guard: &Guard,
    ) -> Option<*const ()> {
        if let Some(topic) = send_cache::lookup_second_erased(&miss, type_id, guard) {
            return Some(topic);
        }
        self.registry.with_shard_of(type_id, |shard| {
            let topic = shard.get_erased(type_id)?;
            send_cache::store_erased(miss, type_id, topic);
            Some(topic)
        })
    }

    /// A topic's refusal as the public error (without its event).
    #[inline]
    fn refused(&self, why: Rejected) -> SendError<()> {
        match why {
            // The topic may be dead because the bus closed and its last subscription left:
            // then the answer is `Closed`, as it would be had the topic been gone already.
            Rejected::NoSubscribers => self.unrouted(()),
            Rejected::Closed => SendError::Closed(()),
            Rejected::Full => SendError::Full(()),
        }
    }

    /// A send that, if the topic is full, parks `node` on the topic's list of waiting senders
    /// and tries once more (the sender's half of the pattern in `Topic::park_sender`): if that
    /// also finds it full, `node`'s waker is woken when room may have appeared.
    #[cold]
    pub(crate) fn send_or_park<E: Send + Sync + 'static>(
        &self,
        event: E,
        node: &crate::sync::Arc<WaitNode>,
    ) -> Result<(), SendError<E>> {
        // As in `send`.
        let mut storage = ManuallyDrop::new(event);
        let src = std::ptr::from_mut(&mut storage).cast::<u8>();
        match self.send_or_park_erased::<E>(src, node) {
            Ok(()) => Ok(()),
            // SAFETY: refused, so not moved: still in `storage`, and taken once.
            Err(why) => unsafe { hand_back(why, &mut storage) },
        }
    }

    /// `send_or_park` on the event at `src`, an `E` the caller owns: moved out if this
    /// returns `Ok`, still the caller's otherwise.
    fn send_or_park_erased<E: Send + Sync + 'static>(
        &self,
        src: *mut u8,
        node: &crate::sync::Arc<WaitNode>,
    ) -> Result<(), SendError<()>> {
        if self.buckets[bucket::<E>()].load(Ordering::SeqCst) == 0 {
            return Err(self.unrouted(()));
        }
        let guard = epoch::pin();
        self.registry.with_shard::<E, _>(|shard| {
            let Some(topic) = shard.get::<E>() else {
                return Err(self.unrouted(()));
            };
            let ptr = std::ptr::from_ref(topic).cast::<()>();
            // SAFETY: `ptr` is the whole `Topic<E>`, kept by the shard we hold; `src` as the
            // caller says (and after a refusal, still the caller's for the second try).
            match unsafe { push_erased(ptr, src, Topic::<E>::KIND, &guard) } {
                Err(Rejected::Full) => {
                    topic.park_sender(node);
                    // SAFETY: as above.
                    unsafe { push_erased(ptr, src, Topic::<E>::KIND, &guard) }
                }
                done => done,
            }
            .map_err(|why| self.refused(why))
        })
    }
}

#[cfg(all(test, not(tidings_loom)))]
mod tests {
    use crate::segment::SEGMENT_CAP;
    use crate::{Bus, Overflow};

    /// An event of `N` bytes, each a function of its position and a seed.
    #[derive(Clone, Debug, PartialEq)]
    struct Bytes<const N: usize>([u8; N]);

    impl<const N: usize> Bytes<N> {
        fn new(seed: u8) -> Self {
            Bytes(std::array::from_fn(|i| {
                seed.wrapping_mul(31).wrapping_add(i as u8)
            }))
        }
    }

    /// Sends events of `E` across a segment boundary on an unbounded and a DropOldest bus (the
    /// common path, the crossing, the bounded path) and checks that each arrives intact.
    fn round_trip<E: Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static>(
        make: impl Fn(u8) -> E,
    ) {
        let unbounded = Bus::new();
        let bounded = Bus::builder()
            .bound::<E>(1000, Overflow::DropOldest)
            .build();
        for bus in [unbounded, bounded] {
            let mut sub = bus.subscribe::<E>();
            let n = SEGMENT_CAP + 3;
            for i in 0..n {
                bus.send(make(i as u8)).unwrap();
            }
            for i in 0..n {
                assert_eq!(
                    sub.try_recv(),
                    Ok(make(i as u8)),
                    "{}",
                    std::any::type_name::<E>()
                );
            }
        }
    }

    macro_rules! sizes {
        ($($n:literal)*) => { $( round_trip(Bytes::<$n>::new); )* };
    }

    /// Issue 12, item 6: the shared send path moves a value by its size, read from the topic
    /// (`segment::write_value`, one branch per size class): every size and alignment must arrive
    /// byte for byte, including the classes' edges and the sizes between them.
    #[test]
    fn events_of_every_size_arrive_intact_through_the_shared_send_path() {
        sizes!(0 1 2 3 4 5 6 7 8 9 12 15 16 17 23 24 31 32 33 40 64 100 257);
        round_trip(|_| ());
        round_trip(|i| i as u16 * 257);
        round_trip(|i| i as u32 * 16_843_009);
        round_trip(|i| i as u64 * 0x0101_0101_0101_0101);
        round_trip(|i| i as u128 * 0x0101_0101_0101_0101_0101_0101_0101_0101);
        round_trip(|i| (i, i as u64, i as u16));
        round_trip(|i| format!("event {i}"));
        round_trip(|i| std::sync::Arc::new(vec![i; i as usize]));
    }
}
