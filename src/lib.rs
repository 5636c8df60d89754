//! A lock-free, typed publish-subscribe event bus for async Rust and plain threads.
//!
//! Events are plain typed values. [`Bus::send`] publishes one to every live [`Subscription`] of
//! exactly its type, synchronously and without blocking; [`Bus::subscribe`] gives an async
//! [`Stream`](futures_core::Stream) of them. It is the event bus of the Python framework Haiway,
//! brought to Rust: `Send + Sync`, on any executor or none, with one total order per type.
//!
//! ```
//! # futures::executor::block_on(async {
//! use tidings::Bus;
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct UserLoggedIn {
//!     user_id: String,
//! }
//!
//! let bus = Bus::new();
//! let mut audit = bus.subscribe::<UserLoggedIn>();
//! let mut stats = bus.subscribe::<UserLoggedIn>();
//!
//! bus.send(UserLoggedIn { user_id: "ada".into() }).unwrap();
//!
//! // Every subscription gets every event.
//! assert_eq!(audit.recv().await.unwrap().user_id, "ada");
//! assert_eq!(stats.recv().await.unwrap().user_id, "ada");
//! # });
//! ```
//!
//! # Routing
//!
//! By exact type: `E`, `Arc<E>` and a wrapper around `E` are unrelated types with unrelated
//! subscriptions. A subscription receives every event whose send starts after
//! [`Bus::subscribe`] returned, so "subscribe, then send the request" makes request-response
//! race-free.
//!
//! # Ordering
//!
//! All subscriptions of one type see its events in the same total order, consistent with each
//! sender's program order and with happens-before between senders. This is stronger than
//! Haiway, which promises no order across publishers.
//!
//! # Memory
//!
//! - A send of a type with no live subscription stores nothing and allocates nothing.
//! - Events live in segments of 64 slots, so there is no allocation per event.
//! - A subscription dropped while waiting (a request that timed out) releases its waker at
//!   once; its wait node is freed by the next send or close, or by a later such drop, so
//!   memory stays flat however many such drops come without a send.
//! - An event is freed with its segment, once every subscription that must read it has moved
//!   past it. There is no capacity and no lag limit: a slow subscription keeps what it has not
//!   read, and never slows senders or other subscriptions. Dropping it gives its backlog back.
//! - Freed segments are reclaimed through crossbeam-epoch (senders may still be walking them),
//!   so an event is dropped on whichever thread next collects, possibly inside another bus's
//!   call. A panicking `E::drop` there is caught and counted in
//!   [`Stats::user_panics`] of the event's bus; the values after it are still dropped.
//!
//! # Closing
//!
//! [`Bus::close`], or dropping the last [`Bus`] handle, closes the bus. Each subscription then
//! yields every event sent before the close and ends (`None`, [`TryRecvError::Closed`], end of
//! stream). Later sends fail with [`SendError::Closed`]; later subscriptions end at once.
//! Subscriptions never keep a bus open.
//!
//! # Beyond one process
//!
//! With the cargo feature `nats`, `tidings::bridge::nats::Bridge` carries chosen event types to NATS
//! subjects and back (JSON by default), and through JetStream for events that must survive
//! restarts. Local sends never wait for the network.
//!
//! # Panics
//!
//! Nothing in the bus holds a lock, so a panic in a subscriber, or in `E::clone` during a
//! `recv`, poisons nothing: the bus and every other subscription keep working.
//!
//! User code that the bus runs on someone else's behalf is contained: a parked subscription's
//! waker panicking when a send or close wakes it, and an event's `Drop` panicking when the bus
//! frees it. The panic is caught, counted in [`Stats::user_panics`], and reported as a
//! `tracing` error with the `tracing` feature; it never comes out of another caller's `send`,
//! `close`, `subscribe` or drop, and every other subscription is still woken, closed and
//! counted exactly.
//!
//! # Scopes
//!
//! [`Scope`] and the free functions of [`ctx`] are Haiway's context: code inside
//! `Scope::new("app").run(fut)` calls [`ctx::send`], [`ctx::subscribe`], [`ctx::spawn`] and
//! [`ctx::state`] without passing a bus around. The scope travels with the future (it is set
//! around each poll), so it works on any executor and across threads. Delivery is scoped: an
//! event sent in a scope reaches subscriptions of that scope and its ancestors, a
//! [`ctx::broadcast`] every subscription of the bus; root and [`Scope::isolated`] scopes own a
//! bus of their own. Spawned tasks are structured: `run` returns after them, and a failure
//! cancels the rest. Outside any scope, `ctx` calls return [`ContextMissing`].
//!
//! ```
//! use tidings::{Scope, ctx};
//!
//! # futures::executor::block_on(async {
//! Scope::new("app")
//!     .with_state(3u32)
//!     .run(async {
//!         let mut sub = ctx::subscribe::<u32>().unwrap();
//!         ctx::spawn(async { ctx::send(*ctx::state::<u32>().unwrap()).unwrap() }).unwrap();
//!         assert_eq!(sub.recv().await, Some(3));
//!     })
//!     .await
//!     .unwrap();
//! # });
//! ```
//!
//! # Inside
//!
//! How the bus and its layers work, why they are correct, the table of atomic orderings and
//! the limits chosen on purpose: the design notes in [`docs`].

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

mod batch;
mod bound;
pub mod bridge;
mod bus;
pub mod ctx;
pub mod docs;
mod error;
mod lag;
mod position;
mod registry;
mod scope;
mod segment;
mod send_cache;
mod stats;
mod subscription;
mod sync;
mod topic;
mod wait_list;

pub use batch::Batch;
pub use bound::{BusBuilder, Overflow};
pub use bus::{Bus, WeakBus};

// The README's code blocks, compiled and run as doctests so that it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Hooks for the loom models in `loom-tests/`; only in builds with `--cfg tidings_loom`.
#[cfg(tidings_loom)]
#[doc(hidden)]
pub mod __loom {
    /// Slots per segment in loom builds.
    pub const SEGMENT_CAP: usize = crate::segment::SEGMENT_CAP;
    pub use crate::sync::loom_check::{live_segments, live_wait_nodes};

    /// Frees what crossbeam-epoch still holds back: pins and flushes until every deferred
    /// destruction has run (at most `rounds` rounds). Call it with no other thread pinned.
    pub fn flush_epoch(rounds: usize) {
        for _ in 0..rounds {
            crate::sync::epoch::pin().flush();
        }
    }

    /// A wait list alone, for the unit models (`loom-tests/tests/units.rs`).
    pub struct WaitList(crate::wait_list::WaitList, crate::stats::UserPanics);

    /// A wait node: one subscription's parking place.
    pub struct WaitNode(crate::sync::Arc<crate::wait_list::WaitNode>);

    impl WaitNode {
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Self(crate::sync::Arc::new(crate::wait_list::WaitNode::new()))
        }

        pub fn register(&self, waker: &std::task::Waker) {
            self.0.waker.register(waker);
        }
    }

    impl WaitList {
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Self(
                crate::wait_list::WaitList::new(),
                crate::stats::UserPanics::new(),
            )
        }

        pub fn push(&self, node: &WaitNode) {
            self.0.push(&node.0);
        }

        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }

        pub fn wake_all(&self) {
            self.0.wake_all(&self.1);
        }

        pub fn forget(&self, node: WaitNode, limit: usize) {
            self.0.forget(node.0, limit, &self.1);
        }

        pub fn gone(&self) -> usize {
            self.0.gone()
        }
    }

    /// A counted segment reference, for the unit models.
    pub struct SegRef<E: Send + Sync>(crate::segment::SegmentRef<E>);

    impl<E: Send + Sync> SegRef<E> {
        /// A new segment at `start`, with one reference: this one.
        pub fn alloc(start: u64) -> Self {
            let seg = crate::segment::Segment::<E>::alloc(start, 1, 0);
            // SAFETY: the new segment's one reference is ours.
            Self(unsafe { crate::segment::SegmentRef::from_raw(seg) })
        }

        /// Writes slot `offset`.
        ///
        /// # Safety
        /// Each slot is written once, by one thread.
        pub unsafe fn write(&self, offset: usize, value: E) {
            // SAFETY: the caller's contract; this reference keeps the segment alive.
            unsafe { (*self.0.as_ptr()).write(offset, value) };
        }

        pub fn get(&self, offset: usize) -> Option<&E> {
            self.0.get(offset)
        }

        pub fn acquire(&self) -> Self {
            Self(self.0.acquire())
        }

        /// Installs `next` as this segment's successor; its reference becomes the link.
        pub fn link(&self, next: Self) {
            let next = next.0.into_raw();
            // SAFETY: this reference keeps the segment alive.
            let installed = unsafe { &*self.0.as_ptr() }.next.compare_exchange(
                std::ptr::null_mut(),
                next,
                crate::sync::Ordering::AcqRel,
                crate::sync::Ordering::Acquire,
            );
            assert!(installed.is_ok(), "already linked");
        }

        /// Gives the reference up, pinned; returns how many segments died.
        pub fn release(self) -> usize {
            let guard = crate::sync::epoch::pin();
            self.0.release(
                &guard,
                &std::sync::Arc::new(crate::stats::UserPanics::new()),
            )
        }
    }
}
pub use error::{RecvTimeoutError, SendError, TryRecvError};
pub use scope::background::ShutdownBackground;
pub use scope::cancel::{Cancelled, Canceller};
pub use scope::delivery::ScopedSubscription;
pub use scope::identity::{ParseTraceIdError, ScopeId, TraceId};
pub use scope::observe::{AttributeValue, EventRecord, Level, MetricKind, MetricRecord};
pub use scope::resource::Resource;
pub use scope::snapshot::{InContext, Snapshot};
pub use scope::state::{StateError, Updating};
pub use scope::task::{JoinError, JoinHandle};
pub use scope::{BoxError, ContextMissing, Failures, Scope, ScopeError};
pub use stats::{Stats, SubscriptionStats, TopicStats};
pub use subscription::Subscription;
