//! Echo suppression: an export never sends on an event that its own bridge imported.
//!
//! Imported events land in the local bus like any other, so an export of the same type sees
//! them on its subscription. Re-publishing them would bounce events between two bridged buses
//! forever. The bus cannot tell an imported event from a local one, so the bridge remembers
//! them by content:
//!
//! - Every export of type `E` owns a filter: a multiset of encoded payloads.
//! - An import of `E`, while holding the type's lock, encodes the decoded event the way the
//!   export will, adds the bytes to every export filter of `E`, and sends the event.
//! - An export, after encoding an event, takes one matching entry out of its filter if it
//!   has one, and then does not publish it.
//!
//! Registering an export (subscribe + add filter) and an import's record-and-send happen under
//! the same lock, so an export's subscription sees an imported event exactly when its filter
//! has an entry for it. The bus delivers the event after the send, so the export always finds
//! the entry (the send's release and the receive's acquire order them).
//!
//! Identity by content is exact except for this: if local code sends an event equal to one
//! just imported, the export skips whichever of the two it sees first and publishes the other.
//! The same bytes go out once, so no subscriber can tell. Cost: one extra encode per import,
//! only for types this bridge also exports.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use serde::Serialize;

use super::codec::Codec;
use crate::{Bus, SendError, Subscription};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The filters of every exported type of one bridge.
#[derive(Default)]
pub(crate) struct Echoes {
    by_type: Mutex<HashMap<TypeId, Vec<Arc<Filter>>>>,
}

/// The imported payloads one export has yet to see.
#[derive(Default)]
pub(crate) struct Filter {
    /// Number of entries in `seen`, so an export skips the lock when nothing was imported.
    /// Incremented under `seen`'s lock before the import's send; the export reads it after
    /// receiving that event, and the bus's release/acquire on the event's slot makes the
    /// increment visible then: Relaxed suffices.
    pending: AtomicUsize,
    seen: Mutex<HashMap<Bytes, usize>>,
}

/// Removes its filter from the bridge when the export ends.
pub(crate) struct Registration {
    echoes: Arc<Echoes>,
    type_id: TypeId,
    pub(crate) filter: Arc<Filter>,
}

impl Echoes {
    /// Subscribes an export to `E` and registers its filter, atomically with respect to
    /// imports of `E`.
    pub(crate) fn register<E: Send + Sync + 'static>(
        self: &Arc<Self>,
        bus: &Bus,
    ) -> (Subscription<E>, Registration) {
        let filter = Arc::new(Filter::default());
        let mut by_type = self.by_type.lock().unwrap_or_else(PoisonError::into_inner);
        let subscription = bus.subscribe::<E>();
        by_type
            .entry(TypeId::of::<E>())
            .or_default()
            .push(Arc::clone(&filter));
        drop(by_type);
        let registration = Registration {
            echoes: Arc::clone(self),
            type_id: TypeId::of::<E>(),
            filter,
        };
        (subscription, registration)
    }

    /// Sends an imported event into `bus`, first telling every export of `E` to expect it.
    /// Returns whether any export will see it.
    pub(crate) fn send_imported<E: Serialize + Send + Sync + 'static>(
        &self,
        bus: &Bus,
        event: E,
        codec: Codec,
        buf: &mut BytesMut,
    ) -> Result<(), SendError<E>> {
        let by_type = self.by_type.lock().unwrap_or_else(PoisonError::into_inner);
        match by_type.get(&TypeId::of::<E>()) {
            Some(filters) if !filters.is_empty() => {
                // An event that does not encode will not be published either; nothing to expect.
                if let Ok(bytes) = codec.encode(&event, buf) {
                    for filter in filters {
                        filter.expect(bytes.clone());
                    }
                }
                bus.send(event)
            }
            _ => {
                drop(by_type);
                bus.send(event)
            }
        }
    }
}

impl Filter {
    fn expect(&self, bytes: Bytes) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        *seen.entry(bytes).or_insert(0) += 1;
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether `bytes` is an imported event this export was told to expect; consumes it.
    pub(crate) fn take(&self, bytes: &[u8]) -> bool {
        // Relaxed: see `pending`.
        if self.pending.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(count) = seen.get_mut(bytes) else {
            return false;
        };
        *count -= 1;
        if *count == 0 {
            seen.remove(bytes);
        }
        self.pending.fetch_sub(1, Ordering::Relaxed);
        true
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut by_type = self
            .echoes
            .by_type
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(filters) = by_type.get_mut(&self.type_id) {
            filters.retain(|f| !Arc::ptr_eq(f, &self.filter));
            if filters.is_empty() {
                by_type.remove(&self.type_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_skips_exactly_the_imported_events() {
        let bus = Bus::new();
        let echoes = Arc::new(Echoes::default());
        let (mut sub, reg) = echoes.register::<u32>(&bus);
        let mut buf = BytesMut::new();
        bus.send(1u32).unwrap();
        echoes
            .send_imported(&bus, 2u32, Codec::Json, &mut buf)
            .unwrap();
        bus.send(2u32).unwrap(); // local, equal to the imported one
        bus.send(3u32).unwrap();
        let mut published = Vec::new();
        while let Ok(e) = sub.try_recv() {
            let bytes = Codec::Json.encode(&e, &mut buf).unwrap();
            if !reg.filter.take(&bytes) {
                published.push(e);
            }
        }
        assert_eq!(published, [1, 2, 3]);
        assert_eq!(reg.filter.pending.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn imports_without_an_export_record_nothing_and_ended_exports_unregister() {
        let bus = Bus::new();
        let echoes = Arc::new(Echoes::default());
        let _keep = bus.subscribe::<u32>();
        let mut buf = BytesMut::new();
        echoes
            .send_imported(&bus, 5u32, Codec::Json, &mut buf)
            .unwrap();
        let (_sub, reg) = echoes.register::<u32>(&bus);
        assert_eq!(reg.filter.pending.load(Ordering::Relaxed), 0);
        drop(reg);
        assert!(echoes.by_type.lock().unwrap().is_empty());
    }
}
