//! Who a scope is: its id, its parent's id and the trace it belongs to (Haiway's
//! `ContextIdentifier` and `ctx.trace_id()`).
//!
//! Scope ids are process-unique counters (the same ids the delivery check compares). A trace id
//! is 128 random bits, made by a root scope and inherited by every scope nested in it, or
//! given with [`Scope::with_trace_id`](crate::Scope::with_trace_id) to continue a trace that
//! began elsewhere (another process, through the NATS bridge's `Tidings-Trace-Id` header). It
//! prints as 32 lowercase hex digits, the form of W3C/OpenTelemetry trace ids and of Haiway's
//! `ctx.trace_id()`.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// The id of a trace: shared by a root scope and every scope nested in it.
///
/// ```
/// use tidings::TraceId;
///
/// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(id.as_u128(), 0x4bf92f3577b34da6a3ce929d0e0e4736);
/// // A UUID's hyphenated form (Python's `str(uuid)`) is read too.
/// let uuid: TraceId = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736".parse().unwrap();
/// assert_eq!(uuid, id);
/// assert!("not hex".parse::<TraceId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(u128);

impl TraceId {
    /// A new random trace id (never zero).
    pub fn random() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        // Relaxed: only distinctness of the inputs matters.
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let word = |salt: u64| {
            // `RandomState` is seeded from the OS once per thread and varied per call.
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(count);
            h.write_u64(salt);
            if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                h.write_u128(t.as_nanos());
            }
            h.finish()
        };
        let id = (u128::from(word(1)) << 64) | u128::from(word(2));
        TraceId(id.max(1))
    }

    /// The id as a number.
    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// A trace id from a number; `None` for zero (not a valid trace id).
    pub fn from_u128(id: u128) -> Option<Self> {
        (id != 0).then_some(TraceId(id))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

/// Why a string is not a [`TraceId`]: not 32 hex digits (hyphens aside), or all zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseTraceIdError;

impl fmt::Display for ParseTraceIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a trace id is 32 hex digits, not all zero")
    }
}

impl std::error::Error for ParseTraceIdError {}

impl FromStr for TraceId {
    type Err = ParseTraceIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id: u128 = 0;
        let mut digits = 0;
        for c in s.trim().chars().filter(|&c| c != '-') {
            let d = c.to_digit(16).ok_or(ParseTraceIdError)?;
            digits += 1;
            if digits > 32 {
                return Err(ParseTraceIdError);
            }
            id = (id << 4) | u128::from(d);
        }
        if digits != 32 {
            return Err(ParseTraceIdError);
        }
        TraceId::from_u128(id).ok_or(ParseTraceIdError)
    }
}

/// The id of one scope, unique within the process.
///
/// ```
/// use tidings::{Scope, ctx};
///
/// # futures::executor::block_on(async {
/// Scope::new("app")
///     .run(async {
///         let outer = ctx::scope_id().unwrap();
///         Scope::new("inner")
///             .run(async move {
///                 assert_ne!(ctx::scope_id().unwrap(), outer);
///                 assert_eq!(ctx::parent_scope_id().unwrap(), Some(outer));
///             })
///             .await
///             .unwrap();
///     })
///     .await
///     .unwrap();
/// # });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeId(pub(crate) u64);

impl ScopeId {
    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopeId({self})")
    }
}
