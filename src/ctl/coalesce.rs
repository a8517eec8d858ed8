//! Read coalescing: concurrent identical reads share one request to the lattice.
//!
//! Per key there is at most one request in flight and at most one batch of callers waiting
//! for the next. A caller that finds no request in flight sends one; a caller that finds one
//! in flight joins the waiting batch, whose request goes out when the one in flight ends (or
//! after `max_wait`, when the one in flight is slow: then two are in flight for a while).
//! So a caller never receives the reply to a request sent before it asked: every answer is
//! as fresh as the caller's own request would have been, however many callers share it.
//! Under load the lattice sees one request per round trip per key instead of one per caller.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future::{FutureExt as _, Shared};
use tokio::sync::oneshot;

/// The answer of one batch, shared by its callers.
type Batch<V> = Shared<oneshot::Receiver<V>>;

struct Slot<V> {
    /// The batch whose request is in flight.
    sent: Option<(u64, Batch<V>)>,
    /// The batch waiting for `sent` to end; arriving callers join it.
    waiting: Option<(u64, Batch<V>)>,
}

/// Shares read requests between concurrent callers of the same key (see the module docs).
pub(crate) struct Coalescer<K, V> {
    slots: Mutex<HashMap<K, Slot<V>>>,
    ids: AtomicU64,
}

impl<K, V> Default for Coalescer<K, V> {
    fn default() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            ids: AtomicU64::new(0),
        }
    }
}

/// What a caller does in its batch.
enum Role<V> {
    /// Sends the request (after `after` ends, if any) and answers the batch through `answer`.
    Lead {
        id: u64,
        answer: oneshot::Sender<V>,
        after: Option<Batch<V>>,
    },
    /// Waits for the batch's answer.
    Follow(Batch<V>),
}

impl<K: Hash + Eq + Clone, V: Clone> Coalescer<K, V> {
    fn slots(&self) -> MutexGuard<'_, HashMap<K, Slot<V>>> {
        // no code panics while holding the lock; if one did, the map is still consistent
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer of `request` for `key`, made by this caller or shared with others that
    /// asked at about the same time (never one made before this call began). A batch waits
    /// at most `max_wait` for the request in flight before sending its own.
    pub(crate) async fn run<F, Fut>(&self, key: &K, max_wait: Duration, request: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let (id, answer, after) = loop {
            match self.join(key) {
                Role::Follow(batch) => match batch.await {
                    Ok(v) => return v,
                    // the batch's leader went away before answering: join or lead another
                    Err(_) => continue,
                },
                Role::Lead { id, answer, after } => break (id, answer, after),
            }
        };
        let _release = Release {
            owner: self,
            key,
            id,
        };
        if let Some(prev) = after {
            // whatever it answered, its request has ended, or it is slow: send ours now
            let _ = tokio::time::timeout(max_wait, prev).await;
            let mut slots = self.slots();
            if let Some(slot) = slots.get_mut(key) {
                if slot.waiting.as_ref().is_some_and(|(w, _)| *w == id) {
                    slot.sent = slot.waiting.take();
                }
            }
        }
        let v = request().await;
        let _ = answer.send(v.clone());
        v
    }

    fn join(&self, key: &K) -> Role<V> {
        let mut slots = self.slots();
        let slot = slots.entry(key.clone()).or_insert(Slot {
            sent: None,
            waiting: None,
        });
        if let Some((_, batch)) = &slot.waiting {
            return Role::Follow(batch.clone());
        }
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let (answer, rx) = oneshot::channel();
        let batch = rx.shared();
        match &slot.sent {
            None => {
                slot.sent = Some((id, batch));
                Role::Lead {
                    id,
                    answer,
                    after: None,
                }
            }
            Some((_, in_flight)) => {
                let after = Some(in_flight.clone());
                slot.waiting = Some((id, batch));
                Role::Lead { id, answer, after }
            }
        }
    }

    /// Keys with a batch in flight or waiting (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots().len()
    }
}

/// Clears a leader's batch from its slot when the leader ends, answered or dropped, and the
/// slot itself once it is empty.
struct Release<'a, K: Hash + Eq + Clone, V: Clone> {
    owner: &'a Coalescer<K, V>,
    key: &'a K,
    id: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> Drop for Release<'_, K, V> {
    fn drop(&mut self) {
        let mut slots = self.owner.slots();
        let Some(slot) = slots.get_mut(self.key) else {
            return;
        };
        for batch in [&mut slot.sent, &mut slot.waiting] {
            if batch.as_ref().is_some_and(|(id, _)| *id == self.id) {
                *batch = None;
            }
        }
        if slot.sent.is_none() && slot.waiting.is_none() {
            slots.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use tokio::sync::Semaphore;
    use tokio::task::JoinHandle;

    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    /// Callers of key `k` whose requests count themselves and answer the count of requests
    /// sent so far, each held until `gate` lets it through.
    #[derive(Clone)]
    struct Fixture {
        c: Arc<Coalescer<&'static str, usize>>,
        sent: Arc<AtomicUsize>,
        gate: Arc<Semaphore>,
    }

    impl Default for Fixture {
        fn default() -> Self {
            Self {
                c: Arc::default(),
                sent: Arc::default(),
                gate: Arc::new(Semaphore::new(0)),
            }
        }
    }

    impl Fixture {
        fn sent(&self) -> usize {
            self.sent.load(Ordering::SeqCst)
        }

        /// A caller, as a task.
        fn spawn(&self) -> JoinHandle<usize> {
            let f = self.clone();
            tokio::spawn(async move {
                f.c.run(&"k", WAIT, || async {
                    let n = f.sent.fetch_add(1, Ordering::SeqCst) + 1;
                    let _permit = f.gate.acquire().await.ok();
                    n
                })
                .await
            })
        }

        /// Waits (bounded) until `n` requests were sent.
        async fn until_sent(&self, n: usize) {
            let wait = async {
                while self.sent() < n {
                    tokio::task::yield_now().await;
                }
            };
            assert!(
                tokio::time::timeout(WAIT, wait).await.is_ok(),
                "{n} requests not sent"
            );
        }

        /// Lets every held request through.
        fn open(&self) {
            self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }

    async fn answer(t: JoinHandle<usize>) -> Option<usize> {
        tokio::time::timeout(WAIT, t).await.ok()?.ok()
    }

    #[tokio::test]
    async fn a_lone_caller_sends_its_own_request() {
        let c = Coalescer::<&str, u32>::default();
        assert_eq!(c.run(&"k", WAIT, || async { 7 }).await, 7);
        assert_eq!(c.run(&"k", WAIT, || async { 8 }).await, 8);
        assert_eq!(c.len(), 0, "no slot left behind");
    }

    #[tokio::test]
    async fn callers_during_a_request_share_the_next_one_not_the_one_in_flight() {
        let f = Fixture::default();
        let first = f.spawn();
        f.until_sent(1).await;
        // ten callers arrive while the first request is in flight
        let later: Vec<_> = (0..10).map(|_| f.spawn()).collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(f.sent(), 1, "the batch waits for the request in flight");
        f.open();
        assert_eq!(answer(first).await, Some(1));
        for t in later {
            // the reply to the second request, sent after they all asked
            assert_eq!(answer(t).await, Some(2));
        }
        assert_eq!(f.sent(), 2);
        assert_eq!(f.c.len(), 0);
    }

    #[tokio::test]
    async fn a_slow_request_in_flight_holds_the_next_batch_at_most_max_wait() {
        let f = Fixture::default();
        let first = f.spawn();
        f.until_sent(1).await;
        let started = tokio::time::Instant::now();
        let next =
            f.c.run(&"k", Duration::from_millis(50), || async {
                f.sent.fetch_add(1, Ordering::SeqCst) + 1
            })
            .await;
        assert_eq!(
            next, 2,
            "its own request, sent while the first is in flight"
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
        // a caller arriving now joins neither: the first is stuck, the second is done
        assert_eq!(f.c.run(&"k", WAIT, || async { 3 }).await, 3);
        f.open();
        assert_eq!(answer(first).await, Some(1));
        assert_eq!(f.c.len(), 0);
    }

    #[tokio::test]
    async fn keys_do_not_share() {
        let c = Arc::new(Coalescer::<u8, u8>::default());
        let gate = Arc::new(Semaphore::new(0));
        let tasks: Vec<_> = (0..4u8)
            .map(|k| {
                let (c, gate) = (c.clone(), gate.clone());
                tokio::spawn(async move {
                    c.run(&k, WAIT, || async move {
                        let _p = gate.acquire().await.ok();
                        k
                    })
                    .await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        gate.add_permits(10);
        for (k, t) in tasks.into_iter().enumerate() {
            assert_eq!(
                tokio::time::timeout(WAIT, t)
                    .await
                    .ok()
                    .and_then(Result::ok),
                Some(k as u8)
            );
        }
    }

    #[tokio::test]
    async fn a_waiting_leader_dropped_lets_its_followers_lead() {
        let f = Fixture::default();
        let first = f.spawn();
        f.until_sent(1).await;
        // the waiting batch's leader, then a follower; the leader is cancelled
        let leader = f.spawn();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let follower = f.spawn();
        tokio::time::sleep(Duration::from_millis(5)).await;
        leader.abort();
        let _ = leader.await;
        f.open();
        assert_eq!(answer(first).await, Some(1));
        // the follower sent its own request: it was never answered by the first one
        assert_eq!(answer(follower).await, Some(2));
        assert_eq!(f.c.len(), 0);
    }

    #[tokio::test]
    async fn a_leader_dropped_in_flight_does_not_strand_the_next_batch() {
        let f = Fixture::default();
        let first = f.spawn();
        f.until_sent(1).await;
        let next = f.spawn();
        tokio::time::sleep(Duration::from_millis(5)).await;
        first.abort();
        let _ = first.await;
        f.open();
        assert_eq!(answer(next).await, Some(2));
        assert_eq!(f.c.len(), 0);
    }
}
