//! Observability through `tracing` (feature `tracing`, off by default): every scope is a span,
//! entered around each poll of its body and tasks; task and body failures are logged with
//! `tracing::error!`; `ctx::record_*` emit events. Without the feature these are no-ops, and
//! failures still reach the caller as `ScopeError`/`JoinError`.

use super::ScopeError;

#[cfg(feature = "tracing")]
pub(crate) fn scope_span(name: &str) -> tracing::Span {
    // The parent is the span current where the scope opens: the enclosing scope's, which its
    // driver or task has entered around this poll. The span carries only the name (its
    // formatted form is `scope{name="app"}`); the ids come with the `scope entered` event.
    tracing::info_span!("scope", name)
}

#[cfg(feature = "tracing")]
pub(crate) fn task_failed(scope: &str, error: &(dyn std::error::Error + Send + Sync)) {
    tracing::error!(scope, error = %error, "task failed");
}

#[cfg(feature = "tracing")]
pub(crate) fn task_panicked(scope: &str, message: &str) {
    tracing::error!(scope, panic = message, "task panicked");
}

#[cfg(feature = "tracing")]
pub(crate) fn scope_failed(failure: &ScopeError) {
    tracing::error!(error = %failure, "scope body failed");
}

#[cfg(not(feature = "tracing"))]
pub(crate) fn task_failed(_scope: &str, _error: &(dyn std::error::Error + Send + Sync)) {}

#[cfg(not(feature = "tracing"))]
pub(crate) fn task_panicked(_scope: &str, _message: &str) {}

#[cfg(not(feature = "tracing"))]
pub(crate) fn scope_failed(_failure: &ScopeError) {}

/// Severity of a [`ctx::record`](crate::ctx::record) entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Detail for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that was handled.
    Warning,
    /// A failure.
    Error,
}

#[cfg(feature = "tracing")]
pub(crate) fn record(level: Level, message: std::fmt::Arguments<'_>) {
    match level {
        Level::Debug => tracing::debug!(target: "tidings::record", "{message}"),
        Level::Info => tracing::info!(target: "tidings::record", "{message}"),
        Level::Warning => tracing::warn!(target: "tidings::record", "{message}"),
        Level::Error => tracing::error!(target: "tidings::record", "{message}"),
    }
}

#[cfg(feature = "tracing")]
pub(crate) fn metric(name: &str, value: f64, unit: &str) {
    tracing::info!(target: "tidings::metric", metric = name, value, unit, "metric");
}

#[cfg(not(feature = "tracing"))]
pub(crate) fn record(_level: Level, _message: std::fmt::Arguments<'_>) {}

#[cfg(not(feature = "tracing"))]
pub(crate) fn metric(_name: &str, _value: f64, _unit: &str) {}
