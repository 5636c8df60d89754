//! A scope's place in its bus's scope tree, and the context frame that travels with a future.
//!
//! # The O(1) ancestry check
//!
//! Every scope gets a process-unique id and stores its *path*: the ids of its ancestors within
//! its bus, from the bus's root scope down to itself, so `path[depth] == id`. Scope S is an
//! ancestor-or-self of scope O exactly when `O.path.len() > S.depth && O.path[S.depth] == S.id`:
//! one bounds check and one comparison, whatever the depth. Paths are built once, when a scope
//! opens (one allocation of `depth + 1` ids). Events carry the path as an `Origin`
//! (see `delivery`): inline, without reference counting, for a bus's root scope and its
//! children; as a shared `Arc` deeper down.
//!
//! Ids are unique across the process, so two scopes never compare equal by accident even if
//! they sit at the same depth of different trees.

use std::any::TypeId;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use super::cancel::CancelState;
use super::delivery::{Envelope, Origin};
use super::identity::TraceId;
use super::state::StateMap;
use super::task::TaskSet;
use crate::Bus;

/// Source of scope ids; 0 is never handed out.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One scope: its identity, its bus and its task set. Shared by the scope's `run` future,
/// the frames of its body and tasks, and nothing else (events carry only the path).
pub(crate) struct Node {
    pub(crate) id: u64,
    /// The id of the scope this one was opened in (across an isolated border too).
    pub(crate) parent_id: Option<u64>,
    /// Shared by the whole tree, unless a scope was given one to continue.
    pub(crate) trace_id: TraceId,
    pub(crate) cancel: Arc<CancelState>,
    pub(crate) name: Arc<str>,
    /// Ids from the bus's root scope down to this one; `path[depth] == id`. Never empty.
    pub(crate) path: Arc<[u64]>,
    /// What events sent here carry: `path` in the form the send copies cheaply.
    pub(crate) origin: Origin,
    /// The bus of the nearest root or isolated scope.
    pub(crate) bus: Bus,
    /// Whether this scope owns (and closes) `bus`: it is a root or an isolated scope.
    pub(crate) owns_bus: bool,
    pub(crate) tasks: Arc<TaskSet>,
    /// Whether spawned tasks go to the tokio runtime (inherited by nested scopes).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) tokio: bool,
    /// The event types subscribed in this scope, to end their subscriptions on close.
    closers: Mutex<Closers>,
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
}

/// Guarded by `Node::closers`: subscribing and closing are serialised, so a subscription is
/// either made before the close (and gets its end marker) or sees `closing` and ends at once.
struct Closers {
    closing: bool,
    types: Vec<(TypeId, SendEnd)>,
}

/// Sends the end marker of one event type for a scope id (`Envelope::<E>::send_end`).
type SendEnd = fn(&Bus, u64);

/// What a scope is opened with, besides its place in the tree.
pub(crate) struct Opening {
    pub(crate) name: Arc<str>,
    pub(crate) tokio: bool,
    pub(crate) trace_id: Option<TraceId>,
    pub(crate) cancel: Arc<CancelState>,
}

impl Node {
    /// A scope inside `outer` (if any); it shares `outer`'s bus unless `isolated`.
    pub(crate) fn new(opening: Opening, outer: Option<&Node>, isolated: bool) -> Self {
        let Opening {
            name,
            tokio,
            trace_id,
            cancel,
        } = opening;
        // Relaxed: only uniqueness matters, which the read-modify-write gives.
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let parent = outer.filter(|_| !isolated);
        if let Some(outer) = outer {
            cancel.set_parent(Arc::clone(&outer.cancel));
        }
        let trace_id = trace_id
            .or(outer.map(|o| o.trace_id))
            .unwrap_or_else(TraceId::random);
        let parent_id = outer.map(|o| o.id);
        let (bus, path, owns_bus) = match parent {
            Some(parent) => {
                let mut path = Vec::with_capacity(parent.path.len() + 1);
                path.extend_from_slice(&parent.path);
                path.push(id);
                (parent.bus.clone(), path.into(), false)
            }
            None => (Bus::new(), Arc::from([id].as_slice()), true),
        };
        Node {
            id,
            parent_id,
            trace_id,
            cancel,
            #[cfg(feature = "tracing")]
            span: super::observe::scope_span(&name),
            name,
            origin: Origin::of(&path),
            path,
            bus,
            owns_bus,
            tasks: Arc::new(TaskSet::new()),
            tokio,
            closers: Mutex::new(Closers {
                closing: false,
                types: Vec::new(),
            }),
        }
    }

    pub(crate) fn depth(&self) -> usize {
        self.path.len() - 1
    }

    fn closers(&self) -> MutexGuard<'_, Closers> {
        // Nothing user-supplied runs under this lock, but a panic must not wedge the scope.
        self.closers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `subscribe` unless the scope has begun to close, registering `E` to be ended on
    /// close. `subscribe` runs under the lock so that it is ordered before any end marker.
    pub(crate) fn subscribe_with<E: Send + Sync + 'static, S>(
        &self,
        subscribe: impl FnOnce() -> S,
    ) -> Option<S> {
        let mut closers = self.closers();
        if closers.closing {
            return None;
        }
        let sub = subscribe();
        let ty = TypeId::of::<E>();
        if !closers.types.iter().any(|(t, _)| *t == ty) {
            closers.types.push((ty, Envelope::<E>::send_end));
        }
        Some(sub)
    }

    /// The scope begins to close: every subscription made in it ends after the events already
    /// sent to it (an end marker, ordered after them in the type's one total order). Idempotent.
    pub(crate) fn begin_close(&self) {
        let mut closers = self.closers();
        if closers.closing {
            return;
        }
        closers.closing = true;
        for (_, send_end) in closers.types.drain(..) {
            send_end(&self.bus, self.id);
        }
    }
}

/// What the ambient context holds: the scope, and the state visible at this point (which
/// `ctx::updating` can replace without opening a scope).
pub(crate) struct Frame {
    pub(crate) node: Arc<Node>,
    pub(crate) state: Arc<StateMap>,
}
