//! Haiway docs, "Scope Isolation": events sent in one scope are not seen by a sibling.
//! Also shows that an enclosing scope sees its children's events, and `broadcast`.
//!
//! `cargo run --example scope_isolation`

use tidings::{Scope, ctx};

#[derive(Clone, Debug)]
struct InternalEvent {
    data: &'static str,
}

fn drain(sub: &mut tidings::ScopedSubscription<InternalEvent>) -> Vec<&'static str> {
    std::iter::from_fn(|| sub.try_recv().ok().map(|e| e.data)).collect()
}

async fn isolated_subsystem() {
    let mut app = ctx::subscribe::<InternalEvent>().unwrap();
    let a = Scope::new("subsystem_a").run(async {
        let mut mine = ctx::subscribe::<InternalEvent>().unwrap();
        tokio::task::yield_now().await;
        ctx::send(InternalEvent { data: "A" }).unwrap(); // Only visible in subsystem_a
        tokio::task::yield_now().await;
        drain(&mut mine)
    });
    let b = Scope::new("subsystem_b").run(async {
        let mut mine = ctx::subscribe::<InternalEvent>().unwrap();
        tokio::task::yield_now().await;
        ctx::send(InternalEvent { data: "B" }).unwrap(); // Only visible in subsystem_b
        ctx::broadcast(InternalEvent { data: "B to all" }).unwrap();
        tokio::task::yield_now().await;
        drain(&mut mine)
    });
    let sandbox = Scope::isolated("sandbox").run(async {
        let mut mine = ctx::subscribe::<InternalEvent>().unwrap();
        tokio::task::yield_now().await;
        ctx::send(InternalEvent { data: "sandboxed" }).unwrap();
        tokio::task::yield_now().await;
        drain(&mut mine)
    });
    let (a, b, sandbox) = tokio::join!(a, b, sandbox);
    println!("subsystem_a saw {:?}", a.unwrap());
    println!("subsystem_b saw {:?}", b.unwrap());
    println!("isolated sandbox saw {:?}", sandbox.unwrap());
    println!("enclosing app scope saw {:?}", drain(&mut app));
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    Scope::new("app").run(isolated_subsystem()).await.unwrap();
}
