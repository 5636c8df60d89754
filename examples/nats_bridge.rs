//! Two buses, two terminals: a chat over NATS.
//!
//! ```text
//! nats-server -js &                       # or: apt-get install -y nats-server
//! cargo run --features nats --example nats_bridge -- nats://127.0.0.1:4222 alice
//! cargo run --features nats --example nats_bridge -- nats://127.0.0.1:4222 bob   # 2nd terminal
//! ```
//!
//! Each line typed is sent as a `Chat` event on the local bus; the bridge exports it to the
//! subject `tidings.example.chat` and imports that subject back, so each process prints what
//! the other typed, once, and never its own lines back (the origin header stops the echo).
//! Any NATS client can join: `nats pub tidings.example.chat '{"from":"cli","text":"hi"}'`.
//!
//! The bridge integration tests run this binary as a second OS process: it prints `ready`
//! once bridged and exits at the end of its input.

use serde::{Deserialize, Serialize};
use tidings::Bus;
use tidings::bridge::nats::Bridge;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Chat {
    from: String,
    text: String,
}

const SUBJECT: &str = "tidings.example.chat";

#[tokio::main]
async fn main() -> Result<(), tidings::bridge::nats::Error> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let name = args
        .next()
        .unwrap_or_else(|| format!("pid{}", std::process::id()));

    let bus = Bus::new();
    let mut incoming = bus.subscribe::<Chat>();
    let bridge = Bridge::connect(url.as_str(), &bus).await?;
    bridge.export::<Chat>(SUBJECT)?;
    bridge.import::<Chat>(SUBJECT).await?;
    println!("ready");

    // Print what others say. Our own lines are on the bus too; skip them here.
    let me = name.clone();
    let printer = tokio::spawn(async move {
        while let Some(chat) = incoming.recv().await {
            if chat.from != me {
                println!("{}: {}", chat.from, chat.text);
            }
        }
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(text) = lines.next_line().await? {
        let _ = bus.send(Chat {
            from: name.clone(),
            text,
        });
    }
    bridge.close().await?;
    drop(bus); // the last handle: the printer's subscription ends
    printer.await?;
    Ok(())
}
