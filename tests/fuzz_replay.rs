//! The fuzz suite on stable: replays the committed seed corpus of each cargo-fuzz target and a
//! few thousand inputs from a seeded PRNG through the same interpreter (`tests/fuzz_model`),
//! so `cargo test` catches regressions without nightly. Each input runs against tidings and a
//! plain model, compared after every step (see `fuzz_model`).

mod fuzz_model;

use std::ffi::OsString;
use std::path::PathBuf;

use fuzz_model::{Tally, run_ops, run_scopes, run_segments};

/// Whether this is a crate extracted from its published package rather than the repository:
/// cargo writes `Cargo.toml.orig` into every package, and the repository has none. A package
/// cannot carry `fuzz/` (a package of its own, which cargo leaves out), so there, and only
/// there, the committed corpus is replayed from the repository instead.
fn packaged() -> bool {
    manifest_dir().join("Cargo.toml.orig").exists()
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory of `target`'s corpus and the names of its committed seeds (`seed-*`), sorted;
/// what local runs add is skipped. `None` only in a packaged crate without the corpus; in the
/// repository a missing corpus fails. Names, not paths: miri parses a `Path` slowly (sorting
/// the 804 paths of `ops` took it minutes, sorting their names seconds).
fn corpus(target: &str) -> Option<(PathBuf, Vec<OsString>)> {
    let dir = manifest_dir().join("fuzz/corpus").join(target);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if packaged() && e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "{}: not in the published package; the repository's `cargo test` replays it",
                dir.display()
            );
            return None;
        }
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    let mut seeds: Vec<_> = entries
        .map(|entry| entry.expect("corpus entry").file_name())
        .filter(|name| name.as_encoded_bytes().starts_with(b"seed-"))
        .collect();
    seeds.sort();
    Some((dir, seeds))
}

/// SplitMix64: a fixed, dependency-free stream of inputs.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// An input of up to `max_len` bytes.
    fn input(&mut self, max_len: usize) -> Vec<u8> {
        let len = (self.next() % max_len as u64) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// The committed corpus of `target` through `run`; `None` in a package without it.
fn replay(target: &str, run: fn(&[u8]) -> Tally) -> Option<Tally> {
    let (dir, seeds) = corpus(target)?;
    assert!(
        seeds.len() >= 10,
        "{target}: only {} committed seeds",
        seeds.len()
    );
    // Under miri (scripts/miri.sh) three seeds spread over the corpus: the whole corpus would
    // take hours there; miri checks the interpreter's paths for undefined behaviour, and the
    // counts the tests assert after a replay are then not checked.
    let step = if cfg!(miri) { seeds.len() / 3 } else { 1 };
    let mut total = Tally::default();
    for name in seeds.into_iter().step_by(step) {
        let path = dir.join(name);
        eprintln!("replaying {}", path.display());
        total += run(&std::fs::read(&path).expect("corpus file"));
    }
    Some(total)
}

/// The skip above must never hide a missing corpus in a checkout: a git work tree is not a
/// package, and there the corpus is found.
#[test]
fn a_checkout_is_never_taken_for_a_package() {
    if manifest_dir().join(".git").exists() {
        assert!(!packaged(), "Cargo.toml.orig in a git checkout");
        assert!(corpus("ops").is_some());
    }
}

/// Runs `inputs` random inputs (a handful under miri, which checks the interpreter's paths for
/// undefined behaviour rather than covering the input space; the counts asserted after it
/// are then not checked).
fn random(seed: u64, inputs: usize, max_len: usize, run: fn(&[u8]) -> Tally) -> Tally {
    let inputs = if cfg!(miri) { inputs.min(3) } else { inputs };
    let mut rng = SplitMix(seed);
    let mut total = Tally::default();
    for _ in 0..inputs {
        total += run(&rng.input(max_len));
    }
    total
}

#[test]
fn committed_ops_corpus_matches_the_model() {
    let Some(t) = replay("ops", run_ops) else {
        return;
    };
    eprintln!("{t:?}");
    if cfg!(miri) {
        return;
    }
    assert!(
        t.delivered > 0 && t.crossings > 0 && t.clone_panics > 0,
        "{t:?}"
    );
    // Bounded topics (regenerated for them): Full, DropOldest skips, send_async that waited.
    assert!(t.full > 0 && t.missed > 0 && t.waited > 0, "{t:?}");
}

#[test]
fn committed_segments_corpus_matches_the_model() {
    let Some(t) = replay("segments", run_segments) else {
        return;
    };
    eprintln!("{t:?}");
    if cfg!(miri) {
        return;
    }
    assert!(
        t.delivered > 0 && t.crossings > 0 && t.max_retained > 2,
        "{t:?}"
    );
}

#[test]
fn random_ops_inputs_match_the_model() {
    let t = random(0x7469_6469_6e67_7301, 3_000, 512, run_ops);
    eprintln!("{t:?}");
    if cfg!(miri) {
        return;
    }
    // Not vacuous: the inputs delivered, crossed segments, closed, and panicked in clones.
    assert!(t.delivered > 3_000, "{t:?}");
    assert!(t.crossings > 50, "{t:?}");
    assert!(t.closed > 100 && t.empty > 100 && t.rejected > 100, "{t:?}");
    assert!(t.clone_panics > 10, "{t:?}");
    // And in wakers and drops the bus runs for others (contained, counted exactly).
    assert!(t.waker_panics > 10 && t.drop_panics > 10, "{t:?}");
    // Polls that yielded after a burst instead of parking.
    assert!(t.yields > 10, "{t:?}");
    // Bounded topics: sends refused Full, laggards overtaken.
    assert!(t.full > 100 && t.missed > 0, "{t:?}");
}

#[test]
fn random_segments_inputs_match_the_model() {
    let t = random(0x7469_6469_6e67_7302, 1_000, 256, run_segments);
    if cfg!(miri) {
        return;
    }
    assert!(t.delivered > 10_000 && t.crossings > 100, "{t:?}");
    assert!(t.max_retained > 4, "{t:?}");
}

#[test]
fn committed_scopes_corpus_matches_the_model() {
    let Some(t) = replay("scopes", run_scopes) else {
        return;
    };
    eprintln!("{t:?}");
    if cfg!(miri) {
        return;
    }
    assert!(t.delivered > 0 && t.closed > 0, "{t:?}");
}

#[test]
fn random_scopes_inputs_match_the_model() {
    let t = random(0x7469_6469_6e67_7303, 2_000, 384, run_scopes);
    if cfg!(miri) {
        return;
    }
    assert!(
        t.delivered > 2_000 && t.closed > 200 && t.empty > 200,
        "{t:?}"
    );
}

/// The model's bounded paths, scripted: a Backpressure `send_async` that waits, is woken by the
/// read that makes room and completes; a DropOldest laggard overtaken and skipping ahead;
/// `send_blocking`; a pending sender cancelled. (The interpreter checks each step against the
/// model; the tally shows the paths ran.)
#[test]
fn scripted_bounded_ops_match_the_model() {
    use fuzz_model::{BoundChoice, How, Kind, Op};

    let (bus, handle) = (1, 0);
    let mut ops = vec![
        // Bus 1: Plain bounded to 1 with Backpressure, Counted to 2 with DropOldest.
        Op::NewBus {
            bounds: [
                BoundChoice::Backpressure(0),
                BoundChoice::Unbounded,
                BoundChoice::DropOldest(4),
                BoundChoice::Unbounded,
            ],
        },
        Op::Subscribe {
            bus,
            handle,
            kind: Kind::Plain,
        },
        Op::Send {
            bus,
            handle,
            kind: Kind::Plain,
        },
        // Full: `send` refuses, `send_async` waits (twice), `send_blocking` is not run.
        Op::Send {
            bus,
            handle,
            kind: Kind::Plain,
        },
        Op::SendAsync {
            bus,
            handle,
            kind: Kind::Plain,
        },
        Op::SendAsync {
            bus,
            handle,
            kind: Kind::Plain,
        },
        Op::PollSender { sender: 0 },
        // The read makes room for one; the woken senders are polled: one completes.
        Op::Read {
            sub: 0,
            how: How::TryRecv,
        },
        // Cancel the other, read on, then a blocking send that has room.
        Op::DropSender { sender: 0 },
        Op::Drain {
            sub: 0,
            how: How::TryRecvRef,
            max: 8,
        },
        Op::SendBlocking {
            bus,
            handle,
            kind: Kind::Plain,
        },
        // DropOldest: a laggard overtaken by 4 segments' worth of sends.
        Op::Subscribe {
            bus,
            handle,
            kind: Kind::Counted,
        },
    ];
    ops.extend((0..2).map(|_| Op::SendMany {
        bus,
        handle,
        kind: Kind::Counted,
        count: 255,
    }));
    ops.push(Op::Drain {
        sub: 1,
        how: How::TryRecv,
        max: 255,
    });
    let t = fuzz_model::run_script(ops);
    eprintln!("{t:?}");
    assert_eq!(t.waited, 1, "{t:?}");
    assert!(t.full >= 1, "{t:?}");
    assert!(t.missed > 0, "{t:?}");
}
