//! Any executor, plain threads, and mixes of them.

use std::time::Duration;

use futures::StreamExt;
use tidings::Bus;

/// Fewer under miri (scripts/miri.sh), which runs every test file at reduced size.
const N: u32 = if cfg!(miri) { 200 } else { 10_000 };

fn expect_sequence(got: Vec<u32>) {
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

#[test]
fn one_bus_serves_tokio_futures_executor_and_plain_threads_at_once() {
    let bus = Bus::new();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let on_tokio = {
        let sub = bus.subscribe::<u32>();
        rt.spawn(async move { sub.collect::<Vec<_>>().await })
    };
    let on_futures = {
        let sub = bus.subscribe::<u32>();
        std::thread::spawn(move || futures::executor::block_on(sub.collect::<Vec<_>>()))
    };
    let on_thread = {
        let mut sub = bus.subscribe::<u32>();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            while let Some(i) = sub.recv_blocking() {
                v.push(i);
            }
            v
        })
    };

    // Senders: half from a plain thread, half from a tokio task, in a known interleaving.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let plain = {
        let bus = bus.clone();
        std::thread::spawn(move || {
            for i in (0..N).step_by(2) {
                go_rx.recv().unwrap();
                bus.send(i).unwrap();
                done_tx.send(()).unwrap();
            }
        })
    };
    let done_rx = std::sync::Arc::new(std::sync::Mutex::new(done_rx));
    rt.block_on({
        let bus = bus.clone();
        async move {
            for i in (1..N).step_by(2) {
                go_tx.send(()).unwrap();
                let done = done_rx.clone();
                tokio::task::spawn_blocking(move || done.lock().unwrap().recv().unwrap())
                    .await
                    .unwrap();
                bus.send(i).unwrap();
            }
        }
    });
    plain.join().unwrap();
    bus.close();

    expect_sequence(rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), on_tokio)
            .await
            .unwrap()
            .unwrap()
    }));
    expect_sequence(on_futures.join().unwrap());
    expect_sequence(on_thread.join().unwrap());
}

#[tokio::test(flavor = "current_thread")]
async fn works_on_a_current_thread_runtime() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u32>();
    let producer = {
        let bus = bus.clone();
        tokio::spawn(async move {
            for i in 0..N {
                bus.send(i).unwrap();
                if i % 100 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            bus.close();
        })
    };
    drop(bus);
    let mut got = Vec::new();
    while let Some(i) = sub.recv().await {
        got.push(i);
    }
    producer.await.unwrap();
    expect_sequence(got);
}

#[test]
fn subscription_moves_between_threads_mid_stream() {
    let bus = Bus::new();
    let mut sub = bus.subscribe::<u32>();
    for i in 0..N {
        bus.send(i).unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..N / 2 {
        got.push(sub.try_recv().unwrap());
    }
    let (got, _sub) = std::thread::spawn(move || {
        let mut got = got;
        while let Ok(i) = sub.try_recv() {
            got.push(i);
        }
        (got, sub)
    })
    .join()
    .unwrap();
    expect_sequence(got);
}
