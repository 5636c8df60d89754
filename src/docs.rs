//! Design notes: how the bus works inside, and why it is correct. Documentation only.
//!
//! # The parts
//!
//! | part | file | shared state |
//! | --- | --- | --- |
//! | registry | `bus.rs` | `ArcSwap<HashMap<TypeId, Arc<Topic>>>`, 64 bucket counters, `closed` |
//! | send cache | `send_cache.rs` | per thread: (bus id, `TypeId`, registry generation) -> topic |
//! | topic | `topic.rs` | `tail_index` (claims + `CLOSED` bit), `tail_seg`, `subscribers`, `closed_at` |
//! | segments | `segment.rs` | per segment: `refs`, `next`, 64 slots of (`ready`, value) |
//! | cursor | `subscription.rs` | none: a segment reference and an offset, owned by one reader |
//! | parking | `notify.rs` | a Treiber stack of wait nodes, taken whole by a waker |
//!
//! # Linearisation points
//!
//! - A **send** takes effect at its `fetch_add` on `tail_index` (SeqCst). The returned index is
//!   its place in the type's total order; a result with the `CLOSED` bit means it failed.
//! - A **subscribe** takes effect at its load of `tail_index` (SeqCst), made after its subscriber
//!   count and its topic's bucket count are visible (SeqCst increments; the bucket counts live
//!   topics, so joining a live topic finds it counted already). Sends that claim later are its
//!   events; sends that claimed earlier are not.
//! - A **close** takes effect at its `fetch_or(CLOSED)` on each topic's `tail_index`. The value
//!   it returns is the number of events every subscription still gets (`closed_at`).
//!
//! Because claims are totally ordered by one atomic, every subscription reads the same
//! sequence, and a send that happens-before another claims the smaller index.
//!
//! # Why a reader never waits forever on a claimed slot
//!
//! A sender writes its slot right after claiming it, inside the same pinned section. Between
//! the two it only walks to its segment, installing it if missing; that allocation can only
//! abort the process, and nothing on the way can panic.
//! So a reader that finds slot `i` not ready, with `i < closed_at` or the topic open, either
//! gets the event shortly or parks and is woken by that sender.
//!
//! # Memory reclamation
//!
//! Two mechanisms, each for the readers it can see:
//!
//! 1. **Reference counts** track the readers tidings knows about: cursors and structure. A
//!    segment counts one reference for the link from its live predecessor, one while it is the
//!    topic's tail, and one per cursor in it. A count never rises from zero: increments either
//!    derive from a reference the caller holds (`acquire`) or are conditional (`try_acquire`).
//!    At zero the segment is dead and its link reference on its successor is dropped, in a loop.
//! 2. **crossbeam-epoch** covers the readers tidings cannot count: senders, which load
//!    `tail_seg` and walk forward without taking references. Dead segments are handed to the
//!    epoch (one deferred function per dead chain) and freed after every thread pinned at their
//!    death has unpinned.
//!
//! A caught-up subscription that has killed four or more segments since it last did so flushes
//! them to the epoch too, so an idle bus does not keep them in a thread's bag.
//!
//! Replaced registries are retired into the epoch as well, after the bus's registry generation
//! has been raised past them: a send that found its topic in the per-thread send cache is
//! pinned, so the topic it uses lives until it unpins (`send_cache` module docs).
//!
//! Dropping a subscription that is far behind kills its whole backlog in one cascade; chains
//! of four or more segments are flushed to the epoch's global queue at once, so their memory
//! comes back during the drop unless another thread is pinned at that moment.
//!
//! # Orderings
//!
//! | where | ordering | pairs with | so that |
//! | --- | --- | --- | --- |
//! | slot `ready` store / load | Release / Acquire | each other | a reader sees the value |
//! | `tail_index` claim, subscribe load, close | SeqCst | each other, `subscribers`, bucket counts | one total order; registration on return |
//! | `tail_seg` store / load | Release (CAS) / Acquire | each other | a sender's claim is never before its start segment |
//! | `next` install / load | AcqRel (CAS) / Acquire | each other | the new segment's fields are visible |
//! | `refs` decrement | AcqRel | other decrements | the last owner sees all reads done, as `Arc` |
//! | registry swap: raise `generation`; send: pin, load it | SeqCst (`fetch_max` / load) | each other, the pin's fence | a cached topic is used only while its registry is not yet retired |
//! | send: claim (SeqCst RMW), publish, load stack head (SeqCst) | SeqCst claim and load | the parker's fence | no lost wake-up: a parker that misses the claim is seen by the load |
//! | park: push node, `fence(SeqCst)`, look at the slot, then at the claim counter | SeqCst fence and load | the sender's claim and load | as above; a claimed but unwritten index makes it look again, not sleep |
//! | close: store `closed_at`, `fence(SeqCst)`, take stack | SeqCst fence | the parker's fence | a parked receive ends |
//! | wait node `QUEUED` set / clear | AcqRel `fetch_or` / AcqRel `fetch_and` | each other | a skipped re-push still gets the wake |
//! | wait node `GONE` set (leaving owner) / `QUEUED` clear (taker) | AcqRel / AcqRel | each other | exactly one of them uncounts the gone node, after it was counted |
//!
//! The loom models in `loom-tests/` (run `loom-tests/run.sh`) check these protocols with
//! loom's atomics, cells and `Arc`, lock-based stand-ins for arc-swap and `AtomicWaker`, and a
//! loom-visible epoch stand-in that frees as early as the epoch contract allows (the
//! reclamation model also runs on crossbeam-epoch's own loom build). Every segment is
//! registered under loom, so the models fail on a use after free, a double free or a leak.
//! Each model names the bug it catches; `scripts/miri.sh` and `scripts/tsan.sh` /
//! `scripts/asan.sh` cover what loom cannot (aliasing, the real crossbeam-epoch and
//! arc-swap, larger runs).
//!
//! # Limits, by design
//!
//! - Unbounded: a subscription that never reads keeps every event sent after it subscribed.
//!   This is Haiway's promise ("nothing is lost"); drop a subscription you no longer read.
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
//!   the parked subscriptions on it spuriously (`notify` module docs).
//! - `stats()` lists types that have a topic. A send of a type with no subscription stores
//!   nothing, not even a counter; its caller learns it from the returned error.
