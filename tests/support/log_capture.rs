//! What the code under test logged through `tracing`, as text (feature `tracing`): from one
//! closure on this thread ([`capture`]), or from the whole test binary ([`global`]).

use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

/// Log output, shared by the subscriber that writes it and the test that reads it.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

/// The format every capture uses: debug level and above, one event a line, no timestamps,
/// no colours.
fn subscriber(logs: Logs) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_writer(logs)
        .with_max_level(tracing::Level::DEBUG)
        .without_time()
        .with_ansi(false)
        .finish()
}

/// What `f` logged on this thread.
pub fn capture(f: impl FnOnce()) -> String {
    let logs = Logs::default();
    tracing::subscriber::with_default(subscriber(logs.clone()), f);
    logs.text()
}

/// Every log line of this test binary, from every thread, from the first call on.
///
/// One global subscriber rather than one per test where the logging happens on other threads
/// (a runtime's workers): tracing caches per-callsite interest, and thread-local subscribers in
/// parallel tests miss events. Tests that read it look for their own subject.
pub fn global() -> Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        tracing::subscriber::set_global_default(subscriber(logs.clone()))
            .expect("no other global subscriber in this test binary");
        logs
    })
    .clone()
}

/// The lines of `log` that contain `needle`.
pub fn lines<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}
