//! Introspection snapshots.

use std::any::TypeId;

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
}
