//! The fuzz interpreter: decodes a list of operations, runs each one against tidings and
//! against a plain single-threaded model (a `VecDeque` per subscription), and compares the two
//! after every step. Shared by the stable replay test (`tests/fuzz_replay.rs`) and the
//! cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`, through `#[path]`).
//!
//! The model knows, besides what each subscription must receive next, where each cursor sits
//! (segment and offset, including the lazy step into the next segment) and therefore exactly
//! how many segments each topic must retain; `Bus::stats` is checked against that after every
//! step, so a reclamation bug shows up as a count mismatch even without a sanitizer.
//!
//! Bounded types (issue 14): a bus made by `Op::NewBus` bounds each kind or not. For
//! Backpressure the model predicts `Full` exactly (per event: the send would put the slowest
//! live subscription more than `c` behind) and keeps pending `send_async` futures, checking
//! that each one that could complete was woken; for DropOldest it knows where `head` is
//! (`TopicModel::head_seg`), so which crossing jumps, what `missed()` and `len()` are, and which
//! segments overtaken cursors still hold.

mod events;
mod scopes;

// The replay test and the `scopes` fuzz target use it; the other fuzz targets include this
// module for their own entry points only.
#[allow(unused_imports)]
pub use scopes::run_scopes;

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::{Arc, Once};
use std::task::{Context, Poll, Waker};

use arbitrary::{Arbitrary, Unstructured};
use futures_core::Stream;
use tidings::{Bus, Overflow, SendError, Subscription, TryRecvError};

use events::{
    Counted, FRAGILE_DROP_PANIC, FRAGILE_PANIC, FRAGILE_WAKE_PANIC, Fragile, Ledger, Plain, Unique,
    arm_fragile, fragile_armed,
};

/// Slots per segment in tidings (not public; the retained-segment model depends on it).
const SEGMENT_CAP: u64 = 64;
/// Caps that keep one input's run short.
const MAX_BUSES: usize = 4;
/// Pending `send_async` futures held at once.
const MAX_SENDERS: usize = 6;
const MAX_HANDLES: usize = 4;
const MAX_SUBS: usize = 24;
const MAX_SENDS: u64 = 20_000;

/// The event types, one per behaviour worth fuzzing.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Clone`, untracked.
    Plain,
    /// Not `Clone`: read by reference only.
    Unique,
    /// `Clone`, every instance's drop counted.
    Counted,
    /// `Clone` that panics while armed.
    Fragile,
}

const KINDS: [Kind; 4] = [Kind::Plain, Kind::Unique, Kind::Counted, Kind::Fragile];

/// The ways to read. For `Unique` the cloning ones read by reference instead.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    TryRecv,
    TryRecvRef,
    /// `recv_ref()` polled once with a noop waker, then dropped.
    RecvRef,
    PollRecv,
    PollNext,
    /// `recv()` polled once with a noop waker, then dropped.
    Recv,
    /// Only run when the model says it will not block.
    RecvBlocking,
}

impl How {
    fn clones(self) -> bool {
        !matches!(self, How::TryRecvRef | How::RecvRef)
    }
}

/// What one read returned, in one vocabulary for every read method: `Empty` is also
/// `Poll::Pending`, `Closed` is also `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    Value(u64),
    Empty,
    Closed,
    /// `E::clone` panicked (an armed `Fragile`); nothing may have been consumed.
    Panicked,
}

// ---------------------------------------------------------------------------------------------
// Expected panics

thread_local! {
    static EXPECTING_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Wraps the panic hook once so that the expected panics (an armed `Fragile` clone caught by
/// `catch_fragile`; an armed `Fragile` drop or an armed read's waker, which tidings contains,
/// on whatever thread) neither print nor reach libfuzzer's hook (which aborts); every other
/// panic still does.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            let contained =
                matches!(message, Some(m) if m == FRAGILE_DROP_PANIC || m == FRAGILE_WAKE_PANIC);
            if !EXPECTING_PANIC.with(|e| e.get()) && !contained {
                previous(info);
            }
        }));
    });
}

thread_local! {
    /// Set by every read waker when woken; the model clears it before a read and looks after,
    /// to learn whether the read's poll woke its own task (a yield).
    static WOKEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The waker of an armed read: panics when woken. A send, close or leaving subscription that
/// wakes it, or the read's own poll yielding, must contain the panic (count it in
/// `Stats::user_panics`).
struct HostileWake;

impl std::task::Wake for HostileWake {
    fn wake(self: Arc<Self>) {
        WOKEN.with(|w| w.set(true));
        panic!("{FRAGILE_WAKE_PANIC}");
    }
}

/// The waker of a read that is not armed: notes that it was woken.
struct NoteWake;

impl std::task::Wake for NoteWake {
    fn wake(self: Arc<Self>) {
        WOKEN.with(|w| w.set(true));
    }
}

/// The waker a read parks with: hostile while armed.
fn read_waker(armed: bool) -> Waker {
    if armed {
        Waker::from(Arc::new(HostileWake))
    } else {
        Waker::from(Arc::new(NoteWake))
    }
}

/// Runs `f`, catching the panic of an armed `Fragile` clone.
fn catch_fragile<R>(f: impl FnOnce() -> R) -> Option<R> {
    install_panic_hook();
    EXPECTING_PANIC.with(|e| e.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    EXPECTING_PANIC.with(|e| e.set(false));
    match result {
        Ok(r) => Some(r),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            assert_eq!(message, FRAGILE_PANIC, "unexpected panic while reading");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The event types, seen generically

trait Event: Send + Sync + Sized + 'static {
    const KIND: Kind;
    fn make(id: u64, ledger: &Arc<Ledger>) -> Self;
    fn id(&self) -> u64;
    /// Reads with `how`; for types that are not `Clone`, `how` falls back to a reference read.
    fn read(sub: &mut Subscription<Self>, how: How, armed: bool) -> Got;
    /// Makes an armed value safe to drop (one the bus gave back unsent).
    fn defuse(&mut self) {}
}

fn read_ref<E: Event>(
    sub: &mut Subscription<E>,
    how: How,
    armed: bool,
) -> Result<Option<u64>, TryRecvError> {
    let waker = read_waker(armed);
    let mut cx = Context::from_waker(&waker);
    match how {
        How::RecvRef | How::PollRecv | How::PollNext | How::Recv => {
            let mut fut = pin!(sub.recv_ref());
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(Some(e)) => Ok(Some(e.id())),
                Poll::Ready(None) => Err(TryRecvError::Closed),
                Poll::Pending => Err(TryRecvError::Empty),
            }
        }
        How::TryRecv | How::TryRecvRef | How::RecvBlocking => {
            sub.try_recv_ref().map(|e| Some(e.id()))
        }
    }
}

fn got(r: Result<Option<u64>, TryRecvError>) -> Got {
    match r {
        Ok(Some(id)) => Got::Value(id),
        Ok(None) | Err(TryRecvError::Closed) => Got::Closed,
        Err(TryRecvError::Empty) => Got::Empty,
    }
}

fn read_cloning<E: Event + Clone>(sub: &mut Subscription<E>, how: How, armed: bool) -> Got {
    if !how.clones() {
        return got(read_ref(sub, how, armed));
    }
    let mut read = || -> Result<Option<u64>, TryRecvError> {
        let waker = read_waker(armed);
        let mut cx = Context::from_waker(&waker);
        let polled = match how {
            How::TryRecv => return sub.try_recv().map(|e| Some(e.id())),
            How::RecvBlocking => return Ok(sub.recv_blocking().map(|e| e.id())),
            How::PollRecv => sub.poll_recv(&mut cx),
            How::PollNext => Pin::new(&mut *sub).poll_next(&mut cx),
            How::Recv => pin!(sub.recv()).poll(&mut cx),
            How::TryRecvRef | How::RecvRef => unreachable!(),
        };
        match polled {
            Poll::Ready(Some(e)) => Ok(Some(e.id())),
            Poll::Ready(None) => Err(TryRecvError::Closed),
            Poll::Pending => Err(TryRecvError::Empty),
        }
    };
    if armed && E::KIND == Kind::Fragile {
        catch_fragile(read).map_or(Got::Panicked, got)
    } else {
        got(read())
    }
}

impl Event for Plain {
    const KIND: Kind = Kind::Plain;
    fn make(id: u64, _: &Arc<Ledger>) -> Self {
        Plain(id)
    }
    fn id(&self) -> u64 {
        self.0
    }
    fn read(sub: &mut Subscription<Self>, how: How, armed: bool) -> Got {
        read_cloning(sub, how, armed)
    }
}

macro_rules! tracked_event {
    ($ty:ident, $read:expr) => {
        impl Event for $ty {
            const KIND: Kind = Kind::$ty;
            fn make(_: u64, ledger: &Arc<Ledger>) -> Self {
                let mut tracked = ledger.mint();
                tracked.explode = Self::KIND == Kind::Fragile && fragile_armed();
                $ty(tracked)
            }
            fn defuse(&mut self) {
                self.0.explode = false;
            }
            fn id(&self) -> u64 {
                self.0.id
            }
            fn read(sub: &mut Subscription<Self>, how: How, armed: bool) -> Got {
                $read(sub, how, armed)
            }
        }
    };
}

tracked_event!(Unique, |sub, how, armed| got(read_ref(sub, how, armed)));
tracked_event!(Counted, read_cloning);
tracked_event!(Fragile, read_cloning);

/// A subscription of any event type.
trait AnySub {
    fn read(&mut self, how: How, armed: bool) -> Got;
    fn is_closed(&self) -> bool;
    fn is_terminated(&self) -> bool;
    /// `missed()`, `stats().received` and `len()`.
    fn counts(&self) -> (u64, u64, usize);
}

impl<E: Event> AnySub for Subscription<E> {
    fn read(&mut self, how: How, armed: bool) -> Got {
        E::read(self, how, armed)
    }
    fn is_closed(&self) -> bool {
        Subscription::is_closed(self)
    }
    fn is_terminated(&self) -> bool {
        Subscription::is_terminated(self)
    }
    fn counts(&self) -> (u64, u64, usize) {
        (self.missed(), self.stats().received, self.len())
    }
}

// ---------------------------------------------------------------------------------------------
// The model

/// A type's bound on a bus: capacity and policy.
type BoundModel = Option<(u64, Overflow)>;

/// One event type's topic on one bus: exists while it has live subscriptions.
#[derive(Debug, Default, Clone)]
struct TopicModel {
    sent: u64,
    dropped: u64,
    subscribers: usize,
    /// Wait nodes of subscriptions that left while parked, still on the wait list.
    gone: usize,
    /// The bound of its type on its bus, which every topic of that type has.
    bound: BoundModel,
}

impl TopicModel {
    /// The segment `tail_seg` points at: the one holding the last claimed index.
    fn tail_seg(&self) -> u64 {
        self.sent.saturating_sub(1) / SEGMENT_CAP
    }

    /// DropOldest: the segment `head` points at. After the send of index `i`, `head` passes
    /// every segment whose events are all older than the newest `c` (`start + SEGMENT_CAP <=
    /// i + 1 - c`); it never passes the tail, which that rule never reaches for `c >= 1`.
    /// `None` for other policies.
    fn head_seg(&self) -> Option<u64> {
        match self.bound {
            Some((c, Overflow::DropOldest)) => Some(self.sent.saturating_sub(c) / SEGMENT_CAP),
            _ => None,
        }
    }
}

struct BusModel {
    handles: Vec<Bus>,
    /// Handles held by pending `send_async` futures (each owns a clone): the bus stays open
    /// while any is alive.
    sender_handles: usize,
    /// Per kind, the bound the bus was built with.
    bounds: [BoundModel; 4],
    closed: bool,
    topics: [Option<TopicModel>; 4],
    /// Hostile wakers woken by this bus (each panic contained and counted by it).
    wake_panics: u64,
}

struct SubModel {
    bus: usize,
    kind: Kind,
    /// `false` for a subscription made after its bus closed: no topic, ends at once.
    live: bool,
    queue: VecDeque<u64>,
    /// The cursor: the segment it holds and the offset in it (`SEGMENT_CAP` = at the end,
    /// not yet moved into the successor).
    seg: u64,
    offset: u64,
    /// `Some(hostile)` while its wait node is queued, with whether the waker it last parked
    /// with panics.
    queued: Option<bool>,
    /// Events received, and events a DropOldest topic dropped before it read them.
    received: u64,
    missed: u64,
}

impl SubModel {
    /// The index of the next event it reads (its published position, for Backpressure).
    fn position(&self) -> u64 {
        self.seg * SEGMENT_CAP + self.offset
    }
}

/// A boxed `send_async`, its event given back as its id.
type SendFuture = Pin<Box<dyn Future<Output = Result<(), SendError<u64>>> + Send>>;

/// A `send_async` future that returned `Pending`, kept to be polled again.
struct PendingSend {
    bus: usize,
    kind: Kind,
    id: u64,
    future: SendFuture,
    /// Set by its waker; cleared before each poll.
    woken: Arc<std::sync::atomic::AtomicBool>,
    polls: u32,
}

struct Flag(Arc<std::sync::atomic::AtomicBool>);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// What a send of `kind` on a bus must do now, from the model: the result (for a
/// send that would wait, `Full`).
fn expect_send(
    model: &mut BusModel,
    subs: &[(Box<dyn AnySub>, SubModel)],
    b: usize,
    kind: Kind,
    id: u64,
    commit: bool,
) -> Result<(), SendError<u64>> {
    let closed = model.closed;
    let topic = &mut model.topics[kind as usize];
    if closed {
        if let Some(topic) = topic {
            if commit {
                topic.dropped += 1;
            }
        }
        return Err(SendError::Closed(id));
    }
    let Some(topic) = topic else {
        return Err(SendError::NoSubscribers(id));
    };
    if let Some((c, Overflow::Backpressure)) = topic.bound {
        let slowest = subs
            .iter()
            .filter(|(_, s)| s.live && s.bus == b && s.kind == kind)
            .map(|(_, s)| s.position())
            .min()
            .expect("a topic has a live subscription");
        // Full exactly when accepting would put the slowest more than `c` behind.
        if topic.sent + 1 > slowest + c {
            return Err(SendError::Full(id));
        }
    }
    if commit {
        topic.sent += 1;
    }
    Ok(())
}

/// Whether a read that finds nothing parks (registers its waker, queues its node).
fn parks(how: How) -> bool {
    matches!(
        how,
        How::RecvRef | How::PollRecv | How::PollNext | How::Recv
    )
}

/// What a run exercised, so the replay tests can show they are not vacuous.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub delivered: u64,
    pub empty: u64,
    pub closed: u64,
    pub clone_panics: u64,
    pub sent: u64,
    pub rejected: u64,
    pub crossings: u64,
    pub max_retained: u64,
    /// Hostile wakers woken (by a send, a close or a leaving subscription), and armed
    /// originals whose drop panicked when the bus freed them.
    pub waker_panics: u64,
    pub drop_panics: u64,
    /// Polls that found nothing right after a burst and yielded instead of parking.
    pub yields: u64,
    /// Bounded topics: sends refused `Full`, events skipped by overtaken subscriptions,
    /// `send_async` futures that waited and later completed.
    pub full: u64,
    pub missed: u64,
    pub waited: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.delivered += o.delivered;
        self.empty += o.empty;
        self.closed += o.closed;
        self.clone_panics += o.clone_panics;
        self.sent += o.sent;
        self.rejected += o.rejected;
        self.crossings += o.crossings;
        self.max_retained = self.max_retained.max(o.max_retained);
        self.waker_panics += o.waker_panics;
        self.drop_panics += o.drop_panics;
        self.yields += o.yields;
        self.full += o.full;
        self.missed += o.missed;
        self.waited += o.waited;
    }
}

/// The system under test and its model, side by side.
pub struct World {
    tally: Tally,
    buses: Vec<BusModel>,
    subs: Vec<(Box<dyn AnySub>, SubModel)>,
    senders: Vec<PendingSend>,
    ledger: Arc<Ledger>,
    next_plain: u64,
    sends: u64,
    armed: bool,
}

impl World {
    fn new() -> Self {
        install_panic_hook();
        let mut world = World {
            tally: Tally::default(),
            buses: Vec::new(),
            subs: Vec::new(),
            senders: Vec::new(),
            ledger: Arc::new(Ledger::default()),
            next_plain: 0,
            sends: 0,
            armed: false,
        };
        world.new_bus([BoundChoice::Unbounded; 4]);
        world
    }

    fn new_bus(&mut self, choices: [BoundChoice; 4]) {
        if self.buses.len() >= MAX_BUSES {
            return;
        }
        let mut builder = Bus::builder();
        let mut bounds: [BoundModel; 4] = [None; 4];
        for (kind, choice) in KINDS.into_iter().zip(choices) {
            let Some((c, overflow)) = choice.bound() else {
                continue;
            };
            bounds[kind as usize] = Some((c as u64, overflow));
            builder = match kind {
                Kind::Plain => builder.bound::<Plain>(c, overflow),
                Kind::Unique => builder.bound::<Unique>(c, overflow),
                Kind::Counted => builder.bound::<Counted>(c, overflow),
                Kind::Fragile => builder.bound::<Fragile>(c, overflow),
            };
        }
        self.buses.push(BusModel {
            handles: vec![builder.build()],
            sender_handles: 0,
            bounds,
            closed: false,
            topics: Default::default(),
            wake_panics: 0,
        });
    }

    /// The bus `bus` picks and one of its handles, if it has any left.
    fn handle(&self, bus: u8, handle: u8) -> Option<(usize, usize)> {
        let b = usize::from(bus) % self.buses.len();
        let n = self.buses[b].handles.len();
        (n > 0).then(|| (b, usize::from(handle) % n))
    }

    fn clone_handle(&mut self, bus: u8, handle: u8) {
        if let Some((b, h)) = self.handle(bus, handle) {
            let model = &mut self.buses[b];
            if model.handles.len() < MAX_HANDLES {
                let clone = model.handles[h].clone();
                model.handles.push(clone);
            }
        }
    }

    fn drop_handle(&mut self, bus: u8, handle: u8) {
        if let Some((b, h)) = self.handle(bus, handle) {
            let model = &mut self.buses[b];
            drop(model.handles.swap_remove(h));
            if model.handles.is_empty() && model.sender_handles == 0 {
                model.closed = true;
                self.take_waiters(b, None);
            }
        }
    }

    fn close(&mut self, bus: u8, handle: u8) {
        if let Some((b, h)) = self.handle(bus, handle) {
            self.buses[b].handles[h].close();
            self.buses[b].closed = true;
            self.take_waiters(b, None);
        }
    }

    fn subscribe(&mut self, bus: u8, handle: u8, kind: Kind) {
        let Some((b, h)) = self.handle(bus, handle) else {
            return;
        };
        if self.subs.len() >= MAX_SUBS {
            return;
        }
        let real = &self.buses[b].handles[h];
        let sub: Box<dyn AnySub> = match kind {
            Kind::Plain => Box::new(real.subscribe::<Plain>()),
            Kind::Unique => Box::new(real.subscribe::<Unique>()),
            Kind::Counted => Box::new(real.subscribe::<Counted>()),
            Kind::Fragile => Box::new(real.subscribe::<Fragile>()),
        };
        let model = &mut self.buses[b];
        let mut sub_model = SubModel {
            bus: b,
            kind,
            live: !model.closed,
            queue: VecDeque::new(),
            seg: 0,
            offset: 0,
            queued: None,
            received: 0,
            missed: 0,
        };
        if sub_model.live {
            let bound = model.bounds[kind as usize];
            let topic = model.topics[kind as usize].get_or_insert_with(|| TopicModel {
                bound,
                ..TopicModel::default()
            });
            topic.subscribers += 1;
            // The cursor starts in the tail segment, possibly just past its last slot.
            sub_model.seg = topic.tail_seg();
            sub_model.offset = topic.sent - sub_model.seg * SEGMENT_CAP;
        }
        self.subs.push((sub, sub_model));
    }

    fn drop_sub(&mut self, sub: u8) {
        if self.subs.is_empty() {
            return;
        }
        let i = usize::from(sub) % self.subs.len();
        let (real, model) = self.subs.swap_remove(i);
        drop(real);
        if model.live {
            let slot = &mut self.buses[model.bus].topics[model.kind as usize];
            let topic = slot.as_mut().expect("a live subscription's topic exists");
            topic.subscribers -= 1;
            if topic.subscribers == 0 {
                // The last subscription removes the topic; a new one starts from scratch.
                *slot = None;
            } else if model.queued.is_some() {
                // Its node stays queued, gone; past the limit the leave takes the wait list
                // and wakes the parked subscriptions (`Topic::unpark`).
                topic.gone += 1;
                if topic.gone > topic.subscribers.max(32) {
                    self.take_waiters(model.bus, Some(model.kind));
                }
            }
        }
    }

    /// A take of the wait list of bus `b`'s topic of `kind` (every topic for `None`): every
    /// queued node is dequeued, the hostile wakers among them panic (contained by the bus).
    fn take_waiters(&mut self, b: usize, kind: Option<Kind>) {
        for (_, s) in &mut self.subs {
            if s.live && s.bus == b && kind.is_none_or(|k| k == s.kind) {
                if let Some(hostile) = s.queued.take() {
                    if hostile {
                        self.buses[b].wake_panics += 1;
                        self.tally.waker_panics += 1;
                    }
                }
            }
        }
        for (k, topic) in self.buses[b].topics.iter_mut().enumerate() {
            if let Some(topic) = topic {
                if kind.is_none_or(|kind| kind as usize == k) {
                    topic.gone = 0;
                }
            }
        }
    }

    fn send(&mut self, bus: u8, handle: u8, kind: Kind) -> bool {
        self.send_via(bus, handle, kind, false)
    }

    fn plain_id(&mut self, kind: Kind) -> u64 {
        match kind {
            Kind::Plain => {
                self.next_plain += 1;
                self.next_plain - 1
            }
            _ => 0,
        }
    }

    /// One `send` (or `send_blocking`, only when the model says it will not wait: nobody else
    /// reads); returns whether the event was stored.
    fn send_via(&mut self, bus: u8, handle: u8, kind: Kind, blocking: bool) -> bool {
        let Some((b, h)) = self.handle(bus, handle) else {
            return false;
        };
        if self.sends >= MAX_SENDS {
            return false;
        }
        if blocking
            && matches!(
                expect_send(&mut self.buses[b], &self.subs, b, kind, 0, false),
                Err(SendError::Full(_))
            )
        {
            return false;
        }
        self.sends += 1;
        let id = self.plain_id(kind);
        let real = &self.buses[b].handles[h];
        let (sent_id, result) = match kind {
            Kind::Plain => send_one::<Plain>(real, id, &self.ledger, blocking),
            Kind::Unique => send_one::<Unique>(real, id, &self.ledger, blocking),
            Kind::Counted => send_one::<Counted>(real, id, &self.ledger, blocking),
            Kind::Fragile => send_one::<Fragile>(real, id, &self.ledger, blocking),
        };
        let expected = expect_send(&mut self.buses[b], &self.subs, b, kind, sent_id, true);
        assert_eq!(
            result, expected,
            "send (blocking: {blocking}) of {kind:?} #{sent_id} on bus {b}"
        );
        self.settle_send(b, kind, sent_id, &result)
    }

    /// Applies a send's outcome to the model; returns whether the event was stored.
    fn settle_send(
        &mut self,
        b: usize,
        kind: Kind,
        id: u64,
        result: &Result<(), SendError<u64>>,
    ) -> bool {
        match result {
            Ok(()) => {
                self.tally.sent += 1;
                for (_, s) in &mut self.subs {
                    if s.live && s.bus == b && s.kind == kind {
                        s.queue.push_back(id);
                    }
                }
                self.take_waiters(b, Some(kind));
                true
            }
            Err(SendError::Full(_)) => {
                self.tally.full += 1;
                false
            }
            Err(_) => {
                self.tally.rejected += 1;
                false
            }
        }
    }

    /// A `send_async` of `kind`, polled once; kept while it is pending.
    fn send_async(&mut self, bus: u8, handle: u8, kind: Kind) {
        let Some((b, h)) = self.handle(bus, handle) else {
            return;
        };
        if self.sends >= MAX_SENDS || self.senders.len() >= MAX_SENDERS {
            return;
        }
        self.sends += 1;
        let id = self.plain_id(kind);
        // The future owns a handle: it may outlive this step.
        let real = self.buses[b].handles[h].clone();
        let (id, future) = match kind {
            Kind::Plain => send_async_one::<Plain>(real, id, &self.ledger),
            Kind::Unique => send_async_one::<Unique>(real, id, &self.ledger),
            Kind::Counted => send_async_one::<Counted>(real, id, &self.ledger),
            Kind::Fragile => send_async_one::<Fragile>(real, id, &self.ledger),
        };
        self.buses[b].sender_handles += 1;
        self.senders.push(PendingSend {
            bus: b,
            kind,
            id,
            future,
            woken: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            polls: 0,
        });
        self.poll_sender(self.senders.len() - 1);
    }

    /// Polls pending sender `i`: it must wait exactly while the model says the topic is full.
    fn poll_sender(&mut self, i: usize) {
        let p = &mut self.senders[i];
        p.woken.store(false, std::sync::atomic::Ordering::SeqCst);
        p.polls += 1;
        let waker = Waker::from(Arc::new(Flag(Arc::clone(&p.woken))));
        let polled = p.future.as_mut().poll(&mut Context::from_waker(&waker));
        let (b, kind, id, polls) = (p.bus, p.kind, p.id, p.polls);
        match polled {
            Poll::Pending => {
                let expected = expect_send(&mut self.buses[b], &self.subs, b, kind, id, false);
                assert_eq!(
                    expected,
                    Err(SendError::Full(id)),
                    "send_async of {kind:?} #{id} on bus {b} waits"
                );
            }
            Poll::Ready(result) => {
                let expected = expect_send(&mut self.buses[b], &self.subs, b, kind, id, true);
                assert_eq!(
                    result, expected,
                    "send_async of {kind:?} #{id} on bus {b} (poll {polls})"
                );
                assert!(
                    !matches!(result, Err(SendError::Full(_))),
                    "send_async never returns Full"
                );
                drop(self.senders.swap_remove(i));
                if polls > 1 {
                    self.tally.waited += 1;
                }
                self.settle_send(b, kind, id, &result);
                self.release_sender_handle(b);
            }
        }
    }

    /// Polls every pending sender that was woken, as an executor would; returns whether any
    /// was.
    fn run_woken(&mut self) -> bool {
        let mut polled = false;
        for i in (0..self.senders.len()).rev() {
            if self.senders[i]
                .woken
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                self.poll_sender(i);
                polled = true;
            }
        }
        polled
    }

    /// Drops pending sender `i` (cancelling it: it sent nothing, its event is dropped).
    fn drop_sender(&mut self, i: u8) {
        if self.senders.is_empty() {
            return;
        }
        let p = self
            .senders
            .swap_remove(usize::from(i) % self.senders.len());
        let b = p.bus;
        drop(p);
        self.release_sender_handle(b);
    }

    /// A pending sender's handle is gone: the bus closes if it was the last.
    fn release_sender_handle(&mut self, b: usize) {
        let model = &mut self.buses[b];
        model.sender_handles -= 1;
        if model.handles.is_empty() && model.sender_handles == 0 && !model.closed {
            model.closed = true;
            self.take_waiters(b, None);
        }
    }

    /// Sends until the topic of `kind` has a multiple of `SEGMENT_CAP` events, at least once.
    fn send_to_boundary(&mut self, bus: u8, handle: u8, kind: Kind) {
        loop {
            if !self.send(bus, handle, kind) {
                return;
            }
            let Some((b, _)) = self.handle(bus, handle) else {
                return;
            };
            let model = &self.buses[b];
            match &model.topics[kind as usize] {
                Some(t) if !model.closed && self.sends < MAX_SENDS && t.sent % SEGMENT_CAP != 0 => {
                }
                _ => return,
            }
        }
    }

    /// What a read of subscription `i` must return; `peek` also applies the cursor's lazy
    /// move into the next segment, which every read does first.
    fn expect_read(&mut self, i: usize, how: How) -> Got {
        let (_, s) = &mut self.subs[i];
        if !s.live {
            return Got::Closed;
        }
        let bus = &self.buses[s.bus];
        let topic = bus.topics[s.kind as usize]
            .as_ref()
            .expect("topic of a live sub");
        if s.offset == SEGMENT_CAP && topic.tail_seg() > s.seg {
            match topic.head_seg() {
                Some(head) if head > s.seg + 1 => {
                    // Overtaken: `head` passed its segment; it jumps there, skipping what the
                    // topic dropped in between.
                    let skipped = (head - s.seg - 1) * SEGMENT_CAP;
                    assert!(s.queue.len() as u64 >= skipped);
                    s.queue.drain(..skipped as usize);
                    s.missed += skipped;
                    s.seg = head;
                    self.tally.missed += skipped;
                }
                _ => s.seg += 1,
            }
            s.offset = 0;
            self.tally.crossings += 1;
        }
        match s.queue.front() {
            Some(_) if self.armed && s.kind == Kind::Fragile && how.clones() => Got::Panicked,
            Some(&id) => Got::Value(id),
            None if bus.closed => Got::Closed,
            None => Got::Empty,
        }
    }

    /// Reads subscription `sub` once; returns whether it got an event.
    fn read(&mut self, sub: u8, how: How) -> bool {
        if self.subs.is_empty() {
            return false;
        }
        let i = usize::from(sub) % self.subs.len();
        let s = &self.subs[i].1;
        if how == How::RecvBlocking && s.live && s.queue.is_empty() && !self.buses[s.bus].closed {
            // It would block forever: nobody else sends.
            return false;
        }
        let expected = self.expect_read(i, how);
        let (real, model) = &mut self.subs[i];
        WOKEN.with(|w| w.set(false));
        let actual = real.read(how, self.armed);
        // A poll that finds nothing right after a burst yields (wakes its own task) instead of
        // parking (`BURST` in `src/subscription.rs`); the model learns it from the waker. An
        // armed waker's panic there is contained, and the poll parks instead.
        let yielded = WOKEN.with(std::cell::Cell::get);
        assert!(
            !yielded || (actual == Got::Empty && parks(how)),
            "{how:?} on subscription {i} woke its own task but returned {actual:?}"
        );
        assert_eq!(
            actual, expected,
            "{how:?} on subscription {i} ({:?} on bus {})",
            model.kind, model.bus
        );
        match actual {
            Got::Value(_) => self.tally.delivered += 1,
            Got::Empty => self.tally.empty += 1,
            Got::Closed => self.tally.closed += 1,
            Got::Panicked => self.tally.clone_panics += 1,
        }
        if yielded {
            self.tally.yields += 1;
        }
        if actual == Got::Empty && parks(how) && (!yielded || self.armed) {
            if yielded {
                // Armed: the yield's wake panicked (contained) and the poll parked.
                self.buses[model.bus].wake_panics += 1;
                self.tally.waker_panics += 1;
            }
            model.queued = Some(self.armed);
        }
        if let Got::Value(id) = actual {
            if model.kind != Kind::Plain {
                // A value read by reference is the stored original: it must still be alive.
                assert!(self.ledger.alive(id), "event {id} was freed while unread");
            }
            model.queue.pop_front();
            model.offset += 1;
            model.received += 1;
            true
        } else {
            false
        }
    }

    /// Compares everything observable with the model.
    fn check(&mut self) {
        let mut max_retained = 0;
        for (b, model) in self.buses.iter().enumerate() {
            let Some(real) = model.handles.first() else {
                continue;
            };
            assert_eq!(real.is_closed(), model.closed, "bus {b} closed");
            let stats = real.stats();
            assert_eq!(stats.closed, model.closed);
            // Exact at the end (`finish`); armed drops are counted whenever the epoch runs.
            assert!(
                stats.user_panics >= model.wake_panics,
                "bus {b}: {} user panics counted, {} hostile wakers woken",
                stats.user_panics,
                model.wake_panics
            );
            let topics = model.topics.iter().flatten().count();
            assert_eq!(stats.topics.len(), topics, "bus {b}: topics listed");
            for kind in KINDS {
                let t = match kind {
                    Kind::Plain => stats.topic::<Plain>(),
                    Kind::Unique => stats.topic::<Unique>(),
                    Kind::Counted => stats.topic::<Counted>(),
                    Kind::Fragile => stats.topic::<Fragile>(),
                };
                let count = match kind {
                    Kind::Plain => real.subscriber_count::<Plain>(),
                    Kind::Unique => real.subscriber_count::<Unique>(),
                    Kind::Counted => real.subscriber_count::<Counted>(),
                    Kind::Fragile => real.subscriber_count::<Fragile>(),
                };
                let expected = model.topics[kind as usize].as_ref();
                assert_eq!(
                    count,
                    expected.map_or(0, |t| t.subscribers),
                    "{kind:?} count"
                );
                match (t, expected) {
                    (None, None) => {}
                    (Some(t), Some(m)) => {
                        let ctx = format!("bus {b}, {kind:?}");
                        assert_eq!(t.sent, m.sent, "{ctx}: sent");
                        assert_eq!(t.dropped, m.dropped, "{ctx}: dropped");
                        assert_eq!(t.subscribers, m.subscribers, "{ctx}: subscribers");
                        let retained = self.retained(b, kind, m);
                        assert_eq!(
                            t.retained_segments as u64, retained,
                            "{ctx}: retained segments"
                        );
                        max_retained = max_retained.max(retained);
                    }
                    (t, m) => panic!("bus {b}, {kind:?}: topic {t:?} but model {m:?}"),
                }
            }
        }
        self.tally.max_retained = self.tally.max_retained.max(max_retained);
        // No lost wake-up: a pending sender that would now complete has been woken.
        for i in 0..self.senders.len() {
            let p = &self.senders[i];
            let (b, kind, id) = (p.bus, p.kind, p.id);
            if !p.woken.load(std::sync::atomic::Ordering::SeqCst) {
                let expected = expect_send(&mut self.buses[b], &self.subs, b, kind, id, false);
                assert_eq!(
                    expected,
                    Err(SendError::Full(id)),
                    "pending send_async of {kind:?} #{id} on bus {b} could complete but was not woken"
                );
            }
        }
        for (i, (real, model)) in self.subs.iter().enumerate() {
            let (missed, received, len) = real.counts();
            assert_eq!(missed, model.missed, "subscription {i} missed");
            assert_eq!(received, model.received, "subscription {i} received");
            // What its reads will yield: the queue, less what an overtaken one will skip.
            let expected_len = model.queue.len() as u64 - self.to_skip(model);
            assert_eq!(len as u64, expected_len, "subscription {i} len");
            let closed = !model.live || self.buses[model.bus].closed;
            assert_eq!(real.is_closed(), closed, "subscription {i} is_closed");
            assert_eq!(
                real.is_terminated(),
                closed && model.queue.is_empty(),
                "subscription {i} is_terminated"
            );
        }
    }

    /// Segments a topic must retain: from the oldest one a cursor or the tail holds, to the
    /// tail (everything between is kept by links; nothing is installed past the tail by a
    /// single thread).
    ///
    /// DropOldest: the segments from `head` to the tail, plus each segment `head` has passed
    /// that a cursor still holds (`head` cut it off from its successor).
    fn retained(&self, bus: usize, kind: Kind, topic: &TopicModel) -> u64 {
        let tail = topic.tail_seg();
        let cursors = self
            .subs
            .iter()
            .filter(|(_, s)| s.live && s.bus == bus && s.kind == kind)
            .map(|(_, s)| s.seg);
        match topic.head_seg() {
            None => tail - cursors.fold(tail, u64::min) + 1,
            Some(head) => {
                let mut passed: Vec<u64> = cursors.filter(|&seg| seg < head).collect();
                passed.sort_unstable();
                passed.dedup();
                tail - head + 1 + passed.len() as u64
            }
        }
    }

    /// The events subscription `s` will skip at its next crossing: those of the segments
    /// between its own and `head`, if `head` has passed the segment after its own.
    fn to_skip(&self, s: &SubModel) -> u64 {
        if !s.live {
            return 0;
        }
        match self.buses[s.bus].topics[s.kind as usize]
            .as_ref()
            .and_then(TopicModel::head_seg)
        {
            Some(head) if head > s.seg + 1 => (head - s.seg - 1) * SEGMENT_CAP,
            _ => 0,
        }
    }

    /// Drops everything, flushes the epoch collector, and checks every value was dropped
    /// exactly once.
    fn finish(mut self) -> Tally {
        arm_fragile(false);
        while !self.senders.is_empty() {
            self.drop_sender(0);
        }
        // One at a time, as the model knows what each leave wakes.
        while !self.subs.is_empty() {
            self.drop_sub(0);
        }
        let kept: Vec<Option<Bus>> = self
            .buses
            .iter()
            .map(|b| b.handles.first().cloned())
            .collect();
        let wakes: u64 = self.buses.iter().map(|b| b.wake_panics).sum();
        self.buses.clear();
        settle(&self.ledger);
        self.tally.drop_panics = self.ledger.explosions();
        // Every contained panic is counted, on its own bus (a bus with no handle left cannot be
        // asked).
        let count = || -> u64 { kept.iter().flatten().map(|b| b.stats().user_panics).sum() };
        let expected = wakes + self.ledger.explosions();
        // A reclaimed value's drop may run on another test's thread, which counts the panic
        // just after the ledger saw the drop: give that thread a moment (bounded).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let all_kept = kept.iter().all(Option::is_some);
        let mut counted = count();
        while all_kept && counted < expected && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
            counted = count();
        }
        if all_kept {
            assert_eq!(counted, expected, "contained panics miscounted");
        } else {
            assert!(counted <= expected, "contained panics overcounted");
        }
        self.tally
    }
}

/// Flushes the epoch collector until every value of the run has been dropped (or a deadline
/// passes), then checks that each was dropped exactly once: nothing is retained.
fn settle(ledger: &Ledger) {
    // The epoch advances only when no thread is pinned in an older one; under `cargo test`
    // other test threads pin too (and may be descheduled while pinned), so keep flushing for a
    // while rather than a fixed number of times.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while ledger.outstanding() != (0, 0) && std::time::Instant::now() < deadline {
        for _ in 0..64 {
            crossbeam_epoch::pin().flush();
        }
        std::thread::yield_now();
    }
    ledger.assert_settled();
}

fn send_one<E: Event>(
    bus: &Bus,
    id: u64,
    ledger: &Arc<Ledger>,
    blocking: bool,
) -> (u64, Result<(), SendError<u64>>) {
    let event = E::make(id, ledger);
    let id = event.id();
    let result = if blocking {
        bus.send_blocking(event)
    } else {
        bus.send(event)
    };
    (id, result.map_err(hand_back))
}

/// A value given back unsent is the caller's again: dropping it must not panic here.
fn hand_back<E: Event>(e: SendError<E>) -> SendError<u64> {
    match e {
        SendError::NoSubscribers(mut e) => {
            e.defuse();
            SendError::NoSubscribers(e.id())
        }
        SendError::Closed(mut e) => {
            e.defuse();
            SendError::Closed(e.id())
        }
        SendError::Full(mut e) => {
            e.defuse();
            SendError::Full(e.id())
        }
    }
}

/// A `send_async` future owning `bus`, with its event's id. The event is defused: it may be
/// dropped with the future, unsent, on this thread.
fn send_async_one<E: Event>(bus: Bus, id: u64, ledger: &Arc<Ledger>) -> (u64, SendFuture) {
    let mut event = E::make(id, ledger);
    event.defuse();
    let id = event.id();
    let future = async move { bus.send_async(event).await.map_err(hand_back) };
    (id, Box::pin(future))
}

// ---------------------------------------------------------------------------------------------
// Target `ops`: everything, a step at a time

/// A type's bound on a new bus.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum BoundChoice {
    Unbounded,
    DropOldest(u8),
    Backpressure(u8),
}

impl BoundChoice {
    fn bound(self) -> Option<(usize, Overflow)> {
        match self {
            BoundChoice::Unbounded => None,
            BoundChoice::DropOldest(c) => Some((capacity(c), Overflow::DropOldest)),
            BoundChoice::Backpressure(c) => Some((capacity(c), Overflow::Backpressure)),
        }
    }
}

/// A capacity from a byte: small ones, and ones near the first segment boundaries (where
/// `head` and the Full check change segment), each often enough to be found.
fn capacity(c: u8) -> usize {
    let c = usize::from(c);
    match c % 4 {
        0 => 1 + c / 4 % 8,
        1 => 62 + c / 4 % 5,
        2 => 126 + c / 4 % 5,
        _ => 1 + c,
    }
}

#[derive(Arbitrary, Debug)]
pub enum Op {
    /// A bus with a bound (or none) per kind.
    NewBus {
        bounds: [BoundChoice; 4],
    },
    CloneBus {
        bus: u8,
        handle: u8,
    },
    DropHandle {
        bus: u8,
        handle: u8,
    },
    Close {
        bus: u8,
        handle: u8,
    },
    Subscribe {
        bus: u8,
        handle: u8,
        kind: Kind,
    },
    Send {
        bus: u8,
        handle: u8,
        kind: Kind,
    },
    /// Up to 255 sends in one step, to cross segment boundaries quickly.
    SendMany {
        bus: u8,
        handle: u8,
        kind: Kind,
        count: u8,
    },
    /// Sends until the topic's next event starts a segment: a boundary that random counts
    /// rarely hit exactly (a subscription made there starts just past a segment's last slot).
    SendToBoundary {
        bus: u8,
        handle: u8,
        kind: Kind,
    },
    Read {
        sub: u8,
        how: How,
    },
    /// Reads until empty, closed or `max` events.
    Drain {
        sub: u8,
        how: How,
        max: u8,
    },
    DropSub {
        sub: u8,
    },
    ArmFragile(bool),
    /// `send_async`, polled once; kept (up to `MAX_SENDERS`) while it waits.
    SendAsync {
        bus: u8,
        handle: u8,
        kind: Kind,
    },
    /// Polls a pending `send_async` again.
    PollSender {
        sender: u8,
    },
    /// Drops a pending `send_async` (cancels it).
    DropSender {
        sender: u8,
    },
    /// `send_blocking`, when the model says it will not wait.
    SendBlocking {
        bus: u8,
        handle: u8,
        kind: Kind,
    },
}

impl World {
    fn apply(&mut self, op: Op) {
        match op {
            Op::NewBus { bounds } => self.new_bus(bounds),
            Op::CloneBus { bus, handle } => self.clone_handle(bus, handle),
            Op::DropHandle { bus, handle } => self.drop_handle(bus, handle),
            Op::Close { bus, handle } => self.close(bus, handle),
            Op::Subscribe { bus, handle, kind } => self.subscribe(bus, handle, kind),
            Op::Send { bus, handle, kind } => {
                self.send(bus, handle, kind);
            }
            Op::SendMany {
                bus,
                handle,
                kind,
                count,
            } => {
                for _ in 0..count {
                    self.send(bus, handle, kind);
                }
            }
            Op::SendToBoundary { bus, handle, kind } => self.send_to_boundary(bus, handle, kind),
            Op::Read { sub, how } => {
                self.read(sub, how);
            }
            Op::Drain { sub, how, max } => {
                for _ in 0..max {
                    if !self.read(sub, how) {
                        break;
                    }
                }
            }
            Op::DropSub { sub } => self.drop_sub(sub),
            Op::ArmFragile(armed) => {
                self.armed = armed;
                arm_fragile(armed);
            }
            Op::SendAsync { bus, handle, kind } => self.send_async(bus, handle, kind),
            Op::PollSender { sender } => {
                if !self.senders.is_empty() {
                    self.poll_sender(usize::from(sender) % self.senders.len());
                }
            }
            Op::DropSender { sender } => self.drop_sender(sender),
            Op::SendBlocking { bus, handle, kind } => {
                self.send_via(bus, handle, kind, true);
            }
        }
    }
}

/// Runs one `ops` input. Panics (or aborts, on a double drop) on any divergence.
pub fn run_ops(data: &[u8]) -> Tally {
    let mut u = Unstructured::new(data);
    run_script(std::iter::from_fn(|| {
        if u.is_empty() {
            return None;
        }
        Op::arbitrary(&mut u).ok()
    }))
}

/// Runs a list of operations as `run_ops` does (for scripted tests of the model).
pub fn run_script(ops: impl IntoIterator<Item = Op>) -> Tally {
    let mut world = World::new();
    for op in ops {
        world.apply(op);
        // Checked before and after the woken senders run: nothing that could complete was
        // left unwoken, and each woken one completes or waits exactly as the model says.
        world.check();
        if world.run_woken() {
            world.check();
        }
    }
    world.finish()
}

// ---------------------------------------------------------------------------------------------
// Target `segments`: one bus and one type, long runs across many segment boundaries

#[derive(Arbitrary, Debug)]
pub enum SegOp {
    /// `count` sends.
    Send {
        count: u8,
    },
    /// `blocks` whole segments' worth of sends plus `extra`.
    SendLong {
        blocks: u8,
        extra: u8,
    },
    /// Sends until the next event starts a segment.
    SendToBoundary,
    Subscribe,
    /// Reads up to `count` events, by clone or by reference.
    Read {
        sub: u8,
        count: u16,
        by_ref: bool,
    },
    DropSub {
        sub: u8,
    },
    Close,
}

/// Runs one `segments` input: `Counted` events (every drop counted) on one bus.
pub fn run_segments(data: &[u8]) -> Tally {
    let mut u = Unstructured::new(data);
    let mut world = World::new();
    while !u.is_empty() {
        let Ok(op) = SegOp::arbitrary(&mut u) else {
            break;
        };
        match op {
            SegOp::Send { count } => {
                for _ in 0..count {
                    world.send(0, 0, Kind::Counted);
                }
            }
            SegOp::SendLong { blocks, extra } => {
                let n = u64::from(blocks % 16) * SEGMENT_CAP + u64::from(extra % 64);
                for _ in 0..n {
                    world.send(0, 0, Kind::Counted);
                }
            }
            SegOp::SendToBoundary => world.send_to_boundary(0, 0, Kind::Counted),
            SegOp::Subscribe => world.subscribe(0, 0, Kind::Counted),
            SegOp::Read { sub, count, by_ref } => {
                let how = if by_ref {
                    How::TryRecvRef
                } else {
                    How::TryRecv
                };
                for _ in 0..count {
                    if !world.read(sub, how) {
                        break;
                    }
                }
            }
            SegOp::DropSub { sub } => world.drop_sub(sub),
            SegOp::Close => world.close(0, 0),
        }
        world.check();
    }
    world.finish()
}
