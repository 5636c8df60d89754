//! The production knobs of a bridge: JetStream stream and consumer settings, the retry
//! back-off, and the pieces that carry them to the tasks.

use std::time::Duration;

pub use async_nats::jetstream::stream::StorageType;

/// How the bridge creates JetStream streams and durable consumers
/// ([`BridgeOptions::jetstream`](super::BridgeOptions::jetstream)).
///
/// These apply when the bridge *creates* a stream or consumer. One that already exists keeps
/// its configuration (change it with `nats stream edit`, or through
/// [`Bridge::client`](super::Bridge::client)); the bridge only checks that it covers the
/// subject.
///
/// ```
/// use std::time::Duration;
/// use tidings::bridge::nats::{JetStreamOptions, StorageType};
///
/// let options = JetStreamOptions::default()
///     .ack_wait(Duration::from_secs(60))
///     .max_ack_pending(64)
///     .max_age(Duration::from_secs(24 * 3600))
///     .max_bytes(Some(256 << 20))
///     .max_messages(None)
///     .storage(StorageType::File)
///     .replicas(3);
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct JetStreamOptions {
    pub(crate) ack_wait: Duration,
    pub(crate) max_ack_pending: usize,
    pub(crate) max_age: Duration,
    pub(crate) max_bytes: Option<u64>,
    pub(crate) max_messages: Option<u64>,
    pub(crate) storage: StorageType,
    pub(crate) replicas: usize,
}

impl Default for JetStreamOptions {
    /// Ack wait 30 s, 256 unacknowledged messages per consumer, streams kept for 7 days and
    /// at most 1 GiB (oldest dropped first), no message-count limit, file storage, 1 replica.
    fn default() -> Self {
        JetStreamOptions {
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 256,
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: Some(1 << 30),
            max_messages: None,
            storage: StorageType::File,
            replicas: 1,
        }
    }
}

impl JetStreamOptions {
    /// How long the server waits for a durable import's acknowledgement before it delivers
    /// the message again. Pick it above `max_ack_pending` × the time a handler takes.
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// How many messages a durable import may hold unacknowledged (in the bus or in handlers)
    /// at once; the server delivers no more until some are acknowledged. At least 1.
    pub fn max_ack_pending(mut self, max_ack_pending: usize) -> Self {
        self.max_ack_pending = max_ack_pending.max(1);
        self
    }

    /// How long a stream keeps a message; `Duration::ZERO` keeps it forever.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The most bytes a stream stores before it drops its oldest messages; `None`: no limit.
    pub fn max_bytes(mut self, max_bytes: Option<u64>) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The most messages a stream stores before it drops its oldest; `None`: no limit.
    pub fn max_messages(mut self, max_messages: Option<u64>) -> Self {
        self.max_messages = max_messages;
        self
    }

    /// Where a stream lives on the server: on disk (the default; survives a server restart) or
    /// in memory.
    pub fn storage(mut self, storage: StorageType) -> Self {
        self.storage = storage;
        self
    }

    /// How many servers of a cluster hold a copy of each stream (1, 3 or 5; at most the
    /// cluster's size). With 3, the stream survives the loss of one server.
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }
}

/// Exponential back-off with jitter between attempts against an unreachable server: the
/// `n`th wait is drawn uniformly from the upper half of `min(max, min * 2^n)`, so bridges that
/// lost the same server do not retry in step.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
    /// xorshift64 state; never zero.
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        use std::hash::{BuildHasher, Hasher};
        // Each RandomState has keys of its own (seeded from the OS, then stepped per
        // instance), so every back-off draws a different sequence; the time is mixed in too.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        let seed = h.finish();
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
            rng: seed | 1,
        }
    }

    /// After a success: the next failure waits the shortest time again.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The wait before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let cap = self
            .min
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = cap / 2;
        let span = (cap - half).as_nanos() as u64;
        half + Duration::from_nanos(if span == 0 {
            0
        } else {
            self.random() % (span + 1)
        })
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_in_the_upper_half() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        let mut b = Backoff::new(min, max);
        let mut caps = Vec::new();
        for n in 0..12u32 {
            let cap = (min * 2u32.pow(n)).min(max);
            let d = b.next_delay();
            assert!(
                d >= cap / 2 && d <= cap,
                "attempt {n}: {d:?} outside [{:?}, {cap:?}]",
                cap / 2
            );
            caps.push(d);
        }
        assert!(caps[11] >= max / 2);
        b.reset();
        assert!(b.next_delay() <= min);
    }

    #[test]
    fn two_backoffs_do_not_retry_in_step() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        let (mut a, mut b) = (Backoff::new(min, max), Backoff::new(min, max));
        let same = (0..8).filter(|_| a.next_delay() == b.next_delay()).count();
        assert!(same < 8, "two back-offs drew the same eight waits");
    }

    #[test]
    fn jetstream_options_clamp_nonsense() {
        let o = JetStreamOptions::default().max_ack_pending(0).replicas(0);
        assert_eq!((o.max_ack_pending, o.replicas), (1, 1));
    }
}
