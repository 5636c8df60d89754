//! The `tracing` warning for a subscription far behind its senders (feature `tracing`).
//!
//! Checked by the sender that installs a new segment (once per 64 events, off the hot path),
//! from the topic's count of live segments: every segment from the slowest cursor's to the
//! newest is alive, so `(live - 1) * SEGMENT_CAP` events separate the slowest subscription
//! from the newest segment's start, exact to within one segment. The check warns once when that
//! passes the bus's threshold, and re-arms once it is back under half of it.

use crate::segment::SEGMENT_CAP;
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// The threshold of a new bus, in events: 1024 segments.
pub(crate) const DEFAULT_LAG_WARNING: u64 = 1024 * SEGMENT_CAP as u64;
/// A threshold that never warns.
pub(crate) const OFF: u64 = u64::MAX;

/// One topic's lag threshold and whether it has warned since it last caught up.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) struct LagWarning {
    /// Events behind that trigger the warning; [`OFF`] for never. Written by
    /// `Bus::set_lag_warning`, read by the check.
    threshold: AtomicU64,
    /// Set by the check that warned, cleared once the lag is under half the threshold, so a
    /// lagging topic warns once, not every 64 events.
    warned: AtomicBool,
}

impl LagWarning {
    pub(crate) fn new(threshold: u64) -> Self {
        Self {
            threshold: AtomicU64::new(threshold),
            warned: AtomicBool::new(false),
        }
    }

    pub(crate) fn set(&self, threshold: u64) {
        // Relaxed: a setting read by later checks; it orders nothing else.
        self.threshold.store(threshold, Ordering::Relaxed);
    }

    /// Called by a sender that installed a segment, with the live segment count after it.
    #[cfg(feature = "tracing")]
    #[cold]
    pub(crate) fn check(&self, event_type: &'static str, live_segments: usize) {
        // Relaxed, here and below: a heuristic over statistics; nothing is ordered by it.
        let threshold = self.threshold.load(Ordering::Relaxed);
        if threshold == OFF {
            return;
        }
        let behind = (live_segments.saturating_sub(1) * SEGMENT_CAP) as u64;
        if behind > threshold {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    target: "tidings",
                    event_type,
                    behind,
                    threshold,
                    "a subscription is more than {threshold} events behind"
                );
            }
        } else if behind <= threshold / 2 {
            self.warned.store(false, Ordering::Relaxed);
        }
    }
}
