//! Observability through `tracing` (feature `tracing`, off by default): every scope is a span,
//! entered around each poll of its body and tasks; scope entry and exit, records, events,
//! metrics and failures are `tracing` events with fixed targets and field names (listed in the
//! README's Scopes section and on [`ctx::metric`](crate::ctx::metric)), so that a subscriber,
//! an OpenTelemetry pipeline (`tracing-opentelemetry`) or a metrics exporter can pick them up.
//! Without the feature these are no-ops, and failures still reach the caller as
//! `ScopeError`/`JoinError`.

use std::fmt;

use super::ScopeError;

/// Severity of a [`ctx::record`](crate::ctx::record) entry or a
/// [`ctx::event`](crate::ctx::event).
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

/// What a metric sample means, as OpenTelemetry's instruments (Haiway's
/// `ObservabilityMetricKind`): the `kind` field of a `tidings::metric` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// An amount to add to a running total (`value` is the increment).
    Counter,
    /// A current level that replaces the previous one.
    Gauge,
    /// One observation of a distribution (a duration, a size).
    Histogram,
}

impl MetricKind {
    /// `"counter"`, `"gauge"` or `"histogram"`: the `kind` field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of an attribute of an event or a metric (Haiway's `ObservabilityAttribute`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttributeValue<'a> {
    /// Text.
    Str(&'a str),
    /// An integer.
    Int(i64),
    /// A number.
    Float(f64),
    /// A flag.
    Bool(bool),
}

impl<'a> From<&'a str> for AttributeValue<'a> {
    fn from(v: &'a str) -> Self {
        AttributeValue::Str(v)
    }
}

impl<'a> From<&'a String> for AttributeValue<'a> {
    fn from(v: &'a String) -> Self {
        AttributeValue::Str(v)
    }
}

impl From<i64> for AttributeValue<'_> {
    fn from(v: i64) -> Self {
        AttributeValue::Int(v)
    }
}

impl From<i32> for AttributeValue<'_> {
    fn from(v: i32) -> Self {
        AttributeValue::Int(v.into())
    }
}

impl From<u32> for AttributeValue<'_> {
    fn from(v: u32) -> Self {
        AttributeValue::Int(v.into())
    }
}

impl From<f64> for AttributeValue<'_> {
    fn from(v: f64) -> Self {
        AttributeValue::Float(v)
    }
}

impl From<bool> for AttributeValue<'_> {
    fn from(v: bool) -> Self {
        AttributeValue::Bool(v)
    }
}

impl fmt::Display for AttributeValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeValue::Str(s) => write!(f, "{s:?}"),
            AttributeValue::Int(i) => write!(f, "{i}"),
            AttributeValue::Float(x) => write!(f, "{x}"),
            AttributeValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Attributes as one `tracing` field value: `{key=value, key="text"}` (a `tracing` field
/// name must be known at compile time, attribute keys are not).
pub(crate) struct Attributes<'a>(pub(crate) &'a [(&'a str, AttributeValue<'a>)]);

impl fmt::Display for Attributes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{key}={value}")?;
        }
        f.write_str("}")
    }
}

#[cfg(feature = "tracing")]
mod emit {
    use std::time::Duration;

    use super::super::node::Node;
    use super::{Attributes, Level, MetricKind, ScopeError};
    use crate::scope::identity::ScopeId;

    pub(crate) fn scope_span(name: &str) -> tracing::Span {
        // The parent is the span current where the scope opens: the enclosing scope's, which
        // its driver or task has entered around this poll. The span carries only the name
        // (formatted `scope{name="app"}`); the ids come with the `scope entered` event.
        tracing::info_span!("scope", name)
    }

    pub(crate) fn scope_entered(node: &Node) {
        let _span = node.span.enter();
        tracing::debug!(
            target: "tidings::scope",
            scope = &*node.name,
            scope_id = %ScopeId(node.id),
            parent_id = node.parent_id.map(|p| tracing::field::display(ScopeId(p))),
            trace_id = %node.trace_id,
            "scope entered"
        );
    }

    pub(crate) fn scope_exited(node: &Node, duration: Duration, outcome: &str) {
        let _span = node.span.enter();
        tracing::debug!(
            target: "tidings::scope",
            scope = &*node.name,
            scope_id = %ScopeId(node.id),
            trace_id = %node.trace_id,
            duration_s = duration.as_secs_f64(),
            outcome,
            "scope exited"
        );
    }

    pub(crate) fn task_failed(scope: &str, error: &(dyn std::error::Error + Send + Sync)) {
        tracing::error!(target: "tidings::task", scope, error = %error, "task failed");
    }

    pub(crate) fn task_panicked(scope: &str, message: &str) {
        tracing::error!(target: "tidings::task", scope, panic = message, "task panicked");
    }

    pub(crate) fn scope_failed(failure: &ScopeError) {
        tracing::error!(target: "tidings::scope", error = %failure, "scope failed");
    }

    pub(crate) fn record(level: Level, message: std::fmt::Arguments<'_>) {
        match level {
            Level::Debug => tracing::debug!(target: "tidings::record", "{message}"),
            Level::Info => tracing::info!(target: "tidings::record", "{message}"),
            Level::Warning => tracing::warn!(target: "tidings::record", "{message}"),
            Level::Error => tracing::error!(target: "tidings::record", "{message}"),
        }
    }

    pub(crate) fn log_error(
        message: &dyn std::fmt::Display,
        error: &(dyn std::error::Error + 'static),
    ) {
        tracing::error!(target: "tidings::record", error, "{message}");
    }

    pub(crate) fn event(level: Level, name: &str, attributes: &Attributes<'_>) {
        macro_rules! at {
            ($mac:ident) => {
                tracing::$mac!(target: "tidings::event", event = name, attributes = %attributes, "event")
            };
        }
        match level {
            Level::Debug => at!(debug),
            Level::Info => at!(info),
            Level::Warning => at!(warn),
            Level::Error => at!(error),
        }
    }

    pub(crate) fn metric(
        name: &str,
        value: f64,
        unit: &str,
        kind: MetricKind,
        attributes: &Attributes<'_>,
    ) {
        tracing::info!(
            target: "tidings::metric",
            metric = name,
            value,
            unit,
            kind = kind.as_str(),
            attributes = %attributes,
            "metric"
        );
    }
}

#[cfg(not(feature = "tracing"))]
mod emit {
    use std::time::Duration;

    use super::super::node::Node;
    use super::{Attributes, Level, MetricKind, ScopeError};

    pub(crate) fn scope_entered(_node: &Node) {}
    pub(crate) fn scope_exited(_node: &Node, _duration: Duration, _outcome: &str) {}
    pub(crate) fn task_failed(_scope: &str, _error: &(dyn std::error::Error + Send + Sync)) {}
    pub(crate) fn task_panicked(_scope: &str, _message: &str) {}
    pub(crate) fn scope_failed(_failure: &ScopeError) {}
    pub(crate) fn record(_level: Level, _message: std::fmt::Arguments<'_>) {}
    pub(crate) fn log_error(
        _message: &dyn std::fmt::Display,
        _error: &(dyn std::error::Error + 'static),
    ) {
    }
    pub(crate) fn event(_level: Level, _name: &str, _attributes: &Attributes<'_>) {}
    pub(crate) fn metric(
        _name: &str,
        _value: f64,
        _unit: &str,
        _kind: MetricKind,
        _attributes: &Attributes<'_>,
    ) {
    }
}

pub(crate) use emit::*;

/// A named event to record, from [`ctx::event`](crate::ctx::event): add attributes, then
/// [`record`](Self::record) it.
#[must_use = "nothing is recorded until `record` is called"]
#[derive(Debug, Clone)]
pub struct EventRecord<'a> {
    pub(crate) name: &'a str,
    pub(crate) level: Level,
    pub(crate) attributes: Vec<(&'a str, AttributeValue<'a>)>,
}

impl<'a> EventRecord<'a> {
    /// Adds an attribute.
    pub fn attribute(mut self, key: &'a str, value: impl Into<AttributeValue<'a>>) -> Self {
        self.attributes.push((key, value.into()));
        self
    }

    /// Sets the level (default [`Level::Info`]).
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Records it: a `tracing` event of target `tidings::event` with fields `event` (the name)
    /// and `attributes`, inside the current scope's span if there is one.
    pub fn record(self) {
        event(self.level, self.name, &Attributes(&self.attributes));
    }
}

/// A metric sample to record, from [`ctx::metric`](crate::ctx::metric): add a unit and
/// attributes, then [`record`](Self::record) it.
#[must_use = "nothing is recorded until `record` is called"]
#[derive(Debug, Clone)]
pub struct MetricRecord<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: f64,
    pub(crate) kind: MetricKind,
    pub(crate) unit: &'a str,
    pub(crate) attributes: Vec<(&'a str, AttributeValue<'a>)>,
}

impl<'a> MetricRecord<'a> {
    /// Sets the unit (`"seconds"`, `"bytes"`, ...; empty by default).
    pub fn unit(mut self, unit: &'a str) -> Self {
        self.unit = unit;
        self
    }

    /// Adds an attribute.
    pub fn attribute(mut self, key: &'a str, value: impl Into<AttributeValue<'a>>) -> Self {
        self.attributes.push((key, value.into()));
        self
    }

    /// Records it: a `tracing` event of target `tidings::metric` with fields `metric`,
    /// `value`, `unit`, `kind` and `attributes`, inside the current scope's span if any.
    pub fn record(self) {
        metric(
            self.name,
            self.value,
            self.unit,
            self.kind,
            &Attributes(&self.attributes),
        );
    }
}
