//! Parking and waking: a lock-free stack of parked subscriptions, taken whole by the waker.
//! Its place in the whole protocol, with the table of orderings: [`crate::docs::protocol`].
//!
//! A subscription that finds no event pushes its [`WaitNode`] (once; a node already on the
//! stack stays there), issues a `SeqCst` fence, and then looks again: first at its slot, then at
//! the topic's claim counter (`Topic::claimed_past`). A sender claims its index with a `SeqCst`
//! read-modify-write, publishes its event, and then loads the stack head with a `SeqCst` load;
//! only if the stack is non-empty does it take it all (`swap` to null) and wake every node.
//!
//! No lost wake-up: if the subscription's load of the claim counter does not see a sender's
//! claim, that load precedes the claim in the SC total order `S`, so the subscription's fence
//! precedes the sender's head load in `S`, and an SC load that follows an SC fence in `S` sees
//! every write made before the fence (C++20 [atomics.order] p4), the push among them. If the
//! load does see a claim for the subscription's index whose event is not readable yet, the
//! subscription does not sleep: it wakes itself and looks again (the sender is between its claim
//! and its write). So the sender needs no fence of its own (one after every publish was
//! costly: `benches/README.md`).
//!
//! Taking the whole stack with one `swap` is free of ABA (only a single-node pop would suffer
//! it); a push that raced with the take links onto whatever head it saw and is still correct.
//! A sender with nobody parked pays one load of `head`: no syscall, no wake.
//!
//! # Leaving while parked
//!
//! A subscription dropped while its node is queued cannot unlink it from the middle of the
//! stack (only whole-stack takes are free of ABA), so it hands the node over: it takes its
//! waker out at once (a finished task is not kept alive through it), marks the node `GONE` and
//! counts it in `gone`. Whoever next takes the stack frees a gone node without waking it. A
//! take comes with the next send or close, or, so that gone nodes cannot pile up on a type that
//! has stopped sending (the request-with-timeout pattern), from the leaving subscription
//! itself once more than `limit` gone nodes are queued: it takes the stack like a sender and
//! wakes the live nodes on it (a spurious wake-up for them; they look, find nothing and park
//! again). A take cannot put live nodes back instead: a sender that claimed its index before
//! the take and looks at `head` during it would find it empty and wake nobody. With `limit`
//! at least the number of subscriptions, that costs at most one spurious wake-up per gone
//! node, and at most `limit` gone nodes are ever queued.

use std::ptr;

use crate::stats::UserPanics;
use crate::sync::{
    Arc, AtomicPtr, AtomicUsize, AtomicWaker, Ordering, load_seqcst, loom_check, push_front,
};

/// `WaitNode::state` bit: the node is on the stack, or held by a taker that has not read its
/// `next` yet.
const QUEUED: usize = 1;
/// `WaitNode::state` bit: the owning subscription is gone; the node is never woken again.
const GONE: usize = 2;

/// One subscription's parking place.
pub(crate) struct WaitNode {
    /// The task or thread to wake.
    pub(crate) waker: AtomicWaker,
    /// [`QUEUED`]: set from the owner's push until the thread that took the stack has read
    /// `next`. Only the owner sets it (`fetch_or`, so it pushes at most once); only the taker
    /// clears it (`fetch_and`; both read-modify-writes, so that the two synchronise both ways,
    /// see `wake_all`). [`GONE`]: set once, by the owner as it leaves (`forget`); never
    /// cleared. Whether the taker's clear or the owner's `GONE` came first in this one
    /// variable's order decides who uncounts the node from `WaitList::gone`.
    state: AtomicUsize,
    /// The node below this one. Written by the owner while `queued` is set and before the push
    /// publishes the node; read by the taker after its `swap` acquired the stack.
    next: AtomicPtr<WaitNode>,
}

impl WaitNode {
    pub(crate) fn new() -> Self {
        loom_check::wait_node_made();
        Self {
            waker: AtomicWaker::new(),
            state: AtomicUsize::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

impl Drop for WaitNode {
    fn drop(&mut self) {
        loom_check::wait_node_freed();
    }
}

impl std::fmt::Debug for WaitNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Relaxed: a snapshot for display.
        f.debug_struct("WaitNode")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Stack of parked subscriptions. Every node on it is owned by the stack as one `Arc` strong
/// reference (made by `Arc::into_raw` in `push`, given back by `Arc::from_raw` in `wake_all` or
/// `drop`), so a subscription may be dropped while its node is queued.
pub(crate) struct WaitList {
    head: AtomicPtr<WaitNode>,
    /// Gone nodes on the stack (or held by a taker that has not looked at them yet). Raised by
    /// the leaving owner before it sets `GONE`, lowered by the taker that frees such a node, or
    /// by the owner if its node was not queued after all (see `forget`).
    gone: AtomicUsize,
}

impl WaitList {
    pub(crate) fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
            gone: AtomicUsize::new(0),
        }
    }

    /// Puts `node` on the stack unless it is there already. The caller must then issue
    /// `fence(SeqCst)` and look for its event again, and at the claim counter, before it sleeps.
    pub(crate) fn push(&self, node: &Arc<WaitNode>) {
        // AcqRel. Acquire: pairs with the Release swap in `wake_all`, so the taker's read of
        // `next` happens before this push overwrites it. Release: when the flag is still set
        // (a taker holds the node but has not cleared it yet) and this push is skipped, the
        // taker's AcqRel swap reads this write, so the waker registered before it is the one
        // the taker wakes.
        if node.state.fetch_or(QUEUED, Ordering::AcqRel) & QUEUED != 0 {
            return;
        }
        let raw = Arc::into_raw(Arc::clone(node)) as *mut WaitNode;
        push_front(
            &self.head,
            raw,
            // Relaxed: published by the Release of the push's compare-and-swap.
            |top| node.next.store(top, Ordering::Relaxed),
            // Release: pairs with the Acquire swap in `wake_all`, publishing `next`.
            Ordering::Release,
        );
    }

    /// Whether any node may be parked. The caller must have made an SC read-modify-write (the
    /// claim) before publishing the event it is waking for (see the module docs).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        // SeqCst: pairs with the subscription's fence after its push (module docs).
        load_seqcst(&self.head).is_null()
    }

    /// Takes every parked node and wakes it. A waker that panics is contained (counted in
    /// `user_panics`): the nodes after it are still woken and released, and the panic does not
    /// come out of the `send` or `close` that woke it.
    pub(crate) fn wake_all(&self, user_panics: &UserPanics) {
        // Acquire: pairs with the Release compare-and-swap in `push`.
        let mut cur = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        while !cur.is_null() {
            // SAFETY: every pointer on the stack came from `Arc::into_raw` in `push`, and the
            // swap above made this thread its only owner.
            let node = unsafe { Arc::from_raw(cur) };
            cur = node.next.load(Ordering::Relaxed);
            // A read-modify-write, not a store, and AcqRel: Release pairs with the Acquire in
            // `push` (`next` was read above); Acquire reads a skipped push's Release, so the
            // wake below sees the waker registered before it (the `wake_up_twice` loom model),
            // and reads `forget`'s Release, so the `gone` count it lowers was raised first.
            let state = node.state.fetch_and(!QUEUED, Ordering::AcqRel);
            if state & GONE != 0 {
                // Its owner left while it was queued and counted it: free it, wake nobody.
                // Relaxed: a count; the Acquire above ordered it after the owner's increment.
                self.gone.fetch_sub(1, Ordering::Relaxed);
            } else {
                user_panics.contain("waker", || node.waker.wake());
            }
        }
    }
}

impl WaitList {
    /// Called by a subscription as it leaves, with its node: makes the node's waker free at
    /// once and the node itself freeable by the next take (module docs). If more than `limit`
    /// gone nodes are then queued, takes the stack itself and wakes the live nodes on it.
    pub(crate) fn forget(&self, node: Arc<WaitNode>, limit: usize, user_panics: &UserPanics) {
        // The owner's own waker, but this may run far from the task that registered it (a
        // subscription dropped by another task): contained like any other.
        user_panics.contain("waker", || drop(node.waker.take()));
        // Counted before `GONE` is set, so a taker that sees `GONE` and lowers the count lowers
        // it after this (its Acquire reads the Release below). Relaxed: see `wake_all`.
        let gone = self.gone.fetch_add(1, Ordering::Relaxed) + 1;
        // AcqRel: Release publishes the increment above to the taker that clears `QUEUED`;
        // Acquire, so that if that taker came first, its read of `next` happened before this
        // thread drops what may be the last reference to the node.
        if node.state.fetch_or(GONE, Ordering::AcqRel) & QUEUED == 0 {
            // Not queued (never pushed, or already taken and not pushed again): nobody will
            // look at it, undo the count.
            self.gone.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        drop(node);
        if gone > limit {
            self.wake_all(user_panics);
        }
    }

    /// Gone nodes still queued (tests and loom models).
    #[cfg(any(test, tidings_loom))]
    pub(crate) fn gone(&self) -> usize {
        self.gone.load(Ordering::Relaxed)
    }
}

impl Drop for WaitList {
    fn drop(&mut self) {
        let mut cur = self.head.load(Ordering::Relaxed);
        let mut gone = 0;
        while !cur.is_null() {
            // SAFETY: as in `wake_all`; `&mut self` means nobody else is pushing or taking.
            let node = unsafe { Arc::from_raw(cur) };
            cur = node.next.load(Ordering::Relaxed);
            gone += usize::from(node.state.load(Ordering::Relaxed) & GONE != 0);
        }
        // The `gone` count is exact once nobody else touches the list: a drifting count would
        // make leaving subscriptions take the stack (and wake everyone) far too often, or never.
        debug_assert_eq!(
            gone,
            self.gone.load(Ordering::Relaxed),
            "gone nodes miscounted"
        );
    }
}

#[cfg(all(test, not(tidings_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;
    use std::task::{Wake, Waker};

    struct Count(StdAtomicUsize);

    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn node_with_counter() -> (Arc<WaitNode>, std::sync::Arc<Count>) {
        let count = std::sync::Arc::new(Count(StdAtomicUsize::new(0)));
        let node = Arc::new(WaitNode::new());
        node.waker.register(&Waker::from(count.clone()));
        (node, count)
    }

    #[test]
    fn a_node_is_queued_once_and_woken_once() {
        let list = WaitList::new();
        let (node, count) = node_with_counter();
        assert!(list.is_empty());
        list.push(&node);
        list.push(&node);
        assert!(!list.is_empty());
        assert_eq!(Arc::strong_count(&node), 2, "the stack holds one reference");
        list.wake_all(&UserPanics::new());
        assert!(list.is_empty());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&node), 1);
        // Re-queued after a wake.
        node.waker.register(&Waker::from(count.clone()));
        list.push(&node);
        list.wake_all(&UserPanics::new());
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn wake_all_wakes_every_node() {
        let list = WaitList::new();
        let nodes: Vec<_> = (0..5).map(|_| node_with_counter()).collect();
        for (n, _) in &nodes {
            list.push(n);
        }
        list.wake_all(&UserPanics::new());
        for (n, c) in &nodes {
            assert_eq!(c.0.load(Ordering::SeqCst), 1);
            assert_eq!(Arc::strong_count(n), 1);
        }
    }

    #[test]
    fn a_forgotten_node_lets_go_of_its_waker_at_once_and_is_freed_by_the_next_take() {
        let list = WaitList::new();
        let (node, count) = node_with_counter();
        let weak = Arc::downgrade(&node);
        list.push(&node);
        list.forget(node, usize::MAX, &UserPanics::new());
        assert_eq!(list.gone(), 1);
        assert_eq!(
            std::sync::Arc::strong_count(&count),
            1,
            "the waker was dropped"
        );
        assert!(weak.upgrade().is_some(), "still on the stack");
        list.wake_all(&UserPanics::new());
        assert_eq!(list.gone(), 0);
        assert!(weak.upgrade().is_none(), "freed by the take");
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "and not woken");
    }

    #[test]
    fn past_the_limit_a_forget_takes_the_stack_and_wakes_the_live_nodes() {
        let list = WaitList::new();
        let (live, live_count) = node_with_counter();
        let (gone, _) = node_with_counter();
        let weak = Arc::downgrade(&gone);
        list.push(&live);
        list.push(&gone);
        list.forget(gone, 0, &UserPanics::new());
        assert!(weak.upgrade().is_none(), "freed at once");
        assert!(list.is_empty());
        assert_eq!(list.gone(), 0);
        assert_eq!(live_count.0.load(Ordering::SeqCst), 1, "a spurious wake-up");
        assert_eq!(Arc::strong_count(&live), 1);
    }

    #[test]
    fn forgetting_a_node_that_is_not_queued_counts_nothing() {
        let list = WaitList::new();
        let (node, count) = node_with_counter();
        list.push(&node);
        list.wake_all(&UserPanics::new());
        list.forget(node, usize::MAX, &UserPanics::new());
        assert_eq!(list.gone(), 0);
        assert!(list.is_empty());
        assert_eq!(std::sync::Arc::strong_count(&count), 1);
    }

    #[test]
    fn dropping_the_list_releases_queued_nodes() {
        let (node, count) = node_with_counter();
        let list = WaitList::new();
        list.push(&node);
        drop(list);
        assert_eq!(Arc::strong_count(&node), 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }
}
