//! JetStream export and import: a stream on the server, a durable consumer per importer,
//! at least once.
//!
//! Export publishes with `Nats-Msg-Id: <origin>-<n>` (n counts this export's events), keeps
//! up to [`WINDOW`] publishes awaiting the stream's acknowledgement, and on a timeout or error
//! publishes the same message again: the stream's duplicate window drops a copy it already
//! stored, so a retry never stores an event twice. Every wait of an export is bounded by the
//! close deadline once the bridge closes, and what it still holds then is counted.
//!
//! Import pulls at most as many messages as its window ([`Window`], `max_ack_pending`) has
//! free, and only while the bus has a subscription for `Delivery<E>`; each message goes into
//! the bus as a [`Delivery`], which acknowledges it once handled (see `delivery.rs`). A message
//! whose acknowledgement is lost, or that nobody settles, is redelivered after the ack wait.
//! Retries can reorder events around an outage.

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{AckKind, Message, stream};
use async_nats::{Subject, header};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::core_nats::{payload, unsent};
use super::delivery::{AckMsg, Delivery, Window};
use super::echo::Registration;
use super::options::Backoff;
use super::stats::Counters;
use super::{Closing, Error, Inner};
use crate::{Subscription, TryRecvError};

/// Publishes awaiting acknowledgement, per export. Large enough to keep the connection busy,
/// small enough that a retry after an outage resends little.
const WINDOW: usize = 256;
/// How often an import looks again for a subscriber while it holds a message back.
const NO_SUBSCRIBER_POLL: Duration = Duration::from_millis(20);

/// Finds stream `name`, or creates it for `subject` with the bridge's JetStream options;
/// either way checks that it stores `subject`.
pub(crate) async fn ensure_stream(
    inner: &Inner,
    name: &str,
    subject: &str,
) -> Result<stream::Stream, Error> {
    let options = &inner.settings.jetstream;
    let limit = |l: Option<u64>| l.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let config = stream::Config {
        name: name.to_owned(),
        subjects: vec![subject.to_owned()],
        storage: options.storage,
        max_age: options.max_age,
        max_bytes: limit(options.max_bytes),
        max_messages: limit(options.max_messages),
        num_replicas: options.replicas,
        ..Default::default()
    };
    let stream = inner.jetstream.get_or_create_stream(config).await?;
    let subjects = &stream.cached_info().config.subjects;
    if !subjects.iter().any(|s| covers(s, subject)) {
        return Err(format!(
            "JetStream stream {name:?} does not store subject {subject:?} (its subjects: \
             {subjects:?}); add the subject to the stream or name another stream"
        )
        .into());
    }
    Ok(stream)
}

/// Whether every subject that `subject` matches (it may hold wildcards) also matches the
/// stream's subject filter `filter`.
pub(crate) fn covers(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (None, None) => return true,
            // `>` matches one or more tokens, whatever they are.
            (Some(">"), Some(_)) => return f.next().is_none(),
            (Some("*"), Some(t)) if t != ">" => {}
            (Some(a), Some(b)) if a == b && a != "*" && a != ">" => {}
            _ => return false,
        }
    }
}

/// Finds durable pull consumer `name` on `stream`, or creates it for `subject` with the
/// bridge's ack wait and window; either way checks that it reads `subject`.
pub(crate) async fn ensure_consumer(
    inner: &Inner,
    stream: &stream::Stream,
    subject: &str,
    name: &str,
) -> Result<PullConsumer, Error> {
    let options = &inner.settings.jetstream;
    let config = pull::Config {
        durable_name: Some(name.to_owned()),
        filter_subject: subject.to_owned(),
        ack_policy: AckPolicy::Explicit,
        ack_wait: options.ack_wait,
        max_ack_pending: i64::try_from(options.max_ack_pending).unwrap_or(i64::MAX),
        ..Default::default()
    };
    let mut consumer: PullConsumer = stream.get_or_create_consumer(name, config).await?;
    let filter = consumer.info().await?.config.filter_subject.clone();
    if filter != subject {
        return Err(format!(
            "JetStream consumer {name:?} reads subject {filter:?}, not {subject:?}; name another consumer"
        )
        .into());
    }
    Ok(consumer)
}

/// One published message the stream has not acknowledged yet.
struct Pending {
    id: String,
    payload: Bytes,
    ack: PublishAckFuture,
}

/// The state of one durable export.
struct Exporter {
    inner: Arc<Inner>,
    subject: Subject,
    next: u64,
    window: VecDeque<Pending>,
    closing: Closing,
    backoff: Backoff,
    /// Events given up on before they reached the client (not in the window).
    unsent: u64,
}

/// The close deadline passed: what the exporter held is counted as undelivered.
struct Expired;

/// Publishes local events to the stream until the bus closes or the bridge shuts down; then
/// publishes what the subscription already holds and waits for the stream's
/// acknowledgements, until the close deadline. Returns how many events were not confirmed.
pub(crate) async fn export<E: Serialize + Send + Sync + 'static>(
    inner: Arc<Inner>,
    subject: Subject,
    mut subscription: Subscription<E>,
    registration: Registration,
) -> u64 {
    let mut buf = BytesMut::with_capacity(4096);
    let mut ex = Exporter {
        closing: Closing::new(&inner),
        backoff: inner.settings.backoff(),
        inner,
        subject,
        next: 0,
        window: VecDeque::with_capacity(WINDOW),
        unsent: 0,
    };
    let expired = loop {
        let event = if ex.closing.is_closing() {
            match subscription.try_recv_ref() {
                Ok(event) => event,
                Err(_) => break ex.settle_all().await.err(),
            }
        } else if ex.window.is_empty() {
            tokio::select! {
                biased;
                event = subscription.recv_ref() => match event {
                    Some(event) => event,
                    None => break None,
                },
                _ = ex.closing.started() => continue,
            }
        } else {
            // Publish what is ready back to back; once nothing is, wait for the acks.
            match subscription.try_recv_ref() {
                Ok(event) => event,
                Err(TryRecvError::Empty) => match ex.settle_all().await {
                    Ok(()) => continue,
                    Err(Expired) => break Some(Expired),
                },
                Err(TryRecvError::Closed) => break ex.settle_all().await.err(),
            }
        };
        let Some(payload) = payload(&ex.inner, &ex.subject, &registration, event, &mut buf) else {
            continue;
        };
        if ex.publish(payload).await.is_err() {
            break Some(Expired);
        }
    };
    match expired {
        None => 0,
        Some(Expired) => {
            let held = ex.window.len() as u64 + ex.unsent;
            tracing::error!(
                subject = ex.subject.as_str(),
                "tidings nats bridge: closing, JetStream did not confirm every event before the deadline"
            );
            held + unsent(&ex.inner, &ex.subject, &registration, &mut subscription)
        }
    }
}

impl Exporter {
    /// Publishes one event; `Err` if the close deadline passed first (the event is then in
    /// the window, counted with it).
    async fn publish(&mut self, payload: Bytes) -> Result<(), Expired> {
        self.next += 1;
        let id = format!("{}-{}", self.inner.origin.as_str(), self.next);
        let ack = match self.send(&id, payload.clone()).await {
            Ok(ack) => ack,
            Err(Expired) => {
                self.unsent += 1;
                return Err(Expired);
            }
        };
        self.window.push_back(Pending { id, payload, ack });
        if self.window.len() >= WINDOW {
            let oldest = self.window.pop_front().expect("window is full");
            self.settle(oldest).await?;
        }
        Ok(())
    }

    /// Hands one message to the client, retrying while its queue refuses it.
    async fn send(&mut self, id: &str, payload: Bytes) -> Result<PublishAckFuture, Expired> {
        loop {
            let mut headers = self.inner.headers.clone();
            headers.insert(header::NATS_MESSAGE_ID, id);
            let message = PublishMessage::build()
                .payload(payload.clone())
                .headers(headers);
            let publish = self
                .inner
                .jetstream
                .send_publish(self.subject.clone(), message);
            match self.closing.run(publish).await {
                Some(Ok(ack)) => return Ok(ack),
                Some(Err(e)) => self.failed(&e),
                None => return Err(Expired),
            }
            self.pause().await?;
        }
    }

    /// Waits a back-off step, or until the close deadline.
    async fn pause(&mut self) -> Result<(), Expired> {
        let delay = self.backoff.next_delay();
        self.closing
            .run(tokio::time::sleep(delay))
            .await
            .ok_or(Expired)
    }

    /// Waits for one acknowledgement, publishing the message again until the stream has it.
    ///
    /// A failure means the acks still in the window are as good as lost too (each would only
    /// time out in turn, and a retry later than the stream's duplicate window would store a
    /// second copy), so they are all published again at once. On `Err` the message is counted
    /// in `unsent`.
    async fn settle(&mut self, pending: Pending) -> Result<(), Expired> {
        let Pending {
            id,
            payload,
            mut ack,
        } = pending;
        loop {
            match self.closing.run(ack.into_future()).await {
                Some(Ok(_)) => {
                    // A duplicate ack also means "stored", by an earlier attempt.
                    Counters::bump(&self.inner.counters.exported);
                    self.backoff.reset();
                    return Ok(());
                }
                Some(Err(e)) => self.failed(&e),
                None => {
                    self.unsent += 1;
                    return Err(Expired);
                }
            }
            let again = async {
                self.pause().await?;
                let ack = self.send(&id, payload.clone()).await?;
                let mut rest = std::mem::take(&mut self.window);
                let resent = async {
                    for other in &mut rest {
                        other.ack = self.send(&other.id, other.payload.clone()).await?;
                    }
                    Ok(())
                }
                .await;
                self.window = rest;
                resent.map(|()| ack)
            }
            .await;
            match again {
                Ok(again) => ack = again,
                Err(Expired) => {
                    self.unsent += 1;
                    return Err(Expired);
                }
            }
        }
    }

    async fn settle_all(&mut self) -> Result<(), Expired> {
        while let Some(pending) = self.window.pop_front() {
            self.settle(pending).await?;
        }
        Ok(())
    }

    /// Counts and logs a failed attempt.
    fn failed(&self, error: &dyn std::fmt::Display) {
        Counters::bump(&self.inner.counters.publish_errors);
        tracing::debug!(subject = self.subject.as_str(), error = %error, "tidings nats bridge: JetStream publish failed; retrying");
    }
}

/// How long one pull request waits at the server for messages.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// Sends the stream's messages into the bus as [`Delivery`]s until the bus closes or the
/// bridge shuts down. Messages it has not sent stay unacknowledged, for the next run.
///
/// It pulls at most as many messages as its window has free slots, and only while the bus
/// has a subscription for them, so nothing waits in a client-side buffer for an ack wait to
/// run out.
pub(crate) async fn import<E: DeserializeOwned + Send + Sync + 'static>(
    inner: Arc<Inner>,
    consumer: PullConsumer,
) -> u64 {
    let mut closing = Closing::new(&inner);
    let mut backoff = inner.settings.backoff();
    let limit = inner.settings.jetstream.max_ack_pending;
    let window = Arc::new(Window::default());
    loop {
        // Room in the window, and somebody to hand messages to.
        let free = loop {
            let free = window.free(limit);
            if free == 0 {
                tokio::select! {
                    _ = window.wait_freed() => continue,
                    _ = closing.started() => return 0,
                }
            }
            if inner.bus.subscriber_count::<Delivery<E>>() > 0 {
                break free;
            }
            if inner.bus.is_closed() {
                return 0;
            }
            tokio::select! {
                _ = tokio::time::sleep(NO_SUBSCRIBER_POLL) => {}
                _ = closing.started() => return 0,
            }
        };
        let batch = consumer
            .batch()
            .max_messages(free.min(WINDOW))
            .expires(PULL_EXPIRES)
            .messages();
        let batch = tokio::select! {
            batch = batch => batch,
            _ = closing.started() => return 0,
        };
        let mut messages = match batch {
            Ok(messages) => messages,
            Err(e) => {
                receive_error(&inner, &e);
                if !pause(&mut backoff, &mut closing).await {
                    return 0;
                }
                continue;
            }
        };
        // The server ends the batch after `PULL_EXPIRES`; the timeout covers a server that
        // went away without saying so.
        let batch_deadline = tokio::time::Instant::now() + PULL_EXPIRES + Duration::from_secs(2);
        loop {
            let message = tokio::select! {
                message = tokio::time::timeout_at(batch_deadline, messages.next()) => message,
                _ = closing.started() => return 0,
            };
            match message {
                Ok(Some(Ok(message))) => {
                    backoff.reset();
                    if !handle::<E>(&inner, message, &window, &mut closing).await {
                        return 0;
                    }
                }
                Ok(Some(Err(e))) => {
                    receive_error(&inner, &e);
                    if !pause(&mut backoff, &mut closing).await {
                        return 0;
                    }
                    break;
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
}

/// Waits a back-off step; `false` if the bridge started closing meanwhile.
async fn pause(backoff: &mut Backoff, closing: &mut Closing) -> bool {
    let delay = backoff.next_delay();
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = closing.started() => false,
    }
}

fn receive_error(inner: &Inner, error: &dyn std::fmt::Display) {
    Counters::bump(&inner.counters.receive_errors);
    tracing::debug!(error = %error, "tidings nats bridge: JetStream consumer error; continuing");
}

/// Sends one message into the bus as a [`Delivery`], which acknowledges it once handled;
/// settles at once what is this bus's own or does not decode. `false` once the import must
/// stop (bus or bridge closed), leaving the message unacknowledged.
async fn handle<E: DeserializeOwned + Send + Sync + 'static>(
    inner: &Inner,
    message: Message,
    window: &Arc<Window>,
    closing: &mut Closing,
) -> bool {
    let delivered = message
        .info()
        .map_or(1, |info| info.delivered.max(1) as u64);
    let message = message.message;
    let Some(reply) = message.reply.clone() else {
        // Not from a consumer (cannot be acknowledged); nothing to do with it.
        return true;
    };
    if inner.is_own(message.headers.as_ref()) {
        Counters::bump(&inner.counters.looped);
        let _ = inner.acks.send(AckMsg::Settle(reply, AckKind::Ack));
        return true;
    }
    // The sender's trace (`TRACE_HEADER`), continued while this import handles the message
    // and carried by the delivery to the handler that reads it later.
    let trace = super::trace_of(message.headers.as_ref());
    // Entered only around the synchronous parts: the span must not be held across an await.
    let span = super::continue_trace(trace, message.subject.as_str());
    let event = match inner.codec.decode::<E>(&message.payload) {
        Ok(event) => event,
        Err(error) => {
            Counters::bump(&inner.counters.malformed);
            tracing::warn!(
                subject = message.subject.as_str(),
                event_type = std::any::type_name::<E>(),
                error,
                "tidings nats bridge: message does not decode; terminated (never redelivered)"
            );
            let _ = inner.acks.send(AckMsg::Settle(reply, AckKind::Term));
            return true;
        }
    };
    let mut delivery = Delivery::new(
        event,
        message.subject.to_string(),
        delivered,
        reply,
        inner.acks.clone(),
        Arc::clone(window),
    )
    .with_trace(trace);
    window.take();
    // Hold the message until a subscription can take it: acknowledging into a bus nobody
    // listens to would lose it. The server waits as long as we say "in progress".
    let keep_alive = inner.settings.jetstream.ack_wait / 2;
    let mut held = Duration::ZERO;
    loop {
        let subscriptions = inner.bus.subscriber_count::<Delivery<E>>();
        if subscriptions > 0 {
            delivery.expect_holders(subscriptions);
            match span.in_scope(|| inner.bus.send(delivery)) {
                Ok(()) => {
                    Counters::bump(&inner.counters.imported);
                    return true;
                }
                // The last subscription ended between the count and the send, or the bus is
                // closed; the bus's copy comes back and never acknowledges anything.
                Err(e) => delivery = e.into_inner(),
            }
        }
        if inner.bus.is_closed() {
            return false;
        }
        if held >= keep_alive {
            delivery.keep_alive();
            held = Duration::ZERO;
        }
        tokio::select! {
            _ = tokio::time::sleep(NO_SUBSCRIBER_POLL) => held += NO_SUBSCRIBER_POLL,
            _ = closing.started() => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn stream_filters_cover_subjects() {
        for (filter, subject) in [
            ("a.b", "a.b"),
            ("a.*", "a.b"),
            ("a.*", "a.*"),
            ("a.>", "a.b.c"),
            ("a.>", "a.*"),
            ("a.>", "a.>"),
            (">", "x.y"),
            ("*.b", "a.b"),
        ] {
            assert!(covers(filter, subject), "{filter} covers {subject}");
        }
        for (filter, subject) in [
            ("a.b", "a.c"),
            ("a.b", "a.b.c"),
            ("a.*", "a.b.c"),
            ("a.*", "a.>"),
            ("a.>", "a"),
            ("a.b", "a.*"),
            ("a.*.c", "a.b"),
            ("other.>", "notes.x"),
        ] {
            assert!(
                !covers(filter, subject),
                "{filter} does not cover {subject}"
            );
        }
    }
}
