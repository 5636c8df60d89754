//! The NATS bridge against a real `nats-server` (see `support/nats_server.rs`): two buses in
//! one process, two OS processes, bad input, server crashes for core and JetStream, loops,
//! and secrets in logs.

#[path = "support/nats_server.rs"]
mod nats_server;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::ConnectOptions;
use futures::StreamExt;
use nats_server::NatsServer;
use serde::{Deserialize, Serialize};
use tidings::bridge::nats::{Bridge, BridgeOptions, BridgeStats, Codec, ORIGIN_HEADER};
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

/// Every log line of this test binary at `debug` and above, from every thread.
///
/// One global subscriber rather than one per test: tracing caches per-callsite interest, and
/// thread-local subscribers in parallel tests miss events. Tests that read the log look for
/// their own subject (or, for secrets, for anything at all).
#[derive(Clone)]
struct Logs(Arc<Mutex<Vec<u8>>>);

fn logs() -> Logs {
    static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs(Arc::default());
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .init();
        logs
    })
    .clone()
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
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
    raw.flush().await.unwrap();

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
    raw.flush().await.unwrap();
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
    let mut local = bus.subscribe::<Note>();
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
    let mut on_b = b.subscribe::<Note>();
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
        let mut on_b = b.subscribe::<Note>();
        let bridge_b = Bridge::connect(server.url(), &b).await.unwrap();
        bridge_b
            .import_durable::<Note>("RESUME", "resume", "billing")
            .await
            .unwrap();
        for seq in 0..5 {
            a.send(note(seq)).unwrap();
        }
        assert_eq!(
            recv_n(&mut on_b, 5).await,
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
    let mut on_b = b.subscribe::<Note>();
    let bridge_b = Bridge::connect(server.url(), &b).await.unwrap();
    bridge_b
        .import_durable::<Note>("RESUME", "resume", "billing")
        .await
        .unwrap();
    assert_eq!(
        recv_n(&mut on_b, 5).await,
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
    // The message reaches the bridge, finds the bus closed, and stays for the next run.
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream("CLOSED")
        .await
        .unwrap()
        .get_consumer("c")
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let info = consumer.info().await.unwrap().clone();
        if info.num_ack_pending == 1 {
            assert_eq!(info.ack_floor.stream_sequence, 0);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{info:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bridge.stats().imported, 0);
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
    raw.flush().await.unwrap();
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
