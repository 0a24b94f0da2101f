//! The event archive: every published order event is also kept in the receipts bucket as
//! JSON lines under `events/YYYY/MM/DD/`, batched so that one PUT carries every event of a
//! second (at most one PUT per batch per day), flushed on shutdown.

use super::sdk_err;
use crate::ports::{OrderEvent, PortError, PortResult};
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long events wait to be batched.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// A batch this large is written at once.
const MAX_BATCH: usize = 500;
/// Beyond this many unwritten events (S3 down for long), the oldest are dropped, loudly.
const MAX_BUFFERED: usize = 50_000;

enum Cmd {
    Event(DateTime<Utc>, String),
    Flush(oneshot::Sender<PortResult<()>>),
}

#[derive(Clone)]
pub struct EventArchive {
    tx: mpsc::UnboundedSender<Cmd>,
}

impl EventArchive {
    /// Starts the batching task on the current tokio runtime.
    pub fn start(client: aws_sdk_s3::Client, bucket: String) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(client, bucket, rx));
        EventArchive { tx }
    }

    pub fn add(&self, event: &OrderEvent) {
        match serde_json::to_string(event) {
            Ok(line) => {
                let _ = self.tx.send(Cmd::Event(event.occurred_at, line));
            }
            Err(e) => tracing::error!(error = %e, "event not archivable"),
        }
    }

    /// Writes everything buffered now.
    pub async fn flush(&self) -> PortResult<()> {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Cmd::Flush(ack)).is_err() {
            return Ok(());
        }
        done.await.unwrap_or(Ok(()))
    }
}

async fn run(client: aws_sdk_s3::Client, bucket: String, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let mut buffer: Vec<(DateTime<Utc>, String)> = Vec::new();
    loop {
        let cmd = if buffer.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(FLUSH_EVERY, rx.recv()).await {
                Ok(cmd) => cmd,
                Err(_) => {
                    let _ = write(&client, &bucket, &mut buffer).await;
                    continue;
                }
            }
        };
        match cmd {
            Some(Cmd::Event(at, line)) => {
                buffer.push((at, line));
                if buffer.len() >= MAX_BATCH {
                    let _ = write(&client, &bucket, &mut buffer).await;
                }
                if buffer.len() > MAX_BUFFERED {
                    let dropped = buffer.len() - MAX_BUFFERED;
                    buffer.drain(..dropped);
                    tracing::error!(
                        dropped,
                        "event archive buffer full: oldest events not archived"
                    );
                }
            }
            Some(Cmd::Flush(ack)) => {
                let _ = ack.send(write(&client, &bucket, &mut buffer).await);
            }
            None => {
                let _ = write(&client, &bucket, &mut buffer).await;
                return;
            }
        }
    }
}

/// One PUT per day present in the buffer; what was written leaves the buffer.
async fn write(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    buffer: &mut Vec<(DateTime<Utc>, String)>,
) -> PortResult<()> {
    let mut by_day: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (at, line) in buffer.drain(..) {
        by_day
            .entry(at.format("%Y/%m/%d").to_string())
            .or_default()
            .push(line);
    }
    let mut result = Ok(());
    for (day, lines) in by_day {
        let now = Utc::now();
        let key = format!(
            "events/{day}/{}-{}.jsonl",
            now.format("%H%M%S%3f"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let body = lines.join("\n") + "\n";
        let put = client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("application/x-ndjson")
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            .body(ByteStream::from(body.into_bytes()))
            .send()
            .await;
        match put {
            Ok(_) => tracing::debug!(%key, events = lines.len(), "events archived"),
            Err(e) => {
                let err: PortError = sdk_err("s3 PutObject (event archive)", e);
                tracing::warn!(error = %err, events = lines.len(), "archiving events failed; will retry");
                // Keep them for the next attempt (their day is recovered from the line).
                for line in lines {
                    let at = serde_json::from_str::<OrderEvent>(&line)
                        .map(|e| e.occurred_at)
                        .unwrap_or(now);
                    buffer.push((at, line));
                }
                result = Err(err);
            }
        }
    }
    result
}
