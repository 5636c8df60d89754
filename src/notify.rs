//! Parking and waking: a lock-free stack of parked subscriptions, taken whole by the waker.
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
//! and its write). So the sender needs no fence of its own: it used to issue one after every
//! publish, which on x86 waits for the event's store to reach a cache line that the
//! subscriptions keep reading, and cost a third of W2's throughput.
//!
//! Taking the whole stack with one `swap` is free of ABA (only a single-node pop would suffer
//! it); a push that raced with the take links onto whatever head it saw and is still correct.
//! A sender with nobody parked pays one load of `head`: no syscall, no wake.

use std::ptr;

use crate::stats::UserPanics;
use crate::sync::{Arc, AtomicBool, AtomicPtr, AtomicWaker, Ordering, load_seqcst};

/// One subscription's parking place.
pub(crate) struct WaitNode {
    /// The task or thread to wake.
    pub(crate) waker: AtomicWaker,
    /// `true` from the owner's push until the thread that took the stack has read `next`.
    /// Only the owner sets it (`swap`, so it pushes at most once); only the taker clears it
    /// (also with `swap`, so that the two synchronise both ways, see `wake_all`).
    queued: AtomicBool,
    /// The node below this one. Written by the owner while `queued` is set and before the push
    /// publishes the node; read by the taker after its `swap` acquired the stack.
    next: AtomicPtr<WaitNode>,
}

impl WaitNode {
    pub(crate) fn new() -> Self {
        Self {
            waker: AtomicWaker::new(),
            queued: AtomicBool::new(false),
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

impl std::fmt::Debug for WaitNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Relaxed: a snapshot for display.
        f.debug_struct("WaitNode")
            .field("queued", &self.queued.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Stack of parked subscriptions. Every node on it is owned by the stack as one `Arc` strong
/// reference (made by `Arc::into_raw` in `push`, given back by `Arc::from_raw` in `wake_all` or
/// `drop`), so a subscription may be dropped while its node is queued.
pub(crate) struct WaitList {
    head: AtomicPtr<WaitNode>,
}

impl WaitList {
    pub(crate) fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
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
        if node.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let raw = Arc::into_raw(Arc::clone(node)) as *mut WaitNode;
        // Relaxed: only a first guess for the compare-and-swap, which checks it.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the Release of the compare-and-swap below.
            node.next.store(head, Ordering::Relaxed);
            // Release: pairs with the Acquire swap in `wake_all`, publishing `next`.
            match self
                .head
                .compare_exchange_weak(head, raw, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
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
            // A swap, not a store, and AcqRel: Release pairs with the Acquire swap in `push`
            // (`next` was read above); Acquire reads a skipped push's Release, so the wake
            // below sees the waker registered before it (the `wake_up_twice` loom model).
            node.queued.swap(false, Ordering::AcqRel);
            user_panics.contain("waker", || node.waker.wake());
        }
    }
}

impl Drop for WaitList {
    fn drop(&mut self) {
        let mut cur = self.head.load(Ordering::Relaxed);
        while !cur.is_null() {
            // SAFETY: as in `wake_all`; `&mut self` means nobody else is pushing or taking.
            let node = unsafe { Arc::from_raw(cur) };
            cur = node.next.load(Ordering::Relaxed);
        }
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
    fn dropping_the_list_releases_queued_nodes() {
        let (node, count) = node_with_counter();
        let list = WaitList::new();
        list.push(&node);
        drop(list);
        assert_eq!(Arc::strong_count(&node), 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }
}
