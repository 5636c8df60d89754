//! Panics in subscribers or in `Clone` leave the bus working.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tidings::{Bus, TryRecvError};

#[derive(Debug)]
struct Fragile {
    id: u32,
    explode: Arc<AtomicBool>,
}

impl Clone for Fragile {
    fn clone(&self) -> Self {
        if self.explode.load(Ordering::SeqCst) {
            panic!("clone of event {} failed", self.id);
        }
        Fragile {
            id: self.id,
            explode: self.explode.clone(),
        }
    }
}

#[test]
fn panicking_clone_consumes_nothing_and_breaks_nothing() {
    let bus = Bus::new();
    let explode = Arc::new(AtomicBool::new(true));
    let mut a = bus.subscribe::<Fragile>();
    let mut b = bus.subscribe::<Fragile>();
    bus.send(Fragile {
        id: 1,
        explode: explode.clone(),
    })
    .unwrap();

    let r = catch_unwind(AssertUnwindSafe(|| a.try_recv()));
    assert!(r.is_err(), "clone panicked through try_recv");
    // Other subscriptions read by reference, unaffected.
    assert_eq!(b.try_recv_ref().map(|e| e.id), Ok(1));

    // The event was not consumed: once cloning works, `a` gets it, then the next one.
    explode.store(false, Ordering::SeqCst);
    bus.send(Fragile {
        id: 2,
        explode: explode.clone(),
    })
    .unwrap();
    assert_eq!(a.try_recv().map(|e| e.id), Ok(1));
    assert_eq!(a.try_recv().map(|e| e.id), Ok(2));
    assert!(matches!(a.try_recv(), Err(TryRecvError::Empty)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_subscriber_task_leaves_others_working() {
    let bus = Bus::new();
    let mut doomed = bus.subscribe::<u32>();
    let mut healthy = bus.subscribe::<u32>();
    let crash = tokio::spawn(async move {
        while let Some(i) = doomed.recv().await {
            if i == 3 {
                panic!("subscriber failed on {i}");
            }
        }
    });
    for i in 0..10u32 {
        bus.send(i).unwrap();
    }
    assert!(crash.await.unwrap_err().is_panic());
    // The panicked task dropped its subscription while unwinding.
    assert_eq!(bus.subscriber_count::<u32>(), 1);
    for i in 0..10u32 {
        assert_eq!(healthy.recv().await, Some(i));
    }
    bus.send(10u32).unwrap();
    assert_eq!(healthy.recv().await, Some(10));
    let mut fresh = bus.subscribe::<u32>();
    bus.send(11u32).unwrap();
    assert_eq!(fresh.recv().await, Some(11));
}
