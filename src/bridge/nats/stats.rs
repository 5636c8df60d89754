//! Counters of a NATS bridge, and their snapshot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What a [`Bridge`](super::Bridge) has done so far, from [`Bridge::stats`](super::Bridge::stats).
///
/// Counters only grow. `disconnects` and `connected` show outages of the server; the
/// `*_errors` counters show what the outage cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BridgeStats {
    /// Local events published to NATS, core and JetStream (JetStream: once the stream
    /// acknowledged them).
    pub exported: u64,
    /// Messages decoded and sent into the local bus.
    pub imported: u64,
    /// Imported events the bus had no subscription for (sent, and dropped by the bus).
    pub unrouted: u64,
    /// Messages that did not decode as the subject's event type; logged and skipped.
    pub malformed: u64,
    /// Messages this bus itself had published, received back and dropped.
    pub looped: u64,
    /// Imported events not exported again (an export of the same type saw them).
    pub echoes_suppressed: u64,
    /// Local events that could not be encoded (a `Serialize` impl failed); logged and skipped.
    pub encode_errors: u64,
    /// Publishes that failed (the client's queue closed, or JetStream gave no acknowledgement
    /// in time). Core exports drop the event; JetStream exports retry it.
    pub publish_errors: u64,
    /// Errors reading from a subscription or durable consumer (missed heartbeats during an
    /// outage, for example); the bridge keeps reading.
    pub receive_errors: u64,
    /// Times the connection to the server was lost.
    pub disconnects: u64,
    /// Times the connection was (re-)established after a loss.
    pub reconnects: u64,
    /// Whether the client is connected now.
    pub connected: bool,
}

/// The live counters behind [`BridgeStats`].
///
/// Relaxed throughout: each counter is a statistic on its own; no reader infers anything about
/// other memory from a value it reads.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) exported: AtomicU64,
    pub(crate) imported: AtomicU64,
    pub(crate) unrouted: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) looped: AtomicU64,
    pub(crate) echoes_suppressed: AtomicU64,
    pub(crate) encode_errors: AtomicU64,
    pub(crate) publish_errors: AtomicU64,
    pub(crate) receive_errors: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) connected: AtomicBool,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> BridgeStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BridgeStats {
            exported: get(&self.exported),
            imported: get(&self.imported),
            unrouted: get(&self.unrouted),
            malformed: get(&self.malformed),
            looped: get(&self.looped),
            echoes_suppressed: get(&self.echoes_suppressed),
            encode_errors: get(&self.encode_errors),
            publish_errors: get(&self.publish_errors),
            receive_errors: get(&self.receive_errors),
            disconnects: get(&self.disconnects),
            reconnects: get(&self.reconnects),
            connected: self.connected.load(Ordering::Relaxed),
        }
    }
}
