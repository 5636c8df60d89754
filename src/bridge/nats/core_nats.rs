//! Core NATS export and import: at most once, no storage on the server.

use std::sync::Arc;

use async_nats::{Event, Subject, Subscriber};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::echo::Registration;
use super::stats::Counters;
use super::{Closing, Inner};
use crate::{SendError, Subscription};
use std::sync::atomic::Ordering;

/// Room for a typical event; grows to the largest one seen and is then reused.
const BUFFER: usize = 4096;

/// Follows the connection state for the stats and the log.
pub(crate) fn on_connection_event(counters: &Counters, event: Event) {
    match event {
        Event::Connected => {
            // Relaxed: see `Counters`. The first connection reports itself too; only a
            // connection after a loss is a reconnect.
            let was = counters.connected.swap(true, Ordering::Relaxed);
            if !was && counters.disconnects.load(Ordering::Relaxed) > 0 {
                Counters::bump(&counters.reconnects);
                tracing::info!("tidings nats bridge: reconnected");
            }
        }
        Event::Disconnected => {
            counters.connected.store(false, Ordering::Relaxed);
            Counters::bump(&counters.disconnects);
            tracing::warn!("tidings nats bridge: disconnected; async-nats is reconnecting");
        }
        Event::Closed => {
            counters.connected.store(false, Ordering::Relaxed);
            tracing::info!("tidings nats bridge: connection closed");
        }
        // Server and client errors name the failure kind (e.g. "authorization violation"),
        // never the credentials.
        other => tracing::warn!("tidings nats bridge: {other}"),
    }
}

/// Publishes each local event to `subject` until the bus closes or the bridge shuts down;
/// on shutdown, first publishes the events already received, until the close deadline.
/// Returns how many it could not publish by then.
pub(crate) async fn export<E: Serialize + Send + Sync + 'static>(
    inner: Arc<Inner>,
    subject: Subject,
    mut subscription: Subscription<E>,
    registration: Registration,
) -> u64 {
    let mut closing = Closing::new(&inner);
    let mut buf = BytesMut::with_capacity(BUFFER);
    loop {
        let event = if closing.is_closing() {
            match subscription.try_recv_ref() {
                Ok(event) => event,
                Err(_) => return 0,
            }
        } else {
            tokio::select! {
                biased;
                event = subscription.recv_ref() => match event {
                    Some(event) => event,
                    None => return 0,
                },
                _ = closing.started() => continue,
            }
        };
        let Some(payload) = payload(&inner, &subject, &registration, event, &mut buf) else {
            continue;
        };
        let publish =
            inner
                .client
                .publish_with_headers(subject.clone(), inner.headers.clone(), payload);
        match closing.run(publish).await {
            Some(Ok(())) => Counters::bump(&inner.counters.exported),
            Some(Err(e)) => {
                Counters::bump(&inner.counters.publish_errors);
                tracing::warn!(subject = subject.as_str(), error = %e, "tidings nats bridge: publish failed; event dropped");
            }
            // The client's queue stayed full (the server is gone) until the deadline.
            None => return 1 + unsent(&inner, &subject, &registration, &mut subscription),
        }
    }
}

/// Counts (and consumes) the events left in an export's subscription when its bridge gives
/// up: each would have been published.
pub(crate) fn unsent<E: Serialize + Send + Sync + 'static>(
    inner: &Inner,
    subject: &Subject,
    registration: &Registration,
    subscription: &mut Subscription<E>,
) -> u64 {
    let mut buf = BytesMut::new();
    let mut count = 0;
    while let Ok(event) = subscription.try_recv_ref() {
        // Imported events coming round again would not have been published.
        if payload(inner, subject, registration, event, &mut buf).is_some() {
            count += 1;
        }
    }
    count
}

/// Encodes a local event for export; `None` if it does not encode (counted, logged) or is
/// an imported event coming round again (counted). Shared by core and JetStream exports.
pub(crate) fn payload<E: Serialize>(
    inner: &Inner,
    subject: &Subject,
    registration: &Registration,
    event: &E,
    buf: &mut BytesMut,
) -> Option<Bytes> {
    let counters = &inner.counters;
    let payload = match inner.codec.encode(event, buf) {
        Ok(payload) => payload,
        Err(e) => {
            Counters::bump(&counters.encode_errors);
            tracing::warn!(
                subject = subject.as_str(),
                error = e.0,
                "tidings nats bridge: event does not encode; skipped"
            );
            return None;
        }
    };
    if registration.filter.take(&payload) {
        Counters::bump(&counters.echoes_suppressed);
        return None;
    }
    Some(payload)
}

/// Sends each message of `subscriber` into the bus until the bus closes or the bridge shuts
/// down. async-nats renews the subscription after a reconnect.
pub(crate) async fn import<E: Serialize + DeserializeOwned + Send + Sync + 'static>(
    inner: Arc<Inner>,
    mut subscriber: Subscriber,
) -> u64 {
    let mut closing = Closing::new(&inner);
    let mut buf = BytesMut::new();
    loop {
        let message = tokio::select! {
            message = subscriber.next() => message,
            _ = closing.started() => break,
        };
        let Some(message) = message else { break };
        if inner.is_own(message.headers.as_ref()) {
            Counters::bump(&inner.counters.looped);
            continue;
        }
        let headers = message.headers.as_ref();
        match deliver::<E>(
            &inner,
            &message.subject,
            headers,
            &message.payload,
            &mut buf,
        ) {
            Delivered::Yes | Delivered::Skipped => {}
            Delivered::BusClosed => break,
            Delivered::Full(event) => {
                // A Backpressure-bounded type whose slowest subscription is full: wait for room
                // rather than lose the message. Meanwhile later messages queue in async-nats'
                // subscription buffer (NATS core's at-most-once contract applies past it).
                let sent = tokio::select! {
                    sent = inner.bus.send_async(event) => sent,
                    _ = closing.started() => break,
                };
                match sent {
                    Ok(()) => Counters::bump(&inner.counters.imported),
                    Err(SendError::NoSubscribers(_)) => {
                        Counters::bump(&inner.counters.imported);
                        Counters::bump(&inner.counters.unrouted);
                    }
                    Err(SendError::Closed(_)) => break,
                    Err(SendError::Full(_)) => unreachable!("send_async never returns Full"),
                }
            }
        }
    }
    // Bounded: a server that is gone must not hold up `close`.
    let _ = closing.run(subscriber.unsubscribe()).await;
    0
}

/// What became of one imported message.
pub(crate) enum Delivered<E> {
    /// Sent into the bus (or dropped by it for want of a subscriber).
    Yes,
    /// Malformed: counted, logged, skipped.
    Skipped,
    /// The bus is closed; the import ends.
    BusClosed,
    /// Its type is bounded with Backpressure and full: the event, for the caller to wait
    /// with (every export was already told to expect it).
    Full(E),
}

/// Decodes a payload and sends it into the bus; shared by core and JetStream imports.
pub(crate) fn deliver<E: Serialize + DeserializeOwned + Send + Sync + 'static>(
    inner: &Inner,
    subject: &Subject,
    headers: Option<&async_nats::HeaderMap>,
    payload: &[u8],
    buf: &mut BytesMut,
) -> Delivered<E> {
    // The sender's trace (`TRACE_HEADER`), continued for whatever delivery logs.
    let _span = super::continue_trace(super::trace_of(headers), subject.as_str()).entered();
    let counters = &inner.counters;
    let event = match inner.codec.decode::<E>(payload) {
        Ok(event) => event,
        Err(error) => {
            Counters::bump(&counters.malformed);
            tracing::warn!(
                subject = subject.as_str(),
                event_type = std::any::type_name::<E>(),
                error,
                "tidings nats bridge: message does not decode; skipped"
            );
            return Delivered::Skipped;
        }
    };
    match inner
        .echoes
        .send_imported(&inner.bus, event, inner.codec, buf)
    {
        Ok(()) => {
            Counters::bump(&counters.imported);
            Delivered::Yes
        }
        Err(SendError::NoSubscribers(_)) => {
            Counters::bump(&counters.imported);
            Counters::bump(&counters.unrouted);
            Delivered::Yes
        }
        Err(SendError::Closed(_)) => Delivered::BusClosed,
        Err(SendError::Full(event)) => Delivered::Full(event),
    }
}
