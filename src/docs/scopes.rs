//! The scope layer: Haiway's context (scopes, ambient `ctx::*` calls, structured tasks, scoped
//! state and delivery) built on the core's public API. It adds no atomics to the bus; its only
//! `unsafe` is the thread-local pointer to the current frame (`scope/current.rs`).
//!
//! # The frame travels with the future
//!
//! A scope's *frame* (the scope's node in its bus's scope tree, its state map, its task set, its
//! cancellation flag) is owned by the future that runs in it: a scope's `run`, a spawned task,
//! `ctx::updating`, a snapshot's `run`. Around each poll that future moves the frame into a
//! thread-local and takes it back afterwards, also when the poll unwinds, as
//! `tracing::Instrument` does with spans. So a future that migrates between worker threads finds
//! its scope wherever it is polled, and nothing is left on a thread between polls. `ctx::send`
//! reads the frame with one thread-local load. Outside any frame every `ctx` call that needs a
//! scope returns `ContextMissing`.
//!
//! # Scoped delivery over one bus
//!
//! A root scope (or an isolated one) owns a `Bus`; its nested scopes share it. A scoped event
//! of type `E` travels on that bus as a private `Envelope<E>`, so plain `Bus` subscriptions never
//! see scope traffic and scope subscriptions never see plain sends. The envelope adds the
//! origin scope in two words: nothing more for the root, one id inline for a child of the root,
//! an `Arc` of the whole path deeper down (one atomic increment per send).
//!
//! Each scope stores its *path*: the process-unique ids of its ancestors within its bus, root
//! first, so `path[depth] == id`. Scope S is an ancestor-or-self of origin O exactly when
//! `O.path.len() > S.depth && O.path[S.depth] == S.id`: one bounds check and one comparison,
//! whatever the depth. A subscription made in S takes an event if it is a broadcast or S is an
//! ancestor-or-self of its origin; it skips every other event without cloning it (the core's
//! `poll_pick`). The order of what it takes is the type's total order.
//!
//! # Ending a scope's subscriptions
//!
//! When S begins to close (its body returned, failed or was cancelled) it sends an `End`
//! marker for S into each event type subscribed in S. The type's total order puts the marker
//! after every event sent before it, so each of S's subscriptions yields those events and then
//! ends; every other subscription skips the marker. A subscription made after S began to close
//! ends at once. A root or isolated scope closes its bus last, after its tasks and resources.
//!
//! # Driving tasks and closing
//!
//! A scope's `run` future is its driver: on its first poll it opens the scope's resources in
//! order; then each poll enters the frame, polls the body, and polls the spawned tasks that
//! were woken, kept in a `FuturesUnordered` inside the driver, so tasks need no executor of
//! their own (with `Scope::on_tokio` they are tokio tasks instead). Each task is wrapped so
//! that it enters its frame around every poll, catches panics, reports to its `JoinHandle`
//! and to the scope, and checks its cancellation flag. The first failure cancels the rest;
//! `run` returns once the task count is zero and the resources are closed, last opened first.
//! `scope/run.rs` lists the steps of a scope's life.
//!
//! # Costs
//!
//! Measured in instructions (callgrind, `scripts/scope_overhead.sh`): a scoped send and
//! receive costs about 16% more than the bare bus's in a root scope and 32% more two levels
//! below it, where the path is shared through an `Arc`. The README's "Scopes" section has the
//! figures, and the cost of storing root events that only a child scope subscribes to (a
//! choice explained in [`limitations`](super::limitations)).
