//! Identity and trace continuity (issue 18 point 2): scope ids, parent ids, trace ids.

use futures::executor::block_on;
use tidings::{ContextMissing, Scope, TraceId, ctx};

#[test]
fn a_tree_shares_one_trace_id_and_links_parents() {
    let (root_trace, root_id, root_parent, inner) = block_on(Scope::new("root").run(async {
        let inner = Scope::new("inner")
            .run(async {
                let deeper = Scope::isolated("deeper")
                    .run(async {
                        (
                            ctx::trace_id().unwrap(),
                            ctx::scope_id().unwrap(),
                            ctx::parent_scope_id().unwrap(),
                        )
                    })
                    .await
                    .unwrap();
                (
                    ctx::trace_id().unwrap(),
                    ctx::scope_id().unwrap(),
                    ctx::parent_scope_id().unwrap(),
                    deeper,
                )
            })
            .await
            .unwrap();
        (
            ctx::trace_id().unwrap(),
            ctx::scope_id().unwrap(),
            ctx::parent_scope_id().unwrap(),
            inner,
        )
    }))
    .unwrap();
    let (inner_trace, inner_id, inner_parent, (deep_trace, deep_id, deep_parent)) = inner;
    assert_eq!(root_parent, None);
    assert_eq!(inner_parent, Some(root_id));
    // An isolated scope has a bus of its own but the same trace and a parent.
    assert_eq!(deep_parent, Some(inner_id));
    assert_eq!(inner_trace, root_trace);
    assert_eq!(deep_trace, root_trace);
    assert!(root_id != inner_id && inner_id != deep_id && root_id != deep_id);
}

#[test]
fn separate_roots_get_separate_traces() {
    let a = block_on(Scope::new("a").run(async { ctx::trace_id().unwrap() })).unwrap();
    let b = block_on(Scope::new("b").run(async { ctx::trace_id().unwrap() })).unwrap();
    assert_ne!(a, b);
    assert_ne!(a.as_u128(), 0);
}

#[test]
fn a_given_trace_id_is_continued_by_the_scope_and_its_children() {
    let remote: TraceId = "0af7651916cd43dd8448eb211c80319c".parse().unwrap();
    let seen = block_on(Scope::new("handler").with_trace_id(remote).run(async {
        let child = ctx::spawn(async { ctx::trace_id().unwrap() }).unwrap();
        let nested = Scope::new("n").run(async { ctx::trace_id().unwrap() });
        (
            ctx::trace_id().unwrap(),
            nested.await.unwrap(),
            child.await.unwrap(),
        )
    }))
    .unwrap();
    assert_eq!(seen, (remote, remote, remote));
    assert_eq!(remote.to_string(), "0af7651916cd43dd8448eb211c80319c");
}

#[test]
fn trace_ids_parse_strictly() {
    assert!("".parse::<TraceId>().is_err());
    assert!(
        "0af7651916cd43dd8448eb211c80319"
            .parse::<TraceId>()
            .is_err()
    ); // 31 digits
    assert!(
        "0af7651916cd43dd8448eb211c80319c0"
            .parse::<TraceId>()
            .is_err()
    ); // 33
    assert!(
        "00000000000000000000000000000000"
            .parse::<TraceId>()
            .is_err()
    );
    assert!(
        "0af7651916cd43dd8448eb211c80319g"
            .parse::<TraceId>()
            .is_err()
    );
    let t = TraceId::random();
    assert_eq!(t.to_string().parse::<TraceId>(), Ok(t));
}

#[test]
fn identity_outside_a_scope_is_context_missing() {
    assert_eq!(ctx::trace_id(), Err(ContextMissing));
    assert_eq!(ctx::scope_id(), Err(ContextMissing));
    assert_eq!(ctx::parent_scope_id(), Err(ContextMissing));
}
