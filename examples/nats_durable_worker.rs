//! A worker that handles orders from a JetStream stream at least once, even when it is killed.
//!
//! ```text
//! nats-server -js &
//! cargo run --features nats --example nats_durable_worker -- nats://127.0.0.1:4222 5
//! # arguments: server URL, handler time in ms, stream replicas, ack wait in seconds
//! nats pub orders.placed '{"id":1}'        # or any NATS client, e.g. Python's nats-py
//! ```
//!
//! It imports the subject `orders.placed` of the stream `ORDERS` through the durable consumer
//! `worker`, takes `<handler ms>` per order, and prints `handled <id>` when done. The import
//! acknowledges an order only once its handler has dropped the [`Delivery`]: kill the process
//! at any moment (even with `kill -9`) and start it again, and every order it had not
//! finished is delivered again. The bridge tests do exactly that, counting ids.
//!
//! Prints `ready` once the import runs.

use std::io::Write;
use std::time::Duration;

use serde::Deserialize;
use tidings::Bus;
use tidings::bridge::nats::{Bridge, BridgeOptions, Delivery, JetStreamOptions};

#[derive(Clone, Debug, Deserialize)]
struct OrderPlaced {
    id: u64,
}

#[tokio::main]
async fn main() -> Result<(), tidings::bridge::nats::Error> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let handler = Duration::from_millis(args.next().map_or(Ok(5), |ms| ms.parse())?);
    let replicas = args.next().map_or(Ok(1), |r| r.parse())?;
    let ack_wait = Duration::from_secs(args.next().map_or(Ok(30), |s| s.parse())?);

    let bus = Bus::new();
    // Subscribe before importing: the import holds messages back while nobody listens.
    let mut orders = bus.subscribe::<Delivery<OrderPlaced>>();
    let options = BridgeOptions::new(url)
        .jetstream(
            JetStreamOptions::default()
                .replicas(replicas)
                .ack_wait(ack_wait),
        )
        .connect_options(
            async_nats::ConnectOptions::new()
                .reconnect_delay_callback(|_| Duration::from_millis(100)),
        );
    let bridge = Bridge::connect(options, &bus).await?;
    bridge
        .import_durable::<OrderPlaced>("ORDERS", "orders.placed", "worker")
        .await?;
    println!("ready");

    let mut out = std::io::stdout().lock();
    while let Some(order) = orders.recv().await {
        tokio::time::sleep(handler).await; // the work
        writeln!(out, "handled {}", order.id)?;
        out.flush()?;
        // `order` drops here: the last copy, so the bridge acknowledges the message.
    }
    Ok(())
}
