//! The tidings side of the Python interop example (`examples/python/haiway_orders.py`): a
//! service that confirms orders placed by a Haiway service over NATS.
//!
//! ```text
//! nats-server -js &
//! cargo run --features nats --example nats_orders_service -- nats://127.0.0.1:4222 core
//! python examples/python/haiway_orders.py nats://127.0.0.1:4222 core 100   # in a venv with haiway, nats-py
//! ```
//!
//! `core` mode: imports `orders.placed`, exports `orders.confirmed` (core NATS, at most once).
//! `jetstream` mode: imports `orders.durable.placed` from stream `PY_ORDERS` through consumer
//! `tidings-orders`, and exports `orders.durable.confirmed` into stream `PY_CONFIRMATIONS` (at
//! least once both ways). Each `OrderPlaced { id, item }` becomes an
//! `OrderConfirmed { id, item, by }` on the bus, which the export publishes. Prints `ready` once
//! bridged; runs until stdin closes.

use serde::{Deserialize, Serialize};
use tidings::Bus;
use tidings::bridge::nats::{Bridge, Delivery};
use tokio::io::AsyncReadExt;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct OrderPlaced {
    id: u64,
    item: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct OrderConfirmed {
    id: u64,
    item: String,
    by: String,
}

fn confirm(order: &OrderPlaced) -> OrderConfirmed {
    OrderConfirmed {
        id: order.id,
        item: order.item.clone(),
        by: "tidings".into(),
    }
}

#[tokio::main]
async fn main() -> Result<(), tidings::bridge::nats::Error> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let durable = match args.next().as_deref() {
        None | Some("core") => false,
        Some("jetstream") => true,
        Some(other) => return Err(format!("mode {other:?}: core or jetstream").into()),
    };

    let bus = Bus::new();
    let bridge = Bridge::connect(url.as_str(), &bus).await?;
    let handler = if durable {
        let mut orders = bus.subscribe::<Delivery<OrderPlaced>>();
        bridge
            .export_durable::<OrderConfirmed>("PY_CONFIRMATIONS", "orders.durable.confirmed")
            .await?;
        bridge
            .import_durable::<OrderPlaced>("PY_ORDERS", "orders.durable.placed", "tidings-orders")
            .await?;
        let bus = bus.clone();
        tokio::spawn(async move {
            while let Some(order) = orders.recv().await {
                let _ = bus.send(confirm(&order)); // then `order` drops: acknowledged
            }
        })
    } else {
        let mut orders = bus.subscribe::<OrderPlaced>();
        bridge.export::<OrderConfirmed>("orders.confirmed")?;
        bridge.import::<OrderPlaced>("orders.placed").await?;
        let bus = bus.clone();
        tokio::spawn(async move {
            while let Some(order) = orders.recv().await {
                let _ = bus.send(confirm(&order));
            }
        })
    };
    println!("ready");

    // Run until stdin closes (the test closes it, or Ctrl-D).
    let _ = tokio::io::stdin().read_to_end(&mut Vec::new()).await;
    bridge.close().await?;
    bus.close();
    handler.await?;
    Ok(())
}
