//! The ambient API, as Haiway's `ctx`: free functions that act on the current
//! [`Scope`](crate::Scope), found without a handle.
//!
//! Outside any scope every function returns [`ContextMissing`] (nothing is silently dropped),
//! except those that make sense anywhere: the observability ones ([`record`], [`event`],
//! [`metric`], [`log_error`]; Haiway falls back to the root logger), [`spawn_background`] and
//! [`shutdown_background`], and the questions [`contains_state`] (`false`),
//! [`check_cancellation`] (`Ok`) and [`cancelled`] (never ready):
//!
//! ```
//! use tidings::{ContextMissing, ctx};
//!
//! assert_eq!(ctx::send(1u8), Err(ContextMissing));
//! assert!(ctx::subscribe::<u8>().is_err());
//! assert!(ctx::spawn(async {}).is_err());
//! ```
//!
//! # Delivery
//!
//! An event sent with [`send`] in scope S reaches the subscriptions made in S and in S's
//! ancestors within the same bus, not those of sibling or nested scopes; [`broadcast`] reaches
//! every subscription of the bus. Neither crosses a root or an isolated scope. The check is
//! O(1) per event and subscription, whatever the depth ([`crate::docs::scopes`] tells how).
//!
//! # The self-subscription deadlock
//!
//! A subscription ends when the scope it was made in *begins to close*, and a scope begins to
//! close when its body returns. So a body that iterates a subscription of its own scope until it
//! ends waits for itself: it never returns (Haiway has the same deadlock). Iterate such
//! subscriptions in a spawned task (tasks are awaited *after* the scope begins to close, so
//! their loops end), or stop on a condition, or open a nested scope for the work whose events
//! the body waits for. This cannot be detected in general: the body may be waiting for other
//! futures at the same time, and a broadcast from anywhere in the bus may still arrive, so
//! "pending on its own subscription" is not a proof of a deadlock.

use std::future::Future;
use std::sync::Arc;

use crate::scope::cancel::Cancelled;
use crate::scope::current;
use crate::scope::delivery::{Envelope, Origin, ScopedSubscription};
use crate::scope::identity::{ScopeId, TraceId};
use crate::scope::observe::{self, EventRecord, Level, MetricKind, MetricRecord};
use crate::scope::snapshot::{InContext, Snapshot};
use crate::scope::state::{self, StateError, Updating};
use crate::scope::task::{self, JoinHandle};
use crate::{ContextMissing, ScopeError};

/// Sends `event` from the current scope to the subscriptions of its type made in this scope or
/// its ancestors. Fire-and-forget, as in Haiway: having no subscriber is not an error.
///
/// # Errors
///
/// [`ContextMissing`] outside any scope (the event is dropped).
///
/// ```
/// use tidings::{Scope, ctx};
///
/// # futures::executor::block_on(async {
/// Scope::new("app")
///     .run(async {
///         ctx::send("nobody listens").unwrap(); // fine
///         let mut sub = ctx::subscribe::<u32>().unwrap();
///         ctx::send(1u32).unwrap();
///         assert_eq!(sub.try_recv(), Ok(1));
///     })
///     .await
///     .unwrap();
/// # });
/// ```
#[inline]
pub fn send<E: Send + Sync + 'static>(event: E) -> Result<(), ContextMissing> {
    try_send(event).map(drop)
}

/// [`send`], saying whether a subscription could receive the event: `false` if no subscription
/// of type `E` is alive on the current scope's bus (or the bus has closed), so the event was
/// dropped. `true` does not promise that a subscription of *this* scope or an ancestor takes
/// it: one in a sibling scope counts too. With the `tracing` feature, both `send` and
/// `try_send` report an event that reached nobody as a `debug` event (target `tidings`), which
/// catches, say, an `i32` sent where subscribers wait for `u32`.
///
/// # Errors
///
/// [`ContextMissing`] outside any scope (the event is dropped).
///
/// ```
/// use tidings::{Scope, ctx};
///
/// # futures::executor::block_on(async {
/// Scope::new("app")
///     .run(async {
///         let _sub = ctx::subscribe::<u32>().unwrap();
///         assert_eq!(ctx::try_send(1u32), Ok(true));
///         assert_eq!(ctx::try_send(1i32), Ok(false)); // nobody waits for `i32`
///     })
///     .await
///     .unwrap();
/// # });
/// assert!(ctx::try_send(1u32).is_err()); // outside any scope
/// ```
#[inline]
pub fn try_send<E: Send + Sync + 'static>(event: E) -> Result<bool, ContextMissing> {
    let rejected = current::with(|frame| {
        let node = &frame.ok_or(ContextMissing)?.node;
        let envelope = Envelope::Event {
            origin: node.origin.clone(),
            event,
        };
        Ok(node.bus.send(envelope).err())
    })?;
    let Some(rejected) = rejected else {
        return Ok(true);
    };
    reached_nobody(std::any::type_name::<E>(), rejected.is_closed());
    // Dropped outside the borrow of the frame: `E`'s destructor may use `ctx` itself.
    drop(rejected);
    Ok(false)
}

/// A scoped send found no subscription of its type: a `debug` event with the `tracing` feature.
#[cold]
fn reached_nobody(event_type: &'static str, closed: bool) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: "tidings",
        event_type,
        closed,
        "a scoped send reached no subscription; the event was dropped"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (event_type, closed);
}

/// Sends `event` to every subscription of its type on the current bus, in any scope (but not
/// across a root or isolated scope).
///
/// # Errors
///
/// [`ContextMissing`] outside any scope.
///
/// ```
/// use tidings::{Scope, ctx};
///
/// # futures::executor::block_on(async {
/// Scope::new("app")
///     .run(async {
///         let mut a = Scope::new("a").run(async { ctx::subscribe::<u8>().unwrap() });
///         let mut sub = ctx::subscribe::<u8>().unwrap();
///         Scope::new("b").run(async { ctx::broadcast(5u8).unwrap() }).await.unwrap();
///         assert_eq!(sub.try_recv(), Ok(5));
///     })
///     .await
///     .unwrap();
/// # });
/// ```
pub fn broadcast<E: Send + Sync + 'static>(event: E) -> Result<(), ContextMissing> {
    let rejected = current::with(|frame| {
        let node = &frame.ok_or(ContextMissing)?.node;
        Ok(node
            .bus
            .send(Envelope::Event {
                origin: Origin::Broadcast,
                event,
            })
            .err())
    })?;
    drop(rejected);
    Ok(())
}

/// Subscribes, in the current scope, to events of type `E` sent in this scope or scopes nested
/// in it, and to broadcasts. The subscription receives every such event sent after this call
/// returns, and ends when this scope begins to close (see the deadlock note in the
/// [module docs](self)).
///
/// # Errors
///
/// [`ContextMissing`] outside any scope.
pub fn subscribe<E: Send + Sync + 'static>() -> Result<ScopedSubscription<E>, ContextMissing> {
    let frame = current::frame().ok_or(ContextMissing)?;
    let node = &frame.node;
    let (id, depth) = (node.id, node.depth());
    Ok(node
        .subscribe_with::<E, _>(|| node.bus.subscribe::<Envelope<E>>())
        .map_or_else(
            || ScopedSubscription::ended(id, depth),
            |sub| ScopedSubscription::new(sub, id, depth),
        ))
}

/// Spawns `fut` as a task of the current scope, with the current context (scope and state).
/// The scope's `run` returns only after the task finishes; a panic in the task fails the
/// scope. Await the handle for the output, or cancel it.
///
/// # Errors
///
/// [`ContextMissing`] outside any scope, and in a scope that has finished (a future that took
/// its frame, through [`updating`] or a [`snapshot`], and runs after the scope's `run`
/// returned): nothing would drive the task, so none is made (Haiway raises "TaskGroup is
/// finished"). `fut` is dropped unpolled.
///
/// ```
/// use tidings::{Scope, ctx};
///
/// # futures::executor::block_on(async {
/// Scope::new("app")
///     .run(async {
///         let task = ctx::spawn(async { 6 * 7 }).unwrap();
///         assert_eq!(task.await.unwrap(), 42);
///     })
///     .await
///     .unwrap();
/// # });
/// ```
pub fn spawn<F>(fut: F) -> Result<JoinHandle<F::Output>, ContextMissing>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_task(async move { Ok(fut.await) })
}

/// Like [`spawn`], for a task that can fail: an `Err` fails the scope (its other tasks and
/// body are cancelled and `run` returns [`ScopeError::Failed`]),
/// and the handle yields [`JoinError::Failed`](crate::JoinError::Failed).
///
/// # Errors
///
/// [`ContextMissing`] outside any scope or in a finished one, as [`spawn`].
///
/// ```
/// use tidings::{Scope, ScopeError, ctx};
///
/// # futures::executor::block_on(async {
/// let err = Scope::new("app")
///     .run(async {
///         ctx::try_spawn(async { "x".parse::<u8>() }).unwrap();
///     })
///     .await
///     .unwrap_err();
/// assert!(matches!(err, ScopeError::Failed { .. }));
/// # });
/// ```
pub fn try_spawn<F, T, E>(fut: F) -> Result<JoinHandle<T>, ContextMissing>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    spawn_task(async move { fut.await.map_err(Into::into) })
}

fn spawn_task<F, T>(fut: F) -> Result<JoinHandle<T>, ContextMissing>
where
    F: Future<Output = Result<T, Box<dyn std::error::Error + Send + Sync>>> + Send + 'static,
    T: Send + 'static,
{
    let frame = current::frame().ok_or(ContextMissing)?;
    let set = Arc::clone(&frame.node.tasks);
    #[cfg(feature = "tokio")]
    let runtime = if frame.node.tokio {
        tokio::runtime::Handle::try_current().ok()
    } else {
        None
    };
    let (task, handle) = task::new_task(frame, fut).ok_or(ContextMissing)?;
    #[cfg(feature = "tokio")]
    if let Some(runtime) = runtime {
        // Detached: the scope tracks completion through its live count, not tokio's handle.
        drop(runtime.spawn(task));
        return Ok(handle);
    }
    set.queue(Box::pin(task));
    Ok(handle)
}

/// The current scope's state value of type `T`, from the nearest scope (or [`updating`]) that
/// set one, or `T::default()` if none did (Haiway builds `T()`). For a type without a default,
/// use [`try_state`].
///
/// # Errors
///
/// [`StateError::ContextMissing`] outside any scope.
///
/// ```
/// use tidings::{Scope, ctx};
///
/// #[derive(Debug, Default, PartialEq)]
/// struct Limits {
///     max_retries: u32,
/// }
///
/// # futures::executor::block_on(async {
/// Scope::new("app")
///     .with_state(1u32)
///     .run(async {
///         assert_eq!(*ctx::state::<u32>().unwrap(), 1);
///         Scope::new("inner")
///             .with_state(2u32)
///             .run(async { assert_eq!(*ctx::state::<u32>().unwrap(), 2) })
///             .await
///             .unwrap();
///         // Never set: its default.
///         assert_eq!(*ctx::state::<Limits>().unwrap(), Limits::default());
///         assert!(!ctx::contains_state::<Limits>());
///     })
///     .await
///     .unwrap();
/// # });
/// ```
pub fn state<T: Default + Send + Sync + 'static>() -> Result<Arc<T>, StateError> {
    match try_state::<T>() {
        Err(StateError::Missing(_)) => Ok(Arc::new(T::default())),
        found => found,
    }
}

/// The current scope's state value of type `T`, for any `T`: like [`state`], but a missing
/// value is an error instead of a default.
///
/// # Errors
///
/// [`StateError::ContextMissing`] outside any scope, [`StateError::Missing`] if no enclosing
/// scope has a value of this type.
///
/// ```
/// use tidings::{Scope, StateError, ctx};
///
/// struct Config {
///     url: &'static str,
/// }
///
/// # futures::executor::block_on(async {
/// Scope::new("app")
///     .with_state(Config { url: "nats://localhost" })
///     .run(async {
///         assert_eq!(ctx::try_state::<Config>().unwrap().url, "nats://localhost");
///         assert!(matches!(ctx::try_state::<u64>(), Err(StateError::Missing(_))));
///     })
///     .await
///     .unwrap();
/// # });
/// ```
pub fn try_state<T: Send + Sync + 'static>() -> Result<Arc<T>, StateError> {
    current::with(|frame| {
        let frame = frame.ok_or(StateError::ContextMissing)?;
        frame
            .state
            .get::<T>()
            .ok_or(StateError::Missing(std::any::type_name::<T>()))
    })
}

/// Whether the current scope has a state value of type `T` (set by it, an enclosing scope or
/// [`updating`]; a default that [`state`] would build does not count). `false` outside any
/// scope.
pub fn contains_state<T: Send + Sync + 'static>() -> bool {
    current::with(|frame| frame.is_some_and(|f| f.state.contains::<T>()))
}

/// Runs `fut` in the current scope with the state value of type `T` replaced by `value`
/// (Haiway's `ctx.updating`); [`Updating::with_state`] replaces more values at once. Tasks
/// spawned inside see the new values too. The scope is
/// taken where the future is first polled; outside any scope it yields `Err(ContextMissing)`.
///
/// ```
/// use tidings::{Scope, ctx};
///
/// # futures::executor::block_on(async {
/// Scope::new("app")
///     .with_state("v1")
///     .run(async {
///         let seen = ctx::updating("v2", async { *ctx::state::<&str>().unwrap() }).await;
///         assert_eq!(seen, Ok("v2"));
///         assert_eq!(*ctx::state::<&str>().unwrap(), "v1");
///     })
///     .await
///     .unwrap();
/// # });
/// ```
pub fn updating<T: Send + Sync + 'static, F: Future>(value: T, fut: F) -> Updating<F> {
    Updating::new(state::entry(value), fut)
}

/// The name of the current scope.
///
/// # Errors
///
/// [`ContextMissing`] outside any scope.
///
/// ```
/// # futures::executor::block_on(async {
/// let name = tidings::Scope::new("app")
///     .run(async { tidings::ctx::scope_name().unwrap() })
///     .await
///     .unwrap();
/// assert_eq!(&*name, "app");
/// # });
/// ```
pub fn scope_name() -> Result<Arc<str>, ContextMissing> {
    current::with(|frame| Ok(Arc::clone(&frame.ok_or(ContextMissing)?.node.name)))
}

/// Records a log entry (Haiway's `ctx.log_*`/`ctx.record_*`): with the `tracing` feature, a
/// `tracing` event of target `tidings::record` inside the current scope's span, or on its own
/// outside any scope (Haiway falls back to the root logger); without the feature, nothing.
///
/// # Errors
///
/// None: the `Result` is kept for compatibility (it was `ContextMissing` outside a scope
/// before records worked there).
///
/// ```
/// use tidings::{Level, Scope, ctx};
///
/// ctx::record(Level::Info, format_args!("starting")).unwrap(); // no scope needed
/// # futures::executor::block_on(async {
/// Scope::new("app")
///     .run(async {
///         ctx::record(Level::Info, format_args!("event received: {}", 42)).unwrap();
///     })
///     .await
///     .unwrap();
/// # });
/// ```
pub fn record(level: Level, message: std::fmt::Arguments<'_>) -> Result<(), ContextMissing> {
    observe::record(level, message);
    Ok(())
}

/// Logs an error with its error value (Haiway's `ctx.log_error(..., exception=e)`): a
/// `tracing` error event of target `tidings::record` whose `error` field is the error itself
/// (`tracing` records it as an error, with its `source` chain; `tracing-opentelemetry` turns it
/// into an exception). Works outside a scope too.
///
/// ```
/// use tidings::ctx;
///
/// let err = "x".parse::<u32>().unwrap_err();
/// ctx::log_error("could not read the port", &err);
/// ```
pub fn log_error(message: impl std::fmt::Display, error: &(dyn std::error::Error + 'static)) {
    observe::log_error(&message, error);
}

/// A named event to record, with attributes (Haiway's
/// `ctx.record_info(event=..., attributes={...})`); see [`EventRecord`]. Works outside a scope.
///
/// ```
/// use tidings::ctx;
///
/// ctx::event("event_received")
///     .attribute("event_type", "UserLoggedIn")
///     .attribute("attempt", 2)
///     .record();
/// ```
pub fn event(name: &str) -> EventRecord<'_> {
    EventRecord {
        name,
        level: Level::Info,
        attributes: Vec::new(),
    }
}

/// A metric sample of a kind (counter, gauge, histogram), to give a unit and attributes and
/// [`record`](MetricRecord::record) (Haiway's `ctx.record_info(metric=..., value=..., unit=...,
/// kind=...)`). Works outside a scope.
///
/// With the `tracing` feature it is a `tracing` event of target `tidings::metric` with the
/// fields `metric` (name), `value` (`f64`), `unit`, `kind` (`"counter"`, `"gauge"` or
/// `"histogram"`) and `attributes` (`{key=value, ...}`); `examples/observability.rs` shows a
/// `tracing` layer that turns them into metrics for an exporter.
///
/// ```
/// use tidings::{MetricKind, ctx};
///
/// ctx::metric("event_processing_time", 0.25, MetricKind::Histogram)
///     .unit("seconds")
///     .attribute("event_type", "UserLoggedIn")
///     .record();
/// ctx::metric("events_processed", 1.0, MetricKind::Counter).record();
/// ```
pub fn metric(name: &str, value: f64, kind: MetricKind) -> MetricRecord<'_> {
    MetricRecord {
        name,
        value,
        kind,
        unit: "",
        attributes: Vec::new(),
    }
}

/// Records a gauge sample with a unit: [`metric`] of kind [`MetricKind::Gauge`], no
/// attributes.
///
/// # Errors
///
/// None: the `Result` is kept for compatibility, as for [`record`].
///
/// ```
/// tidings::ctx::record_metric("queue_depth", 12.0, "events").unwrap();
/// ```
pub fn record_metric(name: &str, value: f64, unit: &str) -> Result<(), ContextMissing> {
    metric(name, value, MetricKind::Gauge).unit(unit).record();
    Ok(())
}

/// The trace id of the current scope: made by its root (or given with
/// [`Scope::with_trace_id`](crate::Scope::with_trace_id)) and shared by every scope nested in
/// it, as Haiway's `ctx.trace_id()`.
///
/// # Errors
///
/// [`ContextMissing`] outside any scope.
///
/// ```
/// use tidings::{Scope, ctx};
///
/// # futures::executor::block_on(async {
/// Scope::new("app")
///     .run(async {
///         let trace = ctx::trace_id().unwrap();
///         let inner = Scope::new("inner").run(async { ctx::trace_id().unwrap() });
///         assert_eq!(inner.await.unwrap(), trace);
///         assert_eq!(trace.to_string().len(), 32); // lowercase hex
///     })
///     .await
///     .unwrap();
/// # });
/// ```
pub fn trace_id() -> Result<TraceId, ContextMissing> {
    current::with(|frame| Ok(frame.ok_or(ContextMissing)?.node.trace_id))
}

/// The id of the current scope, unique within the process.
///
/// # Errors
///
/// [`ContextMissing`] outside any scope.
pub fn scope_id() -> Result<ScopeId, ContextMissing> {
    current::with(|frame| Ok(ScopeId(frame.ok_or(ContextMissing)?.node.id)))
}

/// The id of the scope the current one was opened in; `None` for a root scope.
///
/// # Errors
///
/// [`ContextMissing`] outside any scope.
pub fn parent_scope_id() -> Result<Option<ScopeId>, ContextMissing> {
    current::with(|frame| Ok(frame.ok_or(ContextMissing)?.node.parent_id.map(ScopeId)))
}

/// Cancels the current scope: its body is dropped at its next await, every task at its next
/// poll, scopes nested in them with them; the scope's `run` returns
/// [`ScopeError::Cancelled`] once all of them are gone. Code still running in the scope sees
/// it through [`cancelled`] and [`check_cancellation`].
///
/// # Errors
///
/// [`ContextMissing`] outside any scope.
///
/// ```
/// use tidings::{Scope, ScopeError, ctx};
///
/// # futures::executor::block_on(async {
/// let err = Scope::new("job")
///     .run(async {
///         let worker = ctx::spawn(std::future::pending::<()>()).unwrap();
///         ctx::cancel().unwrap();
///         assert!(ctx::check_cancellation().is_err());
///         worker.await // never finishes: the body is dropped here
///     })
///     .await
///     .unwrap_err();
/// assert!(matches!(err, ScopeError::Cancelled { .. }));
/// # });
/// ```
pub fn cancel() -> Result<(), ContextMissing> {
    current::with(|frame| {
        frame.ok_or(ContextMissing)?.node.cancel.cancel();
        Ok(())
    })
}

/// A future that is ready once the current scope, or a scope around it, is cancelled (Rust's
/// cancellation drops futures, so this matters where nothing drops: a future run through a
/// [`Snapshot`], a `select!` that wants to clean up first). Outside any scope it never becomes
/// ready.
///
/// ```
/// use tidings::{Scope, ctx};
///
/// # futures::executor::block_on(async {
/// Scope::new("job")
///     .run(async {
///         let cancelled = ctx::cancelled();
///         ctx::cancel().unwrap();
///         cancelled.await; // ready at once
///     })
///     .await
///     .unwrap_err();
/// # });
/// ```
pub fn cancelled() -> Cancelled {
    current::with(|frame| Cancelled::new(frame.map(|f| &f.node.cancel)))
}

/// `Err(ScopeError::Cancelled)` if the current scope, or a scope around it, is cancelled
/// (Haiway's `ctx.check_cancellation()`), for a loop to stop at: `ctx::check_cancellation()?`
/// in a [`try_spawn`] task or a [`Scope::try_run`](crate::Scope::try_run) body ends it as part
/// of the cancellation, not as a failure of its own. `Ok` outside any scope.
///
/// # Errors
///
/// [`ScopeError::Cancelled`], naming the current scope.
pub fn check_cancellation() -> Result<(), ScopeError> {
    current::with(|frame| match frame {
        Some(frame) if frame.node.cancel.is_cancelled() => Err(ScopeError::Cancelled {
            scope: Arc::clone(&frame.node.name),
        }),
        _ => Ok(()),
    })
}

/// The current context (scope and state, `updating` values included), to run code in later
/// with [`Snapshot::run`], [`Snapshot::stream`] or [`Snapshot::enter`]: for callbacks handed to
/// code that knows nothing of scopes.
///
/// # Errors
///
/// [`ContextMissing`] outside any scope.
pub fn snapshot() -> Result<Snapshot, ContextMissing> {
    Ok(Snapshot {
        frame: current::frame().ok_or(ContextMissing)?,
    })
}

/// Wraps `stream` so that each poll runs in the current context, wherever the stream goes
/// (Haiway's `ctx.stream`): a stream made in a scope and handed out of it (to a web framework,
/// another task) still sees its scope's state, trace and bus.
///
/// # Errors
///
/// [`ContextMissing`] outside any scope.
///
/// ```
/// use futures::StreamExt;
/// use tidings::{Scope, ctx};
///
/// # futures::executor::block_on(async {
/// let stream = Scope::new("request")
///     .with_state(10u32)
///     .run(async {
///         let numbers = futures::stream::iter(1..=3u32)
///             .map(|n| n * *ctx::state::<u32>().unwrap());
///         ctx::stream(numbers).unwrap()
///     })
///     .await
///     .unwrap();
/// // Out of the scope, the stream still reads its state.
/// assert_eq!(stream.collect::<Vec<_>>().await, [10, 20, 30]);
/// # });
/// ```
pub fn stream<S: futures_core::Stream>(stream: S) -> Result<InContext<S>, ContextMissing> {
    Ok(snapshot()?.stream(stream))
}

/// Spawns `fut` as a background task (Haiway's `ctx.spawn_background`): tied to no scope (it
/// may outlive the one it was spawned in, and no scope waits for it), run with no context
/// (`ctx::*` calls inside see no scope; enter one, or pass what it needs), its panic logged
/// through `tracing` (feature `tracing`) and given to its handle, never failing a scope. With
/// the `tokio` feature inside a tokio runtime it is a tokio task; otherwise it runs on a thread
/// of its own. [`shutdown_background`] cancels all of them together.
///
/// ```
/// use tidings::{Scope, ctx};
///
/// # futures::executor::block_on(async {
/// let handle = Scope::new("app")
///     .run(async { ctx::spawn_background(async { ctx::scope_name().is_err() }) })
///     .await
///     .unwrap();
/// // The scope is over; the background task is not tied to it, and saw no scope.
/// assert!(handle.await.unwrap());
/// # });
/// ```
pub fn spawn_background<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    crate::scope::background::spawn(async move { Ok(fut.await) })
}

/// Like [`spawn_background`], for a task that can fail: an `Err` is logged (a `task failed`
/// error event with `scope = "background"`) and given to the handle as
/// [`JoinError::Failed`](crate::JoinError::Failed); it fails no scope.
pub fn try_spawn_background<F, T, E>(fut: F) -> JoinHandle<T>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    crate::scope::background::spawn(async move { fut.await.map_err(Into::into) })
}

/// Cancels every background task running now and waits until all of them are gone (Haiway's
/// `ctx.shutdown_background_tasks()`): for a graceful shutdown, or between tests. Each is
/// dropped at its next poll; their handles yield [`JoinError::Cancelled`](crate::JoinError).
/// Tasks spawned after this call are not affected.
///
/// ```
/// use tidings::ctx;
///
/// # futures::executor::block_on(async {
/// let forever = ctx::spawn_background(std::future::pending::<()>());
/// ctx::shutdown_background().await;
/// assert!(forever.await.unwrap_err().is_cancelled());
/// # });
/// ```
pub fn shutdown_background() -> crate::ShutdownBackground {
    crate::scope::background::shutdown()
}
