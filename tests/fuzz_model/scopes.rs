//! Target `scopes`: nested and isolated scopes open at the same time, sends, broadcasts and
//! subscriptions from each, scopes exiting while their subscriptions still hold events,
//! against a model of which scope sees which event.
//!
//! Every scope's body is a small command loop: the interpreter posts one command to one open
//! scope's mailbox, polls the root scopes until the body has run it (nested scopes run as
//! tasks spawned by their parent, so siblings stay open together), then checks the reply
//! against the model:
//!
//! - each scope has a bus (its nearest root or isolated ancestor's) and a path (its ancestors
//!   on that bus, itself last);
//! - `ctx::send` from S reaches the live subscriptions of its type made in a scope on S's path;
//!   `ctx::broadcast` reaches every live subscription of its type on S's bus;
//! - a subscription's scope exiting ends it: it yields what it holds, then `None`;
//! - outside any scope every call fails with `ContextMissing`.
//!
//! `FUZZ_TRACE=1` prints each operation as it runs (to read a crashing input).

use std::collections::{HashMap, VecDeque};
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use arbitrary::{Arbitrary, Unstructured};
use futures_core::Stream;
use tidings::{ContextMissing, Scope, ScopedSubscription, TryRecvError, ctx};

use super::events::{Counted, Ledger, Plain};
use super::{Tally, settle};

const MAX_SCOPES: usize = 24;
const MAX_SUBS: usize = 24;
const MAX_SENDS: u64 = 20_000;

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopedKind {
    Plain,
    Counted,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopedHow {
    TryRecv,
    PollRecv,
    PollNext,
    /// `recv()` polled once with a noop waker, then dropped.
    Recv,
}

#[derive(Arbitrary, Debug)]
pub enum ScopeOp {
    /// Opens a scope nested in open scope `parent` (as a task it spawns), or a root if
    /// `parent` picks the slot past the open ones.
    Open {
        parent: u8,
        isolated: bool,
    },
    /// The body of open scope `scope` returns: its subscriptions end.
    Exit {
        scope: u8,
    },
    Subscribe {
        scope: u8,
        kind: ScopedKind,
    },
    Send {
        scope: u8,
        kind: ScopedKind,
        count: u8,
    },
    Broadcast {
        scope: u8,
        kind: ScopedKind,
    },
    /// `ctx::send`, `ctx::broadcast` and `ctx::subscribe` outside any scope.
    Outside {
        kind: ScopedKind,
    },
    Read {
        sub: u8,
        how: ScopedHow,
    },
    Drain {
        sub: u8,
        max: u8,
    },
    DropSub {
        sub: u8,
    },
}

// ---------------------------------------------------------------------------------------------
// The scope bodies

type BoxedSub = Box<dyn AnyScoped + Send>;

enum Cmd {
    Subscribe(ScopedKind),
    Send(ScopedKind, u64, bool),
    Open { child: usize, isolated: bool },
    Exit,
}

enum Reply {
    Subscribed(Result<BoxedSub, ContextMissing>),
    Sent(u64, Result<(), ContextMissing>),
    Opened(bool),
    Exited,
}

#[derive(Default)]
struct Mailbox {
    cmd: Option<Cmd>,
    reply: Option<Reply>,
    waker: Option<Waker>,
}

type Mailboxes = Arc<Mutex<HashMap<usize, Mailbox>>>;

fn lock(boxes: &Mailboxes) -> std::sync::MutexGuard<'_, HashMap<usize, Mailbox>> {
    boxes.lock().unwrap_or_else(|e| e.into_inner())
}

fn scope(isolated: bool) -> Scope {
    if isolated {
        Scope::isolated("fuzz")
    } else {
        Scope::new("fuzz")
    }
}

type Body = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The body of scope `id`: runs the commands posted to its mailbox until `Exit`. Boxed, because
/// it recursively spawns the bodies of nested scopes.
fn body(id: usize, boxes: Mailboxes, ledger: Arc<Ledger>) -> Body {
    Box::pin(body_loop(id, boxes, ledger))
}

async fn body_loop(id: usize, boxes: Mailboxes, ledger: Arc<Ledger>) {
    loop {
        let cmd = poll_fn(|cx| {
            let mut all = lock(&boxes);
            let mailbox = all.get_mut(&id).expect("mailbox of an open scope");
            match mailbox.cmd.take() {
                Some(cmd) => Poll::Ready(cmd),
                None => {
                    mailbox.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        let reply = match cmd {
            Cmd::Exit => Reply::Exited,
            Cmd::Subscribe(kind) => Reply::Subscribed(subscribe(kind)),
            Cmd::Send(kind, plain_id, broadcast) => {
                let (id, result) = match kind {
                    ScopedKind::Plain => send_one::<Plain>(plain_id, &ledger, broadcast),
                    ScopedKind::Counted => send_one::<Counted>(plain_id, &ledger, broadcast),
                };
                Reply::Sent(id, result)
            }
            Cmd::Open { child, isolated } => {
                lock(&boxes).insert(child, Mailbox::default());
                let fut = scope(isolated).run(body(child, Arc::clone(&boxes), Arc::clone(&ledger)));
                // The handle is dropped: the task stays a part of this scope.
                Reply::Opened(ctx::spawn(fut).is_ok())
            }
        };
        let exit = matches!(reply, Reply::Exited);
        lock(&boxes).get_mut(&id).expect("own mailbox").reply = Some(reply);
        if exit {
            return;
        }
    }
}

fn subscribe(kind: ScopedKind) -> Result<BoxedSub, ContextMissing> {
    match kind {
        ScopedKind::Plain => ctx::subscribe::<Plain>().map(|s| Box::new(s) as BoxedSub),
        ScopedKind::Counted => ctx::subscribe::<Counted>().map(|s| Box::new(s) as BoxedSub),
    }
}

trait ScopedEvent: Clone + Send + Sync + 'static {
    fn make(id: u64, ledger: &Arc<Ledger>) -> Self;
    fn id(&self) -> u64;
}

impl ScopedEvent for Plain {
    fn make(id: u64, _: &Arc<Ledger>) -> Self {
        Plain(id)
    }
    fn id(&self) -> u64 {
        self.0
    }
}

impl ScopedEvent for Counted {
    fn make(_: u64, ledger: &Arc<Ledger>) -> Self {
        Counted(ledger.mint())
    }
    fn id(&self) -> u64 {
        self.0.id
    }
}

fn send_one<E: ScopedEvent>(
    id: u64,
    ledger: &Arc<Ledger>,
    broadcast: bool,
) -> (u64, Result<(), ContextMissing>) {
    let event = E::make(id, ledger);
    let id = event.id();
    let result = if broadcast {
        ctx::broadcast(event)
    } else {
        ctx::send(event)
    };
    (id, result)
}

trait AnyScoped {
    fn read(&mut self, how: ScopedHow) -> Result<u64, TryRecvError>;
    fn is_terminated(&self) -> bool;
}

impl<E: ScopedEvent> AnyScoped for ScopedSubscription<E> {
    fn read(&mut self, how: ScopedHow) -> Result<u64, TryRecvError> {
        let mut cx = Context::from_waker(Waker::noop());
        let polled = match how {
            ScopedHow::TryRecv => return self.try_recv().map(|e| e.id()),
            ScopedHow::PollRecv => self.poll_recv(&mut cx),
            ScopedHow::PollNext => Pin::new(&mut *self).poll_next(&mut cx),
            ScopedHow::Recv => pin!(self.recv()).poll(&mut cx),
        };
        match polled {
            Poll::Ready(Some(e)) => Ok(e.id()),
            Poll::Ready(None) => Err(TryRecvError::Closed),
            Poll::Pending => Err(TryRecvError::Empty),
        }
    }
    fn is_terminated(&self) -> bool {
        ScopedSubscription::is_terminated(self)
    }
}

/// Records that a root scope asked to be polled again.
#[derive(Default)]
struct WakeFlag(AtomicBool);

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// The model

struct ScopeModel {
    /// The model id of the scope that owns its bus (a root or isolated scope).
    bus: usize,
    /// Ancestors on `bus`, from the owner down to this scope.
    path: Vec<usize>,
}

struct SubModel {
    kind: ScopedKind,
    scope: usize,
    bus: usize,
    /// Its scope has exited: nothing more arrives; it ends once drained.
    ended: bool,
    /// It has returned its end.
    finished: bool,
    queue: VecDeque<u64>,
}

struct World {
    tally: Tally,
    ledger: Arc<Ledger>,
    boxes: Mailboxes,
    roots: Vec<Body>,
    /// Every scope ever opened, by model id.
    scopes: Vec<ScopeModel>,
    /// The scopes whose bodies still run.
    open: Vec<usize>,
    subs: Vec<(BoxedSub, SubModel)>,
    next_plain: u64,
    sends: u64,
}

impl World {
    /// Polls the unfinished root scopes (which poll the woken tasks inside them) as an executor
    /// would: again while any of them woke itself during the poll (a driver's task set yields
    /// after a batch of tasks and wakes itself to continue).
    fn poll_roots(&mut self) {
        let woken = Arc::new(WakeFlag::default());
        let waker = Waker::from(Arc::clone(&woken));
        let mut cx = Context::from_waker(&waker);
        for _ in 0..1_000 {
            self.roots
                .retain_mut(|root| root.as_mut().poll(&mut cx).is_pending());
            if !woken.0.swap(false, Ordering::SeqCst) {
                return;
            }
        }
        panic!("the root scopes keep waking themselves");
    }

    /// Posts `cmd` to scope `id`, wakes it, and runs the scopes until none is woken; by then it
    /// must have replied (else a wake-up was lost).
    fn command(&mut self, id: usize, cmd: Cmd) -> Reply {
        let waker = {
            let mut all = lock(&self.boxes);
            let mailbox = all.get_mut(&id).expect("mailbox of an open scope");
            mailbox.cmd = Some(cmd);
            mailbox.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        self.poll_roots();
        lock(&self.boxes)
            .get_mut(&id)
            .and_then(|m| m.reply.take())
            .expect("an open scope runs its command once woken")
    }

    fn pick_open(&self, scope: u8) -> Option<usize> {
        (!self.open.is_empty()).then(|| self.open[usize::from(scope) % self.open.len()])
    }

    fn open(&mut self, parent: u8, isolated: bool) {
        if self.scopes.len() >= MAX_SCOPES {
            return;
        }
        let id = self.scopes.len();
        let slot = usize::from(parent) % (self.open.len() + 1);
        let model = match self.open.get(slot).copied() {
            Some(p) if !isolated => {
                let mut path = self.scopes[p].path.clone();
                path.push(id);
                ScopeModel {
                    bus: self.scopes[p].bus,
                    path,
                }
            }
            _ => ScopeModel {
                bus: id,
                path: vec![id],
            },
        };
        self.scopes.push(model);
        self.open.push(id);
        match self.open.get(slot).copied().filter(|&p| p != id) {
            Some(p) => {
                let reply = self.command(
                    p,
                    Cmd::Open {
                        child: id,
                        isolated,
                    },
                );
                assert!(matches!(reply, Reply::Opened(true)), "spawn in scope {p}");
            }
            None => {
                lock(&self.boxes).insert(id, Mailbox::default());
                let ledger = Arc::clone(&self.ledger);
                let boxes = Arc::clone(&self.boxes);
                self.roots.push(Box::pin(async move {
                    scope(isolated)
                        .run(body(id, boxes, ledger))
                        .await
                        .expect("a root scope without failures succeeds");
                }));
                self.poll_roots();
            }
        }
    }

    fn exit(&mut self, scope: u8) {
        let Some(id) = self.pick_open(scope) else {
            return;
        };
        assert!(matches!(self.command(id, Cmd::Exit), Reply::Exited));
        self.open.retain(|&s| s != id);
        for (_, s) in &mut self.subs {
            if s.scope == id {
                s.ended = true;
            }
        }
    }

    fn subscribe(&mut self, scope: u8, kind: ScopedKind) {
        let Some(id) = self.pick_open(scope) else {
            return;
        };
        if self.subs.len() >= MAX_SUBS {
            return;
        }
        let Reply::Subscribed(real) = self.command(id, Cmd::Subscribe(kind)) else {
            panic!("wrong reply");
        };
        let real = real.unwrap_or_else(|_| panic!("subscribe in open scope {id}"));
        let model = SubModel {
            kind,
            scope: id,
            bus: self.scopes[id].bus,
            ended: false,
            finished: false,
            queue: VecDeque::new(),
        };
        self.subs.push((real, model));
    }

    fn send(&mut self, scope: u8, kind: ScopedKind, broadcast: bool) {
        let Some(from) = self.pick_open(scope) else {
            return;
        };
        if self.sends >= MAX_SENDS {
            return;
        }
        self.sends += 1;
        self.next_plain += 1;
        let Reply::Sent(id, result) =
            self.command(from, Cmd::Send(kind, self.next_plain, broadcast))
        else {
            panic!("wrong reply");
        };
        assert_eq!(result, Ok(()), "send in open scope {from}");
        self.tally.sent += 1;
        let origin = &self.scopes[from];
        for (_, s) in &mut self.subs {
            let reaches = s.kind == kind
                && !s.ended
                && s.bus == origin.bus
                && (broadcast || origin.path.contains(&s.scope));
            if reaches {
                s.queue.push_back(id);
            }
        }
    }

    fn outside(&mut self, kind: ScopedKind) {
        self.next_plain += 1;
        let (_, sent) = match kind {
            ScopedKind::Plain => send_one::<Plain>(self.next_plain, &self.ledger, false),
            ScopedKind::Counted => send_one::<Counted>(self.next_plain, &self.ledger, true),
        };
        assert_eq!(sent, Err(ContextMissing));
        assert!(subscribe(kind).is_err(), "subscribe outside any scope");
        self.tally.rejected += 1;
    }

    fn read(&mut self, sub: u8, how: ScopedHow) -> bool {
        if self.subs.is_empty() {
            return false;
        }
        let i = usize::from(sub) % self.subs.len();
        let (real, model) = &mut self.subs[i];
        let expected = match model.queue.front() {
            Some(&id) => Ok(id),
            None if model.ended => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        };
        let actual = real.read(how);
        assert_eq!(
            actual, expected,
            "{how:?} on scoped subscription {i} ({:?} made in scope {})",
            model.kind, model.scope
        );
        match actual {
            Ok(id) => {
                if model.kind == ScopedKind::Counted {
                    assert!(self.ledger.alive(id), "event {id} freed while unread");
                }
                model.queue.pop_front();
                self.tally.delivered += 1;
                true
            }
            Err(TryRecvError::Closed) => {
                model.finished = true;
                self.tally.closed += 1;
                false
            }
            Err(TryRecvError::Empty) => {
                self.tally.empty += 1;
                false
            }
        }
    }

    fn check(&self) {
        for (i, (real, model)) in self.subs.iter().enumerate() {
            // An end marker not yet read may count as not ended; a read end always counts.
            if model.finished {
                assert!(real.is_terminated(), "scoped subscription {i} has ended");
            }
            if !model.ended {
                assert!(
                    !real.is_terminated(),
                    "scoped subscription {i} is still open"
                );
            }
        }
        assert_eq!(
            self.roots.is_empty(),
            self.open.is_empty(),
            "root scopes finish exactly when every scope has exited"
        );
    }

    fn apply(&mut self, op: ScopeOp) {
        match op {
            ScopeOp::Open { parent, isolated } => self.open(parent, isolated),
            ScopeOp::Exit { scope } => self.exit(scope),
            ScopeOp::Subscribe { scope, kind } => self.subscribe(scope, kind),
            ScopeOp::Send { scope, kind, count } => {
                for _ in 0..=count % 80 {
                    self.send(scope, kind, false);
                }
            }
            ScopeOp::Broadcast { scope, kind } => self.send(scope, kind, true),
            ScopeOp::Outside { kind } => self.outside(kind),
            ScopeOp::Read { sub, how } => {
                self.read(sub, how);
            }
            ScopeOp::Drain { sub, max } => {
                for _ in 0..max {
                    if !self.read(sub, ScopedHow::TryRecv) {
                        break;
                    }
                }
            }
            ScopeOp::DropSub { sub } => {
                if !self.subs.is_empty() {
                    let i = usize::from(sub) % self.subs.len();
                    drop(self.subs.swap_remove(i));
                }
            }
        }
        self.check();
    }
}

/// Runs one `scopes` input. Panics on any divergence from the model.
pub fn run_scopes(data: &[u8]) -> Tally {
    let mut u = Unstructured::new(data);
    let mut world = World {
        tally: Tally::default(),
        ledger: Arc::new(Ledger::default()),
        boxes: Arc::default(),
        roots: Vec::new(),
        scopes: Vec::new(),
        open: Vec::new(),
        subs: Vec::new(),
        next_plain: 0,
        sends: 0,
    };
    while !u.is_empty() {
        let Ok(op) = ScopeOp::arbitrary(&mut u) else {
            break;
        };
        if std::env::var_os("FUZZ_TRACE").is_some() {
            eprintln!("{op:?}   open={:?}", world.open);
        }
        world.apply(op);
    }
    // Every scope exits, innermost (latest) first or not: a parent waits for its children.
    while let Some(last) = world.open.len().checked_sub(1) {
        world.exit(last as u8);
    }
    world.check();
    // Every subscription left yields what it holds, then ends.
    while let Some(last) = world.subs.len().checked_sub(1) {
        while world.read(last as u8, ScopedHow::TryRecv) {}
        assert!(
            world.subs[last].1.finished,
            "scoped subscription {last} never ended"
        );
        world.subs.pop();
    }
    settle(&world.ledger);
    world.tally
}
