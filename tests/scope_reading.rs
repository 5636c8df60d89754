//! `ScopedSubscription` has `Subscription`'s reading surface: `FusedStream`, `is_closed`,
//! `len`/`is_empty`, `resubscribe`, `recv_blocking`, `recv_timeout`/`recv_deadline`, each
//! honouring scoped delivery (other scopes' events skipped, the scope's end ends it).

use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::executor::block_on;
use futures::stream::FusedStream;
use tidings::{RecvTimeoutError, Scope, ScopedSubscription, ctx};

fn assert_fused<S: FusedStream>(_: &S) {}

#[test]
fn a_sibling_scopes_events_are_not_counted_nor_received_by_blocking_reads() {
    block_on(Scope::new("root").run(async {
        let (sent, done) = oneshot::channel::<()>();
        let (a, b) = futures::join!(
            Scope::new("a").run(async move {
                let mut sub = ctx::subscribe::<u32>().unwrap();
                done.await.unwrap(); // b has sent 20 meanwhile
                assert_eq!(sub.len(), 0, "b's event is not a's");
                assert!(sub.is_empty());
                assert_eq!(
                    sub.recv_timeout(Duration::from_millis(10)),
                    Err(RecvTimeoutError::Timeout),
                    "b's event must be skipped, not returned"
                );
                ctx::send(10u32).unwrap();
                ctx::broadcast(11u32).unwrap();
                assert_eq!(sub.len(), 2);
                assert_eq!(sub.recv_deadline(Instant::now()), Ok(10));
                assert_eq!(sub.recv_blocking(), Some(11));
            }),
            Scope::new("b").run(async move {
                ctx::send(20u32).unwrap();
                sent.send(()).unwrap();
            }),
        );
        a.unwrap();
        b.unwrap();
    }))
    .unwrap();
}

/// Taken out of its scope, a subscription holds what was sent before the scope closed, then
/// its end marker, then whatever the parent sends later: `len` counts up to the end, and the
/// blocking reads return the events, then `Closed`/`None` at once instead of waiting.
#[test]
fn a_scoped_subscription_counts_and_blocks_only_up_to_its_scopes_end() {
    block_on(Scope::new("root").run(async {
        let root_sub = ctx::subscribe::<u32>().unwrap();
        let mut child_sub = Scope::new("child")
            .run(async {
                let sub = ctx::subscribe::<u32>().unwrap();
                ctx::send(1u32).unwrap();
                ctx::broadcast(2u32).unwrap();
                sub
            })
            .await
            .unwrap();
        ctx::send(3u32).unwrap();
        assert_fused(&child_sub);
        assert_eq!(child_sub.len(), 2, "stops at the child's end marker");
        // The root's subscription skips the child's end marker and counts on.
        assert_eq!(root_sub.len(), 3);
        assert!(!child_sub.is_closed());
        assert_eq!(child_sub.recv_timeout(Duration::from_secs(30)), Ok(1));
        assert_eq!(child_sub.recv_blocking(), Some(2));
        let started = Instant::now();
        assert_eq!(
            child_sub.recv_timeout(Duration::from_secs(30)),
            Err(RecvTimeoutError::Closed)
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "ended, not timed out"
        );
        assert_eq!(child_sub.recv_blocking(), None);
        assert!(child_sub.is_closed());
        assert!(FusedStream::is_terminated(&child_sub));
        assert_eq!(child_sub.len(), 0);
    }))
    .unwrap();
}

#[test]
fn a_scoped_resubscription_reads_on_from_the_same_place_and_ends_with_the_scope() {
    let (mut first, mut second): (ScopedSubscription<u8>, ScopedSubscription<u8>) =
        block_on(Scope::new("root").run(async {
            let mut first = ctx::subscribe::<u8>().unwrap();
            ctx::send(1u8).unwrap();
            ctx::send(2u8).unwrap();
            assert_eq!(first.try_recv(), Ok(1));
            let mut second = first.resubscribe();
            assert_eq!(second.len(), 1);
            assert_eq!(second.try_recv(), Ok(2));
            ctx::send(3u8).unwrap();
            (first, second)
        }))
        .unwrap();
    // The scope (a root: it closed its bus) has ended: both drain, then end.
    assert_eq!(first.recv_blocking(), Some(2));
    assert_eq!(first.recv_blocking(), Some(3));
    assert_eq!(first.recv_blocking(), None);
    assert_eq!(second.recv_blocking(), Some(3));
    assert_eq!(second.recv_blocking(), None);
    // An ended subscription resubscribes to an ended one.
    assert_eq!(
        second.resubscribe().try_recv(),
        Err(tidings::TryRecvError::Closed)
    );
}

#[test]
fn scoped_reads_by_reference_skip_other_scopes_and_end_with_the_scope() {
    struct Frame(u32); // not Clone
    let mut sub = block_on(Scope::new("root").run(async {
        let (sent, done) = oneshot::channel::<()>();
        let (a, b) = futures::join!(
            Scope::new("a").run(async move {
                let mut sub = ctx::subscribe::<Frame>().unwrap();
                done.await.unwrap(); // b has sent Frame(20) meanwhile
                assert!(sub.try_recv_ref().is_err(), "b's frame is not a's");
                ctx::send(Frame(10)).unwrap();
                ctx::send(Frame(11)).unwrap();
                assert_eq!(sub.try_recv_ref().map(|f| f.0), Ok(10));
                assert_eq!(sub.recv_ref().await.map(|f| f.0), Some(11));
                ctx::send(Frame(12)).unwrap();
                sub
            }),
            Scope::new("b").run(async move {
                ctx::send(Frame(20)).unwrap();
                sent.send(()).unwrap();
            }),
        );
        b.unwrap();
        ctx::send(Frame(30)).unwrap(); // after a's end: not a's
        a.unwrap()
    }))
    .unwrap();
    assert_eq!(sub.try_recv_ref().map(|f| f.0), Ok(12));
    assert_eq!(
        sub.try_recv_ref().map(|f| f.0),
        Err(tidings::TryRecvError::Closed)
    );
    assert!(sub.is_terminated());
    assert!(block_on(sub.recv_ref()).is_none());
}

#[test]
fn batch_reads_skip_a_sibling_scopes_events_and_end_with_the_scope() {
    let (mut sub, buf) = block_on(Scope::new("root").run(async {
        let (sent, done) = oneshot::channel::<()>();
        let (a, b) = futures::join!(
            Scope::new("a").run(async move {
                let mut sub = ctx::subscribe::<u32>().unwrap();
                done.await.unwrap(); // b has sent 20 and 21 meanwhile
                let mut buf = Vec::new();
                assert_eq!(
                    sub.try_recv_many(&mut buf, 8),
                    Err(tidings::TryRecvError::Empty),
                    "b's events must be skipped"
                );
                for i in 1..=5u32 {
                    ctx::send(i).unwrap();
                }
                assert_eq!(
                    sub.try_recv_many(&mut buf, 0),
                    Ok(0),
                    "a limit of 0 takes nothing"
                );
                assert_eq!(sub.try_recv_many(&mut buf, 2), Ok(2));
                assert_eq!(sub.recv_many(&mut buf, 2).await, 2);
                assert_eq!(sub.recv_many_blocking(&mut buf, 8), 1);
                ctx::send(6u32).unwrap();
                (sub, buf)
            }),
            Scope::new("b").run(async move {
                ctx::send(20u32).unwrap();
                ctx::send(21u32).unwrap();
                sent.send(()).unwrap();
            }),
        );
        b.unwrap();
        a.unwrap()
    }))
    .unwrap();
    assert_eq!(buf, [1, 2, 3, 4, 5]);
    // Scope "a" has ended: what it had is drained first, then every batch read reports the end.
    let mut rest = Vec::new();
    assert_eq!(sub.try_recv_many(&mut rest, 8), Ok(1));
    assert_eq!(rest, [6]);
    assert_eq!(
        sub.try_recv_many(&mut rest, 8),
        Err(tidings::TryRecvError::Closed)
    );
    assert_eq!(block_on(sub.recv_many(&mut rest, 8)), 0);
    assert_eq!(sub.recv_many_blocking(&mut rest, 8), 0);
}

/// Issue 17: `ScopedSubscription` has `Subscription`'s by-reference batch reads,
/// `recv_many_ref` and `try_recv_many_ref`: runs skip a sibling scope's events (a run ends
/// before one), cross segments over several calls, and end with the scope once drained.
#[test]
fn batch_reads_by_reference_skip_a_sibling_scopes_events_and_end_with_the_scope() {
    /// Not `Clone`: read by reference only.
    #[derive(Debug, PartialEq)]
    struct Frame(u32);

    let ids = |run: tidings::Batch<'_, Frame>| run.map(|f| f.0).collect::<Vec<_>>();
    let mut sub = block_on(Scope::new("root").run(async {
        let (to_b, at_b) = oneshot::channel::<()>();
        let (to_a, at_a) = oneshot::channel::<()>();
        let (a, b) = futures::join!(
            Scope::new("a").run(async move {
                let mut sub = ctx::subscribe::<Frame>().unwrap();
                ctx::send(Frame(1)).unwrap();
                ctx::send(Frame(2)).unwrap();
                to_b.send(()).unwrap();
                at_a.await.unwrap(); // b has sent 20 meanwhile
                for i in 3..=5 {
                    ctx::send(Frame(i)).unwrap();
                }
                assert_eq!(sub.try_recv_many_ref(0).map(ids), Ok(vec![]), "limit 0");
                // The run ends before b's event, which the next call skips.
                assert_eq!(sub.try_recv_many_ref(8).map(ids), Ok(vec![1, 2]));
                assert_eq!(sub.try_recv_many_ref(2).map(ids), Ok(vec![3, 4]));
                assert_eq!(ids(sub.recv_many_ref(8).await), [5]);
                assert_eq!(
                    sub.try_recv_many_ref(8).map(ids),
                    Err(tidings::TryRecvError::Empty)
                );
                // Longer than a segment: several runs, in order, nothing lost.
                for i in 100..300 {
                    ctx::send(Frame(i)).unwrap();
                }
                let mut got = Vec::new();
                while let Ok(run) = sub.try_recv_many_ref(1000) {
                    let run = ids(run);
                    assert!(!run.is_empty() && run.len() <= 64, "{run:?}");
                    got.extend(run);
                }
                assert_eq!(got, (100..300).collect::<Vec<_>>());
                ctx::send(Frame(6)).unwrap();
                sub
            }),
            Scope::new("b").run(async move {
                at_b.await.unwrap();
                ctx::send(Frame(20)).unwrap();
                to_a.send(()).unwrap();
            }),
        );
        b.unwrap();
        a.unwrap()
    }))
    .unwrap();
    // Scope "a" has ended: what it had is drained first, then every read reports the end.
    assert_eq!(sub.try_recv_many_ref(8).map(ids), Ok(vec![6]));
    assert_eq!(
        sub.try_recv_many_ref(8).map(ids),
        Err(tidings::TryRecvError::Closed)
    );
    assert!(block_on(sub.recv_many_ref(8)).is_empty());
}
