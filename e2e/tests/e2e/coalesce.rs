//! Read coalescing through a real host: with concurrent callers the provider answers many
//! reads per host request, and a read never misses a write that completed before it was made.
//! The last test puts a slow stand-in for the hosts of a second lattice behind a link, so that
//! a request is always in flight when a read arrives: the sharp test of that ordering.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Result};
use futures::StreamExt as _;
use lattice_control_e2e::caller::{error_kind, lattice_control as lc, types, Caller};
use lattice_control_e2e::stress::{linked_caller, outcome, retry_lost, run_calls, Outcome, Tally};
use lattice_control_e2e::{bounded, shared_nats, start_provider, TestLattice, CALL_TIMEOUT};
use lattice_control_provider::ctl::subjects;

const PROVIDER: &str = "lattice-control";
/// Bound of one call: far above a loaded host's answer, far below a hang.
const CALL_BOUND: Duration = Duration::from_secs(5);

/// Counts the messages published on `subject` (a plain subscriber sees every request).
struct Counter {
    count: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Counter {
    async fn start(nats: &async_nats::Client, subject: String) -> Result<Counter> {
        let mut sub = bounded("subscribe", CALL_TIMEOUT, nats.subscribe(subject)).await??;
        bounded("flush", CALL_TIMEOUT, nats.flush()).await??;
        let count = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let count = count.clone();
            async move {
                while sub.next().await.is_some() {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(Counter { count, task })
    }

    /// The count once no message came for 300 ms (stragglers of the last calls), at most 5 s.
    async fn settled(&self) -> u64 {
        let mut last = self.count.load(Ordering::Relaxed);
        for _ in 0..16 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = self.count.load(Ordering::Relaxed);
            if now == last {
                break;
            }
            last = now;
        }
        last
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn inventory_load(caller: &Caller, host: &str, calls: u64, concurrency: usize) -> Tally {
    let (c, h) = (Arc::new(caller.clone()), Arc::new(host.to_string()));
    run_calls(calls, concurrency, CALL_BOUND, move |_| {
        let (c, h) = (c.clone(), h.clone());
        async move { outcome(CALL_BOUND, lc::get_host_inventory(c.wrpc(), c.cx(), &h)).await }
    })
    .await
}

/// Callers that repeat a read until stopped, keeping a request in flight all the time.
struct Background {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    /// `callers` tasks calling `read` in a loop; answered reads are counted.
    fn start<T, F, Fut>(callers: usize, read: F) -> Background
    where
        F: Fn() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = std::result::Result<T, Outcome>> + Send,
        T: Send,
    {
        let (stop, ok) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let tasks = (0..callers)
            .map(|_| {
                let (read, stop, ok) = (read.clone(), stop.clone(), ok.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        if read().await.is_ok() {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        Background { stop, ok, tasks }
    }

    /// Stops the callers (each bounded) and returns how many reads were answered.
    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = tokio::time::timeout(CALL_BOUND * 2, t).await;
        }
        self.ok.load(Ordering::Relaxed)
    }
}

/// `read`, made again while it is lost in the caller's wRPC transport (PLATFORM-NOTES), at
/// most 3 attempts; returns the last answer and how many attempts were lost before it.
async fn read_retrying_lost<T, F, Fut>(read: F) -> (std::result::Result<T, Outcome>, u32)
where
    F: Fn() -> Fut,
    Fut: Future<Output = std::result::Result<T, Outcome>>,
{
    let mut lost = 0;
    loop {
        match read().await {
            Err(Outcome::Lost) if lost < 2 => lost += 1,
            answer => return (answer, lost),
        }
    }
}

/// An inventory read's outcome, bounded.
async fn inventory(c: &Caller, host: &str) -> std::result::Result<types::HostInventory, Outcome> {
    match tokio::time::timeout(CALL_BOUND, lc::get_host_inventory(c.wrpc(), c.cx(), host)).await {
        Ok(Ok(Ok(inv))) => Ok(inv),
        Ok(Ok(Err(e))) => Err(Outcome::Typed(error_kind(&e))),
        Ok(Err(e)) => Err(Outcome::Transport(e.to_string())),
        Err(_) => Err(Outcome::Lost),
    }
}

/// The same concurrent reads with coalescing on (the default) and off: off, every answered
/// call made its own host request; on, calls share requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reads_share_host_requests() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let shared = linked_caller(&lattice, PROVIDER, "coalesce-on", "default", &[]).await?;
    let single = linked_caller(&lattice, PROVIDER, "coalesce-off", "default", &[("coalesce_reads", "false")]).await?;
    // warm both links (resolution of the host id, connections)
    for c in [&shared, &single] {
        let (o, _) =
            retry_lost(3, || async { Ok(outcome(CALL_BOUND, lc::get_host_inventory(c.wrpc(), c.cx(), &host)).await) })
                .await?;
        ensure!(o == Outcome::Ok, "warm-up: {o:?}");
    }
    let subject = subjects::host_get(subjects::DEFAULT_TOPIC_PREFIX, lattice.lattice(), &host);
    let (calls, concurrency) = (1500, 32);
    let mut seen = Vec::new();
    for (name, caller) in [("off", &single), ("on", &shared)] {
        let counter = Counter::start(lattice.nats(), subject.clone()).await?;
        let tally = inventory_load(caller, &host, calls, concurrency).await;
        let requests = counter.settled().await;
        println!(
            "coalescing {name}: {} calls ok, {:?} typed, {} lost, {requests} host requests ({:.2} per answered call)",
            tally.ok,
            tally.typed,
            tally.lost,
            requests as f64 / tally.ok.max(1) as f64
        );
        ensure!(tally.typed.is_empty() && tally.transport == 0, "{name}: failed calls {tally:?}");
        // calls lost in the caller's wRPC transport (PLATFORM-NOTES), bounded as in the soak
        ensure!(tally.lost * 100 <= calls, "{name}: lost {} of {calls}", tally.lost);
        seen.push((tally.ok, requests));
    }
    let [(off_ok, off_requests), (on_ok, on_requests)] = seen[..] else { bail!("two runs expected: {seen:?}") };
    ensure!(off_requests >= off_ok, "off: {off_requests} requests for {off_ok} answered calls");
    ensure!(on_requests * 2 <= on_ok, "on: {on_requests} requests for {on_ok} answered calls");
    lattice.shutdown().await
}

/// A label put (acknowledged by the host) is in the inventory read right after it, through
/// the provider, while other callers keep a request in flight all the time: a coalesced read
/// is never answered by a request sent before it was made.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_sees_every_write_acknowledged_before_it() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    let host = lattice.host_id(0)?.to_string();
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let caller = linked_caller(&lattice, PROVIDER, "coalesce-fresh", "default", &[]).await?;

    let background = Background::start(24, {
        let (c, h) = (caller.clone(), host.clone());
        move || {
            let (c, h) = (c.clone(), h.clone());
            async move { inventory(&c, &h).await }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let ctl = lattice.ctl();
    let mut lost = 0;
    let rounds = 40;
    for i in 0..rounds {
        let value = i.to_string();
        bounded("put label", CALL_TIMEOUT, ctl.put_label(&host, "coalesce-seq", &value)).await??;
        let (answer, l) = read_retrying_lost(|| inventory(&caller, &host)).await;
        lost += l;
        let seen = match answer {
            Ok(inv) => inv.labels.into_iter().find(|(k, _)| k == "coalesce-seq").map(|(_, v)| v),
            Err(o) => bail!("round {i}: read {o:?}"),
        };
        ensure!(seen.as_deref() == Some(value.as_str()), "round {i}: label put before the read, read {seen:?}");
    }
    let background = background.finish().await;
    println!("{rounds} writes each seen by the next read; {background} background reads; {lost} lost attempts");
    ensure!(background > rounds, "the background readers barely ran: {background}");
    ensure!(lost <= 3, "{lost} read attempts lost");
    lattice.shutdown().await
}

/// A lattice's config reads answered by the test, 20 ms after each request arrives, with the
/// number of writes done when it arrived (`{"version": n}`). Other callers keep a request in
/// flight all the time; a read made after write `n` must see at least `n`. Answering it from
/// the request in flight when it arrived (sent before the write) would see `n - 1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shared_read_is_never_answered_by_a_request_sent_before_it() -> Result<()> {
    let lattice = TestLattice::start(shared_nats()?, 1).await?;
    start_provider(&lattice, 0, PROVIDER, &[]).await?;
    let stand_in = lattice_control_e2e::util::unique_name("coalesce-stand-in");
    let caller = linked_caller(&lattice, PROVIDER, "coalesce-order", "default", &[("lattice", &stand_in)]).await?;

    let writes = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let nats = lattice.nats().clone();
    let subject = subjects::config_get(subjects::DEFAULT_TOPIC_PREFIX, &stand_in, "versioned");
    let mut sub = bounded("subscribe", CALL_TIMEOUT, nats.subscribe(subject)).await??;
    bounded("flush", CALL_TIMEOUT, nats.flush()).await??;
    let responder = tokio::spawn({
        let (writes, requests) = (writes.clone(), requests.clone());
        async move {
            while let Some(msg) = sub.next().await {
                let Some(reply) = msg.reply else { continue };
                let seen = writes.load(Ordering::SeqCst);
                requests.fetch_add(1, Ordering::Relaxed);
                let nats = nats.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let body =
                        serde_json::json!({"success": true, "message": "", "response": {"version": seen.to_string()}});
                    let _ = nats.publish(reply, body.to_string().into()).await;
                });
            }
        }
    });

    let read = move || {
        let c = caller.clone();
        async move {
            match tokio::time::timeout(CALL_BOUND, lc::get_config(c.wrpc(), c.cx(), "versioned")).await {
                Ok(Ok(Ok(Some(values)))) => values
                    .into_iter()
                    .find(|(k, _)| k == "version")
                    .and_then(|(_, v)| v.parse::<u64>().ok())
                    .map(Ok)
                    .unwrap_or_else(|| Err(Outcome::Typed("decode"))),
                Ok(Ok(Ok(None))) => Err(Outcome::Typed("absent")),
                Ok(Ok(Err(e))) => Err(Outcome::Typed(error_kind(&e))),
                Ok(Err(e)) => Err(Outcome::Transport(e.to_string())),
                Err(_) => Err(Outcome::Lost),
            }
        }
    };
    let background = Background::start(16, read.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;

    let rounds = 30;
    let mut lost = 0;
    let mut result = Ok(());
    for n in 1..=rounds {
        writes.store(n, Ordering::SeqCst);
        let (seen, l) = read_retrying_lost(&read).await;
        lost += l;
        match seen {
            Ok(v) if v >= n => {}
            other => {
                result = Err(anyhow::anyhow!("read after write {n} saw {other:?}"));
                break;
            }
        }
    }
    let background = background.finish().await;
    responder.abort();
    let requests = requests.load(Ordering::Relaxed);
    println!("stand-in: {rounds} writes, reads after each saw it; {background} background reads over {requests} requests; {lost} lost attempts");
    result?;
    ensure!(background > u64::from(rounds as u32), "the background readers barely ran: {background}");
    ensure!(requests < background, "no read was shared: {requests} requests for {background} reads");
    ensure!(lost <= 3, "{lost} read attempts lost");
    lattice.shutdown().await
}
