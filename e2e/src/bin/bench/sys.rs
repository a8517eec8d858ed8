//! What the machine is, and what `/proc` and `perf` say about the provider process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};

/// The machine and software a run was made on.
#[derive(Clone, Debug)]
pub struct Machine {
    pub date: String,
    pub cpus: usize,
    pub cpu_model: String,
    pub ram: String,
    pub load_before: String,
    pub kernel: String,
    pub rustc: String,
    pub nats_server: String,
    pub commit: String,
}

impl Machine {
    /// Describes this machine now.
    pub fn describe(repo: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown".into());
        Machine {
            date: output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            ram,
            load_before: load_average(),
            kernel: output("uname", &["-sr"]),
            rustc: output("rustc", &["-V"]),
            nats_server: output(
                &std::env::var("NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".into()),
                &["--version"],
            ),
            commit: output("git", &["-C", &repo.display().to_string(), "rev-parse", "--short", "HEAD"]),
        }
    }
}

/// First line of a command's stdout, or `unknown`.
fn output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

/// The 1/5/15-minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// The pid of the provider process that host `host_id` spawned: its executable lives in the
/// host's provider cache, `$TMPDIR/wasmcloudcache/<host id>/…`.
pub fn provider_pid(host_id: &str) -> Result<u32> {
    let cache = std::env::temp_dir().join("wasmcloudcache").join(host_id);
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        // the link may end in " (deleted)" if the cache was cleaned: still ours
        if let Ok(exe) = std::fs::read_link(entry.path().join("exe")) {
            if exe.starts_with(&cache) {
                found.push(pid);
            }
        }
    }
    match found.as_slice() {
        [pid] => Ok(*pid),
        [] => bail!("no process runs a binary under {}", cache.display()),
        many => bail!("several provider processes under {}: {many:?}", cache.display()),
    }
}

/// Resident memory of `pid` (`VmRSS`), in KiB: the fixture's reader.
pub use lattice_control_e2e::stress::rss_kib;

/// CPU time (user + system) `pid` has used so far.
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    // fields after the command name (which may contain spaces): state is field 3, so
    // utime (14) and stime (15) are at indexes 11 and 12
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| anyhow!("malformed /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64> {
        fields.get(i).and_then(|v| v.parse().ok()).ok_or_else(|| anyhow!("malformed /proc/{pid}/stat"))
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Ok(Duration::from_micros((ticks(11)? + ticks(12)?) * 1_000_000 / hz))
}

/// A running `perf record` of one process (software `cpu-clock` samples: the VMs these
/// runs on have no hardware counters).
pub struct PerfRecording {
    child: std::process::Child,
    data: PathBuf,
}

impl PerfRecording {
    /// Starts sampling `pid` into `data`; `None` when perf is missing or refuses.
    pub fn start(pid: u32, data: &Path) -> Option<PerfRecording> {
        let child = Command::new("perf")
            .args(["record", "-q", "-e", "cpu-clock", "-F", "4999", "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(PerfRecording { child, data: data.to_path_buf() })
    }

    /// Stops sampling and returns perf's flat report (self time per symbol).
    pub fn finish(mut self) -> Result<Vec<(f64, String)>> {
        // SAFETY: signalling our own child by pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGINT);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if self.child.try_wait()?.is_some() {
                break;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("perf record did not stop");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let report = Command::new("timeout")
            .args(["60", "perf", "report", "--stdio", "--no-children", "--sort", "symbol", "-i"])
            .arg(&self.data)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .context("running perf report")?;
        let text = String::from_utf8_lossy(&report.stdout);
        let rows: Vec<(f64, String)> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (pct, rest) = l.trim().split_once('%')?;
                // perf pads the symbol column and may add IPC columns after it
                let sym = rest.trim().split("  ").next().unwrap_or_default();
                Some((pct.trim().parse().ok()?, sym.to_string()))
            })
            .collect();
        if rows.is_empty() {
            bail!("perf report gave no samples");
        }
        Ok(rows)
    }
}

/// Where a symbol's time goes, for the profile table. Order matters: first match wins.
pub fn bucket(symbol: &str) -> &'static str {
    let s = symbol.to_ascii_lowercase();
    if s.starts_with("[k]") {
        return "kernel (syscalls, loopback TCP, scheduling)";
    }
    let has = |needles: &[&str]| needles.iter().any(|n| s.contains(n));
    if has(&["serde_json", "serde::", "serde_core"]) {
        "JSON (serde_json)"
    } else if has(&["lattice_control_provider"]) {
        "provider: handler, links, convert"
    } else if has(&["wrpc", "wit_bindgen", "wasm_tokio", "tokio_util::codec", "leb128"]) {
        "wRPC (encode/decode, transport)"
    } else if has(&["async_nats", "nats"]) {
        "NATS client (async-nats)"
    } else if has(&["tracing", "opentelemetry"]) {
        "tracing"
    } else if has(&["tokio::", "mio::", "parking_lot", "futures_"]) {
        "tokio runtime / futures"
    } else if has(&[
        "malloc", "free", "realloc", "memcpy", "memmove", "memset", "memcmp", "alloc::", "__rust_", "bytes::",
    ]) {
        "allocation and copies"
    } else {
        "other"
    }
}

/// What glibc's allocator holds in a process, from `mallinfo2()` (all arenas), KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct MallocStats {
    /// Bytes handed out and not freed (`uordblks` + `hblkhd`): what a leak grows.
    pub in_use_kib: u64,
    /// Bytes freed but kept by the allocator in its arenas (`fordblks`): retention.
    pub free_kib: u64,
}

/// Reads `pid`'s `mallinfo2()` with gdb (needs gdb, glibc's symbols and ptrace rights; the
/// process stops for the time gdb is attached, under a second).
pub fn malloc_stats(pid: u32) -> Result<MallocStats> {
    let text = gdb_eval(pid, "print mallinfo2()")?;
    let field = |name: &str| -> Result<u64> {
        let at = text.find(&format!("{name} = ")).ok_or_else(|| anyhow!("gdb printed no {name}: {text}"))?;
        let digits: String = text[at + name.len() + 3..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u64>().with_context(|| format!("gdb's {name}"))
    };
    Ok(MallocStats { in_use_kib: (field("uordblks")? + field("hblkhd")?) / 1024, free_kib: field("fordblks")? / 1024 })
}

/// Makes `pid` call `malloc_trim(0)` (every arena gives its free pages back to the kernel).
pub fn malloc_trim(pid: u32) -> Result<()> {
    gdb_eval(pid, "print (int) malloc_trim(0)").map(drop)
}

/// Attaches gdb to `pid`, evaluates `expr` and detaches; gdb's stdout.
fn gdb_eval(pid: u32, expr: &str) -> Result<String> {
    let out = Command::new("timeout")
        .args(["30", "gdb", "-nx", "-batch", "-p", &pid.to_string(), "-ex", expr])
        .stdin(Stdio::null())
        .output()
        .context("running gdb")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || !text.contains("$1 = ") {
        bail!("gdb -p {pid} `{expr}` failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(text)
}
