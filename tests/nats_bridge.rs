//! The NATS bridge against a real `nats-server` (see `support/nats_server.rs`): two buses in
//! one process, two OS processes, bad input, server crashes for core and JetStream, loops,
//! and secrets in logs.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::ConnectOptions;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use support::log_capture::global as logs;
use support::nats_server::{self, NatsServer};
use tidings::bridge::nats::{
    Bridge, BridgeOptions, BridgeStats, Codec, Delivery, JetStreamOptions, ORIGIN_HEADER,
};
use tidings::{Bus, Subscription};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Note {
    seq: u64,
    text: String,
}

fn note(seq: u64) -> Note {
    Note {
        seq,
        text: format!("note {seq}"),
    }
}

/// Long enough for a loaded CI machine; tests finish as soon as the condition holds.
const PATIENCE: Duration = Duration::from_secs(30);

macro_rules! server {
    ($($arg:expr),*) => {
        match NatsServer::start_with(&[$($arg),*]) {
            Some(server) => server,
            None => return,
        }
    };
}

/// Reconnect every 100 ms instead of async-nats's growing back-off, so the fault tests are
/// quick.
fn fast(url: &str) -> BridgeOptions {
    BridgeOptions::new(url).connect_options(
        ConnectOptions::new().reconnect_delay_callback(|_| Duration::from_millis(100)),
    )
}

async fn recv<E: Clone + Send + Sync + 'static>(sub: &mut Subscription<E>) -> E {
    tokio::time::timeout(PATIENCE, sub.recv())
        .await
        .expect("timed out waiting for an event")
        .expect("bus closed")
}

async fn recv_n<E: Clone + Send + Sync + 'static>(sub: &mut Subscription<E>, n: usize) -> Vec<E> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(recv(sub).await);
    }
    out
}

/// The events of handled deliveries (dropping them acknowledges them).
fn events<E: Clone>(deliveries: Vec<Delivery<E>>) -> Vec<E> {
    deliveries.iter().map(|d| d.event().clone()).collect()
}

/// Returns once the server has processed the subscriptions `client` made so far. `flush` only
/// writes them to the socket: another connection's publish could still reach the server first.
/// A request nobody answers is answered ("no responders") after everything sent before it.
async fn subscribed(client: &async_nats::Client) {
    let _ = client.request("_TIDINGS_TEST.sync", "".into()).await;
}

/// Waits until `f` holds for the bridge's stats.
async fn wait_stats(bridge: &Bridge, what: &str, f: impl Fn(&BridgeStats) -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !f(&bridge.stats()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            bridge.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Nothing more arrives for a while (for "exactly once" checks after everything arrived).
async fn assert_quiet<E: Clone + Send + Sync + std::fmt::Debug + 'static>(
    sub: &mut Subscription<E>,
) {
    let extra = tokio::time::timeout(Duration::from_millis(300), sub.recv()).await;
    assert!(extra.is_err(), "unexpected extra event: {extra:?}");
}

/// Bus `a` exports `Note`s on `subject`; bus `b` imports them into `on_b`.
struct AToB {
    a: Bus,
    bridge_a: Bridge,
    bridge_b: Bridge,
    on_b: Subscription<Note>,
}

async fn a_to_b(options: impl Fn() -> BridgeOptions, subject: &str) -> AToB {
    let (a, b) = (Bus::new(), Bus::new());
    let bridge_a = Bridge::connect(options(), &a).await.unwrap();
    let bridge_b = Bridge::connect(options(), &b).await.unwrap();
    let on_b = b.subscribe::<Note>();
    bridge_b.import::<Note>(subject).await.unwrap();
    bridge_a.export::<Note>(subject).unwrap();
    AToB {
        a,
        bridge_a,
        bridge_b,
        on_b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_events_arrive_on_a_second_bus_in_order() {
    let server = server!();
    let AToB {
        a,
        bridge_a,
        bridge_b,
        mut on_b,
    } = a_to_b(|| BridgeOptions::new(server.url()), "notes").await;
    for seq in 0..500 {
        a.send(note(seq)).unwrap(); // the export is a subscriber
    }
    assert_eq!(
        recv_n(&mut on_b, 500).await,
        (0..500).map(note).collect::<Vec<_>>()
    );
    assert_quiet(&mut on_b).await;
    assert_eq!(bridge_a.stats().exported, 500);
    assert_eq!(bridge_b.stats().imported, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_buses_exporting_and_importing_one_subject_see_each_event_once() {
    let server = server!();
    let (a, b) = (Bus::new(), Bus::new());
    let mut on_a = a.subscribe::<Note>();
    let mut on_b = b.subscribe::<Note>();
    let bridges = [
        Bridge::connect(server.url(), &a).await.unwrap(),
        Bridge::connect(server.url(), &b).await.unwrap(),
    ];
    for bridge in &bridges {
        bridge.export::<Note>("chat").unwrap();
        bridge.import::<Note>("chat").await.unwrap();
    }
    a.send(note(1)).unwrap();
    b.send(note(2)).unwrap();
    // Each bus: its own event (local) and the other's (imported), once each.
    let mut got_a = recv_n(&mut on_a, 2).await;
    let mut got_b = recv_n(&mut on_b, 2).await;
    got_a.sort_by_key(|n| n.seq);
    got_b.sort_by_key(|n| n.seq);
    assert_eq!(got_a, [note(1), note(2)]);
    assert_eq!(got_b, [note(1), note(2)]);
    for bridge in &bridges {
        // Its own message came back from the server and was dropped; the imported one was
        // not published again.
        wait_stats(bridge, "loop bookkeeping", |s| {
            s.looped == 1 && s.echoes_suppressed == 1
        })
        .await;
        assert_eq!((bridge.stats().exported, bridge.stats().imported), (1, 1));
    }
    assert_quiet(&mut on_a).await;
    assert_quiet(&mut on_b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_never_imports_its_own_events() {
    let server = server!();
    let bus = Bus::new();
    let mut local = bus.subscribe::<Note>();
    let bridge = Bridge::connect(server.url(), &bus).await.unwrap();
    bridge.export::<Note>("self").unwrap();
    bridge.import::<Note>("self").await.unwrap();
    for seq in 0..50 {
        bus.send(note(seq)).unwrap();
    }
    assert_eq!(
        recv_n(&mut local, 50).await,
        (0..50).map(note).collect::<Vec<_>>()
    );
    wait_stats(&bridge, "50 looped", |s| s.looped == 50).await;
    assert_quiet(&mut local).await;
    assert_eq!(bridge.stats().imported, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_on_the_wire_is_plain_and_interoperable() {
    let server = server!();
    let bus = Bus::new();
    let mut local = bus.subscribe::<Note>();
    let bridge = Bridge::connect(server.url(), &bus).await.unwrap();
    bridge.export::<Note>("out").unwrap();
    bridge.import::<Note>("in").await.unwrap();
    let raw = async_nats::connect(server.url()).await.unwrap();
    let mut out = raw.subscribe("out").await.unwrap();
    subscribed(&raw).await;

    // What a Python service would publish: JSON, no headers, other field order, spaces.
    raw.publish("in", r#"{ "text": "from python", "seq": 9 }"#.into())
        .await
        .unwrap();
    assert_eq!(
        recv(&mut local).await,
        Note {
            seq: 9,
            text: "from python".into()
        }
    );

    bus.send(note(3)).unwrap();
    let message = tokio::time::timeout(PATIENCE, out.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&message.payload[..], br#"{"seq":3,"text":"note 3"}"#);
    let origin = message.headers.unwrap();
    assert_eq!(origin.get(ORIGIN_HEADER).unwrap().as_str(), bridge.origin());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messagepack_bridges_two_buses() {
    let server = server!();
    let AToB {
        a,
        bridge_a: _bridge_a,
        bridge_b: _bridge_b,
        mut on_b,
    } = a_to_b(
        || BridgeOptions::new(server.url()).codec(Codec::MessagePack),
        "mp",
    )
    .await;
    let raw = async_nats::connect(server.url()).await.unwrap();
    let mut wire = raw.subscribe("mp").await.unwrap();
    subscribed(&raw).await;
    let _keep = a.subscribe::<Note>();
    a.send(note(4)).unwrap();
    assert_eq!(recv(&mut on_b).await, note(4));
    let message = wire.next().await.unwrap();
    // A fixmap of two named fields: MessagePack, not JSON.
    assert_eq!(message.payload[0], 0x82);
    assert_eq!(rmp_decode(&message.payload), note(4));
}

fn rmp_decode(bytes: &[u8]) -> Note {
    rmp_serde::from_slice(bytes).expect("valid MessagePack")
}

#[tokio::test]
async fn a_malformed_message_is_counted_logged_and_skipped() {
    let logs = logs();
    let server = server!();
    let bus = Bus::new();
    let mut local = bus.subscribe::<Note>();
    let bridge = Bridge::connect(server.url(), &bus).await.unwrap();
    bridge.import::<Note>("bad.input").await.unwrap();
    let raw = async_nats::connect(server.url()).await.unwrap();
    for payload in [
        &b"not json"[..],
        br#"{"seq":"one"}"#,
        b"\xff\xfe",
        b"",
        br#"{"seq":1,"text":"ok"}"#,
    ] {
        raw.publish("bad.input", payload.to_vec().into())
            .await
            .unwrap();
    }
    assert_eq!(
        recv(&mut local).await,
        Note {
            seq: 1,
            text: "ok".into()
        }
    );
    let stats = bridge.stats();
    assert_eq!((stats.malformed, stats.imported), (4, 1));
    let text = logs.text();
    let warnings = text
        .lines()
        .filter(|l| l.contains("does not decode") && l.contains(r#"subject="bad.input""#))
        .count();
    assert_eq!(warnings, 4, "one warning per bad message:\n{text}");
    // Still working.
    raw.publish("bad.input", br#"{"seq":2,"text":"ok"}"#.to_vec().into())
        .await
        .unwrap();
    assert_eq!(recv(&mut local).await.seq, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_jetstream_message_is_terminated_not_redelivered() {
    let server = server!();
    let bus = Bus::new();
    let mut local = bus.subscribe::<Delivery<Note>>();
    let bridge = Bridge::connect(server.url(), &bus).await.unwrap();
    let raw = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(raw.clone());
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: "BAD".into(),
        subjects: vec!["bad.durable".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    js.publish("bad.durable", "garbage".into())
        .await
        .unwrap()
        .await
        .unwrap();
    js.publish("bad.durable", br#"{"seq":5,"text":"good"}"#.to_vec().into())
        .await
        .unwrap()
        .await
        .unwrap();
    bridge
        .import_durable::<Note>("BAD", "bad.durable", "reader")
        .await
        .unwrap();
    assert_eq!(recv(&mut local).await.seq, 5);
    wait_stats(&bridge, "one malformed", |s| s.malformed == 1).await;
    // Both settled on the server: nothing pending, nothing to redeliver.
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream("BAD")
        .await
        .unwrap()
        .get_consumer("reader")
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let info = consumer.info().await.unwrap();
        if info.num_ack_pending == 0 && info.ack_floor.stream_sequence == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{info:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bridge.stats().malformed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_bridge_recovers_after_the_server_is_killed_and_restarted() {
    let mut server = server!();
    let AToB {
        a,
        bridge_a,
        bridge_b,
        mut on_b,
    } = a_to_b(|| fast(&server.url()), "live").await;
    for seq in 0..100 {
        let _ = a.send(note(seq));
    }
    assert_eq!(recv_n(&mut on_b, 100).await.last(), Some(&note(99)));

    server.kill();
    for bridge in [&bridge_a, &bridge_b] {
        wait_stats(bridge, "the outage", |s| s.disconnects == 1 && !s.connected).await;
    }
    // Sent during the outage: never blocks; at most once, so these may be lost.
    for seq in 100..200 {
        let _ = a.send(note(seq));
    }
    server.restart();
    for bridge in [&bridge_a, &bridge_b] {
        wait_stats(bridge, "the reconnect", |s| {
            s.reconnects >= 1 && s.connected
        })
        .await;
    }
    // b's subscription was renewed by async-nats; wait until the server has it by probing.
    let mut probe = 1_000;
    let got = loop {
        let _ = a.send(note(probe));
        match tokio::time::timeout(Duration::from_millis(200), on_b.recv()).await {
            Ok(Some(n)) if n.seq >= 1_000 => break n,
            Ok(Some(_)) => continue, // a survivor from the outage
            Ok(None) => panic!("bus closed"),
            Err(_) => probe += 1,
        }
        assert!(probe < 1_000 + 150, "the bridge did not recover");
    };
    assert!(got.seq >= 1_000);
    for seq in 2_000..2_100 {
        a.send(note(seq)).unwrap();
    }
    let after: Vec<u64> = recv_n(&mut on_b, 100).await.iter().map(|n| n.seq).collect();
    let tail: Vec<u64> = after.into_iter().filter(|&s| s >= 2_000).collect();
    assert_eq!(tail, (2_000..2_000 + tail.len() as u64).collect::<Vec<_>>());
    let mut rest = tail.len() as u64;
    while rest < 100 {
        assert_eq!(recv(&mut on_b).await.seq, 2_000 + rest);
        rest += 1;
    }
}

/// Notes go through a durable export while the server is killed a quarter of the way in and
/// restarted half way; the importer must see every `seq`, duplicates allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_events_survive_a_server_restart_exactly_once_after_dedup() {
    const COUNT: u64 = 2_000;
    let mut server = server!();
    let (a, b) = (Bus::new(), Bus::new());
    let bridge_a = Bridge::connect(fast(&server.url()), &a).await.unwrap();
    let bridge_b = Bridge::connect(fast(&server.url()), &b).await.unwrap();
    let mut on_b = b.subscribe::<Delivery<Note>>();
    bridge_a
        .export_durable::<Note>("NOTES", "notes.durable")
        .await
        .unwrap();
    bridge_b
        .import_durable::<Note>("NOTES", "notes.durable", "b")
        .await
        .unwrap();
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    let mut sent = 0;
    let mut killed = false;
    while sent < COUNT {
        let _ = a.send(note(sent));
        sent += 1;
        if sent == COUNT / 4 {
            // Mid-stream: some acknowledged, some in flight, some not yet sent.
            tokio::task::yield_now().await;
            server.kill();
            killed = true;
        }
        if sent == COUNT / 2 && killed {
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.restart();
        }
    }
    while seen.len() < COUNT as usize {
        let n = recv(&mut on_b).await;
        *seen.entry(n.seq).or_default() += 1;
    }
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (0..COUNT).collect::<Vec<_>>()
    );
    let duplicates: u32 = seen.values().map(|c| c - 1).sum();
    eprintln!("duplicates delivered (then deduplicated by seq): {duplicates}");
    let a_stats = bridge_a.stats();
    assert!(a_stats.disconnects >= 1, "{a_stats:?}");
    wait_stats(&bridge_a, "every event acknowledged", |s| {
        s.exported == COUNT
    })
    .await;
    // The stream stored each event once: retries carried the same Nats-Msg-Id.
    let js = async_nats::jetstream::new(bridge_a.client().clone());
    let info = js
        .get_stream("NOTES")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.state.messages, COUNT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_consumer_resumes_after_its_bridge_restarts() {
    let server = server!();
    let a = Bus::new();
    let bridge_a = Bridge::connect(server.url(), &a).await.unwrap();
    bridge_a
        .export_durable::<Note>("RESUME", "resume")
        .await
        .unwrap();
    let _keep = a.subscribe::<Note>();

    // First run of the importer: gets 0..5, acknowledges, closes.
    {
        let b = Bus::new();
        let mut on_b = b.subscribe::<Delivery<Note>>();
        let bridge_b = Bridge::connect(server.url(), &b).await.unwrap();
        bridge_b
            .import_durable::<Note>("RESUME", "resume", "billing")
            .await
            .unwrap();
        for seq in 0..5 {
            a.send(note(seq)).unwrap();
        }
        assert_eq!(
            events(recv_n(&mut on_b, 5).await),
            (0..5).map(note).collect::<Vec<_>>()
        );
        bridge_b.close().await.unwrap();
    }
    // While no importer runs; and the exporter restarts too.
    for seq in 5..10 {
        a.send(note(seq)).unwrap();
    }
    bridge_a.close().await.unwrap();
    // Second run: exactly what it missed, nothing it acknowledged.
    let b = Bus::new();
    let mut on_b = b.subscribe::<Delivery<Note>>();
    let bridge_b = Bridge::connect(server.url(), &b).await.unwrap();
    bridge_b
        .import_durable::<Note>("RESUME", "resume", "billing")
        .await
        .unwrap();
    assert_eq!(
        events(recv_n(&mut on_b, 5).await),
        (5..10).map(note).collect::<Vec<_>>()
    );
    assert_quiet(&mut on_b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_publishes_what_the_export_already_received() {
    let server = server!();
    let AToB {
        a,
        bridge_a,
        bridge_b: _bridge_b,
        mut on_b,
    } = a_to_b(|| BridgeOptions::new(server.url()), "drain").await;
    for seq in 0..1_000 {
        let _ = a.send(note(seq));
    }
    bridge_a.close().await.unwrap();
    assert_eq!(recv_n(&mut on_b, 1_000).await.len(), 1_000);
    // Closed: later sends go nowhere.
    let _ = a.send(note(5_000));
    assert_quiet(&mut on_b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_os_processes_exchange_events() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Chat {
        from: String,
        text: String,
    }
    let server = server!();
    let example = nats_server::example_binary("nats_bridge");
    let mut child = tokio::process::Command::new(&example)
        .args([server.url(), "peer".into()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;
    let next_line = async |lines: &mut Lines| {
        tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("the example said nothing")
            .unwrap()
            .expect("the example exited")
    };
    assert_eq!(next_line(&mut lines).await, "ready");

    let bus = Bus::new();
    let mut local = bus.subscribe::<Chat>();
    let bridge = Bridge::connect(server.url(), &bus).await.unwrap();
    bridge.export::<Chat>("tidings.example.chat").unwrap();
    bridge.import::<Chat>("tidings.example.chat").await.unwrap();

    bus.send(Chat {
        from: "test".into(),
        text: "hello".into(),
    })
    .unwrap();
    assert_eq!(recv(&mut local).await.from, "test");
    assert_eq!(next_line(&mut lines).await, "test: hello");

    stdin
        .write_all(b"hi from the other process\n")
        .await
        .unwrap();
    stdin.flush().await.unwrap();
    assert_eq!(
        recv(&mut local).await,
        Chat {
            from: "peer".into(),
            text: "hi from the other process".into()
        }
    );
    drop(stdin); // end of input: the example closes its bridge and exits
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    assert_quiet(&mut local).await;
}

#[tokio::test]
async fn secrets_never_reach_the_log() {
    const TOKEN: &str = "s3cr3t-t0ken-4242";
    let logs = logs();
    let mut server = server!("--auth", TOKEN);

    // The wrong token fails, and says so without echoing either token.
    let wrong = BridgeOptions::new(server.url())
        .connect_options(ConnectOptions::with_token("wr0ng-t0ken".into()));
    let error = Bridge::connect(wrong, &Bus::new()).await.unwrap_err();
    assert!(!error.to_string().contains("wr0ng-t0ken"), "{error}");

    let bus = Bus::new();
    let mut local = bus.subscribe::<Note>();
    // The token in the URL, where async-nats would log it if the bridge left it there.
    let url = server.url().replace("nats://", &format!("nats://{TOKEN}@"));
    let options = BridgeOptions::new(url).connect_options(
        ConnectOptions::new().reconnect_delay_callback(|_| Duration::from_millis(100)),
    );
    let bridge = Bridge::connect(options, &bus).await.unwrap();
    bridge.export::<Note>("secret").unwrap();
    bridge.import::<Note>("secret").await.unwrap();
    bus.send(note(1)).unwrap();
    recv(&mut local).await;
    server.restart();
    wait_stats(&bridge, "a reconnect", |s| s.reconnects >= 1 && s.connected).await;
    // A malformed message, to exercise the warning path too.
    let raw = async_nats::ConnectOptions::with_token(TOKEN.into())
        .connect(server.url())
        .await
        .unwrap();
    // Until the renewed subscription is on the server.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while bridge.stats().malformed == 0 {
        raw.publish("secret", "junk".into()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            bridge.stats()
        );
    }
    // A user:password URL to a closed port: the failing attempt is logged, the password not.
    let _ = Bridge::connect(
        format!("nats://alice:{TOKEN}x@127.0.0.1:1").as_str(),
        &Bus::new(),
    )
    .await
    .unwrap_err();
    drop(bridge);

    let text = logs.text();
    assert!(
        text.contains("disconnected"),
        "the outage is logged:\n{text}"
    );
    assert!(!text.contains(TOKEN), "a secret was logged:\n{text}");
    assert!(
        !text.contains("wr0ng-t0ken"),
        "a secret was logged:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_subjects_are_refused() {
    let server = server!();
    let bus = Bus::new();
    let bridge = Bridge::connect(server.url(), &bus).await.unwrap();
    for subject in ["", "a..b", "orders.*", "orders.>", "with space"] {
        assert!(bridge.export::<Note>(subject).is_err(), "{subject:?}");
    }
    // Imports may use wildcards.
    bridge.import::<Note>("orders.*").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_into_a_closed_bus_stops_and_a_durable_one_leaves_the_message_unacknowledged() {
    let server = server!();
    let bus = Bus::new();
    let bridge = Bridge::connect(server.url(), &bus).await.unwrap();
    bridge
        .import_durable::<Note>("CLOSED", "closed", "c")
        .await
        .unwrap();
    bus.close();
    let raw = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(raw);
    js.publish("closed", br#"{"seq":1,"text":"x"}"#.to_vec().into())
        .await
        .unwrap()
        .await
        .unwrap();
    // The import finds the bus closed and stops; the message stays for the next run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = wait_consumer(&js, "CLOSED", "c", "the consumer", |_| true).await;
    assert_eq!(info.ack_floor.stream_sequence, 0, "{info:?}");
    assert_eq!(
        info.num_pending + info.num_ack_pending as u64,
        1,
        "{info:?}"
    );
    assert_eq!(bridge.stats().imported, 0);
}

// ---- at least once to the handler (issue 16.1) ----

/// Waits until `f` holds for consumer `name` of `stream`.
async fn wait_consumer(
    js: &async_nats::jetstream::Context,
    stream: &str,
    name: &str,
    what: &str,
    f: impl Fn(&async_nats::jetstream::consumer::Info) -> bool,
) -> async_nats::jetstream::consumer::Info {
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream(stream)
        .await
        .unwrap()
        .get_consumer(name)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let info = consumer.info().await.unwrap().clone();
        if f(&info) {
            return info;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes `notes` to a JetStream subject and waits for the stream's acknowledgements.
async fn preload(
    js: &async_nats::jetstream::Context,
    subject: &str,
    notes: impl Iterator<Item = u64>,
) {
    let mut acks = Vec::new();
    for seq in notes {
        let payload = serde_json::to_vec(&note(seq)).unwrap();
        acks.push(
            js.publish(subject.to_owned(), payload.into())
                .await
                .unwrap(),
        );
    }
    for ack in acks {
        ack.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_message_is_acknowledged_only_when_the_handler_drops_its_delivery() {
    let server = server!();
    let bus = Bus::new();
    let mut first = bus.subscribe::<Delivery<Note>>();
    let mut second = bus.subscribe::<Delivery<Note>>();
    let bridge = Bridge::connect(server.url(), &bus).await.unwrap();
    bridge
        .import_durable::<Note>("HELD", "held", "h")
        .await
        .unwrap();
    let js = async_nats::jetstream::new(bridge.client().clone());
    preload(&js, "held", 1..=1).await;

    let on_first = recv(&mut first).await;
    let on_first_clone = on_first.clone();
    assert_eq!((on_first.seq, on_first.delivered()), (1, 1));
    assert_eq!(on_first.subject(), "held");
    // Received but not handled: delivered, unacknowledged.
    let unacked = |i: &async_nats::jetstream::consumer::Info| {
        i.num_ack_pending == 1 && i.ack_floor.stream_sequence == 0
    };
    wait_consumer(&js, "HELD", "h", "the delivery", unacked).await;
    drop(on_first); // a clone of the same received copy still lives
    let on_second = recv(&mut second).await;
    drop(on_first_clone); // the first subscription is done; the second is not
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_consumer(&js, "HELD", "h", "still unacknowledged", unacked).await;
    drop(on_second); // the last copy: acknowledged, without any other traffic on the bus
    wait_consumer(&js, "HELD", "h", "the acknowledgement", |i| {
        i.num_ack_pending == 0 && i.ack_floor.stream_sequence == 1
    })
    .await;
    assert_eq!(bridge.stats().imported, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nak_redelivers_ack_settles_at_once_and_a_panicking_handler_naks() {
    let server = server!();
    let bus = Bus::new();
    let mut handler = bus.subscribe::<Delivery<Note>>();
    let mut bystander = bus.subscribe::<Delivery<Note>>(); // never reads
    let bridge = Bridge::connect(server.url(), &bus).await.unwrap();
    bridge
        .import_durable::<Note>("NAK", "nak", "n")
        .await
        .unwrap();
    let js = async_nats::jetstream::new(bridge.client().clone());
    preload(&js, "nak", 1..=1).await;

    let first = recv(&mut handler).await;
    assert_eq!(first.delivered(), 1);
    first.nak();
    first.ack(); // too late: the nak settled it
    drop(first);
    let again = recv(&mut handler).await;
    assert_eq!((again.seq, again.delivered()), (1, 2));
    // A handler that panics while holding its copy did not handle the event: nak, not ack.
    let panicked = std::thread::spawn(move || {
        let _held = again;
        panic!("handler failed");
    })
    .join();
    assert!(panicked.is_err());
    let third = recv(&mut handler).await;
    assert_eq!((third.seq, third.delivered()), (1, 3));
    // The bystander holds the bus's copies unread; an explicit ack does not wait for it.
    third.ack();
    wait_consumer(&js, "NAK", "n", "the explicit ack", |i| {
        i.num_ack_pending == 0 && i.ack_floor.stream_sequence == 1
    })
    .await;
    drop(third);
    assert_eq!(bystander.try_recv().unwrap().delivered(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_import_holds_messages_while_nobody_subscribes() {
    let server = server!();
    let bus = Bus::new();
    let options = BridgeOptions::new(server.url())
        .jetstream(JetStreamOptions::default().ack_wait(Duration::from_secs(2)));
    let bridge = Bridge::connect(options, &bus).await.unwrap();
    bridge
        .import_durable::<Note>("NOONE", "noone", "x")
        .await
        .unwrap();
    let js = async_nats::jetstream::new(bridge.client().clone());
    preload(&js, "noone", 0..3).await;
    // Nothing is taken from the stream, let alone acknowledged, while there is nobody to hand
    // it to, even past the ack wait.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let info = wait_consumer(&js, "NOONE", "x", "the consumer", |_| true).await;
    assert_eq!(
        (info.ack_floor.stream_sequence, info.num_pending),
        (0, 3),
        "{info:?}"
    );
    assert_eq!(bridge.stats().imported, 0);
    let mut late = bus.subscribe::<Delivery<Note>>();
    let got: Vec<u64> = events(recv_n(&mut late, 3).await)
        .iter()
        .map(|n| n.seq)
        .collect();
    assert_eq!(got, [0, 1, 2]);
    wait_consumer(&js, "NOONE", "x", "all acknowledged", |i| {
        i.ack_floor.stream_sequence == 3 && i.num_ack_pending == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_ack_pending_deliveries_are_unacknowledged_at_once() {
    let server = server!();
    let bus = Bus::new();
    let mut handler = bus.subscribe::<Delivery<Note>>();
    let options =
        BridgeOptions::new(server.url()).jetstream(JetStreamOptions::default().max_ack_pending(5));
    let bridge = Bridge::connect(options, &bus).await.unwrap();
    let js = async_nats::jetstream::new(bridge.client().clone());
    bridge
        .import_durable::<Note>("WINDOW", "window", "w")
        .await
        .unwrap();
    preload(&js, "window", 0..20).await;
    let mut held = recv_n(&mut handler, 5).await;
    // The window is full: nothing more arrives while these five are held.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(handler.try_recv().is_err(), "a sixth delivery arrived");
    let info = wait_consumer(&js, "WINDOW", "w", "five pending", |i| {
        i.num_ack_pending == 5
    })
    .await;
    assert_eq!(info.config.max_ack_pending, 5);
    held.truncate(2); // three handled
    let more = recv_n(&mut handler, 3).await;
    assert_eq!(more[0].seq, 5);
    drop((held, more));
    // Handled one by one (each dropped at once), the rest flows through the window.
    let mut last = 0;
    for _ in 0..12 {
        last = recv(&mut handler).await.seq;
    }
    assert_eq!(last, 19);
}

/// The worker example (a 5 ms handler that prints `handled <id>` before dropping the
/// delivery) is killed with SIGKILL at several points, with the whole stream preloaded and
/// with orders arriving while it runs; every order must have been handled by some run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_at_any_point_has_every_event_handled_at_least_once() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    const PRELOADED: u64 = 300;
    const LATER: u64 = 200;
    let server = server!();
    let worker = nats_server::example_binary("nats_durable_worker");
    let raw = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(raw);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: "ORDERS".into(),
        subjects: vec!["orders.placed".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let order = |id: u64| serde_json::to_vec(&serde_json::json!({ "id": id })).unwrap();
    let mut acks = Vec::new();
    for id in 0..PRELOADED {
        acks.push(js.publish("orders.placed", order(id).into()).await.unwrap());
    }
    for ack in acks.drain(..) {
        ack.await.unwrap();
    }

    let mut handled: BTreeMap<u64, u32> = BTreeMap::new();
    // Kill after this many handled lines in each run; the last run finishes the work.
    let kills = [25usize, 120, 60];
    for (run, kill_after) in kills.iter().copied().map(Some).chain([None]).enumerate() {
        let mut child = tokio::process::Command::new(&worker)
            // 5 ms per order, 1 replica, ack wait 2 s (what a kill left pending comes back soon).
            .args([server.url(), "5".into(), "1".into(), "2".into()])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(PATIENCE, lines.next_line()).await;
        assert_eq!(line.unwrap().unwrap().as_deref(), Some("ready"));
        if run == 2 {
            // Orders arriving while the worker runs, not preloaded.
            for id in PRELOADED..PRELOADED + LATER {
                acks.push(js.publish("orders.placed", order(id).into()).await.unwrap());
            }
        }
        let mut this_run = 0;
        loop {
            if kill_after == Some(this_run) {
                child.start_kill().unwrap(); // SIGKILL
                break;
            }
            if kill_after.is_none() && handled.len() as u64 == PRELOADED + LATER {
                child.start_kill().unwrap();
                break;
            }
            let line = tokio::time::timeout(PATIENCE, lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("run {run}: no progress; handled {}", handled.len()))
                .unwrap()
                .unwrap_or_else(|| panic!("run {run}: the worker exited"));
            let id: u64 = line.strip_prefix("handled ").unwrap().parse().unwrap();
            *handled.entry(id).or_default() += 1;
            this_run += 1;
        }
        child.wait().await.unwrap();
        // Lines the worker wrote before it died count as handled too.
        while let Ok(Some(line)) = lines.next_line().await {
            let id: u64 = line.strip_prefix("handled ").unwrap().parse().unwrap();
            *handled.entry(id).or_default() += 1;
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }
    let missing: Vec<u64> = (0..PRELOADED + LATER)
        .filter(|id| !handled.contains_key(id))
        .collect();
    assert!(missing.is_empty(), "never handled: {missing:?}");
    let again: u32 = handled.values().map(|n| n - 1).sum();
    eprintln!("handled twice or more after a kill: {again}");
}

// ---- close always ends (issue 16.2) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_in_time_with_the_server_gone_and_a_full_core_queue() {
    let mut server = server!();
    let bus = Bus::new();
    let options = fast(&server.url()).close_timeout(Duration::from_secs(1));
    let bridge = Bridge::connect(options, &bus).await.unwrap();
    bridge.export::<Note>("gone.core").unwrap();
    server.kill();
    wait_stats(&bridge, "the outage", |s| !s.connected).await;
    // More than the client's queue (2048) holds: the export blocks in `publish`.
    const SENT: u64 = 5_000;
    for seq in 0..SENT {
        bus.send(note(seq)).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let error = bridge.close().await.unwrap_err();
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1_500 + 500),
        "close took {took:?}"
    );
    // At least what did not fit in the client's queue was never published.
    let undelivered = error.undelivered();
    assert!(
        (SENT - 2_100..=SENT).contains(&undelivered),
        "{undelivered} undelivered: {error}"
    );
    assert!(error.to_string().contains("not delivered"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_in_time_when_a_durable_export_cannot_reach_the_stream() {
    let mut server = server!();
    let bus = Bus::new();
    let options = fast(&server.url())
        .close_timeout(Duration::from_secs(1))
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(50));
    let bridge = Bridge::connect(options, &bus).await.unwrap();
    bridge
        .export_durable::<Note>("GONE", "gone.durable")
        .await
        .unwrap();
    server.kill();
    wait_stats(&bridge, "the outage", |s| !s.connected).await;
    for seq in 0..100 {
        bus.send(note(seq)).unwrap();
    }
    // The export is retrying (stuck in settling its window) when close is called.
    wait_stats(&bridge, "failed attempts", |s| s.publish_errors > 0).await;
    let started = std::time::Instant::now();
    let error = bridge.close().await.unwrap_err();
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1_500 + 500),
        "close took {took:?}"
    );
    assert_eq!(error.undelivered(), 100, "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_reports_nothing_undelivered_when_everything_went_out() {
    let server = server!();
    let bus = Bus::new();
    let bridge = Bridge::connect(server.url(), &bus).await.unwrap();
    bridge
        .export_durable::<Note>("FINE", "fine.durable")
        .await
        .unwrap();
    bridge.export::<Note>("fine.core").unwrap();
    for seq in 0..300 {
        bus.send(note(seq)).unwrap();
    }
    bridge.close().await.unwrap();
    let raw = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(raw);
    let mut stream = js.get_stream("FINE").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 300);
}

// ---- streams must cover their subjects; knobs (issue 16.3, 16.4) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_does_not_store_the_subject_is_an_error() {
    let server = server!();
    let bus = Bus::new();
    let bridge = Bridge::connect(server.url(), &bus).await.unwrap();
    let js = async_nats::jetstream::new(bridge.client().clone());
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: "OTHER".into(),
        subjects: vec!["other.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let error = bridge
        .export_durable::<Note>("OTHER", "notes.x")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("does not store") && error.contains("notes.x"),
        "{error}"
    );
    let error = bridge
        .import_durable::<Note>("OTHER", "notes.*", "c")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not store"), "{error}");
    // Covered by the stream's wildcard: fine.
    bridge
        .export_durable::<Note>("OTHER", "other.a.b")
        .await
        .unwrap();
    bridge
        .import_durable::<Note>("OTHER", "other.*.b", "c")
        .await
        .unwrap();
    // A consumer that reads another subject is refused too.
    let error = bridge
        .import_durable::<Note>("OTHER", "other.z", "c")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("reads subject"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_options_shape_the_streams_and_consumers_the_bridge_creates() {
    let server = server!();
    let bus = Bus::new();
    let defaults = Bridge::connect(server.url(), &bus).await.unwrap();
    defaults
        .import_durable::<Note>("DEFAULTS", "defaults", "d")
        .await
        .unwrap();
    let options = BridgeOptions::new(server.url()).jetstream(
        JetStreamOptions::default()
            .ack_wait(Duration::from_secs(7))
            .max_ack_pending(42)
            .max_age(Duration::from_secs(3600))
            .max_bytes(Some(1 << 20))
            .max_messages(Some(1000))
            .storage(tidings::bridge::nats::StorageType::Memory),
    );
    let tuned = Bridge::connect(options, &bus).await.unwrap();
    tuned
        .import_durable::<Note>("TUNED", "tuned", "t")
        .await
        .unwrap();
    let js = async_nats::jetstream::new(tuned.client().clone());
    let mut stream = js.get_stream("DEFAULTS").await.unwrap();
    let config = stream.info().await.unwrap().config.clone();
    assert_eq!(config.max_age, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(config.max_bytes, 1 << 30);
    assert_eq!(config.max_messages, -1);
    assert_eq!(
        config.storage,
        async_nats::jetstream::stream::StorageType::File
    );
    let consumer = wait_consumer(&js, "DEFAULTS", "d", "the consumer", |_| true).await;
    assert_eq!(consumer.config.ack_wait, Duration::from_secs(30));
    assert_eq!(consumer.config.max_ack_pending, 256);

    let mut stream = js.get_stream("TUNED").await.unwrap();
    let config = stream.info().await.unwrap().config.clone();
    assert_eq!(config.max_age, Duration::from_secs(3600));
    assert_eq!(config.max_bytes, 1 << 20);
    assert_eq!(config.max_messages, 1000);
    assert_eq!(
        config.storage,
        async_nats::jetstream::stream::StorageType::Memory
    );
    let consumer = wait_consumer(&js, "TUNED", "t", "the consumer", |_| true).await;
    assert_eq!(consumer.config.ack_wait, Duration::from_secs(7));
    assert_eq!(consumer.config.max_ack_pending, 42);
}

/// Issue 18 point 2: the trace id of the scope a bridge was connected in goes out with every
/// export (`Tidings-Trace-Id`), and an import continues the trace a message carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_id_crosses_the_bridge_both_ways() {
    use tidings::bridge::nats::TRACE_HEADER;
    use tidings::{Scope, TraceId};

    let logs = logs();
    let server = server!();
    let url = server.url().to_string();
    let ours: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
    let bus = Bus::new();
    let mut local = bus.subscribe::<Note>();
    let bridge = Scope::new("service")
        .with_trace_id(ours)
        .run(Bridge::connect(url.as_str(), &bus))
        .await
        .unwrap()
        .unwrap();
    bridge.export::<Note>("trace.out").unwrap();
    bridge.import::<Note>("trace.in").await.unwrap();
    // A bridge connected outside any scope has no trace to send.
    let plain_bus = Bus::new();
    let plain = Bridge::connect(url.as_str(), &plain_bus).await.unwrap();
    plain.export::<Note>("trace.plain").unwrap();

    let raw = async_nats::connect(url.as_str()).await.unwrap();
    let mut out = raw.subscribe("trace.out").await.unwrap();
    let mut plain_out = raw.subscribe("trace.plain").await.unwrap();
    subscribed(&raw).await;
    bus.send(note(1)).unwrap();
    plain_bus.send(note(2)).unwrap();
    let message = tokio::time::timeout(PATIENCE, out.next())
        .await
        .unwrap()
        .unwrap();
    let headers = message.headers.unwrap();
    assert_eq!(
        headers.get(TRACE_HEADER).unwrap().as_str(),
        ours.to_string()
    );
    let message = tokio::time::timeout(PATIENCE, plain_out.next())
        .await
        .unwrap()
        .unwrap();
    assert!(message.headers.unwrap().get(TRACE_HEADER).is_none());

    // What a Haiway service would send: its ctx.trace_id() under the header.
    let theirs = "0af7651916cd43dd8448eb211c80319c";
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(TRACE_HEADER, theirs);
    raw.publish_with_headers(
        "trace.in",
        headers,
        br#"{"seq":5,"text":"traced"}"#.to_vec().into(),
    )
    .await
    .unwrap();
    assert_eq!(recv(&mut local).await.seq, 1, "the local send");
    assert_eq!(recv(&mut local).await.seq, 5);
    let text = logs.text();
    let continued = text
        .lines()
        .find(|l| l.contains("continuing trace") && l.contains(r#"subject="trace.in""#))
        .unwrap_or_else(|| panic!("no continued trace in the log:\n{text}"));
    assert!(
        continued.contains(&format!("tidings_nats_import{{trace_id={theirs}}}")),
        "{continued}"
    );
}

/// Issue 18 point 2, JetStream: a durable import continues the trace a message carries as the
/// core import does (the `tidings_nats_import` span and its `continuing trace` log line), and
/// the delivery hands the trace id to the handler; a message without the header has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jetstream_import_continues_the_trace_id() {
    use tidings::TraceId;
    use tidings::bridge::nats::TRACE_HEADER;

    let logs = logs();
    let server = server!();
    let bus = Bus::new();
    let mut handler = bus.subscribe::<Delivery<Note>>();
    let bridge = Bridge::connect(server.url(), &bus).await.unwrap();
    bridge
        .import_durable::<Note>("TRACED", "traced.durable", "t")
        .await
        .unwrap();
    let js = async_nats::jetstream::new(bridge.client().clone());
    // What a Haiway service (or a tidings bridge in a scope) sends.
    let theirs = "0af7651916cd43dd8448eb211c80319d";
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(TRACE_HEADER, theirs);
    js.publish_with_headers(
        "traced.durable",
        headers,
        br#"{"seq":7,"text":"traced"}"#.to_vec().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    js.publish(
        "traced.durable",
        br#"{"seq":8,"text":"untraced"}"#.to_vec().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();

    let traced = recv(&mut handler).await;
    assert_eq!(traced.seq, 7);
    assert_eq!(traced.trace_id(), Some(theirs.parse::<TraceId>().unwrap()));
    let untraced = recv(&mut handler).await;
    assert_eq!(untraced.seq, 8);
    assert_eq!(untraced.trace_id(), None);
    let text = logs.text();
    let continued = text
        .lines()
        .find(|l| l.contains("continuing trace") && l.contains(r#"subject="traced.durable""#))
        .unwrap_or_else(|| panic!("no continued trace in the log:\n{text}"));
    assert!(
        continued.contains(&format!("tidings_nats_import{{trace_id={theirs}}}")),
        "{continued}"
    );
}

/// Issue 14: a core import of a type bounded with Backpressure waits for room when the slowest
/// subscription is full, rather than counting the message unrouted and dropping it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_import_of_a_full_backpressure_type_waits_for_room() {
    use tidings::Overflow;

    let server = server!();
    let bus = Bus::builder()
        .bound::<Note>(1, Overflow::Backpressure)
        .build();
    let mut slow = bus.subscribe::<Note>();
    let bridge = Bridge::connect(server.url(), &bus).await.unwrap();
    bridge.import::<Note>("bp.in").await.unwrap();
    let raw = async_nats::connect(server.url()).await.unwrap();
    for seq in 1..=5 {
        raw.publish("bp.in", serde_json::to_vec(&note(seq)).unwrap().into())
            .await
            .unwrap();
    }
    raw.flush().await.unwrap();
    // The first fills the topic; the import waits with the second.
    wait_stats(&bridge, "the first import", |s| s.imported == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((bridge.stats().imported, bridge.stats().unrouted), (1, 0));
    // Each read makes room for the next: nothing is lost, order is kept.
    let seqs: Vec<u64> = recv_n(&mut slow, 5).await.iter().map(|n| n.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    wait_stats(&bridge, "every import", |s| s.imported == 5).await;
    assert_eq!(bridge.stats().unrouted, 0);
}

// ---- a three-node cluster (issue 16.7) ----

/// Three nodes, streams on three replicas; both bridges start on node 0 (the URL list in
/// order), which is killed mid-stream. Core traffic must resume on another node, and every
/// durable event must reach the handler at least once. Prints the measured failover time:
/// from the kill to the first core event sent after it that arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_losing_the_node_a_bridge_uses_fails_over() {
    const COUNT: u64 = 1_000;
    let Some(mut cluster) = nats_server::NatsCluster::start(3) else {
        return;
    };
    let urls = cluster.urls();
    let options = || {
        BridgeOptions::new(urls.clone())
            .connect_options(
                ConnectOptions::new()
                    .retain_servers_order()
                    .reconnect_delay_callback(|_| Duration::from_millis(100)),
            )
            .jetstream(
                JetStreamOptions::default()
                    .replicas(3)
                    .ack_wait(Duration::from_secs(5)),
            )
            .retry_backoff(Duration::from_millis(50), Duration::from_millis(500))
    };
    let (a, b) = (Bus::new(), Bus::new());
    let bridge_a = Bridge::connect(options(), &a).await.unwrap();
    let bridge_b = Bridge::connect(options(), &b).await.unwrap();
    // JetStream needs the cluster to elect its meta leader first.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while let Err(e) = bridge_a
        .export_durable::<Note>("CLUSTER", "cluster.durable")
        .await
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "JetStream cluster not ready: {e}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let js = async_nats::jetstream::new(bridge_a.client().clone());
    let info = js
        .get_stream("CLUSTER")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.config.num_replicas, 3);
    let mut durable = b.subscribe::<Delivery<Note>>();
    bridge_b
        .import_durable::<Note>("CLUSTER", "cluster.durable", "b")
        .await
        .unwrap();
    // Core traffic on another type.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct Ping(u64);
    let mut pings = b.subscribe::<Ping>();
    bridge_b.import::<Ping>("cluster.core").await.unwrap();
    bridge_a.export::<Ping>("cluster.core").unwrap();
    a.send(Ping(0)).unwrap();
    recv(&mut pings).await;
    let node = cluster
        .node_with_port(bridge_a.client().server_info().port)
        .expect("connected to a node of the cluster");
    assert_eq!(node, 0, "retain_servers_order: the first URL");

    let mut handled: BTreeMap<u64, u32> = BTreeMap::new();
    let pump = |on: &mut Subscription<Delivery<Note>>, handled: &mut BTreeMap<u64, u32>| {
        while let Ok(d) = on.try_recv() {
            *handled.entry(d.seq).or_default() += 1;
        }
    };
    for seq in 0..COUNT / 3 {
        a.send(note(seq)).unwrap();
    }
    pump(&mut durable, &mut handled);
    cluster.nodes[node].kill();
    let killed = std::time::Instant::now();
    for seq in COUNT / 3..COUNT {
        a.send(note(seq)).unwrap();
    }
    // Core: probe until a ping sent after the kill arrives.
    let mut probe = 1;
    let failover = loop {
        a.send(Ping(probe)).unwrap();
        probe += 1;
        if let Ok(Some(Ping(n))) =
            tokio::time::timeout(Duration::from_millis(10), pings.recv()).await
            && n >= 1
        {
            break killed.elapsed();
        }
        pump(&mut durable, &mut handled);
        assert!(killed.elapsed() < PATIENCE, "core traffic did not resume");
    };
    eprintln!("core failover after killing node {node}: {failover:?}");
    // Durable: every event handled at least once.
    while handled.len() < COUNT as usize {
        let d = recv(&mut durable).await;
        *handled.entry(d.seq).or_default() += 1;
    }
    assert_eq!(
        handled.keys().copied().collect::<Vec<_>>(),
        (0..COUNT).collect::<Vec<_>>()
    );
    let again: u32 = handled.values().map(|n| n - 1).sum();
    eprintln!(
        "durable: {COUNT} events handled ({again} twice) in {:?} after the kill",
        killed.elapsed()
    );
    let stats = bridge_a.stats();
    assert!(stats.disconnects >= 1 && stats.reconnects >= 1, "{stats:?}");
}
