//! Small helpers shared by the fixture and the tests: bounded awaits and retries.

use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};

/// Default bound for one network call in a test.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Total bound of a [`retry`] of a call that is normally answered at once: room for three
/// attempts of [`CALL_TIMEOUT`]. The e2e callers use wRPC's upstream NATS transport (as the
/// host does), which now and then loses a reply under load; a `retry` bounded by
/// `CALL_TIMEOUT` alone would make only one attempt.
pub const CALL_RETRY: Duration = Duration::from_secs(30);

/// Awaits `fut` for at most `limit`; a timeout becomes an error naming `what`.
pub async fn bounded<T>(what: &str, limit: Duration, fut: impl Future<Output = T>) -> Result<T> {
    tokio::time::timeout(limit, fut).await.map_err(|_| anyhow!("{what}: no answer within {limit:?}"))
}

/// Retries an idempotent operation until it succeeds or `total` has passed; each attempt is
/// bounded by [`CALL_TIMEOUT`] (or what is left of `total`). Returns the last error.
pub async fn retry<T, E, F, Fut>(what: &str, total: Duration, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
    E: Into<anyhow::Error>,
{
    let deadline = tokio::time::Instant::now() + total;
    let mut last: Option<anyhow::Error> = None;
    let mut pause = Duration::from_millis(20);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            let err = last.unwrap_or_else(|| anyhow!("no attempt finished"));
            return Err(err.context(format!("{what}: gave up after {total:?}")));
        }
        match tokio::time::timeout(left.min(CALL_TIMEOUT), op()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => last = Some(e.into()),
            Err(_) => last = Some(anyhow!("attempt timed out")),
        }
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Polls `check` until it returns `Some`, for at most `total`; each poll is bounded.
pub async fn wait_for<T, F, Fut>(what: &str, total: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    retry(what, total, || {
        let fut = check();
        async move { fut.await?.with_context(|| format!("{what}: not yet")) }
    })
    .await
}

/// Sends this process's logs (wadm's and the in-process hosts') to the test output when
/// `RUST_LOG` asks for them (`RUST_LOG=wadm=debug,…`); otherwise, and when a subscriber is
/// already installed, does nothing.
pub fn logs_on_request() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// A name unique in this process and across processes (pid + counter), safe as a NATS
/// subject token.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A per-process scratch directory under the system temp dir: `{temp}/lattice-control-e2e/{pid}`.
/// Directories left by dead processes are removed the first time this is called.
pub fn scratch_dir() -> Result<std::path::PathBuf> {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    if let Some(d) = DIR.get() {
        return Ok(d.clone());
    }
    let root = std::env::temp_dir().join("lattice-control-e2e");
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            let name = e.file_name();
            let stale = name
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
            if stale {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = root.join(std::process::id().to_string());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(DIR.get_or_init(|| dir).clone())
}

/// `GET {base}{path}` over plain HTTP/1.0 (the NATS monitoring endpoint); returns the body.
pub async fn http_get(base: &str, path: &str) -> Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let authority =
        base.strip_prefix("http://").ok_or_else(|| anyhow!("{base}: only http:// is supported"))?.trim_end_matches('/');
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        anyhow::Ok(raw)
    };
    let raw = bounded("HTTP GET", CALL_TIMEOUT, fetch).await??;
    let text = String::from_utf8(raw).context("HTTP reply is not UTF-8")?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| anyhow!("malformed HTTP reply"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        anyhow::bail!("GET {path}: {}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_string())
}
