//! JetStream export and import: a stream on the server, a durable consumer per importer,
//! at least once.
//!
//! Export publishes with `Nats-Msg-Id: <origin>-<n>` (n counts this export's events), keeps
//! up to [`WINDOW`] publishes awaiting the stream's acknowledgement, and on a timeout or error
//! publishes the same message again: the stream's duplicate window drops a copy it already
//! stored, so a retry never stores an event twice. Import acknowledges each message after the
//! local send; a message lost with its acknowledgement is redelivered after [`ACK_WAIT`].
//! Retries can reorder events around an outage.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::context::{Context, PublishAckFuture};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{AckKind, Message, stream};
use async_nats::{Subject, header};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::core::{Delivered, deliver, payload};
use super::echo::Registration;
use super::stats::Counters;
use super::{Error, Inner};
use crate::{Subscription, TryRecvError};

/// Publishes awaiting acknowledgement, per export. Large enough to keep the connection busy,
/// small enough that a retry after an outage resends little.
const WINDOW: usize = 256;
/// How long the server waits for an import's acknowledgement before redelivering.
pub(crate) const ACK_WAIT: Duration = Duration::from_secs(10);
/// Pause between attempts while the server is unreachable.
const RETRY: Duration = Duration::from_millis(250);
/// Attempts per message once the bridge is closing, so `close` ends even if the server does
/// not come back.
const RETRIES_WHEN_CLOSING: u32 = 20;

/// Finds stream `name`, or creates it on file storage for `subject`.
pub(crate) async fn ensure_stream(
    jetstream: &Context,
    name: &str,
    subject: &str,
) -> Result<stream::Stream, Error> {
    let config = stream::Config {
        name: name.to_owned(),
        subjects: vec![subject.to_owned()],
        storage: stream::StorageType::File,
        ..Default::default()
    };
    Ok(jetstream.get_or_create_stream(config).await?)
}

/// Finds durable pull consumer `name` on `stream`, or creates it for `subject`.
pub(crate) async fn ensure_consumer(
    stream: &stream::Stream,
    subject: &str,
    name: &str,
) -> Result<PullConsumer, Error> {
    let config = pull::Config {
        durable_name: Some(name.to_owned()),
        filter_subject: subject.to_owned(),
        ack_policy: AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        ..Default::default()
    };
    Ok(stream.get_or_create_consumer(name, config).await?)
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
    closing: bool,
}

pub(crate) async fn export<E: Serialize + Send + Sync + 'static>(
    inner: Arc<Inner>,
    subject: Subject,
    mut subscription: Subscription<E>,
    registration: Registration,
) {
    let mut shutdown = inner.shutdown.subscribe();
    let mut buf = BytesMut::with_capacity(4096);
    let mut ex = Exporter {
        inner,
        subject,
        next: 0,
        window: VecDeque::with_capacity(WINDOW),
        closing: false,
    };
    loop {
        let event = if ex.window.is_empty() {
            tokio::select! {
                biased;
                event = subscription.recv_ref() => event,
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        } else {
            // Publish what is ready back to back; once nothing is, wait for the acks.
            match subscription.try_recv_ref() {
                Ok(event) => Some(event),
                Err(TryRecvError::Empty) => {
                    ex.settle_all().await;
                    continue;
                }
                Err(TryRecvError::Closed) => None,
            }
        };
        let Some(event) = event else {
            ex.settle_all().await;
            return;
        };
        ex.publish(event, &registration, &mut buf).await;
    }
    ex.closing = true;
    while let Ok(event) = subscription.try_recv_ref() {
        ex.publish(event, &registration, &mut buf).await;
    }
    ex.settle_all().await;
}

impl Exporter {
    async fn publish<E: Serialize>(
        &mut self,
        event: &E,
        registration: &Registration,
        buf: &mut BytesMut,
    ) {
        let Some(payload) = payload(&self.inner, &self.subject, registration, event, buf) else {
            return;
        };
        self.next += 1;
        let id = format!("{}-{}", self.inner.origin.as_str(), self.next);
        let Some(ack) = self.send(&id, payload.clone()).await else {
            return;
        };
        self.window.push_back(Pending { id, payload, ack });
        if self.window.len() >= WINDOW {
            let oldest = self.window.pop_front().expect("window is full");
            self.settle(oldest).await;
        }
    }

    /// Hands one message to the client, retrying while its queue refuses it. `None` if the
    /// bridge is closing and the server stayed away.
    async fn send(&self, id: &str, payload: Bytes) -> Option<PublishAckFuture> {
        let mut attempts = 0;
        loop {
            let mut headers = self.inner.headers.clone();
            headers.insert(header::NATS_MESSAGE_ID, id);
            let message = PublishMessage::build()
                .payload(payload.clone())
                .headers(headers);
            match self
                .inner
                .jetstream
                .send_publish(self.subject.clone(), message)
                .await
            {
                Ok(ack) => return Some(ack),
                Err(e) => {
                    if !self.failed(&e, &mut attempts) {
                        return None;
                    }
                }
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    /// Waits for one acknowledgement, publishing the message again until the stream has it.
    ///
    /// A failure means the acks still in the window are as good as lost too (each would only
    /// time out in turn, and a retry later than the stream's duplicate window would store a
    /// second copy), so they are all published again at once.
    async fn settle(&mut self, mut pending: Pending) {
        let mut attempts = 0;
        loop {
            match pending.ack.await {
                Ok(_) => {
                    // A duplicate ack also means "stored", by an earlier attempt.
                    Counters::bump(&self.inner.counters.exported);
                    return;
                }
                Err(e) => {
                    if !self.failed(&e, &mut attempts) {
                        return;
                    }
                }
            }
            tokio::time::sleep(RETRY).await;
            match self.send(&pending.id, pending.payload.clone()).await {
                Some(ack) => pending.ack = ack,
                None => return,
            }
            let mut rest = std::mem::take(&mut self.window);
            for other in &mut rest {
                match self.send(&other.id, other.payload.clone()).await {
                    Some(ack) => other.ack = ack,
                    None => return,
                }
            }
            self.window = rest;
        }
    }

    async fn settle_all(&mut self) {
        while let Some(pending) = self.window.pop_front() {
            self.settle(pending).await;
        }
    }

    /// Counts and logs a failed attempt; whether to try again.
    fn failed(&self, error: &dyn std::fmt::Display, attempts: &mut u32) -> bool {
        Counters::bump(&self.inner.counters.publish_errors);
        *attempts += 1;
        let again = !self.closing || *attempts < RETRIES_WHEN_CLOSING;
        if again {
            tracing::debug!(subject = self.subject.as_str(), error = %error, "tidings nats bridge: JetStream publish failed; retrying");
        } else {
            tracing::error!(subject = self.subject.as_str(), error = %error, "tidings nats bridge: closing, JetStream publish failed; event not stored");
        }
        again
    }
}

pub(crate) async fn import<E: Serialize + DeserializeOwned + Send + Sync + 'static>(
    inner: Arc<Inner>,
    consumer: PullConsumer,
) {
    let mut shutdown = inner.shutdown.subscribe();
    let mut buf = BytesMut::new();
    loop {
        let messages = tokio::select! {
            messages = consumer.messages() => messages,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match messages {
            Ok(mut messages) => loop {
                let message = tokio::select! {
                    message = messages.next() => message,
                    _ = shutdown.wait_for(|stop| *stop) => return,
                };
                match message {
                    Some(Ok(message)) => {
                        if !handle::<E>(&inner, message, &mut buf).await {
                            return;
                        }
                    }
                    Some(Err(e)) => receive_error(&inner, &e),
                    None => break,
                }
            },
            Err(e) => receive_error(&inner, &e),
        }
        tokio::time::sleep(RETRY).await;
    }
}

fn receive_error(inner: &Inner, error: &dyn std::fmt::Display) {
    Counters::bump(&inner.counters.receive_errors);
    tracing::debug!(error = %error, "tidings nats bridge: JetStream consumer error; continuing");
}

/// Delivers one message and acknowledges it; `false` once the bus is closed.
async fn handle<E: Serialize + DeserializeOwned + Send + Sync + 'static>(
    inner: &Inner,
    message: Message,
    buf: &mut BytesMut,
) -> bool {
    let ack = if inner.is_own(message.headers.as_ref()) {
        Counters::bump(&inner.counters.looped);
        AckKind::Ack
    } else {
        let headers = message.headers.as_ref();
        match deliver::<E>(inner, &message.subject, headers, &message.payload, buf) {
            Delivered::Yes => AckKind::Ack,
            // Never redeliver what can never decode.
            Delivered::Skipped => AckKind::Term,
            // Not acknowledged: the next run of this consumer gets it.
            Delivered::BusClosed => return false,
        }
    };
    if let Err(e) = message.ack_with(ack).await {
        receive_error(inner, &e);
    }
    true
}
