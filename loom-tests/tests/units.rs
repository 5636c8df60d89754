//! Unit-level loom models: the wait list and segment release alone, beside the whole-bus models
//! in `models.rs`. Each is smaller than any bus model that covers the same code, so it explores
//! every interleaving of just that protocol, and names the bug it catches. Run with
//! `scripts/loom.sh` (as the bus models).

use std::task::{Wake, Waker};

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering, fence};
use loom::thread;
use tidings::__loom::{SegRef, WaitList, WaitNode};

/// Counts its wake-ups.
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Waker, std::sync::Arc<Count>) {
    let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
    (Waker::from(count.clone()), count)
}

/// A parker pushes its node, issues a SeqCst fence and looks at a claim counter; a waker claims
/// (an SC read-modify-write) and then wakes the list only if it is not empty. The parker must
/// see the claim or be woken. Catches a sender that skips the wake because it read a stale
/// empty list: injected once by making `WaitList::is_empty` a Relaxed load of `head` (instead
/// of `load_seqcst`), this model failed with the parker neither seeing the claim nor woken.
#[test]
fn wait_list_push_vs_wake() {
    loom::model(|| {
        let list = Arc::new(WaitList::new());
        let claimed = Arc::new(AtomicUsize::new(0));
        let (waker, count) = counting_waker();
        let node = WaitNode::new();
        node.register(&waker);
        let (l, c) = (list.clone(), claimed.clone());
        let sender = thread::spawn(move || {
            c.fetch_add(1, Ordering::SeqCst);
            if !l.is_empty() {
                l.wake_all();
            }
        });
        list.push(&node);
        fence(Ordering::SeqCst);
        let saw_claim = claimed.load(Ordering::SeqCst) != 0;
        sender.join().unwrap();
        assert!(
            saw_claim || count.0.load(Ordering::SeqCst) == 1,
            "lost wake-up: the parker saw no claim and was not woken"
        );
        drop(node);
        drop(list);
        assert_eq!(tidings::__loom::live_wait_nodes(), 0, "a wait node leaked");
    });
}

/// A parked subscription leaves (`forget`) while a sender takes the list. Whichever comes
/// first, the node is freed exactly once, woken at most once, and the count
/// of gone nodes ends at zero (a drifting count makes leaving subscriptions take the list far
/// too often, or never). Catches a `forget` that does not undo its count when the taker came
/// first: injected once by deleting that `fetch_sub`, this model failed on the gone count.
#[test]
fn wait_list_forget_vs_take() {
    loom::model(|| {
        let list = Arc::new(WaitList::new());
        let (waker, count) = counting_waker();
        let node = WaitNode::new();
        node.register(&waker);
        list.push(&node);
        let l = list.clone();
        let taker = thread::spawn(move || l.wake_all());
        list.forget(node, usize::MAX);
        taker.join().unwrap();
        assert!(count.0.load(Ordering::SeqCst) <= 1, "woken twice");
        assert_eq!(list.gone(), 0, "gone nodes miscounted");
        drop(list);
        assert_eq!(tidings::__loom::live_wait_nodes(), 0, "a wait node leaked");
    });
}

/// Three references are given up at once: two cursors in the first of two linked segments and
/// one in the second. Each segment must die exactly once, on the last of its references (the
/// second's last being the link from the dead first), and be freed with its values. Catches a
/// count decremented by a load and a store instead of one read-modify-write: injected once in
/// `segment::release`, this model failed with a segment that never died (two releases read
/// the same count) or died twice.
#[test]
fn segment_release_cascade() {
    loom::model(|| {
        let first = SegRef::<u32>::alloc(0);
        let second = SegRef::<u32>::alloc(tidings::__loom::SEGMENT_CAP as u64);
        // SAFETY: fresh segments; each slot is written once, by this thread.
        unsafe {
            first.write(0, 1);
            second.write(0, 2);
        }
        let in_second = second.acquire();
        first.link(second);
        let also_in_first = first.acquire();
        let reader = thread::spawn(move || {
            assert_eq!(also_in_first.get(0), Some(&1));
            also_in_first.release()
        });
        let leaver = thread::spawn(move || {
            assert_eq!(in_second.get(0), Some(&2));
            in_second.release()
        });
        let dead = first.release() + reader.join().unwrap() + leaver.join().unwrap();
        assert_eq!(dead, 2, "each segment dies exactly once");
        tidings::__loom::flush_epoch(1);
        assert_eq!(tidings::__loom::live_segments(), 0, "a segment leaked");
    });
}
