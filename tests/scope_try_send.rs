//! `ctx::try_send` says whether a subscription could receive the event; `ctx::send` stays
//! fire-and-forget.

use futures::executor::block_on;
use tidings::{ContextMissing, Scope, ctx};

#[test]
fn try_send_says_whether_a_subscription_of_the_type_exists() {
    block_on(Scope::new("app").run(async {
        assert_eq!(ctx::try_send(1u32), Ok(false), "nobody subscribed yet");
        let mut sub = ctx::subscribe::<u32>().unwrap();
        assert_eq!(ctx::try_send(2u32), Ok(true));
        // The mistake the issue names: `i32` sent where subscribers wait for `u32`.
        assert_eq!(ctx::try_send(3i32), Ok(false));
        assert_eq!(sub.try_recv(), Ok(2));
        assert!(sub.try_recv().is_err(), "nothing else arrived");
        drop(sub);
        assert_eq!(ctx::try_send(4u32), Ok(false), "the last subscription left");
    }))
    .unwrap();
}

#[test]
fn send_to_nobody_is_still_not_an_error() {
    block_on(Scope::new("app").run(async {
        assert_eq!(ctx::send(1i64), Ok(()));
    }))
    .unwrap();
}

#[test]
fn try_send_outside_a_scope_is_context_missing() {
    assert_eq!(ctx::try_send(1u8), Err(ContextMissing));
}

#[test]
fn a_dropped_event_is_dropped_once_and_a_delivered_one_is_kept() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    block_on(Scope::new("app").run({
        let drops = drops.clone();
        async move {
            assert_eq!(ctx::try_send(Counted(drops.clone())), Ok(false));
            assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped at once");
            let sub = ctx::subscribe::<Counted>().unwrap();
            assert_eq!(ctx::try_send(Counted(drops.clone())), Ok(true));
            assert_eq!(drops.load(Ordering::SeqCst), 1, "kept for the subscription");
            drop(sub);
        }
    }))
    .unwrap();
}
