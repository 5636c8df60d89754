//! Scoped delivery: which subscriptions an event sent in a scope reaches.

use futures::executor::block_on;
use tidings::{ContextMissing, Scope, TryRecvError, ctx};

mod support;
use support::{drain, yield_now};

#[test]
fn calls_outside_any_scope_fail_with_context_missing() {
    assert_eq!(ctx::send(1u8), Err(ContextMissing));
    assert_eq!(ctx::broadcast(1u8), Err(ContextMissing));
    assert_eq!(ctx::subscribe::<u8>().unwrap_err(), ContextMissing);
    assert_eq!(ctx::spawn(async {}).unwrap_err(), ContextMissing);
    assert_eq!(ctx::scope_name().unwrap_err(), ContextMissing);
    assert_eq!(
        ctx::state::<u8>().unwrap_err(),
        tidings::StateError::ContextMissing
    );
    assert_eq!(block_on(ctx::updating(1u8, async {})), Err(ContextMissing));
}

#[test]
fn events_reach_the_sending_scope_and_its_ancestors_but_not_children_or_siblings() {
    block_on(Scope::new("root").run(async {
        let mut root = ctx::subscribe::<&'static str>().unwrap();
        Scope::new("a")
            .run(async {
                let mut a = ctx::subscribe::<&'static str>().unwrap();
                let mut a_child = Scope::new("a1")
                    .run(async { ctx::subscribe::<&'static str>().unwrap() })
                    .await
                    .unwrap();
                let mut sibling_sub = None;
                Scope::new("b")
                    .run(async {
                        sibling_sub = Some(ctx::subscribe::<&'static str>().unwrap());
                    })
                    .await
                    .unwrap();
                ctx::send("from a").unwrap();
                assert_eq!(drain(&mut a), ["from a"]);
                // a1 closed before the send: its subscription ended and got nothing.
                assert_eq!(drain(&mut a_child), Vec::<&str>::new());
                assert_eq!(drain(sibling_sub.as_mut().unwrap()), Vec::<&str>::new());
            })
            .await
            .unwrap();
        assert_eq!(drain(&mut root), ["from a"]);
    }))
    .unwrap();
}

#[test]
fn live_sibling_and_child_scopes_do_not_see_each_others_events() {
    block_on(Scope::new("root").run(async {
        let mut root = ctx::subscribe::<u32>().unwrap();
        let a = Scope::new("a").run(async {
            let mut mine = ctx::subscribe::<u32>().unwrap();
            let (child, ()) = futures::join!(
                Scope::new("a-child").run(async {
                    let mut child = ctx::subscribe::<u32>().unwrap();
                    // Let "a" and "b" send while this subscription is live.
                    for _ in 0..4 {
                        yield_now().await;
                    }
                    ctx::send(100u32).unwrap();
                    drain(&mut child)
                }),
                async {
                    yield_now().await;
                    ctx::send(1u32).unwrap();
                }
            );
            (drain(&mut mine), child.unwrap())
        });
        let b = Scope::new("b").run(async {
            let mut mine = ctx::subscribe::<u32>().unwrap();
            yield_now().await;
            ctx::send(2u32).unwrap();
            yield_now().await;
            yield_now().await;
            yield_now().await;
            yield_now().await;
            drain(&mut mine)
        });
        let (a, b) = futures::join!(a, b);
        let (a, a_child) = a.unwrap();
        assert_eq!(a_child, [100], "a child sees only its own events");
        assert_eq!(a, [1, 100], "a sees its own and its child's");
        assert_eq!(b.unwrap(), [2], "b sees only its own");
        let mut all = drain(&mut root);
        all.sort();
        assert_eq!(all, [1, 2, 100], "the root sees everything below it");
    }))
    .unwrap();
}

#[test]
fn broadcast_reaches_every_subscription_of_the_bus_but_not_isolated_scopes() {
    block_on(Scope::new("root").run(async {
        let mut root = ctx::subscribe::<u8>().unwrap();
        let (sibling, sender, isolated) = futures::join!(
            Scope::new("sibling").run(async {
                let mut sub = ctx::subscribe::<u8>().unwrap();
                yield_now().await;
                yield_now().await;
                drain(&mut sub)
            }),
            Scope::new("sender").run(async {
                yield_now().await;
                ctx::broadcast(9u8).unwrap();
                ctx::send(1u8).unwrap();
            }),
            Scope::isolated("isolated").run(async {
                let mut sub = ctx::subscribe::<u8>().unwrap();
                yield_now().await;
                yield_now().await;
                drain(&mut sub)
            }),
        );
        sender.unwrap();
        assert_eq!(sibling.unwrap(), [9]);
        assert_eq!(isolated.unwrap(), Vec::<u8>::new());
        assert_eq!(drain(&mut root), [9, 1]);
    }))
    .unwrap();
}

#[test]
fn events_sent_in_an_isolated_scope_do_not_leave_it() {
    block_on(Scope::new("root").run(async {
        let mut root = ctx::subscribe::<u8>().unwrap();
        Scope::isolated("iso")
            .run(async {
                let mut inner = ctx::subscribe::<u8>().unwrap();
                ctx::send(1u8).unwrap();
                ctx::broadcast(2u8).unwrap();
                assert_eq!(drain(&mut inner), [1, 2]);
            })
            .await
            .unwrap();
        assert_eq!(root.try_recv(), Err(TryRecvError::Empty));
    }))
    .unwrap();
}

#[test]
fn two_root_scopes_share_nothing() {
    let (a, b) = block_on(async {
        futures::join!(
            Scope::new("one").run(async {
                let mut sub = ctx::subscribe::<u8>().unwrap();
                yield_now().await;
                ctx::send(1u8).unwrap();
                yield_now().await;
                drain(&mut sub)
            }),
            Scope::new("two").run(async {
                let mut sub = ctx::subscribe::<u8>().unwrap();
                yield_now().await;
                ctx::send(2u8).unwrap();
                yield_now().await;
                drain(&mut sub)
            }),
        )
    });
    assert_eq!(a.unwrap(), [1]);
    assert_eq!(b.unwrap(), [2]);
}

#[test]
fn plain_bus_traffic_and_scoped_traffic_do_not_mix() {
    // A scope's events travel in a private envelope type: a bare `Bus` never sees them.
    let bus = tidings::Bus::new();
    let mut plain = bus.subscribe::<u8>();
    block_on(Scope::new("root").run(async {
        let mut sub = ctx::subscribe::<u8>().unwrap();
        bus.send(1u8).unwrap();
        ctx::send(2u8).unwrap();
        assert_eq!(drain(&mut sub), [2]);
    }))
    .unwrap();
    assert_eq!(plain.try_recv(), Ok(1));
    assert_eq!(plain.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn events_sent_from_spawned_tasks_are_delivered_in_order() {
    // Fewer under miri (scripts/miri.sh).
    const N: u32 = if cfg!(miri) { 300 } else { 1000 };
    let got = block_on(Scope::new("root").run(async {
        let mut sub = ctx::subscribe::<u32>().unwrap();
        let producer = ctx::spawn(async {
            for i in 0..N {
                ctx::send(i).unwrap();
                if i % 100 == 0 {
                    yield_now().await;
                }
            }
        })
        .unwrap();
        let mut got = Vec::new();
        while got.len() < N as usize {
            got.push(sub.recv().await.unwrap());
        }
        producer.await.unwrap();
        got
    }))
    .unwrap();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

#[test]
fn deep_nesting_delivers_to_every_ancestor() {
    fn nest(depth: usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<usize>>>> {
        Box::pin(async move {
            let mut sub = ctx::subscribe::<usize>().unwrap();
            if depth == 0 {
                ctx::send(0usize).unwrap();
            } else {
                Scope::new("level").run(nest(depth - 1)).await.unwrap();
                ctx::send(depth).unwrap();
            }
            drain(&mut sub)
        })
    }
    let got = block_on(Scope::new("root").run(nest(40))).unwrap();
    assert_eq!(got, (0..=40).collect::<Vec<_>>());
}

#[test]
fn delivery_is_exact_across_the_inline_and_shared_origin_forms() {
    // The root and its children carry their origin inline, deeper scopes share their path;
    // check a live sibling at every depth around that boundary.
    fn level(depth: usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
        Box::pin(async move {
            let mut mine = ctx::subscribe::<usize>().unwrap();
            let sibling = Scope::new("sibling").run(async {
                let mut sub = ctx::subscribe::<usize>().unwrap();
                // Stay open while the other branch, and everything below it, sends.
                yield_now().await;
                drain(&mut sub)
            });
            let child = async {
                if depth < 6 {
                    Scope::new("child").run(level(depth + 1)).await.unwrap();
                }
            };
            let (sibling, ()) = futures::join!(sibling, child);
            assert_eq!(
                sibling.unwrap(),
                Vec::<usize>::new(),
                "sibling at depth {depth}"
            );
            ctx::send(depth).unwrap();
            let got = drain(&mut mine);
            assert_eq!(
                got,
                (depth..=6).rev().collect::<Vec<_>>(),
                "at depth {depth}"
            );
        })
    }
    block_on(Scope::new("root").run(level(0))).unwrap();
}
