//! Opportunistic request batching: calls go out at once when a lane is free, and whatever
//! arrives while every lane is busy (or within `linger`) shares the next request, up to
//! `max` items. With `linger` zero no call waits for company, so batching adds no latency;
//! a short `linger` suits calls nobody waits on (acknowledging finished messages).

use crate::ports::{PortError, PortResult};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Mutex};

type Job<I, O> = (I, oneshot::Sender<PortResult<O>>);

pub struct Batcher<I, O> {
    tx: mpsc::UnboundedSender<Job<I, O>>,
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts `lanes` tasks; `f` gets up to `max` items and returns one result per item, in order.
    pub fn start<F, Fut>(lanes: usize, max: usize, linger: Duration, f: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<PortResult<O>>> + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel::<Job<I, O>>();
        let rx = Arc::new(Mutex::new(rx));
        let f = Arc::new(f);
        for _ in 0..lanes.max(1) {
            let (rx, f) = (rx.clone(), f.clone());
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else { return };
                        let mut batch = vec![first];
                        let deadline = tokio::time::Instant::now() + linger;
                        while batch.len() < max {
                            match rx.try_recv() {
                                Ok(job) => batch.push(job),
                                Err(_) if linger.is_zero() => break,
                                Err(_) => {
                                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                                        Ok(Some(job)) => batch.push(job),
                                        _ => break,
                                    }
                                }
                            }
                        }
                        batch
                    };
                    let (items, replies): (Vec<I>, Vec<_>) = batch.into_iter().unzip();
                    let n = items.len();
                    let mut results = f(items).await.into_iter();
                    for reply in replies {
                        let r = results.next().unwrap_or_else(|| {
                            Err(PortError::Unexpected(anyhow::anyhow!(
                                "batch of {n} returned too few results"
                            )))
                        });
                        let _ = reply.send(r);
                    }
                }
            });
        }
        Batcher { tx }
    }

    pub async fn call(&self, item: I) -> PortResult<O> {
        let (reply, result) = oneshot::channel();
        self.tx
            .send((item, reply))
            .map_err(|_| PortError::Unavailable("batcher stopped".into()))?;
        result
            .await
            .map_err(|_| PortError::Unavailable("batcher stopped".into()))?
    }
}

/// A failed entry of a batch request, as the services report it.
pub struct EntryFailure<'a> {
    pub id: &'a str,
    pub code: &'a str,
    pub message: Option<&'a str>,
    pub sender_fault: bool,
}

/// Spreads a batch response over its `n` entries (ids are the entries' indexes): each
/// successful entry gets its value, each failed one an error (a sender fault is not worth
/// retrying, anything else is), and an entry the response does not mention an error.
pub fn entry_results<'a, T>(
    op: &str,
    n: usize,
    successes: impl IntoIterator<Item = (&'a str, T)>,
    failures: impl IntoIterator<Item = EntryFailure<'a>>,
) -> Vec<PortResult<T>> {
    let mut results: Vec<PortResult<T>> = (0..n)
        .map(|_| {
            Err(PortError::Unavailable(format!(
                "{op}: no result for this entry"
            )))
        })
        .collect();
    let slot = |id: &str| id.parse::<usize>().ok().filter(|i| *i < n);
    for (id, value) in successes {
        if let Some(i) = slot(id) {
            results[i] = Ok(value);
        }
    }
    for f in failures {
        if let Some(i) = slot(f.id) {
            let text = format!("{op} entry: {} {}", f.code, f.message.unwrap_or_default());
            results[i] = Err(if f.sender_fault {
                PortError::Unexpected(anyhow::anyhow!(text))
            } else {
                PortError::Unavailable(text)
            });
        }
    }
    results
}

/// The same error for every entry of a batch whose request failed as a whole.
pub fn all_failed<T>(n: usize, err: &PortError) -> Vec<PortResult<T>> {
    (0..n)
        .map(|_| {
            Err(match err {
                PortError::Unavailable(m) => PortError::Unavailable(m.clone()),
                other => PortError::Unexpected(anyhow::anyhow!(other.to_string())),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_calls_share_requests_and_get_their_own_results() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let b = Arc::new(Batcher::start(
            1,
            10,
            Duration::from_millis(20),
            move |items: Vec<u32>| {
                c.fetch_add(1, Ordering::SeqCst);
                async move { items.into_iter().map(|i| Ok(i * 2)).collect() }
            },
        ));
        let mut tasks = Vec::new();
        for i in 0..25u32 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move { (i, b.call(i).await.unwrap()) }));
        }
        for t in tasks {
            let (i, doubled) = t.await.unwrap();
            assert_eq!(doubled, i * 2);
        }
        let n = calls.load(Ordering::SeqCst);
        assert!(
            (3..25).contains(&n),
            "25 calls in batches of at most 10: {n} requests"
        );
    }

    #[test]
    fn entry_results_places_each_outcome_by_id() {
        let r = entry_results(
            "op",
            4,
            [("2", "b"), ("0", "a"), ("9", "ignored")],
            [
                EntryFailure {
                    id: "1",
                    code: "Throttled",
                    message: Some("slow down"),
                    sender_fault: false,
                },
                EntryFailure {
                    id: "x",
                    code: "Bad",
                    message: None,
                    sender_fault: true,
                },
            ],
        );
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].as_ref().unwrap(), &"a");
        assert_eq!(r[2].as_ref().unwrap(), &"b");
        assert!(
            matches!(&r[1], Err(PortError::Unavailable(m)) if m.contains("Throttled slow down"))
        );
        assert!(matches!(&r[3], Err(PortError::Unavailable(m)) if m.contains("no result")));
        let bad = entry_results::<()>(
            "op",
            1,
            [],
            [EntryFailure {
                id: "0",
                code: "InvalidParameter",
                message: None,
                sender_fault: true,
            }],
        );
        assert!(matches!(&bad[0], Err(PortError::Unexpected(_))));
    }

    #[tokio::test]
    async fn a_lone_call_goes_through() {
        let b = Batcher::start(2, 10, Duration::ZERO, |items: Vec<u32>| async move {
            items.into_iter().map(Ok).collect()
        });
        assert_eq!(b.call(7).await.unwrap(), 7);
    }
}
