//! Scoped state: inheritance, override, defaults, `ctx::updating`.

mod support;

use futures::executor::block_on;
use support::yield_now;
use tidings::{Scope, StateError, ctx};

#[derive(Debug, Default, PartialEq)]
struct Config {
    name: &'static str,
}

#[test]
fn nested_scopes_inherit_and_override_state() {
    block_on(
        Scope::new("app")
            .with_state(Config { name: "outer" })
            .with_state(1u8)
            .run(async {
                Scope::new("inner")
                    .with_state(Config { name: "inner" })
                    .run(async {
                        assert_eq!(ctx::state::<Config>().unwrap().name, "inner");
                        assert_eq!(*ctx::state::<u8>().unwrap(), 1, "inherited");
                    })
                    .await
                    .unwrap();
                assert_eq!(ctx::state::<Config>().unwrap().name, "outer");
            }),
    )
    .unwrap();
}

#[test]
fn a_later_value_of_the_same_type_replaces_an_earlier_one() {
    block_on(
        Scope::new("app")
            .with_state(1u8)
            .with_state(2u8)
            .run(async {
                assert_eq!(*ctx::state::<u8>().unwrap(), 2);
            }),
    )
    .unwrap();
}

#[test]
fn isolated_scopes_still_inherit_state() {
    block_on(Scope::new("app").with_state(5u16).run(async {
        Scope::isolated("iso")
            .run(async { assert_eq!(*ctx::state::<u16>().unwrap(), 5) })
            .await
            .unwrap();
    }))
    .unwrap();
}

#[test]
fn missing_state_names_the_type() {
    block_on(Scope::new("app").run(async {
        let err = ctx::try_state::<Config>().unwrap_err();
        assert_eq!(err, StateError::Missing(std::any::type_name::<Config>()));
        assert!(err.to_string().contains("Config"));
    }))
    .unwrap();
}

#[test]
fn updating_replaces_a_value_for_one_future_and_its_tasks_only() {
    block_on(
        Scope::new("app")
            .with_state(Config { name: "v1" })
            .run(async {
                let (inside, task) = ctx::updating(Config { name: "v2" }, async {
                    let task = ctx::spawn(async {
                        yield_now().await;
                        ctx::state::<Config>().unwrap().name
                    })
                    .unwrap();
                    yield_now().await;
                    (ctx::state::<Config>().unwrap().name, task.await.unwrap())
                })
                .await
                .unwrap();
                assert_eq!((inside, task), ("v2", "v2"));
                assert_eq!(ctx::state::<Config>().unwrap().name, "v1");
            }),
    )
    .unwrap();
}

#[test]
fn updating_keeps_the_scope_for_delivery() {
    block_on(Scope::new("app").run(async {
        let mut sub = ctx::subscribe::<u8>().unwrap();
        ctx::updating(1u32, async { ctx::send(9u8).unwrap() })
            .await
            .unwrap();
        assert_eq!(sub.try_recv(), Ok(9));
    }))
    .unwrap();
}

/// Issue 18 point 6: a missing `T: Default` is `T::default()`, as Haiway builds `T()`.
#[test]
fn a_missing_default_state_is_its_default_and_not_contained() {
    #[derive(Debug, PartialEq)]
    struct Limits(u32);
    impl Default for Limits {
        fn default() -> Self {
            Limits(17)
        }
    }
    block_on(
        Scope::new("app")
            .with_state(Config { name: "set" })
            .run(async {
                assert_eq!(*ctx::state::<Limits>().unwrap(), Limits(17));
                assert!(!ctx::contains_state::<Limits>());
                assert!(ctx::contains_state::<Config>());
                // A set value wins over the default.
                assert_eq!(ctx::state::<Config>().unwrap().name, "set");
                Scope::new("inner")
                    .with_state(Limits(3))
                    .run(async {
                        assert!(ctx::contains_state::<Limits>());
                        assert!(ctx::contains_state::<Config>(), "inherited");
                        assert_eq!(*ctx::state::<Limits>().unwrap(), Limits(3));
                    })
                    .await
                    .unwrap();
                assert!(matches!(
                    ctx::try_state::<Limits>(),
                    Err(StateError::Missing(_))
                ));
            }),
    )
    .unwrap();
    assert!(!ctx::contains_state::<Config>(), "outside any scope");
    assert_eq!(
        ctx::state::<Config>().unwrap_err(),
        StateError::ContextMissing,
        "no default outside a scope"
    );
}

#[test]
fn updating_replaces_several_values_at_once() {
    block_on(
        Scope::new("app")
            .with_state(Config { name: "v1" })
            .with_state(1u8)
            .run(async {
                let seen = ctx::updating(Config { name: "v2" }, async {
                    let task = ctx::spawn(async {
                        (
                            ctx::state::<Config>().unwrap().name,
                            *ctx::state::<u8>().unwrap(),
                            *ctx::state::<u64>().unwrap(),
                        )
                    })
                    .unwrap();
                    task.await.unwrap()
                })
                .with_state(2u8)
                .with_state(3u64)
                .await
                .unwrap();
                assert_eq!(seen, ("v2", 2, 3));
                assert_eq!(ctx::state::<Config>().unwrap().name, "v1");
                assert_eq!(*ctx::state::<u8>().unwrap(), 1);
                assert!(!ctx::contains_state::<u64>());
            }),
    )
    .unwrap();
}

#[test]
fn a_snapshot_runs_later_in_its_scope_and_state() {
    let snapshot = block_on(
        Scope::new("app")
            .with_state(Config { name: "snap" })
            .run(async {
                ctx::updating(9u8, async { ctx::snapshot().unwrap() })
                    .await
                    .unwrap()
            }),
    )
    .unwrap();
    assert!(ctx::scope_name().is_err());
    let (name, config, value) = block_on(snapshot.run(async {
        (
            ctx::scope_name().unwrap(),
            ctx::state::<Config>().unwrap().name,
            *ctx::state::<u8>().unwrap(),
        )
    }));
    assert_eq!((&*name, config, value), ("app", "snap", 9));
    // The scope has finished: the snapshot still reads its context, but cannot spawn into it.
    assert!(snapshot.enter(|| ctx::spawn(async {})).is_err());
    assert!(ctx::scope_name().is_err(), "nothing left behind");
}

#[test]
fn a_stream_keeps_its_scope_wherever_it_is_polled() {
    use futures::StreamExt;
    let stream = block_on(
        Scope::new("producer")
            .with_state(Config { name: "p" })
            .run(async {
                let names = futures::stream::iter(0..3).map(|i| {
                    format!(
                        "{}:{}:{i}",
                        ctx::scope_name().unwrap(),
                        ctx::state::<Config>().unwrap().name
                    )
                });
                ctx::stream(names).unwrap()
            }),
    )
    .unwrap();
    let seen: Vec<String> = block_on(Scope::new("consumer").run(stream.collect())).unwrap();
    assert_eq!(seen, ["producer:p:0", "producer:p:1", "producer:p:2"]);
}
