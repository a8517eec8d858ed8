//! What processes log, read back by tests: this process's stderr (and so every child's that
//! inherits it, such as a provider the in-process host starts) redirected to a file.

use std::os::fd::AsRawFd as _;
use std::path::PathBuf;

use anyhow::{bail, Result};

/// The provider's one debug line per call it answered (`provider::handler`).
pub const CALL_DONE: &str = "lattice-control call done";
/// `RUST_LOG` for a provider that logs [`CALL_DONE`] and little else (the host passes
/// `RUST_LOG` on to providers).
pub const CALL_DONE_LOG: &str = "warn,lattice_control_provider::provider::handler=debug";

/// This process's stderr redirected to a file until dropped (children inherit it).
pub struct StderrCapture {
    saved: std::os::fd::OwnedFd,
    path: PathBuf,
}

impl StderrCapture {
    /// Redirects fd 2 to a new file at `path`.
    pub fn start(path: PathBuf) -> Result<StderrCapture> {
        let file = std::fs::File::create(&path)?;
        // SAFETY: plain fd duplication; `saved` owns the duplicate.
        let saved = unsafe {
            let fd = libc::dup(2);
            if fd < 0 || libc::dup2(file.as_raw_fd(), 2) < 0 {
                bail!("redirecting stderr: {}", std::io::Error::last_os_error());
            }
            <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
        };
        Ok(StderrCapture { saved, path })
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }

    /// Lines written so far that contain `needle`.
    pub fn count_lines(&self, needle: &str) -> usize {
        self.text().lines().filter(|l| l.contains(needle)).count()
    }
}

impl Drop for StderrCapture {
    fn drop(&mut self) {
        // SAFETY: restores the saved descriptor onto fd 2.
        unsafe { libc::dup2(self.saved.as_raw_fd(), 2) };
    }
}
