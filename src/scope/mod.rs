//! The Haiway-style context layer: scopes, ambient `ctx::*` calls, structured tasks, scoped
//! delivery and scoped state.
//!
//! Files: [`node`] (the scope tree and its O(1) ancestry check), [`current`] (the ambient frame,
//! set around each poll), [`delivery`] (envelopes and scoped subscriptions), [`task`]
//! (spawned tasks and their handles), [`state`] (typed scoped values), [`run`] (the scope's
//! driver future), [`observe`] (tracing, behind the `tracing` feature); the free functions
//! live in [`crate::ctx`]. How the layer works as a whole, and what it costs:
//! [`crate::docs::scopes`].

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

pub(crate) mod background;
pub(crate) mod cancel;
pub(crate) mod current;
pub(crate) mod delivery;
pub(crate) mod identity;
pub(crate) mod node;
pub(crate) mod observe;
pub(crate) mod resource;
pub(crate) mod run;
pub(crate) mod snapshot;
pub(crate) mod state;
pub(crate) mod task;

use cancel::{CancelState, Canceller};
use identity::TraceId;
use node::{Frame, Node, Opening};
use state::StateMap;

/// A boxed error, as [`Resource`](crate::Resource) and `try_*` futures return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A scope to run a future in: the Rust form of Haiway's `ctx.scope(...)`.
///
/// Inside [`run`](Scope::run), and inside every task it spawns, the free functions of
/// [`ctx`](crate::ctx) find the scope without a handle. A scope opened where no scope is current
/// is a *root*: it owns a new [`Bus`](crate::Bus), closed when the scope ends. A scope opened
/// inside another shares its root's bus; an [`isolated`](Scope::isolated) one gets its own.
///
/// The scope is taken from where `run`'s future is first polled, not where it is made.
///
/// # Examples
///
/// ```
/// use tidings::{Scope, ctx};
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct UserLoggedIn {
///     user_id: String,
/// }
///
/// # futures::executor::block_on(async {
/// let seen = Scope::new("app")
///     .run(async {
///         let mut logins = ctx::subscribe::<UserLoggedIn>().unwrap();
///         let monitor = ctx::spawn(async move {
///             // Ends when the scope begins to close, after the events already sent.
///             let mut seen = Vec::new();
///             while let Some(event) = logins.recv().await {
///                 seen.push(event.user_id);
///             }
///             seen
///         })
///         .unwrap();
///         ctx::send(UserLoggedIn { user_id: "ada".into() }).unwrap();
///         monitor
///     })
///     .await
///     .unwrap()
///     .await // the monitor's handle, finished by the time `run` returned
///     .unwrap();
/// assert_eq!(seen, ["ada"]);
/// # });
/// ```
pub struct Scope {
    name: Cow<'static, str>,
    isolated: bool,
    state: Vec<(std::any::TypeId, Arc<dyn Any + Send + Sync>)>,
    trace_id: Option<TraceId>,
    cancel: Arc<CancelState>,
    resources: Vec<Box<dyn resource::Erased>>,
    #[cfg(feature = "tokio")]
    tokio: Option<bool>,
}

impl Scope {
    /// A scope named `name`: nested in the current scope if there is one, else a root.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Scope {
            name: name.into(),
            isolated: false,
            state: Vec::new(),
            trace_id: None,
            cancel: CancelState::new(),
            resources: Vec::new(),
            #[cfg(feature = "tokio")]
            tokio: None,
        }
    }

    /// Continues the trace `trace_id` instead of starting one (a root) or inheriting the
    /// enclosing scope's: for work that began in another process, whose trace id came with the
    /// request (the NATS bridge's `Tidings-Trace-Id` header, an HTTP header). Nested scopes
    /// inherit it.
    ///
    /// ```
    /// use tidings::{Scope, TraceId, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// let remote: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
    /// Scope::new("handler")
    ///     .with_trace_id(remote)
    ///     .run(async move {
    ///         assert_eq!(ctx::trace_id().unwrap(), remote);
    ///         let inner = Scope::new("step").run(async { ctx::trace_id().unwrap() });
    ///         assert_eq!(inner.await.unwrap(), remote);
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn with_trace_id(mut self, trace_id: TraceId) -> Self {
        self.trace_id = Some(trace_id);
        self
    }

    /// Adds a resource (Haiway's disposable): opened when the scope starts, before its body
    /// runs, its [`State`](resource::Resource::State) visible in the body and tasks; closed in
    /// reverse order once they have all finished, also after a failure, panic or
    /// cancellation. A state value given with [`with_state`](Self::with_state) wins over a
    /// resource's of the same type. An error or panic while opening fails the scope (its body
    /// never runs) and closes what was already opened; errors while closing are added to the
    /// scope's failures. See [`Resource`](crate::Resource) for an example.
    pub fn with_resource<R: resource::Resource>(mut self, resource: R) -> Self {
        self.resources.push(Box::new(resource));
        self
    }

    /// A handle that cancels this scope from outside; see [`Canceller`].
    pub fn canceller(&self) -> Canceller {
        Canceller {
            state: Arc::clone(&self.cancel),
        }
    }

    /// A scope with a bus of its own, even inside another scope: no event crosses its border,
    /// broadcasts included. State is still inherited.
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut outer = ctx::subscribe::<u8>().unwrap();
    ///         Scope::isolated("sandbox")
    ///             .run(async { ctx::broadcast(1u8).unwrap() })
    ///             .await
    ///             .unwrap();
    ///         assert!(outer.try_recv().is_err());
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn isolated(name: impl Into<Cow<'static, str>>) -> Self {
        Scope {
            isolated: true,
            ..Scope::new(name)
        }
    }

    /// Adds a state value, visible through [`ctx::state`](crate::ctx::state) in this scope and
    /// the scopes nested in it (unless they override it). Values are looked up by exact type;
    /// a later value of the same type replaces an earlier one.
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// #[derive(Debug, Default, PartialEq)]
    /// struct Config {
    ///     retries: u32,
    /// }
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .with_state(Config { retries: 3 })
    ///     .run(async {
    ///         assert_eq!(ctx::state::<Config>().unwrap().retries, 3);
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn with_state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.push(state::entry(value));
        self
    }

    /// Spawns this scope's tasks, and those of scopes nested in it, on the current tokio
    /// runtime (for parallelism) instead of driving them inside `run`'s future. Where no tokio
    /// runtime is current at spawn time, tasks are driven locally as usual.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn on_tokio(mut self) -> Self {
        self.tokio = Some(true);
        self
    }

    /// Runs `fut` in this scope and returns its output once the scope has closed: after `fut`
    /// and every task spawned in the scope have finished.
    ///
    /// # Errors
    ///
    /// If `fut` or a task panics, or a [`try_spawn`](crate::ctx::try_spawn) task returns an
    /// error, the rest is cancelled and the first failure is returned as a [`ScopeError`].
    ///
    /// ```
    /// use tidings::{Scope, ScopeError, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// let err = Scope::new("app")
    ///     .run(async {
    ///         ctx::spawn(async { panic!("boom") }).unwrap();
    ///         std::future::pending::<()>().await // cancelled by the failure
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, ScopeError::Panicked { ref message, .. } if message == "boom"));
    /// # });
    /// ```
    pub async fn run<F: Future>(self, fut: F) -> Result<F::Output, ScopeError> {
        let (frame, resources) = self.open();
        run::Driver::new(frame, resources, async move { Ok(fut.await) }).await
    }

    /// Like [`run`](Scope::run), for a body that can fail: an `Err` from `fut` fails the scope
    /// like a panic does (its tasks are cancelled) and comes back as [`ScopeError::Failed`].
    ///
    /// ```
    /// use tidings::{Scope, ScopeError};
    ///
    /// # futures::executor::block_on(async {
    /// let err = Scope::new("app")
    ///     .try_run(async { "42x".parse::<u32>() })
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, ScopeError::Failed { .. }));
    /// # });
    /// ```
    pub async fn try_run<F, T, E>(self, fut: F) -> Result<T, ScopeError>
    where
        F: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        let (frame, resources) = self.open();
        run::Driver::new(
            frame,
            resources,
            async move { fut.await.map_err(Into::into) },
        )
        .await
    }

    /// Builds the scope's frame under whatever scope is current now.
    fn open(self) -> (Arc<Frame>, run::Resources) {
        let outer = current::frame();
        #[cfg(feature = "tokio")]
        let tokio = self
            .tokio
            .unwrap_or_else(|| outer.as_ref().is_some_and(|o| o.node.tokio));
        #[cfg(not(feature = "tokio"))]
        let tokio = false;
        let opening = Opening {
            name: Arc::from(self.name.as_ref()),
            tokio,
            trace_id: self.trace_id,
            cancel: self.cancel,
        };
        let node = Node::new(opening, outer.as_ref().map(|o| &*o.node), self.isolated);
        let resources = run::Resources::new(self.resources, &self.state);
        let frame = Arc::new(Frame {
            node: Arc::new(node),
            state: StateMap::layered(outer.as_ref().map(|o| &o.state), self.state),
        });
        (frame, resources)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("name", &self.name)
            .field("isolated", &self.isolated)
            .field("state_values", &self.state.len())
            .finish()
    }
}

/// A `ctx::*` call was made outside any scope.
///
/// ```
/// let err = tidings::ctx::send(1u8).unwrap_err();
/// assert_eq!(err, tidings::ContextMissing);
/// assert_eq!(err.to_string(), "ContextMissing: called outside any tidings::Scope");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContextMissing;

impl fmt::Display for ContextMissing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContextMissing: called outside any tidings::Scope")
    }
}

impl std::error::Error for ContextMissing {}

/// Why a scope failed: its body's or a task's failure, its cancellation, or all of these.
///
/// One failure comes back as itself; when several happened before the scope could stop
/// (tasks failing in the same round, a failure while cancelling), they come back together as
/// [`Multiple`](Self::Multiple), Haiway's `ExceptionGroup`. Either way
/// [`failures`](Self::failures) iterates every single failure.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ScopeError {
    /// The body or a task panicked.
    Panicked {
        /// The name of the scope the panicking future ran in.
        scope: Arc<str>,
        /// The panic message (or a placeholder if the payload was not a string).
        message: String,
    },
    /// The body (through [`Scope::try_run`]) or a task (through
    /// [`ctx::try_spawn`](crate::ctx::try_spawn)) returned an error.
    Failed {
        /// The name of the scope the failing future ran in.
        scope: Arc<str>,
        /// The error.
        error: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The scope was cancelled ([`ctx::cancel`](crate::ctx::cancel) or a [`Canceller`]).
    Cancelled {
        /// The name of the cancelled scope.
        scope: Arc<str>,
    },
    /// Several failures, in the order they happened; never fewer than two, never nested.
    Multiple(Failures),
}

impl ScopeError {
    /// Every single failure: this one, or each of [`Multiple`](Self::Multiple)'s.
    ///
    /// ```
    /// use tidings::{Scope, ScopeError, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// let err = Scope::new("app")
    ///     .run(async {
    ///         ctx::try_spawn(async { "x".parse::<u8>() }).unwrap();
    ///         ctx::try_spawn(async { "y".parse::<u8>() }).unwrap();
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, ScopeError::Multiple(_)));
    /// assert_eq!(err.failures().count(), 2);
    /// assert!(err.failures().all(|f| matches!(f, ScopeError::Failed { .. })));
    /// # });
    /// ```
    pub fn failures(&self) -> std::slice::Iter<'_, ScopeError> {
        match self {
            ScopeError::Multiple(all) => all.iter(),
            single => std::slice::from_ref(single).iter(),
        }
    }

    /// Whether the scope was cancelled (this is, or [`Multiple`](Self::Multiple) holds,
    /// [`Cancelled`](Self::Cancelled)).
    pub fn is_cancelled(&self) -> bool {
        self.failures()
            .any(|f| matches!(f, ScopeError::Cancelled { .. }))
    }

    /// One error for a list of failures (at least one): itself, or `Multiple`.
    pub(crate) fn from_failures(mut all: Vec<ScopeError>) -> Option<ScopeError> {
        match all.len() {
            0 => None,
            1 => all.pop(),
            _ => Some(ScopeError::Multiple(Failures(all))),
        }
    }
}

impl<'a> IntoIterator for &'a ScopeError {
    type Item = &'a ScopeError;
    type IntoIter = std::slice::Iter<'a, ScopeError>;

    fn into_iter(self) -> Self::IntoIter {
        self.failures()
    }
}

/// The failures of [`ScopeError::Multiple`]: iterate them (`&Failures` and `Failures` are
/// `IntoIterator`), or read them as a slice.
#[derive(Debug, Clone)]
pub struct Failures(Vec<ScopeError>);

impl Failures {
    /// The failures, in the order they happened.
    pub fn iter(&self) -> std::slice::Iter<'_, ScopeError> {
        self.0.iter()
    }

    /// How many failures there are (at least two).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: there are at least two. (For clippy's `len_without_is_empty`.)
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The failures as a slice.
    pub fn as_slice(&self) -> &[ScopeError] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Failures {
    type Item = &'a ScopeError;
    type IntoIter = std::slice::Iter<'a, ScopeError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Failures {
    type Item = ScopeError;
    type IntoIter = std::vec::IntoIter<ScopeError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::Panicked { scope, message } => {
                write!(f, "panic in scope {scope}: {message}")
            }
            ScopeError::Failed { scope, error } => write!(f, "failure in scope {scope}: {error}"),
            ScopeError::Cancelled { scope } => write!(f, "scope {scope} cancelled"),
            ScopeError::Multiple(all) => {
                write!(f, "{} failures", all.len())?;
                for (i, failure) in all.iter().enumerate() {
                    write!(f, "{} {failure}", if i == 0 { ":" } else { ";" })?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ScopeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScopeError::Failed { error, .. } => Some(&**error),
            _ => None,
        }
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
