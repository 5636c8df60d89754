//! Error types, after tokio's and crossbeam's channel errors.

use std::fmt;

/// Why [`Subscription::try_recv`](crate::Subscription::try_recv) returned no event.
///
/// ```
/// use tidings::{Bus, TryRecvError};
///
/// let bus = Bus::new();
/// let mut sub = bus.subscribe::<u8>();
/// assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
/// bus.close();
/// let err: Box<dyn std::error::Error> = sub.try_recv().unwrap_err().into();
/// assert_eq!(err.to_string(), "bus closed and subscription drained");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryRecvError {
    /// No event is available now; more may come.
    Empty,
    /// The bus is closed and every event sent to this subscription has been received.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "no event available",
            TryRecvError::Closed => "bus closed and subscription drained",
        })
    }
}

impl std::error::Error for TryRecvError {}

/// Why [`Subscription::recv_timeout`](crate::Subscription::recv_timeout) or
/// [`recv_deadline`](crate::Subscription::recv_deadline) returned no event, as in crossbeam and
/// flume.
///
/// ```
/// use std::time::Duration;
/// use tidings::{Bus, RecvTimeoutError};
///
/// let bus = Bus::new();
/// let mut sub = bus.subscribe::<u8>();
/// assert_eq!(sub.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
/// bus.close();
/// let err = sub.recv_timeout(Duration::from_secs(60)).unwrap_err();
/// assert_eq!(err.to_string(), "bus closed and subscription drained");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecvTimeoutError {
    /// No event came before the deadline; more may come.
    Timeout,
    /// The bus is closed and every event sent to this subscription has been received.
    Closed,
}

impl RecvTimeoutError {
    /// Whether the wait ended at the deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvTimeoutError::Timeout)
    }

    /// Whether the subscription has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self, RecvTimeoutError::Closed)
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvTimeoutError::Timeout => "timed out waiting for an event",
            RecvTimeoutError::Closed => "bus closed and subscription drained",
        })
    }
}

impl std::error::Error for RecvTimeoutError {}

/// Why [`Bus::send`](crate::Bus::send) stored nothing. Carries the event back.
///
/// ```
/// let bus = tidings::Bus::new();
/// let err = bus.send(String::from("lost")).unwrap_err();
/// assert_eq!(err.to_string(), "no subscription for this event type");
/// assert_eq!(err.into_inner(), "lost");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SendError<E> {
    /// No subscription of the event's type was alive.
    NoSubscribers(E),
    /// The bus is closed.
    Closed(E),
    /// The event's type is bounded with [`Overflow::Backpressure`](crate::Overflow) and its
    /// slowest subscription is as far behind as the bound allows: accepting the event would
    /// put it further. [`Bus::send_async`](crate::Bus::send_async) and
    /// [`Bus::send_blocking`](crate::Bus::send_blocking) wait for room instead.
    Full(E),
}

impl<E> SendError<E> {
    /// The event that was not sent.
    pub fn into_inner(self) -> E {
        match self {
            SendError::NoSubscribers(e) | SendError::Closed(e) | SendError::Full(e) => e,
        }
    }

    /// Whether the send failed because the bus is closed.
    ///
    /// ```
    /// let bus = tidings::Bus::new();
    /// assert!(!bus.send(1u8).unwrap_err().is_closed());
    /// bus.close();
    /// assert!(bus.send(1u8).unwrap_err().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, SendError::Closed(_))
    }

    /// Whether the send failed because a bounded topic was full
    /// ([`Overflow::Backpressure`](crate::Overflow::Backpressure)).
    ///
    /// ```
    /// use tidings::{Bus, Overflow};
    ///
    /// let bus = Bus::builder().bound::<u8>(1, Overflow::Backpressure).build();
    /// let _sub = bus.subscribe::<u8>();
    /// bus.send(1u8).unwrap();
    /// assert!(bus.send(2u8).unwrap_err().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, SendError::Full(_))
    }
}

// Like tokio's `SendError`, `Debug` does not require `E: Debug`.
impl<E> fmt::Debug for SendError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::NoSubscribers(_) => "NoSubscribers(..)",
            SendError::Closed(_) => "Closed(..)",
            SendError::Full(_) => "Full(..)",
        })
    }
}

impl<E> fmt::Display for SendError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::NoSubscribers(_) => "no subscription for this event type",
            SendError::Closed(_) => "bus closed",
            SendError::Full(_) => "a subscription is as far behind as the bound allows",
        })
    }
}

impl<E> std::error::Error for SendError<E> {}
