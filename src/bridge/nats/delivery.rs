//! [`Delivery`]: an event from a durable import, acknowledged once the application has
//! handled it.
//!
//! # How the acknowledgement is decided
//!
//! The import sends one `Delivery<E>` into the bus. The bus keeps that value in its segment
//! until the segment is reclaimed, which may take unrelated traffic, so the bus's own copy
//! never acknowledges anything. Each subscription that receives the event gets a clone
//! (`recv` clones), and a clone *of the bus's copy* opens a new *holder*: that subscription's
//! share of the work. Clones of a received copy share its holder. A holder closes when the
//! last copy sharing it is dropped.
//!
//! `remaining` starts at the number of subscriptions when the import sent the event; each
//! closing holder takes one off, and the holder that takes the last one acknowledges the
//! message. So the message is acknowledged when every subscription that was there has handled
//! its copy, as soon as it has, and independently of any other event.
//!
//! Settling (ack, nak, term) happens at most once per delivery (`settled`); the bridge's
//! acker task publishes it, so a drop never blocks and never waits for the import's next message.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Subject;
use async_nats::jetstream::AckKind;
use tokio::sync::mpsc;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Where deliveries send their acknowledgements: the bridge's acker task.
pub(crate) type AckSender = mpsc::UnboundedSender<AckMsg>;

/// What the acker task is told.
pub(crate) enum AckMsg {
    /// Settle a message: its reply subject, where JetStream takes acknowledgements, and how.
    Settle(Subject, AckKind),
    /// Answer once every settle sent before this one has been handed to the client
    /// (`Bridge::close` waits for it before its final round trip).
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// An event from [`Bridge::import_durable`](super::Bridge::import_durable), carrying the
/// JetStream acknowledgement of the message it came in.
///
/// Subscribe to `Delivery<E>` (not `E`) and handle it; the event is `*delivery` (it derefs to
/// `E`). The message is acknowledged:
///
/// - when every subscription that received it has dropped its copy (clones of one received
///   copy count once), normally at the end of the handler; or
/// - at once with [`ack`](Delivery::ack).
///
/// [`nak`](Delivery::nak) asks the server to deliver it again (after
/// [`nak_after`](Delivery::nak_after)'s delay), [`term`](Delivery::term) tells it never to.
/// A copy dropped while its thread is panicking naks: a handler that panicked did not handle
/// the event. The first of these to happen settles the message; later ones do nothing.
///
/// A copy that is never dropped (or read only by reference, with `recv_ref`, and never
/// acknowledged) leaves the message unacknowledged: the server delivers it again after the
/// ack wait, so it is handled at least once. The same happens when a subscription ends
/// without reading it.
///
/// The import counts the subscriptions right before it sends. A subscription made in that
/// instant may receive the event too and count as one of those waited for, so the message can
/// be acknowledged while one of the earlier subscriptions still handles it; subscribe before
/// calling `import_durable` (as the example does) and this cannot happen.
///
/// ```
/// # async fn demo(bus: tidings::Bus, bridge: tidings::bridge::nats::Bridge)
/// # -> Result<(), tidings::bridge::nats::Error> {
/// use tidings::bridge::nats::Delivery;
///
/// #[derive(Clone, serde::Deserialize)]
/// struct OrderPlaced {
///     id: u64,
/// }
///
/// let mut orders = bus.subscribe::<Delivery<OrderPlaced>>(); // subscribe first
/// bridge.import_durable::<OrderPlaced>("ORDERS", "orders.placed", "billing").await?;
/// while let Some(order) = orders.recv().await {
///     println!("billing order {}", order.id); // Deref: an &OrderPlaced
/// } // each `order` is acknowledged as it is dropped here
/// # Ok(()) }
/// ```
pub struct Delivery<E> {
    shared: Arc<Shared<E>>,
    /// `None` for the copy the import sent into the bus (it never settles anything); the
    /// receiving subscription's holder for every other copy.
    holder: Option<Arc<Holder<E>>>,
}

struct Shared<E> {
    event: E,
    subject: String,
    delivered: u64,
    /// The trace the message carried (`TRACE_HEADER`), if any.
    trace: Option<crate::TraceId>,
    /// Holders yet to close before the message is acknowledged: the number of subscriptions
    /// when the import sent it. Decremented with AcqRel so that the holder taking the last one
    /// sees every other holder's work as done (nothing in memory depends on it beyond the
    /// decision itself).
    remaining: AtomicUsize,
    /// Whether an ack, nak or term was sent. Swapped with AcqRel: exactly one settle wins.
    settled: AtomicBool,
    /// The message's reply subject, where JetStream takes acknowledgements.
    reply: Subject,
    acks: AckSender,
    /// The import's window: this delivery holds one of its slots until it settles (or, never
    /// settled, until it is gone).
    window: Arc<Window>,
}

/// The unacknowledged messages of one durable import, at most `JetStreamOptions::max_ack_pending`.
#[derive(Default)]
pub(crate) struct Window {
    /// Deliveries handed to the bus and not settled yet. Relaxed: a count compared with a
    /// limit; `freed` carries the wake-up.
    outstanding: AtomicUsize,
    freed: tokio::sync::Notify,
}

impl Window {
    /// Slots free out of `limit`.
    pub(crate) fn free(&self, limit: usize) -> usize {
        limit.saturating_sub(self.outstanding.load(Ordering::Relaxed))
    }

    /// Waits until a slot may have been freed since the last `free` that returned 0.
    pub(crate) async fn wait_freed(&self) {
        self.freed.notified().await;
    }

    pub(crate) fn take(&self) {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
    }

    fn release(&self) {
        self.outstanding.fetch_sub(1, Ordering::Relaxed);
        // notify_one stores a permit if the import is not waiting yet: no lost wake-up.
        self.freed.notify_one();
    }
}

/// One receiving subscription's share of a delivery; closes (see the module docs) on drop.
struct Holder<E> {
    shared: Arc<Shared<E>>,
}

impl<E> Delivery<E> {
    pub(crate) fn new(
        event: E,
        subject: String,
        delivered: u64,
        reply: Subject,
        acks: AckSender,
        window: Arc<Window>,
    ) -> Self {
        Delivery {
            shared: Arc::new(Shared {
                event,
                subject,
                delivered,
                trace: None,
                remaining: AtomicUsize::new(0),
                settled: AtomicBool::new(false),
                reply,
                acks,
                window,
            }),
            holder: None,
        }
    }

    /// The delivery of a message that carried `trace`; called by the import before anybody
    /// else has the delivery.
    pub(crate) fn with_trace(mut self, trace: Option<crate::TraceId>) -> Self {
        Arc::get_mut(&mut self.shared)
            .expect("a new delivery is not shared yet")
            .trace = trace;
        self
    }

    /// Sets how many subscriptions must handle the event; called by the import right before
    /// it sends the bus's copy, when nobody else has the delivery yet.
    pub(crate) fn expect_holders(&self, subscriptions: usize) {
        // Relaxed: the bus's send (release) and receive (acquire) order this store before
        // every holder's decrement.
        self.shared
            .remaining
            .store(subscriptions.max(1), Ordering::Relaxed);
    }

    /// Asks the server for more time (JetStream "in progress"), while the import holds the
    /// message back for want of a subscriber.
    pub(crate) fn keep_alive(&self) {
        // Relaxed: a stale `false` only sends a harmless "in progress" after a settle.
        if !self.shared.settled.load(Ordering::Relaxed) {
            let _ = self
                .shared
                .acks
                .send(AckMsg::Settle(self.shared.reply.clone(), AckKind::Progress));
        }
    }

    /// The event.
    pub fn event(&self) -> &E {
        &self.shared.event
    }

    /// The subject the message was published on.
    pub fn subject(&self) -> &str {
        &self.shared.subject
    }

    /// The trace id the message carried in the
    /// [`Tidings-Trace-Id`](super::TRACE_HEADER) header (sent by a tidings bridge connected
    /// inside a scope, or by a Haiway service), if any: a handler continues that trace by
    /// running in a scope made [`with_trace_id`](crate::Scope::with_trace_id) of it.
    pub fn trace_id(&self) -> Option<crate::TraceId> {
        self.shared.trace
    }

    /// How many times the server has delivered this message: 1 the first time, more after a
    /// nak, an expired ack wait, or a restart of the importing process.
    pub fn delivered(&self) -> u64 {
        self.shared.delivered
    }

    /// Acknowledges the message now, whatever other subscriptions do with their copies.
    pub fn ack(&self) {
        self.shared.settle(AckKind::Ack);
    }

    /// Asks the server to deliver the message again as soon as it can.
    pub fn nak(&self) {
        self.shared.settle(AckKind::Nak(None));
    }

    /// Asks the server to deliver the message again after `delay`.
    pub fn nak_after(&self, delay: Duration) {
        self.shared.settle(AckKind::Nak(Some(delay)));
    }

    /// Tells the server never to deliver the message again, without counting it as handled.
    pub fn term(&self) {
        self.shared.settle(AckKind::Term);
    }
}

impl<E> Shared<E> {
    fn settle(&self, kind: AckKind) {
        if self.settled.swap(true, Ordering::AcqRel) {
            return;
        }
        self.window.release();
        // The acker task is gone only once the bridge's runtime is: nobody is left to tell,
        // and the server redelivers after the ack wait.
        let _ = self.acks.send(AckMsg::Settle(self.reply.clone(), kind));
    }
}

impl<E> Drop for Shared<E> {
    fn drop(&mut self) {
        // Never settled (nobody handled it, or a reader only borrowed it): the server delivers
        // it again after the ack wait; its slot here is free.
        if !*self.settled.get_mut() {
            self.window.release();
        }
    }
}

impl<E> Drop for Holder<E> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.shared.settle(AckKind::Nak(None));
            return;
        }
        if self.shared.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.settle(AckKind::Ack);
        }
    }
}

impl<E> Clone for Delivery<E> {
    /// A clone of the bus's copy is a subscription receiving the event: it opens a holder of
    /// its own. A clone of any other copy shares that copy's holder.
    fn clone(&self) -> Self {
        let holder = match &self.holder {
            Some(holder) => Arc::clone(holder),
            None => Arc::new(Holder {
                shared: Arc::clone(&self.shared),
            }),
        };
        Delivery {
            shared: Arc::clone(&self.shared),
            holder: Some(holder),
        }
    }
}

impl<E> Deref for Delivery<E> {
    type Target = E;

    fn deref(&self) -> &E {
        &self.shared.event
    }
}

impl<E: fmt::Debug> fmt::Debug for Delivery<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("event", &self.shared.event)
            .field("subject", &self.shared.subject)
            .field("delivered", &self.shared.delivered)
            .finish_non_exhaustive()
    }
}

/// Publishes the settles of one bridge's deliveries until every delivery and the bridge are
/// gone. Its own task, so an acknowledgement never waits for the import's traffic.
pub(crate) async fn acker(
    client: async_nats::Client,
    mut acks: mpsc::UnboundedReceiver<AckMsg>,
    counters: Arc<super::stats::Counters>,
) {
    while let Some(message) = acks.recv().await {
        let (reply, kind) = match message {
            AckMsg::Settle(reply, kind) => (reply, kind),
            AckMsg::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        if let Err(e) = client.publish(reply, kind.into()).await {
            super::stats::Counters::bump(&counters.receive_errors);
            tracing::debug!(error = %e, "tidings nats bridge: acknowledgement not sent; the server will redeliver");
        }
    }
}
