//! Introspection snapshots, and the count of user panics the bus contained.

use std::any::TypeId;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::sync::{AtomicU64, Ordering};

/// A snapshot of a bus's counters, from [`Bus::stats`](crate::Bus::stats).
///
/// Only types that currently have a topic (a live subscription, or one that just left) are
/// listed: a send of a type with no subscription stores nothing at all, not even a counter.
/// [`Bus::send`](crate::Bus::send)'s error tells its caller instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Whether the bus was closed.
    pub closed: bool,
    /// Panics of user code that the bus caught because they happened on behalf of others: a
    /// parked subscription's waker panicking while a `send` or `close` woke it, and an event's
    /// `Drop` panicking while the bus freed it (which may run inside another bus's call, on
    /// another thread; it is still counted here, on the bus the event was sent on). Each is
    /// also reported as a `tracing` error event when the `tracing` feature is on. Counted from
    /// the bus's creation; never reset.
    pub user_panics: u64,
    /// One entry per event type, sorted by type name.
    pub topics: Vec<TopicStats>,
}

impl Stats {
    /// The entry for event type `E`, if it has a topic.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// let _sub = bus.subscribe::<String>();
    /// assert_eq!(bus.stats().topic::<String>().unwrap().subscribers, 1);
    /// assert!(bus.stats().topic::<u8>().is_none());
    /// ```
    pub fn topic<E: 'static>(&self) -> Option<&TopicStats> {
        self.topics.iter().find(|t| t.type_id == TypeId::of::<E>())
    }
}

/// Counters of one event type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicStats {
    /// `std::any::type_name` of the event type.
    pub type_name: &'static str,
    /// The event type.
    pub type_id: TypeId,
    /// Events sent and stored for this topic's subscriptions.
    pub sent: u64,
    /// Sends that reached this topic but stored nothing: its last subscription had just left,
    /// or it was closed.
    pub dropped: u64,
    /// Live subscriptions.
    pub subscribers: usize,
    /// Segments allocated and not yet retired: what the slowest subscription keeps alive, plus
    /// the tail.
    pub retained_segments: usize,
    /// Events this type's topic holds for its subscriptions, counted by whole segments: from
    /// the first slot of the oldest segment still held to the newest event (a snapshot, exact
    /// when no send is in flight). A per-type backlog for a service's metrics, read without
    /// locks or any subscription's help: at least the backlog of the slowest subscription
    /// ([`Subscription::len`](crate::Subscription::len)), and at most it plus one segment (64
    /// events) for unbounded and [`Backpressure`](crate::Overflow::Backpressure) types; for a
    /// [`DropOldest`](crate::Overflow::DropOldest) type also the full segments that overtaken
    /// subscriptions still hold. Events already read by everyone stay counted until their
    /// segment is freed, so it reaches 0 only when the topic holds nothing.
    pub backlog: u64,
    /// Heap held by those segments, in bytes (the slots of events not yet freed included).
    pub retained_bytes: usize,
}

/// One subscription's counters, from [`Subscription::stats`](crate::Subscription::stats): for
/// a service's metrics, read without locks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionStats {
    /// `std::any::type_name` of the event type.
    pub type_name: &'static str,
    /// Events waiting for this subscription ([`len`](crate::Subscription::len)).
    pub backlog: u64,
    /// Events this subscription has taken since it was made (by any `recv` or `try_recv`).
    pub received: u64,
    /// Events sent to it that a bounded topic dropped before it read them
    /// ([`missed`](crate::Subscription::missed)); `received + missed` is every event sent to it.
    pub missed: u64,
    /// Whether the bus has closed.
    pub closed: bool,
}

/// The count behind [`Stats::user_panics`]. Shared (`Arc`) by the bus, its topics and every
/// deferred destruction of their segments, so that a panic caught on any thread, even after the
/// bus is gone, is counted on the right bus.
#[derive(Debug)]
pub(crate) struct UserPanics(AtomicU64);

impl UserPanics {
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    pub(crate) fn get(&self) -> u64 {
        // Relaxed: a statistics counter; it orders nothing.
        self.0.load(Ordering::Relaxed)
    }

    /// Runs `f`, which calls user code on behalf of someone other than its owner (`what` says
    /// which: a waker, a drop), or a polling task's own waker (a poll that wakes itself: no
    /// tidings call unwinds from a waker). A panic is caught, counted and reported instead of
    /// unwinding into the caller; says whether `f` returned normally. Cold paths only: the wake
    /// paths and segment destruction.
    pub(crate) fn contain(&self, what: &'static str, f: impl FnOnce()) -> bool {
        let Err(payload) = catch_unwind(AssertUnwindSafe(f)) else {
            return true;
        };
        // Relaxed: statistics only.
        self.0.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "tracing")]
        {
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(not a string)");
            tracing::error!(
                target: "tidings",
                what,
                message,
                "a panic in user code was caught and counted in Stats::user_panics"
            );
        }
        #[cfg(not(feature = "tracing"))]
        let _ = what;
        // The payload is user data too: its drop may panic in turn. Leak it rather than unwind.
        if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            std::mem::forget(again);
        }
        false
    }
}
