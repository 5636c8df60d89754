//! Design notes: how tidings works inside, and why it is correct. Documentation only; this
//! module has no items.
//!
//! The README gives the user's view (what the bus promises, how to use it, what it costs). The
//! module docs of each source file state the invariants of the data declared there. This
//! module is the one place that tells the whole design, in four parts:
//!
//! - [`protocol`]: the core bus. Sending, subscribing and closing as atomic operations on one
//!   index counter per event type; segments, their reference counts and reclamation through
//!   crossbeam-epoch; parking and waking; bounded topics; the table of atomic orderings; what
//!   the loom models check.
//! - [`scopes`]: the Haiway-style context layer, built on the core's public API: how an event
//!   carries its origin scope, the O(1) delivery check, how a scope's subscriptions end, how
//!   the ambient context travels with a future, and what scopes cost per event.
//! - [`bridge`]: the NATS bridge: export and import tasks, at-most-once core subjects and
//!   at-least-once JetStream streams, loop and echo suppression, closing.
//! - [`limitations`]: what the design does not do, on purpose, and what that costs.
//!
//! # The parts
//!
//! | layer | files | shared state |
//! | --- | --- | --- |
//! | bus handle | `bus.rs`, `bound.rs` | the registry below; the per-type bounds given to the builder |
//! | registry | `registry.rs` | sharded copy-on-write lists of topic pointers (`ArcSwap` per shard; one owned reference per topic), 64 bucket counters, `generation`, `closed` |
//! | send cache | `send_cache.rs` | per thread: (bus id, `TypeId`, registry generation) -> topic |
//! | topic | `topic.rs` | `subscribers`, `closed_at`, parked subscriptions; for bounded topics the Backpressure `gate` and parked senders |
//! | segments | `segment.rs` | per topic (`SegmentList`): `tail_index` (claims + `CLOSED` bit), `tail_seg`, DropOldest's `head`; per segment: `refs`, `next`, 64 slots of (`ready`, value); `SegmentRef` is one counted reference, `SegmentPtr` a pointer valid while its pin lasts |
//! | read positions | `position.rs` | Backpressure: a push-only list of position cells, one per subscription |
//! | cursor | `subscription.rs`, `batch.rs`, `lag.rs` | none: a segment reference and an offset, owned by one reader |
//! | parking | `wait_list.rs` | a Treiber stack of wait nodes, taken whole by a waker |
//! | loom shim | `sync/` (`std.rs`, `loom.rs`) | none: where every atomic, cell, `Arc` and epoch guard comes from |
//! | scopes | `scope/`, `ctx.rs` | the scope tree, the ambient frame, scoped state and tasks |
//! | bridge | `bridge/nats/` | a NATS connection, one task per export and import |
//!
//! # Where `unsafe` is
//!
//! Every block has a `// SAFETY:` comment naming the invariant it relies on
//! (`clippy::undocumented_unsafe_blocks` is on), and sits in a module whose job that invariant
//! is: `segment.rs` (slots, reference counts, and every walk and free of a topic's segment
//! list), `position.rs` (the Backpressure position list), `wait_list.rs` (the wait nodes'
//! stack), `send_cache.rs` (the cached topic pointer), `registry.rs` (the
//! registry's one reference per topic, given back through the epoch), `scope/current.rs` (the current frame), `sync/` (the loom shim's
//! cells), and `lib.rs`'s loom-only hooks. `bus.rs` lends a large event to a send through
//! `segment::pending`, without `unsafe` of its own. `topic.rs`, `subscription.rs` and
//! `batch.rs`, which build on them, have `#![forbid(unsafe_code)]`.
//!
//! # How it is checked
//!
//! The loom models (`loom-tests/`, run by `scripts/loom.sh`) check the core's protocols with
//! every interleaving up to a preemption bound; miri (`scripts/miri.sh`) checks aliasing and
//! provenance on the unit tests and a multi-thread test; ThreadSanitizer and AddressSanitizer
//! (`scripts/tsan.sh`, `scripts/asan.sh`) run a stress test; three fuzz targets
//! (`scripts/fuzz.sh`) compare the bus and the scope layer with a plain model after every
//! operation. The README's "Verification" section lists every script.

pub mod bridge;
pub mod limitations;
pub mod protocol;
pub mod scopes;
