//! Resources with a lifetime (Haiway's disposables): opened when a scope starts, providing a
//! state value to its body and tasks, closed when it ends.
//!
//! The scope's driver opens its resources in the order they were given, before the body's
//! first poll, and closes the opened ones in reverse order after the body and every task have
//! finished (also after a failure, a panic or a cancellation), before the bus closes. An error
//! or panic while opening one fails the scope: the body never runs and the resources already
//! opened are closed. Errors and panics while closing are added to the scope's failures and
//! the remaining resources are still closed. Only if `run`'s future is dropped before it
//! finishes is there nothing to await `close` with: the resources are then dropped (their
//! `Drop` runs), in reverse order.

use std::any::TypeId;
use std::future::Future;
use std::pin::Pin;

use super::BoxError;
use super::state::{self, Value};

/// An async resource with a lifetime: a connection pool, a client, a temporary directory.
/// Give it to a scope with [`Scope::with_resource`](crate::Scope::with_resource).
///
/// ```
/// use std::sync::Arc;
/// use tidings::{Resource, Scope, ctx};
///
/// #[derive(Default)]
/// struct Pool {
///     url: String,
/// }
///
/// struct Database {
///     url: &'static str,
///     pool: Option<Arc<Pool>>,
/// }
///
/// impl Resource for Database {
///     type State = Arc<Pool>;
///
///     async fn open(&mut self) -> Result<Arc<Pool>, tidings::BoxError> {
///         let pool = Arc::new(Pool { url: self.url.to_owned() }); // connect here
///         self.pool = Some(Arc::clone(&pool));
///         Ok(pool)
///     }
///
///     async fn close(self) -> Result<(), tidings::BoxError> {
///         drop(self.pool); // disconnect here
///         Ok(())
///     }
/// }
///
/// # futures::executor::block_on(async {
/// Scope::new("app")
///     .with_resource(Database { url: "postgres://db", pool: None })
///     .run(async {
///         let pool = ctx::try_state::<Arc<Pool>>().unwrap();
///         assert_eq!(pool.url, "postgres://db");
///     })
///     .await
///     .unwrap();
/// # });
/// ```
pub trait Resource: Send + 'static {
    /// What the resource provides: a state value of the scope, found by
    /// [`ctx::state`](crate::ctx::state)/[`ctx::try_state`](crate::ctx::try_state).
    type State: Send + Sync + 'static;

    /// Opens the resource, in the scope's context (its own state values are visible).
    fn open(&mut self) -> impl Future<Output = Result<Self::State, BoxError>> + Send;

    /// Closes the resource once the scope's body and tasks have finished.
    fn close(self) -> impl Future<Output = Result<(), BoxError>> + Send;
}

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What opening a resource gives back: the resource (to close later) and its state entry.
pub(crate) type Opening = BoxFuture<(Box<dyn Erased>, Result<(TypeId, Value), BoxError>)>;

/// A resource of any type, as the scope stores it.
pub(crate) trait Erased: Send {
    /// Opens it; hands the resource back with the outcome, for closing.
    fn open(self: Box<Self>) -> Opening;

    fn close(self: Box<Self>) -> BoxFuture<Result<(), BoxError>>;
}

impl<R: Resource> Erased for R {
    fn open(self: Box<Self>) -> Opening {
        Box::pin(async move {
            let mut this = self;
            let opened = Resource::open(&mut *this).await.map(state::entry);
            (this as Box<dyn Erased>, opened)
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<Result<(), BoxError>> {
        Box::pin(Resource::close(*self))
    }
}
