//! What the design leaves out on purpose, and what that costs.
//!
//! # The core
//!
//! - Unbounded by default: a subscription that never reads keeps every event sent after it
//!   subscribed. This is Haiway's promise ("nothing is lost"); drop a subscription you no
//!   longer read, or give the type a bound (`Overflow::Backpressure` waits, `DropOldest`
//!   skips the laggard ahead and counts what it missed).
//! - A reader that panics in `E::clone` has consumed nothing; it will clone the same event
//!   again on its next call.
//! - Dead segments are freed by whichever thread next collects the epoch, which can be a
//!   sender: a large backlog can cost that sender the time to drop its events. A panicking
//!   `E::drop` there is caught (one `catch_unwind` per segment, resumed at the next slot),
//!   counted in `Stats::user_panics` of the event's bus (the deferred function carries the
//!   bus's counter) and never unwinds into that sender.
//! - A waker that panics when a send or close wakes it is caught and counted the same way;
//!   the rest of the wait list is still woken.
//! - A subscription dropped while parked cannot unlink its node from the middle of the
//!   lock-free stack; it drops its waker, marks the node gone, and the next take frees it. Past
//!   `max(32, subscribers)` gone nodes the leaving subscription takes the stack itself, waking
//!   the parked subscriptions on it spuriously (`wait_list.rs`).
//! - `stats()` lists types that have a topic. A send of a type with no subscription stores
//!   nothing, not even a counter; its caller learns it from the returned error.
//!
//! # Scopes
//!
//! - Events nobody in scope can receive are stored. The bus stores an event when its type has
//!   any live subscription; it does not check, per send, whether one sits in the sending scope
//!   or an ancestor. With only a child-scope subscription of a type, root sends of it stay in
//!   their segments until that subscription reads past them (skipping them without cloning) or
//!   ends. Checking would put a lookup on every scoped send; the README's "Scopes" section has
//!   the measured memory.
//! - A body that iterates a subscription of its own scope to the end never returns: the end
//!   comes only when the body returns (Haiway has the same deadlock). It is documented on
//!   `ctx`, not detected: the body may be waiting on other things at the same time.
//! - Background tasks belong to one process-wide set, which `ctx::shutdown_background` cancels
//!   as a whole.
//!
//! # The bridge
//!
//! - Core subjects are at most once: what is published while the server is unreachable or no
//!   importer is subscribed is lost.
//! - JetStream is at least once, to the handler: duplicates are possible after a kill, a nak or
//!   an expired ack wait, and retries can reorder events around an outage.
//! - Two bridges on one bus do not know of each other's imports; use one bridge per bus.
