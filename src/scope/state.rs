//! Scoped state: immutable values looked up by exact type, as Haiway's `ctx.state`.
//!
//! Each frame holds an `Arc` of a small map from `TypeId` to a shared value. A nested scope (or
//! `ctx::updating`) with no values of its own shares its parent's map; one that adds or
//! overrides values copies the map once, when it opens. Lookups never lock.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::current;
use super::node::Frame;
use crate::ContextMissing;

pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// A frame's state values by type.
#[derive(Default, Clone)]
pub(crate) struct StateMap {
    values: HashMap<TypeId, Value>,
}

impl StateMap {
    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let value = self.values.get(&TypeId::of::<T>())?;
        Arc::clone(value).downcast().ok()
    }

    pub(crate) fn contains<T: 'static>(&self) -> bool {
        self.values.contains_key(&TypeId::of::<T>())
    }

    /// `parent` with `values` laid over it; shares `parent` if there is nothing to lay.
    pub(crate) fn layered(
        parent: Option<&Arc<StateMap>>,
        values: Vec<(TypeId, Value)>,
    ) -> Arc<Self> {
        match parent {
            Some(parent) if values.is_empty() => Arc::clone(parent),
            _ => {
                let mut map = parent.map(|p| StateMap::clone(p)).unwrap_or_default();
                map.values.extend(values);
                Arc::new(map)
            }
        }
    }
}

/// A state value to put in a scope: its type and the value.
pub(crate) fn entry<T: Send + Sync + 'static>(value: T) -> (TypeId, Value) {
    (TypeId::of::<T>(), Arc::new(value))
}

/// Why [`ctx::state`](crate::ctx::state) or [`ctx::try_state`](crate::ctx::try_state) found
/// no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    /// Called outside any scope.
    ContextMissing,
    /// No scope around the caller holds a value of this type (its name is given); only from
    /// [`ctx::try_state`](crate::ctx::try_state).
    Missing(&'static str),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::ContextMissing => fmt::Display::fmt(&ContextMissing, f),
            StateError::Missing(name) => write!(f, "no state of type {name} in the current scope"),
        }
    }
}

impl std::error::Error for StateError {}

impl From<ContextMissing> for StateError {
    fn from(_: ContextMissing) -> Self {
        StateError::ContextMissing
    }
}

/// The future of [`ctx::updating`](crate::ctx::updating): runs its future in a frame of the
/// current scope whose state has one value replaced.
pub struct Updating<F> {
    /// Taken on the first poll and used to build `frame`; `None` once taken.
    values: Option<Vec<(TypeId, Value)>>,
    frame: Option<Arc<Frame>>,
    fut: Pin<Box<F>>,
}

impl<F: Future> Updating<F> {
    pub(crate) fn new(value: (TypeId, Value), fut: F) -> Self {
        Updating {
            values: Some(vec![value]),
            frame: None,
            fut: Box::pin(fut),
        }
    }

    /// Replaces one more state value, for the same future: several values at once, as
    /// Haiway's `ctx.updating(a, b)`. A later value of a type replaces an earlier one.
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .with_state(1u32)
    ///     .run(async {
    ///         let seen = ctx::updating(2u32, async {
    ///             (*ctx::state::<u32>().unwrap(), *ctx::state::<i64>().unwrap())
    ///         })
    ///         .with_state(-5i64)
    ///         .await;
    ///         assert_eq!(seen, Ok((2, -5)));
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn with_state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        if let Some(values) = &mut self.values {
            values.push(entry(value));
        }
        self
    }
}

impl<F: Future> Future for Updating<F> {
    type Output = Result<F::Output, ContextMissing>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(values) = this.values.take() {
            // The frame is taken from where the future is first polled, as a scope's is.
            let Some(outer) = current::frame() else {
                return Poll::Ready(Err(ContextMissing));
            };
            this.frame = Some(Arc::new(Frame {
                node: Arc::clone(&outer.node),
                state: StateMap::layered(Some(&outer.state), values),
            }));
        }
        if this.frame.is_none() {
            // Polled after it failed with `ContextMissing`.
            return Poll::Ready(Err(ContextMissing));
        }
        let _enter = current::enter(&mut this.frame);
        this.fut.as_mut().poll(cx).map(Ok)
    }
}

impl<F> fmt::Debug for Updating<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Updating").finish_non_exhaustive()
    }
}
