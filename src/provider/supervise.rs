//! Supervised tasks: a background task of the provider that ends when it should not (it
//! returned while its owner still needs it, or it panicked) is logged at error and started
//! again, so no delivery, subscription or connect dies silently.
//!
//! Each run of a task is made fresh by its owner's closure and polled inside the supervising
//! task itself (panics caught there), so aborting the supervising task (a link removed, the
//! provider shutting down) cancels the run with it.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use tokio::task::JoinHandle;
use tracing::error;

/// How a run of a supervised task ended, as the task tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Its work is over (its link went, the provider is shutting down, it finished): not
    /// restarted.
    Done,
    /// It stopped while still needed, for this reason: restarted.
    Unexpectedly(String),
}

/// Pauses before a restart, in order; the last repeats. The first is short so a one-off
/// failure costs little; a task that keeps failing is not restarted in a busy loop.
const RESTART_PAUSES: [Duration; 4] = [
    Duration::from_millis(100),
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
];

/// A run that lasted this long was healthy: the next failure starts from the first pause.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Spawns `run` as a supervised task named `task` (in logs): each time a run panics or ends
/// with [`Ended::Unexpectedly`], the reason is logged at error and a new run is started after
/// a pause. Must be called inside a Tokio runtime.
pub fn spawn<F, Fut>(task: String, run: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Ended> + Send + 'static,
{
    tokio::spawn(supervise(task, run))
}

async fn supervise<F, Fut>(task: String, mut run: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Ended>,
{
    let mut restarts: u64 = 0;
    let mut pause = 0;
    loop {
        let started = Instant::now();
        // making the run is inside the caught future too: a closure that panics is a failed run
        let reason = match AssertUnwindSafe(async { run().await }).catch_unwind().await {
            Ok(Ended::Done) => return,
            Ok(Ended::Unexpectedly(reason)) => reason,
            Err(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
        };
        if started.elapsed() >= HEALTHY_RUN {
            pause = 0;
        }
        restarts += 1;
        let wait = RESTART_PAUSES[pause.min(RESTART_PAUSES.len() - 1)];
        pause += 1;
        error!(
            task = %task,
            %reason,
            restarts,
            restart_in_ms = wait.as_millis() as u64,
            "a provider task ended unexpectedly; restarting it"
        );
        tokio::time::sleep(wait).await;
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Polls `runs` until it reaches `n` (bounded).
    async fn until_runs(runs: &AtomicUsize, n: usize) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while runs.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("runs within 5 s");
    }

    #[tokio::test]
    async fn a_panic_or_an_unexpected_end_restarts_done_does_not() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        let task = spawn("test task".into(), move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => panic!("injected failure"),
                    1 => Ended::Unexpectedly("subscription closed".into()),
                    _ => Ended::Done,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("supervisor ends after Done")
            .expect("the supervisor itself does not panic");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn aborting_the_supervisor_cancels_its_run() {
        struct Alive(Arc<AtomicUsize>);
        impl Drop for Alive {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let alive = Arc::new(AtomicUsize::new(0));
        let runs = Arc::new(AtomicUsize::new(0));
        let (a, r) = (Arc::clone(&alive), Arc::clone(&runs));
        let task = spawn("endless".into(), move || {
            a.fetch_add(1, Ordering::SeqCst);
            r.fetch_add(1, Ordering::SeqCst);
            let guard = Alive(Arc::clone(&a));
            async move {
                let _guard = guard;
                std::future::pending::<Ended>().await
            }
        });
        until_runs(&runs, 1).await;
        assert_eq!(alive.load(Ordering::SeqCst), 1);
        task.abort();
        let _ = task.await;
        assert_eq!(
            alive.load(Ordering::SeqCst),
            0,
            "the run was dropped with its supervisor"
        );
    }
}
