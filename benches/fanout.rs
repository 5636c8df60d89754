//! W1-W4: delivered events per second, `senders -> subscribers`, for tidings and its peers.
//!
//! One criterion group per workload, one id per system. An iteration is one complete run: a
//! fresh channel, subscribers and senders set up untimed, then `EVENTS` events sent (split over
//! the senders) and every subscriber receiving and checking all of them, timed. Throughput is
//! delivered events (`EVENTS * subscribers`). Besides criterion's numbers, each id appends the
//! average number of busy cores while timed to `target/criterion/tidings-cpu.csv`.
//!
//! Async systems run as tasks on a 2-worker tokio runtime; thread systems on OS threads.
//! tidings runs twice: reading one event per call (`recv`, `recv_blocking`) and reading every
//! ready event per call (`recv_many`, `recv_many_blocking`, the `_many` rows).
//!
//! `disruptor` 4 runs as its users set it up on a machine with fewer cores than threads
//! (`disruptor_poller_threads`): one `EventPoller` per subscriber on its own thread, each poll
//! reading every available event, and when there is none a backoff that spins, then yields,
//! then sleeps. Its managed handler threads only busy-spin; that setup is kept as
//! `disruptor_busy_spin_threads` (`BusySpinWithSpinLoopHint`), which from W2 on runs more
//! spinning threads than the machine has cores.
//! `bus` is single-producer (`&mut self`): with several senders it sits behind a `Mutex`.

mod common;

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::workloads::{EVENTS, Run, SHAPES, Sample, Shape, on_threads, time_runs, timed_tasks};
use common::{Check, Countdown, CpuMeter, Ev, runtime};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use tokio::runtime::Runtime;

/// Capacity of the bounded peers (`async-broadcast`, `bus`, `disruptor`): room for a whole
/// run, as `tokio::sync::broadcast` gets, so none of them waits for room because of its size.
const RING: usize = 16384;

// tidings' runs (`tidings_runs::tasks`, ...), shared with `scripts/unbounded_cost.sh`'s bench.
common::workloads::tidings_runs!(tidings_runs, tidings);

const SYSTEMS: [(&str, Run); 11] = [
    ("tidings_tasks", tidings_runs::tasks),
    ("tidings_many_tasks", tidings_runs::many_tasks),
    ("tokio_broadcast", tokio_broadcast),
    ("async_broadcast", async_broadcast),
    ("flume_fanout_tasks", flume_tasks),
    ("tidings_threads", tidings_runs::threads),
    ("tidings_many_threads", tidings_runs::many_threads),
    ("crossbeam_fanout_threads", crossbeam_threads),
    ("bus_threads", bus_threads),
    ("disruptor_poller_threads", disruptor_poller_threads),
    ("disruptor_busy_spin_threads", disruptor_busy_spin_threads),
];

// ---- async systems, as tasks ----

fn tokio_broadcast(rt: &Runtime, s: Shape) -> Sample {
    use tokio::sync::broadcast::{self, error::RecvError};
    let per = s.per_sender();
    rt.block_on(async move {
        // Room for every event of the run: it never lags, so it is lossless.
        let (tx, _) = broadcast::channel::<Ev>(EVENTS as usize);
        let readers: Vec<_> = (0..s.subs)
            .map(|_| {
                let mut rx = tx.subscribe();
                tokio::spawn(async move {
                    let mut check = Check::new(s.senders);
                    loop {
                        match rx.recv().await {
                            Ok(ev) => check.see(&ev),
                            Err(RecvError::Closed) => break,
                            Err(RecvError::Lagged(n)) => {
                                panic!("tokio broadcast lagged by {n}: the run is not lossless")
                            }
                        }
                    }
                    check.finish(per);
                })
            })
            .collect();
        timed_tasks(s, readers, tx, |tx, i| {
            let tx = tx.clone();
            async move {
                for seq in 0..per {
                    tx.send(Ev::new(i, seq)).expect("subscribed");
                }
            }
        })
        .await
    })
}

fn async_broadcast(rt: &Runtime, s: Shape) -> Sample {
    let per = s.per_sender();
    rt.block_on(async move {
        // Bounded with backpressure (a full channel makes senders wait), sized as `RING`.
        let (tx, rx) = async_broadcast::broadcast::<Ev>(RING);
        let readers: Vec<_> = (0..s.subs)
            .map(|_| {
                let mut rx = rx.clone();
                tokio::spawn(async move {
                    let mut check = Check::new(s.senders);
                    while let Ok(ev) = rx.recv_direct().await {
                        check.see(&ev);
                    }
                    check.finish(per);
                })
            })
            .collect();
        drop(rx);
        timed_tasks(s, readers, tx, |tx, i| {
            let tx = tx.clone();
            async move {
                for seq in 0..per {
                    tx.broadcast_direct(Ev::new(i, seq))
                        .await
                        .expect("subscribed");
                }
            }
        })
        .await
    })
}

fn flume_tasks(rt: &Runtime, s: Shape) -> Sample {
    let per = s.per_sender();
    rt.block_on(async move {
        let mut txs = Vec::new();
        let readers: Vec<_> = (0..s.subs)
            .map(|_| {
                let (tx, rx) = flume::unbounded::<Ev>();
                txs.push(tx);
                tokio::spawn(async move {
                    let mut check = Check::new(s.senders);
                    while let Ok(ev) = rx.recv_async().await {
                        check.see(&ev);
                    }
                    check.finish(per);
                })
            })
            .collect();
        timed_tasks(s, readers, txs, |txs, i| {
            let txs = txs.clone();
            async move {
                for seq in 0..per {
                    fan_out(&txs, Ev::new(i, seq), |tx, ev| {
                        tx.send(ev).expect("subscribed")
                    });
                }
            }
        })
        .await
    })
}

/// Per-subscriber fan-out: one clone per channel but the last, which gets the original.
#[inline]
fn fan_out<T>(txs: &[T], ev: Ev, send: impl Fn(&T, Ev)) {
    let (last, rest) = txs.split_last().expect("at least one subscriber");
    for tx in rest {
        send(tx, ev.clone());
    }
    send(last, ev);
}

// ---- thread systems ----

fn crossbeam_threads(_: &Runtime, s: Shape) -> Sample {
    let per = s.per_sender();
    let mut txs = Vec::new();
    let readers = (0..s.subs)
        .map(|_| {
            let (tx, rx) = crossbeam_channel::unbounded::<Ev>();
            txs.push(tx);
            move || {
                let mut check = Check::new(s.senders);
                while let Ok(ev) = rx.recv() {
                    check.see(&ev);
                }
                check.finish(per);
            }
        })
        .collect();
    let senders = (0..s.senders)
        .map(|i| {
            let txs = txs.clone();
            move || {
                for seq in 0..per {
                    fan_out(&txs, Ev::new(i, seq), |tx, ev| {
                        tx.send(ev).expect("subscribed")
                    });
                }
            }
        })
        .collect();
    drop(txs);
    on_threads(readers, senders).0
}

fn bus_threads(_: &Runtime, s: Shape) -> Sample {
    let per = s.per_sender();
    let mut bus = bus::Bus::<Ev>::new(RING);
    let readers = (0..s.subs)
        .map(|_| {
            let mut rx = bus.add_rx();
            move || {
                let mut check = Check::new(s.senders);
                while let Ok(ev) = rx.recv() {
                    check.see(&ev);
                }
                check.finish(per);
            }
        })
        .collect();
    if s.senders == 1 {
        let sender = move || {
            for seq in 0..per {
                bus.broadcast(Ev::new(0, seq));
            }
            // Dropping the bus ends the readers after they drain.
        };
        on_threads(readers, vec![sender]).0
    } else {
        let bus = Arc::new(Mutex::new(bus));
        let senders = (0..s.senders)
            .map(|i| {
                let bus = bus.clone();
                move || {
                    for seq in 0..per {
                        bus.lock().unwrap().broadcast(Ev::new(i, seq));
                    }
                }
            })
            .collect();
        // The last sender thread drops the last `Arc`, and with it the bus.
        drop(bus);
        on_threads(readers, senders).0
    }
}

/// Publishes `per` events of sender `sender`.
fn publish_run<P: disruptor::Producer<Ev>>(p: &mut P, sender: usize, per: u64) {
    for seq in 0..per {
        p.publish(|e| *e = Ev::new(sender, seq));
    }
}

/// What a disruptor subscriber thread needs of its `EventPoller` (whose barrier type differs
/// between single- and multi-producer rings and whose trait bound is private).
trait Drain {
    /// Reads every available event into `check`: `Some(n)` events read (maybe 0), `None` once
    /// the producers are gone and everything was read.
    fn drain(&mut self, check: &mut Check) -> Option<usize>;
}

macro_rules! impl_drain {
    ($barrier:ty) => {
        impl Drain for disruptor::EventPoller<Ev, $barrier> {
            #[inline]
            fn drain(&mut self, check: &mut Check) -> Option<usize> {
                match self.poll() {
                    Ok(mut events) => {
                        let n = (&mut events).len();
                        for ev in &mut events {
                            check.see(ev);
                        }
                        Some(n)
                    }
                    Err(disruptor::Polling::NoEvents) => Some(0),
                    Err(disruptor::Polling::Shutdown) => None,
                }
            }
        }
    };
}
impl_drain!(disruptor::SingleProducerBarrier);
impl_drain!(disruptor::MultiProducerBarrier);

/// A disruptor subscriber as its users write one for a machine without a core to spare per
/// reader: poll for every available event; when there is none, back off (spin, then yield,
/// then sleep 50 us) and poll again. Any event resets the backoff.
fn poller_reader(
    mut poller: impl Drain + Send + 'static,
    senders: usize,
    per: u64,
) -> impl FnOnce() + Send + 'static {
    move || {
        let mut check = Check::new(senders);
        let backoff = crossbeam_utils::Backoff::new();
        while let Some(n) = poller.drain(&mut check) {
            if n > 0 {
                backoff.reset();
            } else if backoff.is_completed() {
                thread::sleep(Duration::from_micros(50));
            } else {
                backoff.snooze();
            }
        }
        check.finish(per);
    }
}

/// disruptor 4 with an `EventPoller` per subscriber, each on its own thread (`poller_reader`).
/// Dropping the last producer shuts the ring down, which ends the readers after they drain.
fn disruptor_poller_threads(_: &Runtime, s: Shape) -> Sample {
    use disruptor::BusySpin;
    let per = s.per_sender();
    let factory = Ev::default;
    // The wait strategy applies to managed handler threads only; there are none here.
    if s.senders == 1 {
        let b = disruptor::build_single_producer(RING, factory, BusySpin);
        let (first, b) = b.new_event_poller();
        let mut readers =
            vec![Box::new(poller_reader(first, s.senders, per)) as Box<dyn FnOnce() + Send>];
        if s.subs == 1 {
            let mut p = b.build();
            let sender = move || publish_run(&mut p, 0, per);
            return on_threads(readers, vec![sender]).0;
        }
        let (second, mut b) = b.new_event_poller();
        readers.push(Box::new(poller_reader(second, s.senders, per)));
        for _ in 2..s.subs {
            let (poller, next) = b.new_event_poller();
            readers.push(Box::new(poller_reader(poller, s.senders, per)));
            b = next;
        }
        let mut p = b.build();
        let sender = move || publish_run(&mut p, 0, per);
        on_threads(readers, vec![sender]).0
    } else {
        let b = disruptor::build_multi_producer(RING, factory, BusySpin);
        let (first, b) = b.new_event_poller();
        let (second, mut b) = b.new_event_poller();
        let mut readers: Vec<Box<dyn FnOnce() + Send>> = vec![
            Box::new(poller_reader(first, s.senders, per)),
            Box::new(poller_reader(second, s.senders, per)),
        ];
        for _ in 2..s.subs {
            let (poller, next) = b.new_event_poller();
            readers.push(Box::new(poller_reader(poller, s.senders, per)));
            b = next;
        }
        let p = b.build();
        let senders = (0..s.senders)
            .map(|i| {
                let mut p = p.clone();
                move || publish_run(&mut p, i, per)
            })
            .collect();
        // The sender threads drop their clones; this last one goes now, untimed.
        drop(p);
        on_threads(readers, senders).0
    }
}

/// disruptor's managed handler threads, busy-spinning (its only blocking-free wait strategy
/// for them): one spinning thread per subscriber.
fn disruptor_busy_spin_threads(_: &Runtime, s: Shape) -> Sample {
    use disruptor::{BusySpinWithSpinLoopHint, Sequence};
    let per = s.per_sender();
    let done = Arc::new(Countdown::new(s.subs));
    let handler = |done: Arc<Countdown>| {
        let mut check = Check::new(s.senders);
        let mut finished = false;
        move |ev: &Ev, _: Sequence, _: bool| {
            check.see(ev);
            if !finished && check.done(per) {
                finished = true;
                done.arrive();
            }
        }
    };
    let factory = Ev::default;
    let wait = BusySpinWithSpinLoopHint;
    // The handler threads start (and spin) at `build`, before the clock starts.
    let (sample, keep): (Sample, Vec<Box<dyn Send>>) = if s.senders == 1 {
        let b = disruptor::build_single_producer(RING, factory, wait)
            .handle_events_with(handler(done.clone()));
        let keep_done = done.clone();
        if s.subs == 1 {
            let mut p = b.build();
            let (sample, mut rets) = on_threads(
                Vec::<fn()>::new(),
                vec![move || {
                    publish_run(&mut p, 0, per);
                    keep_done.wait();
                    Box::new(p) as Box<dyn Send>
                }],
            );
            (sample, vec![rets.remove(0)])
        } else {
            let mut b = b.handle_events_with(handler(done.clone()));
            for _ in 2..s.subs {
                b = b.handle_events_with(handler(done.clone()));
            }
            let mut p = b.build();
            let (sample, mut rets) = on_threads(
                Vec::<fn()>::new(),
                vec![move || {
                    publish_run(&mut p, 0, per);
                    keep_done.wait();
                    Box::new(p) as Box<dyn Send>
                }],
            );
            (sample, vec![rets.remove(0)])
        }
    } else {
        let mut b = disruptor::build_multi_producer(RING, factory, wait)
            .handle_events_with(handler(done.clone()))
            .handle_events_with(handler(done.clone()));
        for _ in 2..s.subs {
            b = b.handle_events_with(handler(done.clone()));
        }
        let p = b.build();
        let senders = (0..s.senders)
            .map(|i| {
                let mut p = p.clone();
                let done = done.clone();
                move || {
                    publish_run(&mut p, i, per);
                    done.wait();
                    Box::new(p) as Box<dyn Send>
                }
            })
            .collect();
        let (sample, mut rets) = on_threads(Vec::<fn()>::new(), senders);
        rets.push(Box::new(p));
        (sample, rets)
    };
    // Dropping the producers stops and joins the handler threads, untimed.
    drop(keep);
    sample
}

fn fanout(c: &mut Criterion) {
    let rt = runtime();
    for shape in SHAPES {
        let mut group = c.benchmark_group(shape.group);
        group.throughput(Throughput::Elements(EVENTS * shape.subs as u64));
        // Iterations take milliseconds (far more for spinning peers on oversubscribed cores):
        // flat sampling keeps the iteration count, and so the run time, bounded.
        group.sampling_mode(SamplingMode::Flat);
        for (name, run) in SYSTEMS {
            let mut meter = CpuMeter::default();
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| time_runs(&rt, shape, run, iters, &mut meter))
            });
            meter.save(shape.group, name);
        }
        group.finish();
    }
}

criterion_group!(benches, fanout);
criterion_main!(benches);
