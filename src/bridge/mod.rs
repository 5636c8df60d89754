//! Bridges that carry a bus's events to other processes.
//!
//! A [`Bus`](crate::Bus) is in-process. A bridge subscribes to chosen event types and
//! forwards them to a message broker, and sends what it receives from the broker into the
//! bus, so that two processes (or a Rust and a Python service) share events by type. Local
//! sends never wait for the broker: the bridge reads them from an ordinary subscription.
//!
//! - `nats` (cargo feature `nats`): NATS core subjects (at-most-once) and JetStream
//!   streams with durable consumers (at-least-once, replay after restarts).

#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub mod nats;
