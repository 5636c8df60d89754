//! A real `nats-server` with JetStream for the bridge tests: a free loopback port, a temporary
//! store directory, killed on drop.
//!
//! When no `nats-server` binary is found, [`NatsServer::start_with`] prints why and returns `None`
//! so the test can return early, unless `TIDINGS_REQUIRE_NATS=1`, which makes it panic
//! (`.ci/run` sets it, so CI never passes by skipping).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NatsServer {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
    child: Option<Child>,
}

/// `nats-server` on PATH, or where Debian's package puts it.
fn find_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([
            "/usr/sbin".into(),
            "/usr/bin".into(),
            "/usr/local/bin".into(),
        ])
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().unwrap().port()
}

impl NatsServer {
    /// Starts a server with extra command-line arguments (e.g. `--auth <token>`), or explains
    /// why not and returns `None`.
    pub fn start_with(extra: &[&str]) -> Option<NatsServer> {
        let Some(binary) = find_binary() else {
            if std::env::var("TIDINGS_REQUIRE_NATS").as_deref() == Ok("1") {
                panic!(
                    "TIDINGS_REQUIRE_NATS=1 but no nats-server found (apt-get install -y nats-server)"
                );
            }
            eprintln!(
                "SKIPPED: nats-server not found on PATH or in /usr/sbin (apt-get install -y nats-server)"
            );
            return None;
        };
        let mut server = NatsServer {
            binary,
            port: free_port(),
            dir: tempfile::tempdir().expect("temporary directory"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        server.spawn();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye to clients, as in a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same JetStream store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let store = self.dir.path().join("jetstream");
        let log = self.dir.path().join("server.log");
        let mut last_error = None;
        // The port was free a moment ago; another process may take it, so retry a few times
        // before giving up (only on the first start: a restart must keep its port).
        for _ in 0..20 {
            let child = Command::new(&self.binary)
                .args([
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-js",
                    "-sd",
                ])
                .arg(&store)
                .arg("-l")
                .arg(&log)
                .args(&self.extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn nats-server");
            self.child = Some(child);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                    last_error = Some(format!("exited with {status}"));
                    break;
                }
                if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.kill();
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        panic!(
            "nats-server did not start on port {}: {last_error:?}\n{log}",
            self.port
        );
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
