//! Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
//! commands on the child's fd 3, answers and events on its fd 4, each a JSON message ended by a
//! NUL byte), so a test sees a page as a person's browser renders it: scripts run, the page
//! refreshes itself, buttons are clicked.
//!
//! Chromium runs as root here, on a machine with no outside network: the flags keep it from
//! sandboxing (no user namespaces as root), from the GPU, and from every background fetch that
//! would otherwise hang on the closed network. Every call is bounded.

use std::io::{Read as _, Write as _};
use std::os::fd::{FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::util::bounded;

/// How long one DevTools command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// The Chromium binary: `$CHROMIUM`, else the first of `chromium`, `chromium-browser` on `PATH`.
pub fn chromium_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The flags every headless run here needs (see the module doc).
pub fn headless_flags(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ]
    .iter()
    .map(|f| f.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

/// A pipe whose two ends are numbered 10 or higher (so that moving them to 3 and 4 in the child
/// cannot clobber each other) and close on exec.
fn high_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds: [RawFd; 2] = [-1, -1];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pipe2");
    }
    let mut out = Vec::with_capacity(2);
    for fd in fds {
        // SAFETY: `fd` is a descriptor pipe2 just opened; F_DUPFD_CLOEXEC returns a new one.
        let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
        let err = std::io::Error::last_os_error();
        // SAFETY: `fd` is ours and used nowhere else.
        unsafe { libc::close(fd) };
        if high < 0 {
            return Err(err).context("fcntl(F_DUPFD_CLOEXEC)");
        }
        // SAFETY: `high` is a fresh descriptor owned by nobody else.
        out.push(unsafe { OwnedFd::from_raw_fd(high) });
    }
    let write = out.pop().context("pipe")?;
    let read = out.pop().context("pipe")?;
    Ok((read, write))
}

/// A headless Chromium with one page attached.
pub struct Browser {
    child: std::process::Child,
    commands: std::fs::File,
    messages: mpsc::UnboundedReceiver<Value>,
    next_id: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("pid", &self.child.id()).field("session", &self.session).finish()
    }
}

impl Browser {
    /// Starts Chromium (`binary`) with a fresh profile in a temporary directory.
    pub async fn start(binary: &Path) -> Result<Browser> {
        let profile = tempfile::Builder::new().prefix("e2e-chromium-").tempdir().context("profile dir")?;
        let (cmd_read, cmd_write) = high_pipe()?;
        let (msg_read, msg_write) = high_pipe()?;
        let mut cmd = std::process::Command::new(binary);
        cmd.args(headless_flags(profile.path()))
            .arg("--remote-debugging-pipe")
            .arg("about:blank")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let (child_in, child_out) =
            (std::os::fd::AsRawFd::as_raw_fd(&cmd_read), std::os::fd::AsRawFd::as_raw_fd(&msg_write));
        // SAFETY: runs between fork and exec; dup2 is async-signal-safe. dup2 onto 3 and 4
        // clears close-on-exec on the copies only.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(child_in, 3) < 0 || libc::dup2(child_out, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = crate::nats::spawn_with_parent_death_signal(cmd)
            .with_context(|| format!("starting {}", binary.display()))?;
        // The child holds its own copies now.
        drop(cmd_read);
        drop(msg_write);
        let (tx, messages) = mpsc::unbounded_channel();
        let mut reader = std::fs::File::from(msg_read);
        std::thread::Builder::new()
            .name("e2e-chromium-reader".into())
            .spawn(move || {
                let mut pending = Vec::new();
                let mut buf = [0u8; 64 * 1024];
                loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.iter().position(|b| *b == 0) {
                        let message: Vec<u8> = pending.drain(..=end).collect();
                        if let Ok(value) = serde_json::from_slice::<Value>(&message[..end]) {
                            if tx.send(value).is_err() {
                                return;
                            }
                        }
                    }
                }
            })
            .context("spawning the DevTools reader thread")?;
        Ok(Browser {
            child,
            commands: std::fs::File::from(cmd_write),
            messages,
            next_id: 0,
            session: None,
            _profile: profile,
        })
    }

    /// Sends one DevTools command (to the attached page unless `browser_level`) and returns its
    /// `result`, bounded by [`COMMAND_TIMEOUT`].
    async fn command(&mut self, method: &str, params: Value, browser_level: bool) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let (false, Some(session)) = (browser_level, &self.session) {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message)?;
        bytes.push(0);
        self.commands.write_all(&bytes).with_context(|| format!("sending {method} to Chromium"))?;
        let messages = &mut self.messages;
        let answer = bounded(&format!("Chromium answering {method}"), COMMAND_TIMEOUT, async {
            while let Some(m) = messages.recv().await {
                if m["id"].as_u64() == Some(id) {
                    return Ok(m);
                }
            }
            Err(anyhow!("Chromium closed its DevTools pipe"))
        })
        .await??;
        if let Some(error) = answer.get("error") {
            bail!("{method}: {error}");
        }
        Ok(answer["result"].clone())
    }

    /// Opens `url` in a new page and attaches to it (later calls act on that page).
    pub async fn open(&mut self, url: &str) -> Result<()> {
        let target = self.command("Target.createTarget", json!({ "url": url }), true).await?;
        let target_id = target["targetId"].as_str().context("createTarget answered no targetId")?.to_string();
        let attached =
            self.command("Target.attachToTarget", json!({ "targetId": target_id, "flatten": true }), true).await?;
        let session = attached["sessionId"].as_str().context("attachToTarget answered no sessionId")?;
        self.session = Some(session.to_string());
        Ok(())
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value as JSON.
    pub async fn eval(&mut self, expression: &str) -> Result<Value> {
        let result = self
            .command(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
                false,
            )
            .await?;
        if let Some(details) = result.get("exceptionDetails") {
            bail!("the page threw: {details}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Saves a PNG of the whole page to `path`; returns its size in bytes.
    pub async fn screenshot(&mut self, path: &Path) -> Result<usize> {
        let shot = self
            .command("Page.captureScreenshot", json!({ "format": "png", "captureBeyondViewport": true }), false)
            .await?;
        let data = shot["data"].as_str().context("captureScreenshot answered no data")?;
        let png = base64::engine::general_purpose::STANDARD.decode(data).context("screenshot is not base64")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, &png).with_context(|| format!("writing {}", path.display()))?;
        Ok(png.len())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
