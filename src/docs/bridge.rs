//! The NATS bridge (feature `nats`): a bus's chosen event types carried to and from NATS
//! subjects, so that processes (Rust or Python) share events by type. The public module docs
//! of `tidings::bridge::nats` state what a user is promised; this part tells how.
//!
//! # Tasks, not hooks
//!
//! A bridge holds a handle to the bus and an async-nats connection, and runs one tokio task per
//! export and per import. An export reads an ordinary `Subscription` of its type, so a local
//! send never waits for the network; a slow or absent server only grows that subscription's
//! backlog. An import sends what it receives into the bus like any other sender. The core is
//! unchanged by the bridge.
//!
//! # Core subjects and JetStream
//!
//! - Core NATS (`core_nats.rs`): publish and subscribe, at most once. An import of a
//!   Backpressure type waits for room (`send_async`) rather than drop the event.
//! - JetStream (`durable.rs`): an export publishes with a `Nats-Msg-Id` made of its origin and a
//!   counter, keeps a window of publishes awaiting the stream's acknowledgement, and publishes
//!   the same message again after a timeout; the stream's duplicate window drops a copy it
//!   already stored. An import pulls at most its window of unacknowledged messages, and only
//!   while the bus has a subscription for `Delivery<E>`.
//! - `Delivery<E>` (`delivery.rs`) acknowledges a message once every subscription that received
//!   it has dropped its copy: each clone of the bus's own copy opens a *holder*, clones of a
//!   received copy share it, and the holder that closes last settles the message, at most once,
//!   through the bridge's acker task (a drop never blocks).
//!
//! # Loops and echoes
//!
//! Every message carries a `Tidings-Origin` header (a per-process nonce and the bus id): an
//! import drops its own bus's messages. An export must also not publish an event its own
//! bridge imported (two bridged buses would bounce it forever), and the bus cannot tell an
//! imported event from a local one, so `echo.rs` remembers imported events by their encoded
//! bytes, in a filter per export, under the same lock that registers exports. The one
//! ambiguity (a local event equal to one just imported) publishes the same bytes once either
//! way.
//!
//! # Trace ids
//!
//! A bridge connected inside a scope sends that scope's trace id with every export
//! (`Tidings-Trace-Id`); an import delivers a message that carries one inside a span with that
//! id, and a `Delivery` hands it to its handler, so one trace spans both processes.
//!
//! # Closing
//!
//! `Bridge::close` stops the imports, lets the exports publish what they already received,
//! flushes, and bounds every wait by the close deadline; what it could not deliver is counted in
//! its error. The wire format (subjects, headers, JSON or MessagePack payloads) is in the
//! README's "Wire protocol for other clients".
