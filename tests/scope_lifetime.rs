//! When scoped subscriptions end: scope closing, bus closing, late subscriptions.

mod support;

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::executor::block_on;
use support::yield_now;
use tidings::{Scope, TryRecvError, ctx};

#[test]
fn a_parked_subscriber_task_ends_when_its_scope_closes_after_pending_events() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    block_on(Scope::new("app").run(async move {
        let sub = ctx::subscribe::<u32>().unwrap();
        ctx::spawn(async move {
            let mut sub = sub;
            while let Some(e) = sub.recv().await {
                s.lock().unwrap().push(e);
            }
            s.lock().unwrap().push(u32::MAX); // the loop ended
        })
        .unwrap();
        // Let the task park on an empty subscription first.
        yield_now().await;
        yield_now().await;
        ctx::send(1u32).unwrap();
        ctx::send(2u32).unwrap();
        // The body returns: the scope begins to close with the task parked or behind.
    }))
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), [1, 2, u32::MAX]);
}

#[test]
fn a_subscription_made_in_a_nested_scope_ends_when_that_scope_closes_not_the_parent() {
    block_on(Scope::new("app").run(async {
        let mut inner = Scope::new("inner")
            .run(async {
                let sub = ctx::subscribe::<u8>().unwrap();
                ctx::send(1u8).unwrap();
                sub
            })
            .await
            .unwrap();
        let mut outer = ctx::subscribe::<u8>().unwrap();
        ctx::send(2u8).unwrap();
        // The inner subscription got what was sent before its scope closed, then ended.
        assert_eq!(inner.try_recv(), Ok(1));
        assert_eq!(inner.try_recv(), Err(TryRecvError::Closed));
        assert!(inner.is_terminated());
        // The outer one is still live.
        assert_eq!(outer.try_recv(), Ok(2));
        assert_eq!(outer.try_recv(), Err(TryRecvError::Empty));
    }))
    .unwrap();
}

#[test]
fn subscribing_after_the_scope_began_to_close_ends_at_once() {
    let late = Arc::new(Mutex::new(None));
    let l = Arc::clone(&late);
    block_on(Scope::new("app").run(async move {
        ctx::spawn(async move {
            // Runs after the body returned, while the scope waits for its tasks.
            yield_now().await;
            yield_now().await;
            let mut sub = ctx::subscribe::<u8>().unwrap();
            ctx::send(1u8).unwrap();
            *l.lock().unwrap() = Some(sub.recv().await);
        })
        .unwrap();
    }))
    .unwrap();
    assert_eq!(*late.lock().unwrap(), Some(None));
}

#[test]
fn a_subscription_kept_past_its_root_scope_ends_with_the_bus() {
    let mut sub = block_on(Scope::new("app").run(async {
        let sub = ctx::subscribe::<String>().unwrap();
        ctx::send(String::from("kept")).unwrap();
        sub
    }))
    .unwrap();
    assert_eq!(block_on(sub.next()).as_deref(), Some("kept"));
    assert_eq!(block_on(sub.next()), None);
}

#[test]
fn other_scopes_subscriptions_skip_an_end_marker() {
    block_on(Scope::new("app").run(async {
        let mut outer = ctx::subscribe::<u8>().unwrap();
        Scope::new("inner")
            .run(async {
                let _inner = ctx::subscribe::<u8>().unwrap();
                ctx::send(1u8).unwrap();
            })
            .await
            .unwrap();
        ctx::send(2u8).unwrap();
        // The inner scope's end marker sits between 1 and 2 on the bus; `outer` skips it.
        assert_eq!(outer.recv().await, Some(1));
        assert_eq!(outer.recv().await, Some(2));
    }))
    .unwrap();
}

#[test]
fn dropping_a_scoped_subscription_does_not_disturb_others() {
    block_on(Scope::new("app").run(async {
        let mut a = ctx::subscribe::<u8>().unwrap();
        let b = ctx::subscribe::<u8>().unwrap();
        ctx::send(1u8).unwrap();
        drop(b);
        ctx::send(2u8).unwrap();
        assert_eq!(a.recv().await, Some(1));
        assert_eq!(a.recv().await, Some(2));
    }))
    .unwrap();
}

#[test]
fn a_cancelled_waiting_subscriber_does_not_break_delivery_to_others() {
    block_on(Scope::new("app").run(async {
        let mut a = ctx::subscribe::<u8>().unwrap();
        let waiter = ctx::spawn(async move {
            let mut b = ctx::subscribe::<u8>().unwrap();
            b.recv().await
        })
        .unwrap();
        yield_now().await;
        waiter.cancel();
        assert!(waiter.await.unwrap_err().is_cancelled());
        ctx::send(3u8).unwrap();
        assert_eq!(a.recv().await, Some(3));
    }))
    .unwrap();
}

#[test]
fn the_body_iterating_its_own_subscription_needs_a_stop_condition() {
    // The documented deadlock, avoided as the docs say: stop on a condition. (Iterating to the
    // end would never return, since the subscription ends only when this body returns.)
    let got = block_on(Scope::new("app").run(async {
        let mut sub = ctx::subscribe::<u8>().unwrap();
        ctx::spawn(async {
            for i in 0..5u8 {
                ctx::send(i).unwrap();
                yield_now().await;
            }
        })
        .unwrap();
        let mut got = Vec::new();
        while let Some(e) = sub.recv().await {
            got.push(e);
            if e == 4 {
                break;
            }
        }
        got
    }))
    .unwrap();
    assert_eq!(got, [0, 1, 2, 3, 4]);
}
