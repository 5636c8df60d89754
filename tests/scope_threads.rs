//! The scope travels with the future across threads; isolation holds under concurrency.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tidings::{Scope, ctx};

/// Events per sending task; fewer under miri (scripts/miri.sh).
const PER_TASK: u64 = if cfg!(miri) { 100 } else { 10_000 };

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scopes_on_a_multi_thread_runtime_keep_their_context_on_every_poll() {
    // Yields per task; fewer under miri (scripts/miri.sh), where tokio's workers are slow.
    const ROUNDS: u32 = if cfg!(miri) { 8 } else { 50 };
    let mut runs = Vec::new();
    for i in 0..8u32 {
        runs.push(tokio::spawn(Scope::new("worker").with_state(i).run(
            async move {
                let mut sub = ctx::subscribe::<u32>().unwrap();
                let task = ctx::spawn({
                    async move {
                        for _ in 0..ROUNDS {
                            tokio::task::yield_now().await;
                            assert_eq!(*ctx::state::<u32>().unwrap(), i);
                            ctx::send(i).unwrap();
                        }
                    }
                })
                .unwrap();
                for _ in 0..ROUNDS {
                    tokio::task::yield_now().await;
                    assert_eq!(*ctx::state::<u32>().unwrap(), i, "own state on every poll");
                    assert_eq!(sub.recv().await, Some(i), "only its own root's events");
                }
                task.await.unwrap();
            },
        )));
    }
    for run in runs {
        run.await.unwrap().unwrap();
    }
    // Nothing is left behind on the worker threads between polls.
    assert!(ctx::scope_name().is_err());
    // Which threads tokio used is up to its scheduler, so nothing is asserted about it here;
    // `a_scope_future_polled_on_a_new_thread_each_time_keeps_its_context` forces migration.
}

/// Pending once (waking itself), then ready: a yield point.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

#[test]
fn a_scope_future_polled_on_a_new_thread_each_time_keeps_its_context() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    let mut fut = Box::pin(Scope::new("mover").with_state(7u32).run(async move {
        let mut sub = ctx::subscribe::<u32>().unwrap();
        for i in 0..6u32 {
            YieldOnce(false).await;
            // Resumed on another OS thread: the scope came along.
            recorded.lock().unwrap().push(std::thread::current().id());
            assert_eq!(&*ctx::scope_name().unwrap(), "mover");
            assert_eq!(*ctx::state::<u32>().unwrap(), 7);
            ctx::send(i).unwrap();
            assert_eq!(sub.try_recv(), Ok(i));
        }
    }));
    let mut done = false;
    let mut pollers = HashSet::new();
    while !done {
        // Each poll on a fresh OS thread, so the future must move between threads.
        let (back, ready, id) = std::thread::spawn(move || {
            let waker = futures::task::noop_waker();
            let mut cx = std::task::Context::from_waker(&waker);
            let ready = fut.as_mut().poll(&mut cx).is_ready();
            // Nothing is left behind on the thread after the poll.
            assert!(ctx::scope_name().is_err());
            (fut, ready, std::thread::current().id())
        })
        .join()
        .unwrap();
        fut = back;
        done = ready;
        pollers.insert(id);
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 6, "the body ran to the end");
    let distinct: HashSet<_> = seen.iter().collect();
    assert_eq!(
        distinct.len(),
        6,
        "every resumption was on a different thread"
    );
    assert!(pollers.len() >= 7);
}

#[test]
fn concurrent_root_scopes_on_threads_stay_isolated() {
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                futures::executor::block_on(Scope::new("root").run(async move {
                    let mut sub = ctx::subscribe::<u64>().unwrap();
                    let producer = ctx::spawn(async move {
                        for i in 0..PER_TASK {
                            ctx::send(t * 1_000_000 + i).unwrap();
                        }
                    })
                    .unwrap();
                    let mut got = Vec::with_capacity(PER_TASK as usize);
                    while got.len() < PER_TASK as usize {
                        got.push(sub.recv().await.unwrap());
                    }
                    producer.await.unwrap();
                    assert!(sub.try_recv().is_err());
                    got
                }))
                .unwrap()
            })
        })
        .collect();
    for (t, h) in handles.into_iter().enumerate() {
        let got = h.join().unwrap();
        let want: Vec<u64> = (0..PER_TASK).map(|i| t as u64 * 1_000_000 + i).collect();
        assert_eq!(got, want);
    }
}

#[test]
fn sibling_scopes_running_concurrently_stay_isolated_while_the_root_sees_all() {
    // Fewer under miri (scripts/miri.sh).
    const PER_SIBLING: u32 = if cfg!(miri) { 100 } else { 500 };
    // Tasks of one root scope, each opening its own nested scope, driven on one executor while
    // each nested scope sends; the sibling subscriptions must see only their own events.
    let got = futures::executor::block_on(Scope::new("root").run(async {
        let mut root = ctx::subscribe::<(u8, u32)>().unwrap();
        let tasks: Vec<_> = (0..4u8)
            .map(|s| {
                ctx::spawn(Scope::new("sibling").run(async move {
                    let mut mine = ctx::subscribe::<(u8, u32)>().unwrap();
                    for i in 0..PER_SIBLING {
                        ctx::send((s, i)).unwrap();
                        if i % 7 == 0 {
                            futures::future::ready(()).await;
                        }
                    }
                    let got: Vec<_> = std::iter::from_fn(|| mine.try_recv().ok()).collect();
                    assert!(got.iter().all(|(from, _)| *from == s), "sibling leak");
                    assert_eq!(got.len(), PER_SIBLING as usize);
                }))
                .unwrap()
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        std::iter::from_fn(|| root.try_recv().ok()).count()
    }))
    .unwrap();
    assert_eq!(got, 4 * PER_SIBLING as usize);
}
