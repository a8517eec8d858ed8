//! A real OCI registry on loopback (Debian's `docker-registry`, the CNCF distribution registry),
//! and the project's own push command (`tools/pack-par push`), as a user publishes with it.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};

use crate::js::in_ci;
use crate::par::product_root;
use crate::util::scratch_dir;

/// The registry's program (Debian's package `docker-registry`; `.ci/run` installs it).
pub const REGISTRY_PROGRAM: &str = "docker-registry";

/// How long the registry may take to answer `/v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A registry serving `http://{addr}` from a storage folder of its own; stopped on drop.
pub struct Registry {
    child: Child,
    addr: String,
}

impl Registry {
    /// Starts a registry, or `None` (with a line saying why) where `docker-registry` is not
    /// installed outside CI; in CI its absence is an error.
    pub fn start(test: &str) -> Result<Option<Registry>> {
        if Command::new(REGISTRY_PROGRAM).arg("--version").output().is_err() {
            if in_ci() {
                bail!("`{REGISTRY_PROGRAM}` is not installed (Debian's docker-registry; .ci/run installs it)");
            }
            eprintln!("SKIPPED {test}: `{REGISTRY_PROGRAM}` is not installed (apt-get install docker-registry)");
            return Ok(None);
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = format!("127.0.0.1:{port}");
        let dir = scratch_dir()?.join(format!("registry-{port}"));
        std::fs::create_dir_all(dir.join("storage"))?;
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.join("storage").display()
            ),
        )?;
        let child = Command::new(REGISTRY_PROGRAM)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {REGISTRY_PROGRAM}"))?;
        let registry = Registry { child, addr };
        registry.wait_ready()?;
        Ok(Some(registry))
    }

    /// `host:port`, as references and the hosts' `allowed_insecure` name it.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `{addr}/{repository}:{tag}`.
    pub fn reference(&self, repository: &str, tag: &str) -> String {
        format!("{}/{repository}:{tag}", self.addr)
    }

    fn wait_ready(&self) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Ok(200) = get_status(&self.addr, "/v2/") {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("the registry at {} did not answer /v2/ within {READY_TIMEOUT:?}", self.addr);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The tags of `repository` (the registry's `/v2/{repository}/tags/list`).
    pub fn tags(&self, repository: &str) -> Result<String> {
        get_body(&self.addr, &format!("/v2/{repository}/tags/list"))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One plain HTTP/1.0 GET on loopback: status and body (bounded).
fn get(addr: &str, path: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let status =
        text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| anyhow!("no HTTP status"))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

fn get_status(addr: &str, path: &str) -> Result<u16> {
    get(addr, path).map(|(s, _)| s)
}

fn get_body(addr: &str, path: &str) -> Result<String> {
    match get(addr, path)? {
        (200, body) => Ok(body),
        (status, body) => bail!("GET {path}: {status} {body}"),
    }
}

/// The project's `pack-par` tool, built once per process into `$CARGO_TARGET_DIR/pack-par`.
pub fn pack_par_tool() -> Result<PathBuf> {
    static TOOL: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    TOOL.get_or_init(|| build_tool().map_err(|e| format!("{e:#}"))).clone().map_err(|e| anyhow!("pack-par: {e}"))
}

fn build_tool() -> Result<PathBuf> {
    crate::par::cargo_build(&product_root().join("tools/pack-par/Cargo.toml"), Some("pack-par"), "pack-par")
}

/// Runs `pack-par` with `args`; the rest of the line it printed after `prefix`.
fn pack_par_line(what: &str, args: &[&std::ffi::OsStr], prefix: &str) -> Result<String> {
    let out = Command::new(pack_par_tool()?).args(args).output().with_context(|| format!("running pack-par {what}"))?;
    if !out.status.success() {
        bail!("pack-par {what}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(str::to_string)
        .ok_or_else(|| anyhow!("pack-par {what} printed no `{prefix}` line: {text}"))
}

/// `pack-par wit OUT`: writes the binary WIT package of `wit/`; the package's name
/// (`wasmcloud:lattice-control@1.2.0`).
pub fn wit_package(out: &Path) -> Result<String> {
    pack_par_line("wit", &["wit".as_ref(), out.as_os_str()], "package: ")
}

/// `pack-par push ARTIFACT REFERENCE --insecure`: the manifest digest it printed.
pub fn push(artifact: &Path, reference: &str) -> Result<String> {
    let args = ["push".as_ref(), artifact.as_os_str(), reference.as_ref(), "--insecure".as_ref()];
    pack_par_line(&format!("push {reference}"), &args, "pushed ")
}
