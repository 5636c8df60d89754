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

/// Builds example `name` with the features this test binary was built with, in the same
/// target directory and profile, and returns its path, so a test that starts an example as a
/// second process works from a plain `cargo test --test nats_bridge` on a fresh checkout.
/// Builds each example once per test binary; cargo does nothing when it is up to date.
#[allow(dead_code)] // not every test binary that includes this module starts an example
pub fn example_binary(name: &str) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get_or_insert_with(HashMap::new).get(name) {
        return path.clone();
    }
    // target/<profile>/deps/<this test binary>
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let target_dir = profile_dir.parent().expect("target");
    let mut features = vec!["nats"];
    if cfg!(feature = "tracing") {
        features.push("tracing");
    }
    if cfg!(feature = "tokio") {
        features.push("tokio");
    }
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--quiet", "--example", name, "--features"])
        .arg(features.join(","))
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        cargo.arg("--release");
    }
    let status = cargo.status().expect("run cargo to build the example");
    assert!(status.success(), "cargo build --example {name}: {status}");
    let path = profile_dir.join("examples").join(name);
    assert!(path.is_file(), "{} missing after the build", path.display());
    built
        .as_mut()
        .unwrap()
        .insert(name.to_owned(), path.clone());
    path
}

/// A cluster of `nats-server`s with JetStream on loopback ports: every node routes to every
/// other, so streams can have replicas on each. Killed on drop.
#[allow(dead_code)] // used by the cluster test only
pub struct NatsCluster {
    pub nodes: Vec<NatsServer>,
}

#[allow(dead_code)]
impl NatsCluster {
    /// Starts `size` nodes, or explains why not and returns `None` (as [`NatsServer::start_with`]).
    pub fn start(size: usize) -> Option<NatsCluster> {
        let cluster_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let routes = cluster_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::with_capacity(size);
        for (i, port) in cluster_ports.iter().enumerate() {
            let name = format!("n{i}");
            let listen = format!("nats://127.0.0.1:{port}");
            let args = [
                "--name",
                name.as_str(),
                "--cluster_name",
                "tidings",
                "--cluster",
                listen.as_str(),
                "--routes",
                routes.as_str(),
            ];
            nodes.push(NatsServer::start_with(&args)?);
        }
        Some(NatsCluster { nodes })
    }

    /// Every node's client URL, comma-separated, node 0 first.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Which node listens on client port `port`.
    pub fn node_with_port(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|n| n.port == port)
    }
}
