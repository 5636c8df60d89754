//! Scoped delivery over one bus: events carry their origin scope's path, subscriptions skip
//! what is not theirs with the O(1) ancestry check of [`node`](super::node).
//!
//! A scoped event of type `E` travels on the bus as an `Envelope<E>`, a private type, so plain
//! `Bus` subscriptions never see scope traffic and scope subscriptions never see plain sends.
//! The envelope adds the origin scope's [`Origin`] to the event: for the bus's root scope and
//! its children, at most one id (copied, no reference count, no drop work); deeper, an `Arc`
//! of the path (one atomic increment per send). Two words: the envelope is moved on every send
//! and fills the segment's slots, so its size is paid on every event.
//!
//! A subscription made in scope S takes an event from origin O if the event is a broadcast or
//! S is O or an ancestor of O. Everything else is consumed without being cloned
//! (`Subscription::poll_pick`). When S begins to close it sends an `End` marker for S into each
//! event type subscribed in S: the type's total order puts it after every event sent before,
//! so each of S's subscriptions yields those and then ends; other subscriptions skip it.
//! The layer as a whole: [`crate::docs::scopes`].

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};

#[cfg(not(tidings_loom))]
use crate::RecvTimeoutError;
use crate::subscription::Pick;
use crate::{Batch, Bus, Subscription, TryRecvError};

/// Where an event comes from, as much as the ancestry check needs.
///
/// Every scope of one bus descends from the bus's root scope, so `path[0]` is the same for all
/// events on a bus and is left out: a subscription made in the root takes every event. The
/// common cases (the root and its children) are plain data, so that the envelope stays small
/// (it is moved on every send and fills the slots) and cloning it is a copy; only scopes two or
/// more levels below the root share their path through an `Arc`.
pub(crate) enum Origin {
    /// A broadcast: every subscription takes it.
    Broadcast,
    /// Sent in the bus's root scope: `path` is `[root]`.
    Root,
    /// Sent in a child of the root: `path` is `[root, this]`.
    Child(u64),
    /// The whole path, for deeper scopes (a thin pointer keeps `Origin` at two words).
    Deep(Arc<Box<[u64]>>),
}

impl Clone for Origin {
    #[inline(always)]
    fn clone(&self) -> Self {
        match self {
            Origin::Root => Origin::Root,
            Origin::Child(id) => Origin::Child(*id),
            Origin::Broadcast => Origin::Broadcast,
            Origin::Deep(path) => Origin::Deep(Arc::clone(path)),
        }
    }
}

impl Origin {
    /// The origin of events sent in the scope with this path (`path[depth] == its id`).
    pub(crate) fn of(path: &[u64]) -> Self {
        match path {
            [_root] => Origin::Root,
            [_root, id] => Origin::Child(*id),
            _ => Origin::Deep(Arc::new(path.into())),
        }
    }

    /// Whether the scope `id` at `depth` (on the same bus) is this origin or an ancestor of it:
    /// the O(1) check of `node`.
    #[inline]
    pub(crate) fn is_within(&self, depth: usize, id: u64) -> bool {
        match self {
            _ if depth == 0 => true,
            Origin::Broadcast => true,
            Origin::Root => false,
            Origin::Child(child) => depth == 1 && *child == id,
            Origin::Deep(path) => path.get(depth) == Some(&id),
        }
    }
}

/// What a scoped send puts on the bus.
pub(crate) enum Envelope<E> {
    Event {
        origin: Origin,
        event: E,
    },
    /// The scope with this id has begun to close.
    End(u64),
}

impl<E: Send + Sync + 'static> Envelope<E> {
    /// Ends the subscriptions of type `E` made in scope `id` (see `Node::begin_close`).
    pub(crate) fn send_end(bus: &Bus, id: u64) {
        // No subscription alive, or the bus closed: nothing to end either way.
        let _ = bus.send(Envelope::<E>::End(id));
    }
}

/// What a subscription takes from an envelope.
enum Taken<T> {
    Event(T),
    End,
}

/// A subscription made with [`ctx::subscribe`](crate::ctx::subscribe): a [`Stream`] of the
/// events of type `E` sent in its scope or in scopes nested in it, and of broadcasts.
///
/// It ends (yields `None`) when the scope it was made in begins to close, or when the bus
/// closes, in both cases after every event already sent to it. Like [`Subscription`], it
/// keeps what it has not read, and dropping it frees that.
///
/// ```
/// use tidings::{Scope, ctx};
///
/// # futures::executor::block_on(async {
/// Scope::new("app")
///     .run(async {
///         let mut sub = ctx::subscribe::<u32>().unwrap();
///         ctx::send(7u32).unwrap();
///         assert_eq!(sub.recv().await, Some(7));
///     })
///     .await
///     .unwrap();
/// # });
/// ```
pub struct ScopedSubscription<E: Send + Sync + 'static> {
    /// A closed (`Subscription::closed`) one once ended, or if made in a closing scope: one
    /// state check on the hot path instead of two.
    inner: Subscription<Envelope<E>>,
    /// The scope it was made in.
    id: u64,
    depth: usize,
}

impl<E: Send + Sync + 'static> ScopedSubscription<E> {
    pub(crate) fn new(inner: Subscription<Envelope<E>>, id: u64, depth: usize) -> Self {
        ScopedSubscription { inner, id, depth }
    }

    pub(crate) fn ended(id: u64, depth: usize) -> Self {
        ScopedSubscription {
            inner: Subscription::closed(),
            id,
            depth,
        }
    }

    /// Whether this subscription is known to have ended: it has yielded its end, or its bus is
    /// closed and drained. (An end marker not yet read counts as not ended.)
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// let mut sub = Scope::new("app")
    ///     .run(async {
    ///         let sub = ctx::subscribe::<u8>().unwrap();
    ///         ctx::send(1u8).unwrap();
    ///         sub
    ///     })
    ///     .await
    ///     .unwrap();
    /// // Its scope has closed: it yields what was sent before, then ends.
    /// assert_eq!(sub.recv().await, Some(1));
    /// assert_eq!(sub.recv().await, None);
    /// assert!(sub.is_terminated());
    /// # });
    /// ```
    pub fn is_terminated(&self) -> bool {
        self.inner.is_terminated()
    }

    /// Maps an envelope to what this subscription takes from it; `None` skips it.
    #[inline]
    fn take<T>(
        id: u64,
        depth: usize,
        envelope: &Envelope<E>,
        map: impl FnOnce(&E) -> T,
    ) -> Option<Taken<T>> {
        match envelope {
            Envelope::Event { origin, event } => origin
                .is_within(depth, id)
                .then(|| Taken::Event(map(event))),
            Envelope::End(scope) => (*scope == id).then_some(Taken::End),
        }
    }

    #[inline]
    fn finish<T>(&mut self, taken: Option<Taken<T>>) -> Option<T> {
        match taken {
            Some(Taken::Event(value)) => Some(value),
            Some(Taken::End) | None => {
                // Ended: give the backlog of other scopes' events back at once.
                self.inner = Subscription::closed();
                None
            }
        }
    }
}

impl<E: Clone + Send + Sync + 'static> ScopedSubscription<E> {
    /// Receives the next event, waiting for one; `None` once the subscription has ended.
    /// Cancel-safe.
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut sub = ctx::subscribe::<&str>().unwrap();
    ///         ctx::send("hello").unwrap();
    ///         assert_eq!(sub.recv().await, Some("hello"));
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub async fn recv(&mut self) -> Option<E> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next event; the building block of `recv` and of the `Stream` impl.
    #[inline]
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<E>> {
        let (id, depth) = (self.id, self.depth);
        match self
            .inner
            .poll_pick(cx, |env| Self::take(id, depth, env, E::clone))
        {
            Poll::Ready(taken) => Poll::Ready(self.finish(taken)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Receives the next event if one is ready now.
    ///
    /// ```
    /// use tidings::{Scope, TryRecvError, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut sub = ctx::subscribe::<u8>().unwrap();
    ///         assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
    ///         ctx::send(1u8).unwrap();
    ///         assert_eq!(sub.try_recv(), Ok(1));
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    #[inline]
    pub fn try_recv(&mut self) -> Result<E, TryRecvError> {
        let (id, depth) = (self.id, self.depth);
        match self
            .inner
            .try_pick(|env| Self::take(id, depth, env, E::clone))
        {
            Ok(Taken::Event(event)) => Ok(event),
            Ok(Taken::End) | Err(TryRecvError::Closed) => {
                // Ended: give the backlog of other scopes' events back at once.
                self.inner = Subscription::closed();
                Err(TryRecvError::Closed)
            }
            Err(TryRecvError::Empty) => Err(TryRecvError::Empty),
        }
    }
}

/// The rest of [`Subscription`]'s reading surface.
impl<E: Send + Sync + 'static> ScopedSubscription<E> {
    /// Whether its bus has closed, or it has ended with its scope. Events sent before may still
    /// be waiting.
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// let sub = Scope::new("app")
    ///     .run(async {
    ///         let sub = ctx::subscribe::<u8>().unwrap();
    ///         assert!(!sub.is_closed());
    ///         sub
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert!(sub.is_closed()); // the root scope closed its bus
    /// # });
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// How many events wait for this subscription: sent in its scope or below (or broadcast)
    /// and not yet received, up to its end. A snapshot, counted by reading ahead without
    /// consuming: O(events waiting, including other scopes' that it will skip).
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut sub = ctx::subscribe::<u8>().unwrap();
    ///         assert!(sub.is_empty());
    ///         ctx::send(1u8).unwrap();
    ///         ctx::send(2u8).unwrap();
    ///         assert_eq!(sub.len(), 2);
    ///         sub.try_recv().unwrap();
    ///         assert_eq!(sub.len(), 1);
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn len(&self) -> usize {
        let (id, depth) = (self.id, self.depth);
        self.inner.count_ready(|env| match env {
            Envelope::Event { origin, .. } => Some(origin.is_within(depth, id)),
            Envelope::End(scope) => (*scope != id).then_some(false),
        })
    }

    /// Whether no event waits for this subscription (`len() == 0`).
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let sub = ctx::subscribe::<u8>().unwrap();
    ///         ctx::send(1u8).unwrap();
    ///         assert!(!sub.is_empty());
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A second subscription of the same scope at this one's position: it receives what this
    /// one has not received yet and everything later, and ends with the same scope.
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut first = ctx::subscribe::<u8>().unwrap();
    ///         ctx::send(1u8).unwrap();
    ///         ctx::send(2u8).unwrap();
    ///         assert_eq!(first.try_recv(), Ok(1));
    ///         let mut second = first.resubscribe();
    ///         assert_eq!(second.try_recv(), Ok(2));
    ///         assert_eq!(first.try_recv(), Ok(2));
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn resubscribe(&self) -> ScopedSubscription<E> {
        ScopedSubscription::new(self.inner.resubscribe(), self.id, self.depth)
    }
}

/// Receives by reference, without cloning; `E` need not be `Clone` (see
/// [`Subscription::recv_ref`]).
impl<E: Send + Sync + 'static> ScopedSubscription<E> {
    /// Receives the next event by reference; `None` once ended. The reference is valid until
    /// the next call on this subscription. Cancel-safe.
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// struct Frame(Vec<u8>); // not Clone
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut sub = ctx::subscribe::<Frame>().unwrap();
    ///         ctx::send(Frame(vec![1, 2])).unwrap();
    ///         assert_eq!(sub.recv_ref().await.unwrap().0, [1, 2]);
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub async fn recv_ref(&mut self) -> Option<&E> {
        let (id, depth) = (self.id, self.depth);
        let inner = &mut self.inner;
        if !std::future::poll_fn(|cx| inner.poll_pick_ready(cx, |env| Self::pick(id, depth, env)))
            .await
        {
            return None;
        }
        Some(Self::event(self.inner.take_ready()))
    }

    /// Receives the next event by reference if one is ready now.
    ///
    /// ```
    /// use tidings::{Scope, TryRecvError, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut sub = ctx::subscribe::<u8>().unwrap();
    ///         assert_eq!(sub.try_recv_ref(), Err(TryRecvError::Empty));
    ///         ctx::send(9u8).unwrap();
    ///         assert_eq!(sub.try_recv_ref(), Ok(&9));
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn try_recv_ref(&mut self) -> Result<&E, TryRecvError> {
        let (id, depth) = (self.id, self.depth);
        self.inner
            .try_pick_ready(|env| Self::pick(id, depth, env))?;
        Ok(Self::event(self.inner.take_ready()))
    }

    /// Receives a run of events by reference, without cloning, as
    /// [`Subscription::recv_many_ref`]: waits for at least one, then returns the run of ready
    /// events for this subscription, at most `limit` long, consumed and borrowed until the
    /// next call. Besides where a plain run ends (the first event not yet sent, the end of a
    /// segment of 64), a scoped run ends before the next event this subscription does not take
    /// (another scope's, which the next call skips). Empty only once the subscription has ended
    /// and is drained (or if `limit` is 0). Cancel-safe.
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// struct Frame(Vec<u8>); // not Clone
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut sub = ctx::subscribe::<Frame>().unwrap();
    ///         ctx::send(Frame(vec![1])).unwrap();
    ///         ctx::send(Frame(vec![2, 3])).unwrap();
    ///         let bytes: usize = sub.recv_many_ref(16).await.map(|f| f.0.len()).sum();
    ///         assert_eq!(bytes, 3);
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub async fn recv_many_ref(&mut self, limit: usize) -> Batch<'_, E> {
        if limit == 0 {
            return Batch::EMPTY;
        }
        let (id, depth) = (self.id, self.depth);
        let inner = &mut self.inner;
        if !std::future::poll_fn(|cx| inner.poll_pick_ready(cx, |env| Self::pick(id, depth, env)))
            .await
        {
            return Batch::EMPTY;
        }
        Batch::scoped(self.inner.take_ready_run(limit, |env| {
            matches!(Self::pick(id, depth, env), Pick::Take)
        }))
    }

    /// The run of ready events by reference, as [`recv_many_ref`](Self::recv_many_ref) but
    /// never waiting: a non-empty [`Batch`] (unless `limit` is 0), or why there is none.
    ///
    /// ```
    /// use tidings::{Scope, TryRecvError, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut sub = ctx::subscribe::<String>().unwrap();
    ///         assert_eq!(sub.try_recv_many_ref(8).unwrap_err(), TryRecvError::Empty);
    ///         ctx::send("a".to_string()).unwrap();
    ///         ctx::send("b".to_string()).unwrap();
    ///         let run = sub.try_recv_many_ref(8).unwrap();
    ///         assert_eq!(run.collect::<Vec<_>>(), ["a", "b"]);
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn try_recv_many_ref(&mut self, limit: usize) -> Result<Batch<'_, E>, TryRecvError> {
        if limit == 0 {
            return Ok(Batch::EMPTY);
        }
        let (id, depth) = (self.id, self.depth);
        self.inner
            .try_pick_ready(|env| Self::pick(id, depth, env))?;
        Ok(Batch::scoped(self.inner.take_ready_run(limit, |env| {
            matches!(Self::pick(id, depth, env), Pick::Take)
        })))
    }

    /// What a by-reference read does with an envelope (as `take` for the cloning reads).
    fn pick(id: u64, depth: usize, envelope: &Envelope<E>) -> Pick {
        match Self::take(id, depth, envelope, |_| ()) {
            Some(Taken::Event(())) => Pick::Take,
            Some(Taken::End) => Pick::End,
            None => Pick::Skip,
        }
    }

    fn event(envelope: &Envelope<E>) -> &E {
        match envelope {
            Envelope::Event { event, .. } => event,
            Envelope::End(_) => unreachable!("`pick` takes events only"),
        }
    }
}

/// Blocking receives, for plain threads (see [`Subscription::recv_blocking`]).
#[cfg(not(tidings_loom))]
impl<E: Clone + Send + Sync + 'static> ScopedSubscription<E> {
    /// Receives the next event, blocking the thread until one is ready; `None` once ended.
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut sub = ctx::subscribe::<u8>().unwrap();
    ///         ctx::send(4u8).unwrap();
    ///         assert_eq!(sub.recv_blocking(), Some(4));
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn recv_blocking(&mut self) -> Option<E> {
        self.pick_until(None).ok()
    }

    /// Receives the next event, blocking the thread for at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if no event came in time, [`RecvTimeoutError::Closed`] once
    /// the subscription has ended.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidings::{RecvTimeoutError, Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut sub = ctx::subscribe::<u8>().unwrap();
    ///         let wait = Duration::from_millis(5);
    ///         assert_eq!(sub.recv_timeout(wait), Err(RecvTimeoutError::Timeout));
    ///         ctx::send(4u8).unwrap();
    ///         assert_eq!(sub.recv_timeout(wait), Ok(4));
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn recv_timeout(&mut self, timeout: std::time::Duration) -> Result<E, RecvTimeoutError> {
        // Beyond what an `Instant` can hold: no deadline at all.
        self.pick_until(std::time::Instant::now().checked_add(timeout))
    }

    /// Receives the next event, blocking the thread until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Self::recv_timeout).
    ///
    /// ```
    /// use std::time::Instant;
    /// use tidings::{RecvTimeoutError, Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut sub = ctx::subscribe::<u8>().unwrap();
    ///         ctx::send(4u8).unwrap();
    ///         assert_eq!(sub.recv_deadline(Instant::now()), Ok(4));
    ///         assert_eq!(sub.recv_deadline(Instant::now()), Err(RecvTimeoutError::Timeout));
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn recv_deadline(&mut self, deadline: std::time::Instant) -> Result<E, RecvTimeoutError> {
        self.pick_until(Some(deadline))
    }

    fn pick_until(&mut self, deadline: Option<std::time::Instant>) -> Result<E, RecvTimeoutError> {
        let (id, depth) = (self.id, self.depth);
        match self
            .inner
            .pick_until(deadline, |env| Self::take(id, depth, env, E::clone))
        {
            Ok(Taken::Event(event)) => Ok(event),
            Ok(Taken::End) | Err(RecvTimeoutError::Closed) => {
                // Ended: give the backlog of other scopes' events back at once.
                self.inner = Subscription::closed();
                Err(RecvTimeoutError::Closed)
            }
            Err(RecvTimeoutError::Timeout) => Err(RecvTimeoutError::Timeout),
        }
    }
}

/// Batch reads, as [`Subscription::recv_many`] and its siblings: the same conventions (at least
/// one event, at most `limit`; 0 only once ended and drained, or for a `limit` of 0), built on
/// the single reads, so other scopes' events are skipped exactly as they are.
impl<E: Clone + Send + Sync + 'static> ScopedSubscription<E> {
    /// Waits for at least one event, then appends up to `limit` ready ones to `buf`; returns how
    /// many. 0 only once the subscription has ended and is drained (or if `limit` is 0).
    /// Cancel-safe: dropped before it completes, it has consumed nothing.
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut sub = ctx::subscribe::<u8>().unwrap();
    ///         for i in 1..=3u8 {
    ///             ctx::send(i).unwrap();
    ///         }
    ///         let mut buf = Vec::new();
    ///         assert_eq!(sub.recv_many(&mut buf, 2).await, 2);
    ///         assert_eq!(sub.recv_many(&mut buf, 2).await, 1);
    ///         assert_eq!(buf, [1, 2, 3]);
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub async fn recv_many(&mut self, buf: &mut Vec<E>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        match self.recv().await {
            Some(first) => {
                buf.push(first);
                1 + self.take_ready(buf, limit - 1)
            }
            None => 0,
        }
    }

    /// Appends every event ready now, up to `limit`, to `buf`; never waits. `Ok(n)` with
    /// `n >= 1` (`Ok(0)` only for a `limit` of 0), else [`TryRecvError::Empty`] or, once ended
    /// and drained, [`TryRecvError::Closed`].
    ///
    /// ```
    /// use tidings::{Scope, TryRecvError, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut sub = ctx::subscribe::<u8>().unwrap();
    ///         let mut buf = Vec::new();
    ///         assert_eq!(sub.try_recv_many(&mut buf, 8), Err(TryRecvError::Empty));
    ///         ctx::send(7u8).unwrap();
    ///         assert_eq!(sub.try_recv_many(&mut buf, 8), Ok(1));
    ///         assert_eq!(buf, [7]);
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    pub fn try_recv_many(&mut self, buf: &mut Vec<E>, limit: usize) -> Result<usize, TryRecvError> {
        if limit == 0 {
            return Ok(0);
        }
        let first = self.try_recv()?;
        buf.push(first);
        Ok(1 + self.take_ready(buf, limit - 1))
    }

    /// As [`recv_many`](Self::recv_many), blocking the thread; for code outside any async
    /// runtime. Returns 0 only once ended and drained (or for a `limit` of 0).
    ///
    /// ```
    /// use tidings::{Scope, ctx};
    ///
    /// # futures::executor::block_on(async {
    /// Scope::new("app")
    ///     .run(async {
    ///         let mut sub = ctx::subscribe::<u8>().unwrap();
    ///         ctx::send(1u8).unwrap();
    ///         ctx::send(2u8).unwrap();
    ///         let mut buf = Vec::new();
    ///         assert_eq!(sub.recv_many_blocking(&mut buf, 8), 2);
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    #[cfg(not(tidings_loom))]
    pub fn recv_many_blocking(&mut self, buf: &mut Vec<E>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        match self.recv_blocking() {
            Some(first) => {
                buf.push(first);
                1 + self.take_ready(buf, limit - 1)
            }
            None => 0,
        }
    }

    /// Takes up to `limit` events that are ready now; stops at the first `Empty` or `Closed`
    /// (a `Closed` is seen again by the next call).
    fn take_ready(&mut self, buf: &mut Vec<E>, limit: usize) -> usize {
        let mut n = 0;
        while n < limit {
            match self.try_recv() {
                Ok(event) => {
                    buf.push(event);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        n
    }
}

impl<E: Clone + Send + Sync + 'static> Stream for ScopedSubscription<E> {
    type Item = E;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<E>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<E: Clone + Send + Sync + 'static> FusedStream for ScopedSubscription<E> {
    fn is_terminated(&self) -> bool {
        ScopedSubscription::is_terminated(self)
    }
}

impl<E: Send + Sync + 'static> fmt::Debug for ScopedSubscription<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedSubscription")
            .field("event", &std::any::type_name::<E>())
            .field("scope", &self.id)
            .field("ended", &self.inner.is_terminated())
            .finish()
    }
}
