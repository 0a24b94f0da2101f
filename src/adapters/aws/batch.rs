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

    #[tokio::test]
    async fn a_lone_call_goes_through() {
        let b = Batcher::start(2, 10, Duration::ZERO, |items: Vec<u32>| async move {
            items.into_iter().map(Ok).collect()
        });
        assert_eq!(b.call(7).await.unwrap(), 7);
    }
}
