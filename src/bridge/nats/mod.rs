//! A bridge between a [`Bus`] and NATS subjects, with JetStream for events that must
//! survive restarts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tidings::bridge::nats::Error> {
//! use tidings::Bus;
//! use tidings::bridge::nats::Bridge;
//!
//! #[derive(Clone, serde::Serialize, serde::Deserialize)]
//! struct OrderPlaced {
//!     id: u64,
//! }
//!
//! let bus = Bus::new();
//! let bridge = Bridge::connect("nats://127.0.0.1:4222", &bus).await?;
//! bridge.export::<OrderPlaced>("orders.placed")?; // local sends go out...
//! bridge.import::<OrderPlaced>("orders.placed").await?; // ...and other processes' come in
//! # Ok(()) }
//! ```
//!
//! # Delivery
//!
//! - [`export`](Bridge::export) / [`import`](Bridge::import) use core NATS: **at most once**.
//!   Events published while the server is unreachable, or while no importer is subscribed,
//!   are lost; nothing is replayed.
//! - [`export_durable`](Bridge::export_durable) / [`import_durable`](Bridge::import_durable)
//!   use a JetStream stream and a durable pull consumer: **at least once, to the handler**. An
//!   export counts an event as sent once the stream acknowledged it, and retries it (with the
//!   same `Nats-Msg-Id`, so the stream drops the copy) until it does. An import sends each
//!   message into the bus as a [`Delivery<E>`] and acknowledges it only once the subscriptions
//!   that received it have dropped their copies (or one called [`Delivery::ack`]); a process
//!   killed at any point gets everything it had not handled again on its next run. At most
//!   [`JetStreamOptions::max_ack_pending`] messages are unacknowledged at once, and an import
//!   takes nothing from the stream while the bus has no subscription for `Delivery<E>`.
//!   Duplicates are possible (after a kill, a nak, or an expired ack wait): give events an id
//!   if handling one twice matters.
//!
//! Streams and consumers the bridge creates follow [`JetStreamOptions`] (ack wait, window,
//! limits, storage, replicas); existing ones are used as they are, after checking that they
//! cover the subject. Retries back off exponentially with jitter
//! ([`BridgeOptions::retry_backoff`]).
//!
//! Exports read from an ordinary [`Subscription`](crate::Subscription), so a local
//! [`Bus::send`] never waits for the network; a slow server only grows that subscription's
//! backlog.
//!
//! # Loops
//!
//! Every message carries a `Tidings-Origin` header naming the bus that sent it (a per-process
//! nonce and [`Bus::id`]). An import drops messages from its own bus, and an export never
//! publishes an event its own bridge imported (see `echo.rs`), so two buses that export and
//! import the same subject each see the other's events once. A message published without the
//! header (by another NATS client) is always imported. Two bridges on one bus do not know of
//! each other's imports: use one bridge per bus.
//!
//! # Bad input
//!
//! A message that does not decode as the subject's type is counted
//! ([`BridgeStats::malformed`]), logged at `warn` with its subject, and skipped; a JetStream
//! message is also terminated so it is not redelivered. It never stops the bridge.
//!
//! # Faults and security
//!
//! async-nats reconnects on its own; [`BridgeStats`] shows disconnects, reconnects and what
//! was lost. Credentials, tokens, NKeys and TLS are async-nats's [`ConnectOptions`]; pass them
//! in [`BridgeOptions::connect_options`], or put `user:password@` / `token@` in the URL. The
//! bridge logs subjects, counts and error kinds, never a server address, an option or a
//! payload. async-nats itself logs server URLs at `debug`, so the bridge moves credentials
//! out of URLs into the options before connecting (async-nats does not log those).
//!
//! # Lifetime
//!
//! The bridge holds a handle to the bus, so the bus stays open while the bridge lives.
//! [`Bridge::close`] stops every import, publishes what exports have already received, and
//! flushes, within [`BridgeOptions::close_timeout`] (plus at most half a second) whatever the
//! server does; what it could not deliver in that time is counted in its [`CloseError`].
//! Dropping the bridge stops it without waiting.
//!
//! How the bridge works inside (its tasks, acknowledgements, echo suppression): the design
//! notes in [`crate::docs::bridge`]; what it does not do: [`crate::docs::limitations`].

mod codec;
mod core_nats;
mod delivery;
mod durable;
mod echo;
mod options;
mod stats;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::{Client, ConnectOptions, HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::Bus;

pub use codec::Codec;
pub use delivery::Delivery;
pub use options::{JetStreamOptions, StorageType};
pub use stats::BridgeStats;

/// Errors from connecting, subscribing and setting up streams: async-nats's boxed error.
pub type Error = async_nats::Error;

/// The header naming the bus a message came from.
pub const ORIGIN_HEADER: &str = "Tidings-Origin";

/// The header carrying a trace id across processes: the 32 lowercase hex digits of a
/// [`TraceId`](crate::TraceId) (a UUID's form is read too). A bridge connected inside a scope
/// sends that scope's [`ctx::trace_id`](crate::ctx::trace_id) with every message it exports
/// (core and JetStream). Both kinds of import continue the trace a message carries: a core
/// [`import`](Bridge::import) and a JetStream
/// [`import_durable`](Bridge::import_durable) each handle the message inside a
/// `tidings_nats_import` span whose `trace_id` field continues that trace (and log `continuing
/// trace` at debug level, with the subject), and a JetStream [`Delivery`] also carries it to
/// the handler that reads it later ([`Delivery::trace_id`]). A Python Haiway service joins the
/// trace by sending `ctx.trace_id()` under this name.
pub const TRACE_HEADER: &str = "Tidings-Trace-Id";

/// The trace id a message carries in [`TRACE_HEADER`], if any and well formed.
pub(crate) fn trace_of(headers: Option<&async_nats::HeaderMap>) -> Option<crate::TraceId> {
    headers
        .and_then(|h| h.get(TRACE_HEADER))
        .and_then(|v| v.as_str().parse::<crate::TraceId>().ok())
}

/// The `tidings_nats_import` span continuing `trace` (see [`TRACE_HEADER`]) for the handling
/// of one imported message on `subject`, with `continuing trace` logged in it (a disabled
/// span without a trace); shared by core and JetStream imports.
pub(crate) fn continue_trace(trace: Option<crate::TraceId>, subject: &str) -> tracing::Span {
    let Some(trace_id) = trace else {
        return tracing::Span::none();
    };
    let span = tracing::debug_span!("tidings_nats_import", trace_id = %trace_id);
    span.in_scope(|| tracing::debug!(subject, "tidings nats bridge: continuing trace"));
    span
}

/// Where and how a [`Bridge`] connects. A `&str` or `String` converts into one with the
/// defaults (JSON, async-nats's default [`ConnectOptions`]).
///
/// ```
/// use std::time::Duration;
/// use tidings::bridge::nats::{BridgeOptions, Codec, JetStreamOptions};
///
/// let options = BridgeOptions::new("nats://127.0.0.1:4222")
///     .codec(Codec::MessagePack)
///     .connect_options(async_nats::ConnectOptions::with_token("s3cret".into()))
///     .jetstream(JetStreamOptions::default().replicas(3))
///     .close_timeout(Duration::from_secs(5))
///     .retry_backoff(Duration::from_millis(50), Duration::from_secs(2));
/// assert_eq!(options.addrs(), "nats://127.0.0.1:4222");
/// ```
pub struct BridgeOptions {
    addrs: String,
    connect: ConnectOptions,
    codec: Codec,
    settings: Settings,
}

/// The knobs the bridge's tasks read.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) jetstream: JetStreamOptions,
    pub(crate) close_timeout: Duration,
    pub(crate) retry_min: Duration,
    pub(crate) retry_max: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            jetstream: JetStreamOptions::default(),
            close_timeout: Duration::from_secs(10),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
        }
    }
}

impl Settings {
    pub(crate) fn backoff(&self) -> options::Backoff {
        options::Backoff::new(self.retry_min, self.retry_max)
    }
}

impl BridgeOptions {
    /// Server address(es), comma-separated, as async-nats accepts them.
    pub fn new(addrs: impl Into<String>) -> Self {
        BridgeOptions {
            addrs: addrs.into(),
            connect: ConnectOptions::new(),
            codec: Codec::default(),
            settings: Settings::default(),
        }
    }

    /// How the bridge creates JetStream streams and consumers (ack wait, window of
    /// unacknowledged messages, stream limits, storage, replicas); [`JetStreamOptions::default`]
    /// unless set.
    pub fn jetstream(mut self, options: JetStreamOptions) -> Self {
        self.settings.jetstream = options;
        self
    }

    /// How long [`Bridge::close`] may take to publish what exports hold (10 s unless set).
    /// `close` returns within this time plus at most half a second, whatever the server does.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.settings.close_timeout = timeout;
        self
    }

    /// The wait between attempts while JetStream is unreachable: it doubles from `min` up to
    /// `max` with random jitter (the upper half of each step), and starts again at `min` after
    /// a success. 100 ms to 5 s unless set.
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.settings.retry_min = min;
        self.settings.retry_max = max;
        self
    }

    /// async-nats's options: credentials, token, NKey, TLS, reconnect policy, name. The
    /// bridge adds an event callback of its own (for [`BridgeStats`]), replacing any set here.
    pub fn connect_options(mut self, options: ConnectOptions) -> Self {
        self.connect = options;
        self
    }

    /// The payload format; [`Codec::Json`] unless set.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// The server address(es) given.
    pub fn addrs(&self) -> &str {
        &self.addrs
    }
}

impl From<&str> for BridgeOptions {
    fn from(addrs: &str) -> Self {
        BridgeOptions::new(addrs)
    }
}

impl From<String> for BridgeOptions {
    fn from(addrs: String) -> Self {
        BridgeOptions::new(addrs)
    }
}

impl std::fmt::Debug for BridgeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the address (it may hold user:password) nor the options (they hold secrets).
        f.debug_struct("BridgeOptions")
            .field("codec", &self.codec)
            .field("jetstream", &self.settings.jetstream)
            .field("close_timeout", &self.settings.close_timeout)
            .finish_non_exhaustive()
    }
}

/// A connection between one [`Bus`] and a NATS server. See the [module docs](self).
pub struct Bridge {
    inner: Arc<Inner>,
}

/// What the bridge's tasks share.
pub(crate) struct Inner {
    pub(crate) client: Client,
    pub(crate) jetstream: async_nats::jetstream::Context,
    pub(crate) bus: Bus,
    pub(crate) codec: Codec,
    /// `Tidings-Origin` of this bus: `<process nonce>-<bus id>`.
    pub(crate) origin: HeaderValue,
    /// A header map holding only the origin, cloned into each core message.
    pub(crate) headers: HeaderMap,
    pub(crate) counters: Arc<stats::Counters>,
    pub(crate) echoes: Arc<echo::Echoes>,
    pub(crate) settings: Settings,
    /// Durable imports' deliveries send their acknowledgements here (the acker task).
    pub(crate) acks: delivery::AckSender,
    /// `None` while running; the deadline by which tasks must end once the bridge closes.
    pub(crate) shutdown: watch::Sender<Option<Instant>>,
    runtime: tokio::runtime::Handle,
    /// Export and import tasks; each returns how many events it could not deliver.
    tasks: Mutex<Vec<JoinHandle<u64>>>,
}

impl Inner {
    /// Whether `headers` say the message came from this bus.
    pub(crate) fn is_own(&self, headers: Option<&HeaderMap>) -> bool {
        headers
            .and_then(|h| h.get(ORIGIN_HEADER))
            .is_some_and(|v| v.as_str() == self.origin.as_str())
    }

    fn spawn(&self, task: impl Future<Output = u64> + Send + 'static) {
        let handle = self.runtime.spawn(task);
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
    }
}

/// A task's view of the bridge closing: the deadline once [`Bridge::close`] (or a drop) set it.
pub(crate) struct Closing {
    rx: watch::Receiver<Option<Instant>>,
    deadline: Option<Instant>,
}

impl Closing {
    pub(crate) fn new(inner: &Inner) -> Closing {
        Closing {
            rx: inner.shutdown.subscribe(),
            deadline: None,
        }
    }

    /// Waits until the bridge starts closing; returns the deadline.
    pub(crate) async fn started(&mut self) -> Instant {
        if let Some(deadline) = self.deadline {
            return deadline;
        }
        // The sender lives in `Inner`, which the task holds: `Err` cannot happen, but if it
        // did, the task should stop at once.
        let deadline = match self.rx.wait_for(Option::is_some).await {
            Ok(deadline) => *deadline,
            Err(_) => None,
        }
        .unwrap_or_else(Instant::now);
        self.deadline = Some(deadline);
        deadline
    }

    /// Whether the bridge is closing.
    pub(crate) fn is_closing(&mut self) -> bool {
        if self.deadline.is_none() {
            self.deadline = *self.rx.borrow();
        }
        self.deadline.is_some()
    }

    /// Runs `work` to its end, unless the bridge closes and the deadline passes first
    /// (`None`).
    pub(crate) async fn run<F: Future>(&mut self, work: F) -> Option<F::Output> {
        tokio::pin!(work);
        let deadline = match self.deadline {
            Some(deadline) => deadline,
            None => tokio::select! {
                biased;
                out = &mut work => return Some(out),
                deadline = self.started() => deadline,
            },
        };
        tokio::time::timeout_at(deadline, work).await.ok()
    }
}

/// [`Bridge::close`] did not deliver everything, or could not confirm it did.
#[derive(Debug)]
pub struct CloseError {
    undelivered: u64,
    source: Option<Error>,
}

impl CloseError {
    /// Events that exports had received but had not published (core) or had not seen
    /// acknowledged by the stream (JetStream) when the close timeout ran out. Durable ones may
    /// still have been stored; core ones are lost.
    pub fn undelivered(&self) -> u64 {
        self.undelivered
    }
}

impl std::fmt::Display for CloseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "closing the NATS bridge: {} events not delivered within the close timeout",
            self.undelivered
        )?;
        if let Some(source) = &self.source {
            write!(
                f,
                "; the final round trip failed ({source}), so events already handed to the client may be lost too"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for CloseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl Bridge {
    /// Connects to NATS and bridges `bus` through that connection.
    ///
    /// Must be called within a tokio runtime; the bridge's tasks run on it.
    ///
    /// # Errors
    ///
    /// If the first connection fails (async-nats then does not retry unless
    /// [`ConnectOptions::retry_on_initial_connect`] was set).
    pub async fn connect(options: impl Into<BridgeOptions>, bus: &Bus) -> Result<Bridge, Error> {
        let BridgeOptions {
            addrs,
            connect,
            codec,
            settings,
        } = options.into();
        // async-nats logs server URLs (with any password in them) at debug level: move
        // credentials out of the URL into the options, which it does not log.
        let (addrs, credentials) = split_credentials(&addrs);
        let connect = match credentials {
            Some(Credentials::Token(token)) => connect.token(token),
            Some(Credentials::UserPassword(user, password)) => {
                connect.user_and_password(user, password)
            }
            None => connect,
        };
        let counters = Arc::new(stats::Counters::default());
        let events = Arc::clone(&counters);
        let client = connect
            .event_callback(move |event| {
                let counters = Arc::clone(&events);
                async move { core_nats::on_connection_event(&counters, event) }
            })
            // async-nats parses a `&str` as one URL; a list of several goes as a Vec.
            .connect(
                addrs
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .collect::<Vec<_>>(),
            )
            .await?;
        // Connected before the callback could say so.
        counters
            .connected
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let origin = HeaderValue::from(format!("{}-{}", process_nonce(), bus.id()).as_str());
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN_HEADER, origin.clone());
        if let Ok(trace) = crate::ctx::trace_id() {
            headers.insert(TRACE_HEADER, trace.to_string().as_str());
        }
        let (shutdown, _) = watch::channel(None);
        let (acks, ack_queue) = mpsc::unbounded_channel();
        tokio::spawn(delivery::acker(
            client.clone(),
            ack_queue,
            Arc::clone(&counters),
        ));
        Ok(Bridge {
            inner: Arc::new(Inner {
                jetstream: async_nats::jetstream::new(client.clone()),
                client,
                bus: bus.clone(),
                codec,
                origin,
                headers,
                counters,
                echoes: Arc::default(),
                settings,
                acks,
                shutdown,
                runtime: tokio::runtime::Handle::current(),
                tasks: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Publishes every event of type `E` sent on the local bus from now on to `subject`
    /// (core NATS, at most once). Events this bridge imported are not published again.
    ///
    /// # Errors
    ///
    /// If `subject` is not a valid subject to publish to (empty, whitespace, wildcards).
    pub fn export<E>(&self, subject: &str) -> Result<(), Error>
    where
        E: Serialize + Send + Sync + 'static,
    {
        let subject = publish_subject(subject)?;
        let (subscription, registration) = self.inner.echoes.register::<E>(&self.inner.bus);
        let task = core_nats::export(Arc::clone(&self.inner), subject, subscription, registration);
        self.inner.spawn(task);
        Ok(())
    }

    /// Sends every message on `subject` (wildcards allowed) into the local bus as an `E`
    /// (core NATS, at most once). Returns once the server has the subscription.
    ///
    /// If `E` is bounded with [`Overflow::Backpressure`](crate::Overflow::Backpressure) and
    /// full, the import waits for room ([`Bus::send_async`]) instead of dropping the message;
    /// meanwhile later messages queue in the NATS client's subscription buffer, past which
    /// core NATS drops them (at most once; [`import_durable`](Bridge::import_durable) is
    /// lossless).
    ///
    /// # Errors
    ///
    /// If the subscription or the round trip after it fails.
    pub async fn import<E>(&self, subject: &str) -> Result<(), Error>
    where
        E: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let subscriber = self.inner.client.subscribe(subject.to_owned()).await?;
        // Not `flush`: that only writes the SUB to the socket. After the round trip the server
        // has processed it, so a publish that another connection makes after this returns
        // reaches the subscription.
        round_trip(&self.inner.client).await?;
        let task = core_nats::import::<E>(Arc::clone(&self.inner), subscriber);
        self.inner.spawn(task);
        Ok(())
    }

    /// Publishes every local event of type `E` sent from now on to `subject`, stored in the
    /// JetStream stream `stream` (at least once). The stream is created for `subject` alone,
    /// with [`BridgeOptions::jetstream`]'s storage, limits and replicas, if it does not exist.
    ///
    /// # Errors
    ///
    /// If `subject` is invalid, the stream cannot be found or created, or an existing stream
    /// does not cover `subject` (its subjects are left as they are: add `subject` to them, or
    /// name another stream).
    pub async fn export_durable<E>(&self, stream: &str, subject: &str) -> Result<(), Error>
    where
        E: Serialize + Send + Sync + 'static,
    {
        let subject = publish_subject(subject)?;
        durable::ensure_stream(&self.inner, stream, subject.as_str()).await?;
        let (subscription, registration) = self.inner.echoes.register::<E>(&self.inner.bus);
        let task = durable::export(Arc::clone(&self.inner), subject, subscription, registration);
        self.inner.spawn(task);
        Ok(())
    }

    /// Sends every message of `stream` on `subject` (wildcards allowed) into the local bus as
    /// a [`Delivery<E>`], through the durable consumer `consumer` (at least once).
    ///
    /// Subscribe to `Delivery<E>`, not `E`. A message is acknowledged only once the
    /// subscriptions that received it have handled it (see [`Delivery`]), so a process killed
    /// at any point has every event it did not handle delivered again on its next run (or to
    /// another process on the same consumer). At most [`JetStreamOptions::max_ack_pending`]
    /// messages are unacknowledged at once. While the bus has no subscription for
    /// `Delivery<E>`, the import holds the next message back instead of dropping it.
    ///
    /// A consumer that already exists resumes after the last message it acknowledged; the
    /// stream and consumer are created (as for [`export_durable`](Bridge::export_durable)) if
    /// they do not exist.
    ///
    /// # Errors
    ///
    /// If the stream or consumer cannot be found or created, or an existing stream does not
    /// cover `subject`, or an existing consumer filters another subject.
    pub async fn import_durable<E>(
        &self,
        stream: &str,
        subject: &str,
        consumer: &str,
    ) -> Result<(), Error>
    where
        E: DeserializeOwned + Send + Sync + 'static,
    {
        let stream = durable::ensure_stream(&self.inner, stream, subject).await?;
        let consumer = durable::ensure_consumer(&self.inner, &stream, subject, consumer).await?;
        let task = durable::import::<E>(Arc::clone(&self.inner), consumer);
        self.inner.spawn(task);
        Ok(())
    }

    /// A snapshot of the bridge's counters.
    pub fn stats(&self) -> BridgeStats {
        self.inner.counters.snapshot()
    }

    /// The `Tidings-Origin` header value this bridge puts on its messages.
    pub fn origin(&self) -> &str {
        self.inner.origin.as_str()
    }

    /// The async-nats client, for anything the bridge does not do.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Stops every import, lets each export publish what it has received so far (durable
    /// exports: until the stream acknowledged it), and returns once the server has read all of
    /// it, or once the close timeout ([`BridgeOptions::close_timeout`], 10 s unless set) has
    /// run out, whatever the server does: `close` returns within that time plus at most half
    /// a second.
    ///
    /// Durable imports stop taking messages; deliveries already in the bus are acknowledged as
    /// their handlers finish, if the runtime still runs then, and otherwise delivered again
    /// on the next run.
    ///
    /// # Errors
    ///
    /// [`CloseError`] when events were not delivered in time
    /// ([`CloseError::undelivered`] says how many) or the final round trip to the server
    /// failed.
    pub async fn close(self) -> Result<(), CloseError> {
        let deadline = Instant::now() + self.inner.settings.close_timeout;
        self.inner.shutdown.send_replace(Some(deadline));
        let tasks = std::mem::take(
            &mut *self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        // Tasks end by the deadline on their own (every wait of theirs is bounded by it); the
        // grace covers a loaded scheduler.
        let grace = Duration::from_millis(250);
        let mut undelivered = 0;
        for mut task in tasks {
            match tokio::time::timeout_at(deadline + grace, &mut task).await {
                Ok(Ok(lost)) => undelivered += lost,
                // A task that panicked has nothing left to finish.
                Ok(Err(_)) => {}
                Err(_) => {
                    task.abort();
                    tracing::error!(
                        "tidings nats bridge: a task did not stop by the close deadline; aborted"
                    );
                }
            }
        }
        let end = deadline.max(Instant::now()) + grace;
        // Acknowledgements of deliveries handled so far go out before the round trip.
        let (flushed, done) = tokio::sync::oneshot::channel();
        if self
            .inner
            .acks
            .send(delivery::AckMsg::Flush(flushed))
            .is_ok()
        {
            let _ = tokio::time::timeout_at(end, done).await;
        }
        let source = match tokio::time::timeout_at(end, round_trip(&self.inner.client)).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("no answer from the server before the close timeout".into()),
        };
        if undelivered == 0 && source.is_none() {
            Ok(())
        } else {
            tracing::warn!(
                undelivered,
                "tidings nats bridge: closed without delivering everything"
            );
            Err(CloseError {
                undelivered,
                source,
            })
        }
    }
}

/// Returns once the server has processed everything this client sent before the call.
///
/// `Client::flush` only writes the buffer to the socket; closing the connection right after
/// can reset it with data still unread on the server. A request to a subject nobody serves is
/// answered ("no responders") only after the server has read all that came before it.
async fn round_trip(client: &Client) -> Result<(), Error> {
    use async_nats::RequestErrorKind;
    let subject = format!("_TIDINGS.round_trip.{}", process_nonce());
    match client.request(subject, bytes::Bytes::new()).await {
        Err(e) if e.kind() == RequestErrorKind::NoResponders => Ok(()),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()), // someone does answer there; just as good
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Tasks see this and end now; `close` has already set its own deadline if it ran.
        self.inner.shutdown.send_if_modified(|deadline| {
            let open = deadline.is_none();
            if open {
                *deadline = Some(Instant::now());
            }
            open
        });
    }
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("origin", &self.inner.origin.as_str())
            .field("codec", &self.inner.codec)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Credentials found in a server URL.
#[derive(Debug, PartialEq)]
enum Credentials {
    Token(String),
    UserPassword(String, String),
}

/// Removes `user:password@` or `token@` from each comma-separated URL; returns the cleaned
/// addresses and the first credentials found (async-nats, too, uses one set per connection).
fn split_credentials(addrs: &str) -> (String, Option<Credentials>) {
    let mut found = None;
    let cleaned: Vec<String> = addrs
        .split(',')
        .map(|addr| {
            let addr = addr.trim();
            let (scheme, rest) = match addr.find("://") {
                Some(i) => addr.split_at(i + 3),
                None => ("", addr),
            };
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => {
                    let userinfo = &rest[..at];
                    if found.is_none() {
                        found = Some(match userinfo.split_once(':') {
                            Some((user, password)) => {
                                Credentials::UserPassword(user.to_owned(), password.to_owned())
                            }
                            None => Credentials::Token(userinfo.to_owned()),
                        });
                    }
                    format!("{scheme}{}", &rest[at + 1..])
                }
                None => addr.to_owned(),
            }
        })
        .collect();
    (cleaned.join(","), found)
}

/// Checks a subject for publishing: tokens separated by dots, none empty, no whitespace and
/// no wildcards.
fn publish_subject(subject: &str) -> Result<async_nats::Subject, Error> {
    let valid = !subject.is_empty()
        && subject
            .split('.')
            .all(|t| !t.is_empty() && t != "*" && t != ">")
        && !subject.chars().any(char::is_whitespace);
    if valid {
        Ok(async_nats::Subject::from(subject))
    } else {
        Err(format!("not a subject to publish to: {subject:?}").into())
    }
}

/// A number that differs between processes (and between runs) with overwhelming probability,
/// so that `Bus::id`s of different processes do not collide in the origin header.
fn process_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NONCE.get_or_init(|| {
        // RandomState is seeded from the OS's randomness; mix in the pid and time as well.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        h.finish()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_subjects_are_checked() {
        for ok in ["a", "orders.placed", "a.b-c.d_e"] {
            assert!(publish_subject(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a..b", ".a", "a.", "a.*", ">", "a b", "a.>"] {
            assert!(publish_subject(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn credentials_move_out_of_urls() {
        assert_eq!(
            split_credentials("nats://alice:pw@h:4222,nats://h2:4222"),
            (
                "nats://h:4222,nats://h2:4222".to_owned(),
                Some(Credentials::UserPassword("alice".into(), "pw".into()))
            )
        );
        assert_eq!(
            split_credentials("tls://t0k@h"),
            ("tls://h".to_owned(), Some(Credentials::Token("t0k".into())))
        );
        assert_eq!(split_credentials("h:4222"), ("h:4222".to_owned(), None));
        assert_eq!(
            split_credentials("nats://h/path@x"),
            ("nats://h/path@x".to_owned(), None)
        );
    }

    #[test]
    fn options_debug_hides_address_and_secrets() {
        let options = BridgeOptions::new("nats://alice:hunter2@127.0.0.1:4222")
            .connect_options(ConnectOptions::with_token("t0ken".into()));
        let shown = format!("{options:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("t0ken"),
            "{shown}"
        );
    }
}
