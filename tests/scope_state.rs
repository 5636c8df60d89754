//! Scoped state: inheritance, override, `ctx::updating`.

mod common;

use common::yield_now;
use futures::executor::block_on;
use tidings::{Scope, StateError, ctx};

#[derive(Debug, PartialEq)]
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
        let err = ctx::state::<Config>().unwrap_err();
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
