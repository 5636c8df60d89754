//! What W10 (`benches/many_types.rs`) and its cost probe (`benches/probes/many_types_probe.rs`)
//! do with each of their many event types, as plain function pointers made once per type, so
//! that each type compiles exactly its subscribe and send paths and nothing else.

use std::any::Any;

use tidings::Bus;

#[derive(Clone, Copy)]
pub struct Ops {
    pub subscribe: fn(&Bus) -> Box<dyn Any>,
    pub send: fn(&Bus) -> bool,
}

#[inline(never)]
pub fn subscribe_one<E: Clone + Send + Sync + 'static>(bus: &Bus) -> Box<dyn Any> {
    Box::new(bus.subscribe::<E>())
}

#[inline(never)]
pub fn send_one<E: Default + Clone + Send + Sync + 'static>(bus: &Bus) -> bool {
    bus.send(E::default()).is_ok()
}
