//! Bounded topics: [`Overflow`], the policy a bound applies, and [`BusBuilder`], which sets
//! bounds per event type. The protocols are in `topic` (what senders do) and `subscription`
//! (what a cursor does when it is overtaken or makes room).

use std::any::TypeId;
use std::collections::HashMap;

use crate::Bus;

/// What gives when a subscription of a bounded event type falls `capacity` events behind,
/// set per type with [`BusBuilder::bound`].
///
/// Types without a bound are unbounded and lossless: a slow subscription keeps everything it
/// has not read (see the crate's "When a consumer is slow" section in the README).
///
/// ```
/// use tidings::{Bus, Overflow};
///
/// let bus = Bus::builder().bound::<u64>(2, Overflow::DropOldest).build();
/// let mut sub = bus.subscribe::<u64>();
/// for i in 0..1000u64 {
///     bus.send(i).unwrap(); // never waits, never fails for the laggard
/// }
/// let first = sub.try_recv().unwrap();
/// assert_eq!(first, sub.missed()); // what it got starts where what it lost ends
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Overflow {
    /// The oldest events go: senders never wait and never fail for a slow subscription; a
    /// subscription that was overtaken skips to the oldest event still retained and counts
    /// what it skipped in [`Subscription::missed`](crate::Subscription::missed). Memory stays
    /// bounded even if a subscription never reads again.
    DropOldest,
    /// The sender gives: [`Bus::send`] fails with [`SendError::Full`](crate::SendError::Full)
    /// (handing the event back) while the slowest subscription is `capacity` events behind;
    /// [`Bus::send_async`] and [`Bus::send_blocking`] wait for room. Nothing is ever dropped.
    Backpressure,
}

/// A type's bound: its capacity in events and its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bound {
    pub(crate) capacity: u64,
    pub(crate) overflow: Overflow,
}

/// Builds a [`Bus`] with bounds on chosen event types, from [`Bus::builder`].
///
/// Types not named stay unbounded. A type's bound holds for every topic that type ever has on
/// the bus: the topic made when its first subscription arrives, and every later one after the
/// last subscription left and a new one came.
///
/// ```
/// use tidings::{Bus, Overflow, SendError};
///
/// #[derive(Clone)]
/// struct Tick(u64);
/// #[derive(Clone, Debug, PartialEq)]
/// struct Order(u32);
///
/// let bus = Bus::builder()
///     .bound::<Tick>(1024, Overflow::DropOldest)
///     .bound::<Order>(2, Overflow::Backpressure)
///     .build();
/// let mut orders = bus.subscribe::<Order>();
/// bus.send(Order(1)).unwrap();
/// bus.send(Order(2)).unwrap();
/// assert_eq!(bus.send(Order(3)), Err(SendError::Full(Order(3))));
/// assert_eq!(orders.try_recv(), Ok(Order(1)));
/// bus.send(Order(3)).unwrap(); // room again
/// ```
#[derive(Debug, Default, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct BusBuilder {
    bounds: HashMap<TypeId, Bound>,
}

impl BusBuilder {
    /// Bounds event type `E` to `capacity` events behind the newest, with `overflow` deciding
    /// what gives. Naming a type again replaces its bound.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0: a topic that can hold nothing could never deliver anything.
    pub fn bound<E: Send + Sync + 'static>(mut self, capacity: usize, overflow: Overflow) -> Self {
        assert!(
            capacity > 0,
            "tidings: a bound's capacity must be at least 1"
        );
        self.bounds.insert(
            TypeId::of::<E>(),
            Bound {
                capacity: capacity as u64,
                overflow,
            },
        );
        self
    }

    /// The bus.
    pub fn build(self) -> Bus {
        Bus::with_bounds(self.bounds)
    }
}
