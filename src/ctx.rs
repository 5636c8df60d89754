//! The ambient API, as Haiway's `ctx`: free functions that act on the current
//! [`Scope`](crate::Scope), found without a handle.
//!
//! Outside any scope every function returns [`ContextMissing`] (nothing is silently dropped):
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
//! O(1) per event and subscription, whatever the depth.
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

use crate::ContextMissing;
use crate::scope::current;
use crate::scope::delivery::{Envelope, Origin, ScopedSubscription};
use crate::scope::observe::{self, Level};
use crate::scope::state::{self, StateError, Updating};
use crate::scope::task::{self, JoinHandle};

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
    let rejected = current::with(|frame| {
        let node = &frame.ok_or(ContextMissing)?.node;
        let envelope = Envelope::Event {
            origin: node.origin.clone(),
            event,
        };
        Ok(node.bus.send(envelope).err())
    })?;
    // Dropped outside the borrow of the frame: `E`'s destructor may use `ctx` itself.
    drop(rejected);
    Ok(())
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
/// its frame, through [`updating`], and runs after the scope's `run`
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
/// body are cancelled and `run` returns [`ScopeError::Failed`](crate::ScopeError::Failed)),
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

/// The current scope's state value of type `T`, from the nearest scope (or
/// [`updating`]) that set one.
///
/// # Errors
///
/// [`StateError::ContextMissing`] outside any scope, [`StateError::Missing`] if no enclosing
/// scope has a value of this type.
///
/// ```
/// use tidings::{Scope, StateError, ctx};
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
///         assert!(matches!(ctx::state::<u64>(), Err(StateError::Missing(_))));
///     })
///     .await
///     .unwrap();
/// # });
/// ```
pub fn state<T: Send + Sync + 'static>() -> Result<Arc<T>, StateError> {
    current::with(|frame| {
        let frame = frame.ok_or(StateError::ContextMissing)?;
        frame
            .state
            .get::<T>()
            .ok_or(StateError::Missing(std::any::type_name::<T>()))
    })
}

/// Runs `fut` in the current scope with the state value of type `T` replaced by `value`
/// (Haiway's `ctx.updating`). Tasks spawned inside see the new value too. The scope is
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

/// Records a log entry in the current scope (Haiway's `ctx.record`/`ctx.log_*`): with the
/// `tracing` feature, a `tracing` event of target `tidings::record` inside the scope's span;
/// without it, nothing.
///
/// # Errors
///
/// [`ContextMissing`] outside any scope.
///
/// ```
/// use tidings::{Level, Scope, ctx};
///
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
    current::with(|frame| frame.map(|_| ()).ok_or(ContextMissing))?;
    observe::record(level, message);
    Ok(())
}

/// Records a metric sample in the current scope: with the `tracing` feature, a `tracing` event
/// of target `tidings::metric` with fields `metric`, `value` and `unit`; without it, nothing.
///
/// # Errors
///
/// [`ContextMissing`] outside any scope.
///
/// ```
/// # futures::executor::block_on(async {
/// tidings::Scope::new("app")
///     .run(async { tidings::ctx::record_metric("event_processing_time", 0.25, "seconds").unwrap() })
///     .await
///     .unwrap();
/// # });
/// ```
pub fn record_metric(name: &str, value: f64, unit: &str) -> Result<(), ContextMissing> {
    current::with(|frame| frame.map(|_| ()).ok_or(ContextMissing))?;
    observe::metric(name, value, unit);
    Ok(())
}
