//! The core protocol: one event type's stream (a *topic*) as a counter of claimed indices and
//! an append-only list of segments, read by cursors that own counted references.
//!
//! # Sending
//!
//! 1. Pin the epoch and load `tail_seg` (Acquire).
//! 2. Claim a global index with `tail_index.fetch_add(1)`. The index *is* the event's place in
//!    the type's one total order; a claim that sees the `CLOSED` bit fails instead. A batch
//!    (`send_all`) claims its whole run with one `fetch_add(n)`, so it is contiguous in the
//!    order and all or nothing against `close`, and then writes the run, crossing segments.
//! 3. Walk forward from the loaded segment to the one holding the index, installing missing
//!    successors by compare-and-swap (the loser frees its unpublished segment).
//! 4. Write the slot, set its `ready` flag, move `tail_seg` forward if it lags.
//! 5. Load the wait list's head (SeqCst, no fence: see *Parking* below), and wake parked
//!    subscriptions only if any are parked.
//!
//! Step 3 relies on `tail_seg.start <= index`: `tail_seg` is only ever moved to a segment by a
//! sender that has claimed an index in it, and it is loaded before the claim, so the claim is
//! later in `tail_index`'s modification order than that sender's.
//!
//! Before all this a send finds its topic: the registry's bucket filter answers "nobody
//! listens" with one load; the per-thread send cache answers with one load of the registry's
//! generation; only on a miss does it load the type's registry shard (`registry.rs` and
//! `send_cache.rs` give the argument for using a cached topic).
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
//!    Each counted reference is a `SegmentRef`, whose `release` consumes it: a reference is
//!    given back once, by the type system, and only `segment.rs` touches the count.
//!    At zero the segment is dead and its link reference on its successor is dropped, in a loop.
//! 2. **crossbeam-epoch** covers the readers tidings cannot count: senders, which load
//!    `tail_seg` and walk forward without taking references. Dead segments are handed to the
//!    epoch (one deferred function per dead chain) and freed after every thread pinned at their
//!    death has unpinned.
//!
//! A caught-up subscription that has killed four or more segments since it last did so flushes
//! them to the epoch too, so an idle bus does not keep them in a thread's bag.
//!
//! Replaced registry shards are retired into the epoch as well, after the bus's registry
//! generation has been raised past them, and so is the registry's one reference on a topic
//! that a swap took out of its shard: a send that found its topic in the per-thread send cache
//! or in a shard is pinned, so the topic it uses lives until it unpins (`registry` and
//! `send_cache` module docs).
//!
//! Dropping a subscription that is far behind kills its whole backlog in one cascade; chains
//! of four or more segments are flushed to the epoch's global queue at once, so their memory
//! comes back during the drop unless another thread is pinned at that moment.
//!
//! # Parking
//!
//! A subscription that finds no event pushes its wait node on the topic's wait list (a
//! lock-free stack; a node already on it stays), issues a `SeqCst` fence, and looks again:
//! first at its slot, then at the claim counter. A sender loads the stack head with one
//! `SeqCst` load after publishing and takes the whole stack (`swap` to null) only if it is not
//! empty. If the subscription's look misses a sender's claim, its fence precedes that sender's
//! head load in the SC order, so the load sees the push (C++20 [atomics.order] p4): no wake-up
//! is lost and the sender needs no fence. A claimed but unwritten index makes the subscription
//! wake itself and look again rather than sleep. Taking the whole stack is free of ABA. A
//! subscription that leaves while parked cannot unlink its node, so it marks it gone for the
//! next taker (`wait_list.rs` has the details and the bound on gone nodes).
//!
//! A task subscription that has just received a burst yields once (wakes its own task) before it
//! parks (its sender is evidently running); one fed an event at a time parks at once. A poll's
//! own waker, like every other, is called inside a containment: a panic in it is counted, and a
//! yield whose waker panicked parks instead. A thread
//! receiver looks again under crossbeam-utils' `Backoff` before it parks, as
//! crossbeam-channel's do.
//!
//! # Bounded topics
//!
//! A topic made for a type with a bound takes another send path: a bit in its subscriber count's
//! word, so the compare that rejects a topic with no subscriber sends it there, and the unbounded
//! send reads no policy. What the bounds' hooks cost unbounded topics is measured in the README.
//!
//! - **Backpressure** (capacity `c`): every subscription publishes its read position; a sender
//!   claims index `i` by compare-and-swap only if `i < min(position) + c`, exact per event. The
//!   minimum is cached as a lower bound, so a sender scans the positions only when the topic
//!   may be full. A sender that finds it full parks on the topic's sender list with the same
//!   Dekker pattern as above, roles swapped: a subscription stores its new position and then
//!   loads that list's head, both SeqCst. A dropped subscription and `close` wake every parked
//!   sender.
//! - **DropOldest** (capacity `c`): `head` holds a reference on the oldest retained segment.
//!   After writing index `i` a sender moves `head` past every segment whose events are all
//!   older than the newest `c`, never past `tail_seg`; the segment it leaves is marked *cut*,
//!   so its death does not cascade forward. A lagging subscription keeps only its own segment
//!   alive, and crosses a segment boundary by first loading `head` under a pin: if `head` has
//!   passed it, it was overtaken, jumps to `head` and counts what it skipped as missed.
//!   Retained, with no send in flight: at most `ceil((c - 1) / 64) + 1` segments from `head`,
//!   plus one per overtaken subscription (`topic.rs` has the argument).
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
//! | Backpressure: a reader stores its position, then loads the parked senders' head / a full sender pushes itself, `fence(SeqCst)`, scans the positions | SeqCst | each other | a sender parked on a full topic is woken by the read that makes room |
//! | Backpressure `gate`, the cached minimum position | Relaxed `fetch_max` | none | it is only a lower bound of the live positions; a claim past it rescans |
//!
//! The loom models in `loom-tests/` (run `scripts/loom.sh`) check these protocols with
//! loom's atomics, cells and `Arc`, lock-based stand-ins for arc-swap and `AtomicWaker`, and a
//! loom-visible epoch stand-in that frees as early as the epoch contract allows (the
//! reclamation model also runs on crossbeam-epoch's own loom build). Every segment is
//! registered under loom, so the models fail on a use after free, a double free or a leak.
//! Each model names the bug it catches; `scripts/miri.sh` and `scripts/tsan.sh` /
//! `scripts/asan.sh` cover what loom cannot (aliasing, the real crossbeam-epoch and
//! arc-swap, larger runs).
