//! No lost wake-ups; a send wakes nothing when nobody is parked.

mod support;

use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use support::waker::CountingWaker;
use tidings::Bus;

/// Polls an empty subscription once and checks that it parked: `Pending` without waking the
/// task itself. Returns the number of wakes so far.
fn poll_parks(
    sub: &mut tidings::Subscription<u8>,
    cx: &mut Context<'_>,
    counter: &CountingWaker,
) -> usize {
    let before = counter.wakes();
    assert_eq!(sub.poll_recv(cx), Poll::Pending);
    assert_eq!(
        counter.wakes(),
        before,
        "an empty poll woke its own task (a yield) instead of parking"
    );
    before
}

/// A task that finds nothing parks at once: yielding (waking itself) would make a work-stealing
/// runtime such as tokio's wake an idle worker for every empty poll (`benches/README.md` has
/// what that cost).
#[test]
fn an_empty_task_subscription_parks_at_once() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u8>();
    let (counter, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    assert_eq!(poll_parks(&mut sub, &mut cx, &counter), 0);
    // Parked: polling again parks again, and only a send wakes it, once.
    assert_eq!(poll_parks(&mut sub, &mut cx, &counter), 0);
    bus.send(1u8).unwrap();
    assert_eq!(counter.wakes(), 1);
    assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(1)));
    // After an event, the next empty poll parks at once too.
    assert_eq!(poll_parks(&mut sub, &mut cx, &counter), 1);
    bus.send(2u8).unwrap();
    assert_eq!(counter.wakes(), 2);
}

#[test]
fn send_wakes_a_parked_subscription_and_nothing_when_none_is_parked() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u8>();
    let (counter, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);

    let parked_at = poll_parks(&mut sub, &mut cx, &counter);
    bus.send(1u8).unwrap();
    assert_eq!(counter.wakes(), parked_at + 1, "the parked poll was woken");
    assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(1)));

    // Not parked now: sends wake nobody.
    bus.send(2u8).unwrap();
    bus.send(3u8).unwrap();
    assert_eq!(counter.wakes(), parked_at + 1);
    assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(2)));
    assert_eq!(sub.poll_recv(&mut cx), Poll::Ready(Some(3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_parked_in_recv_get_every_event_across_threads() {
    let bus = Bus::new();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut sub = bus.subscribe::<u32>();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u32;
            while let Some(i) = sub.recv().await {
                assert_eq!(i, n);
                n += 1;
            }
            n
        }));
    }
    let sender = {
        let bus = bus.clone();
        std::thread::spawn(move || {
            for i in 0..if cfg!(miri) { 200 } else { 20_000u32 } {
                bus.send(i).unwrap();
                if i % 64 == 0 {
                    // Let the tasks catch up and park, so many sends find parked tasks.
                    std::thread::yield_now();
                }
            }
        })
    };
    sender.join().unwrap();
    bus.close();
    for t in tasks {
        // Miri runs some thousand times slower than native: a longer wall-clock deadline.
        let wait = Duration::from_secs(if cfg!(miri) { 600 } else { 30 });
        let n = tokio::time::timeout(wait, t)
            .await
            .expect("no task was left parked")
            .unwrap();
        assert_eq!(n, if cfg!(miri) { 200 } else { 20_000 });
    }
}

#[test]
fn recv_blocking_threads_are_woken_for_every_event() {
    let bus = Bus::new();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let mut sub = bus.subscribe::<u32>();
            std::thread::spawn(move || {
                let mut n = 0;
                while let Some(i) = sub.recv_blocking() {
                    assert_eq!(i, n);
                    n += 1;
                }
                n
            })
        })
        .collect();
    for i in 0..if cfg!(miri) { 100 } else { 5_000u32 } {
        bus.send(i).unwrap();
        if i % 16 == 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    bus.close();
    for r in readers {
        assert_eq!(r.join().unwrap(), if cfg!(miri) { 100 } else { 5_000 });
    }
}

#[test]
fn stream_parked_on_a_single_threaded_executor_is_woken() {
    let bus = Bus::new();
    let sub = bus.subscribe::<u32>();
    let mut pool = futures::executor::LocalPool::new();
    let (tx, rx) = futures::channel::oneshot::channel();
    use futures::task::LocalSpawnExt;
    pool.spawner()
        .spawn_local(async move {
            let v: Vec<u32> = sub.take(3).collect().await;
            tx.send(v).unwrap();
        })
        .unwrap();
    pool.run_until_stalled();
    bus.send(1u32).unwrap();
    pool.run_until_stalled();
    bus.send(2u32).unwrap();
    bus.send(3u32).unwrap();
    let got = pool.run_until(rx).unwrap();
    assert_eq!(got, [1, 2, 3]);
}
