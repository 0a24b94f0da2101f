//! Embedded order queue: SQS semantics on SQLite (visibility timeout, receive count,
//! dead-letter after the maximum receives, redrive).

use super::sqlite::{now_ms, Db};
use crate::ports::{DeadLetter, Delivery, OrderQueue, PortError, PortResult, QueueDepth};
use async_trait::async_trait;
use rusqlite::params;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id     TEXT NOT NULL UNIQUE,
    queue          TEXT NOT NULL CHECK (queue IN ('main', 'dlq')),
    body           TEXT NOT NULL,
    sent_at        INTEGER NOT NULL,
    visible_at     INTEGER NOT NULL,
    receive_count  INTEGER NOT NULL DEFAULT 0,
    receipt_handle TEXT UNIQUE,
    dead_reason    TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (queue, visible_at, seq);
";

/// Longest a waiting `receive` sleeps before looking again: another process (a separate
/// `serve`) may have sent without waking this one.
const MAX_POLL: Duration = Duration::from_millis(200);

pub struct EmbeddedQueue {
    db: Db,
    visibility: Duration,
    max_receive_count: u32,
    /// Wakes long-polling receivers in this process when a message arrives.
    arrived: Arc<Notify>,
}

impl EmbeddedQueue {
    pub fn open(path: &Path, visibility: Duration, max_receive_count: u32) -> anyhow::Result<Self> {
        Ok(EmbeddedQueue {
            db: Db::open(path, "queue", SCHEMA)?,
            visibility,
            max_receive_count: max_receive_count.max(1),
            arrived: Arc::new(Notify::new()),
        })
    }

    async fn receive_now(&self, max: usize) -> PortResult<(Vec<Delivery>, Option<i64>)> {
        let vis = self.visibility.as_millis() as i64;
        let max_receives = i64::from(self.max_receive_count);
        self.db
            .call(move |c| {
                let tx = c.savepoint()?;
                let now = now_ms();
                let mut out = Vec::new();
                {
                    let mut pick = tx.prepare_cached(
                        "SELECT seq, message_id, body, receive_count FROM messages
                         WHERE queue = 'main' AND visible_at <= ?1 ORDER BY visible_at, seq LIMIT ?2",
                    )?;
                    let rows: Vec<(i64, String, String, i64)> = pick
                        .query_map(params![now, (max * 2) as i64], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                        })?
                        .collect::<Result<_, _>>()?;
                    for (seq, message_id, body, count) in rows {
                        if out.len() >= max {
                            break;
                        }
                        if count >= max_receives {
                            tx.execute(
                                "UPDATE messages SET queue = 'dlq', receipt_handle = NULL, visible_at = ?2,
                                 dead_reason = NULL
                                 WHERE seq = ?1",
                                params![seq, now],
                            )?;
                            continue;
                        }
                        let handle = uuid::Uuid::new_v4().simple().to_string();
                        tx.execute(
                            "UPDATE messages SET receive_count = receive_count + 1, receipt_handle = ?2,
                             visible_at = ?3 WHERE seq = ?1",
                            params![seq, handle, now + vis],
                        )?;
                        out.push(Delivery {
                            message_id,
                            receipt_handle: handle,
                            body,
                            receive_count: (count + 1) as u32,
                        });
                    }
                }
                let next_visible: Option<i64> = tx.query_row(
                    "SELECT MIN(visible_at) FROM messages WHERE queue = 'main'",
                    [],
                    |r| r.get(0),
                )?;
                tx.commit()?;
                Ok((out, next_visible))
            })
            .await
    }
}

#[async_trait]
impl OrderQueue for EmbeddedQueue {
    async fn send(&self, body: &str) -> PortResult<String> {
        let body = body.to_owned();
        let id = self
            .db
            .call(move |c| {
                let id = uuid::Uuid::new_v4().to_string();
                let now = now_ms();
                c.execute(
                    "INSERT INTO messages (message_id, queue, body, sent_at, visible_at) VALUES (?1, 'main', ?2, ?3, ?3)",
                    params![id, body, now],
                )?;
                Ok(id)
            })
            .await?;
        self.arrived.notify_waiters();
        Ok(id)
    }

    async fn receive(&self, max: usize, wait: Duration) -> PortResult<Vec<Delivery>> {
        let max = max.clamp(1, 10);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (got, next_visible) = self.receive_now(max).await?;
            let now = tokio::time::Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            let mut nap = (deadline - now).min(MAX_POLL);
            if let Some(at) = next_visible {
                let until = Duration::from_millis((at - now_ms()).max(1) as u64);
                nap = nap.min(until);
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn delete(&self, receipt_handle: &str) -> PortResult<()> {
        let h = receipt_handle.to_owned();
        self.db
            .call(move |c| {
                c.execute("DELETE FROM messages WHERE receipt_handle = ?1", params![h])?;
                Ok(())
            })
            .await
    }

    async fn extend_visibility(&self, receipt_handle: &str, timeout: Duration) -> PortResult<()> {
        let h = receipt_handle.to_owned();
        let until = now_ms() + timeout.as_millis() as i64;
        self.db
            .call(move |c| {
                let n = c.execute(
                    "UPDATE messages SET visible_at = ?2 WHERE receipt_handle = ?1 AND queue = 'main'",
                    params![h, until],
                )?;
                if n == 0 {
                    return Err(PortError::NotFound("receipt handle is no longer valid".into()));
                }
                Ok(())
            })
            .await
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> PortResult<()> {
        let (id, reason) = (delivery.message_id.clone(), reason.to_owned());
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE messages SET queue = 'dlq', receipt_handle = NULL, dead_reason = ?2, visible_at = ?3
                     WHERE message_id = ?1 AND queue = 'main'",
                    params![id, reason, now_ms()],
                )?;
                Ok(())
            })
            .await
    }

    async fn redrive(&self, max: usize) -> PortResult<usize> {
        let moved = self
            .db
            .call(move |c| {
                let n = c.execute(
                    "UPDATE messages SET queue = 'main', receive_count = 0, visible_at = ?2, dead_reason = NULL,
                     receipt_handle = NULL
                     WHERE seq IN (SELECT seq FROM messages WHERE queue = 'dlq' ORDER BY seq LIMIT ?1)",
                    params![max as i64, now_ms()],
                )?;
                Ok(n)
            })
            .await?;
        if moved > 0 {
            self.arrived.notify_waiters();
        }
        Ok(moved)
    }

    async fn peek_dead_letters(&self, max: usize) -> PortResult<Vec<DeadLetter>> {
        self.db
            .call(move |c| {
                let mut s = c.prepare_cached(
                    "SELECT message_id, body, receive_count, dead_reason FROM messages
                     WHERE queue = 'dlq' ORDER BY seq LIMIT ?1",
                )?;
                let rows = s
                    .query_map(params![max as i64], |r| {
                        Ok(DeadLetter {
                            message_id: r.get(0)?,
                            body: r.get(1)?,
                            receive_count: r.get::<_, i64>(2)? as u32,
                            reason: r.get(3)?,
                        })
                    })?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn depth(&self) -> PortResult<QueueDepth> {
        self.db
            .call(move |c| {
                let now = now_ms();
                let (visible, in_flight, dead): (i64, i64, i64) = c.query_row(
                    "SELECT
                       COALESCE(SUM(queue = 'main' AND visible_at <= ?1), 0),
                       COALESCE(SUM(queue = 'main' AND visible_at > ?1), 0),
                       COALESCE(SUM(queue = 'dlq'), 0)
                     FROM messages",
                    params![now],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                Ok(QueueDepth {
                    visible: visible as u64,
                    in_flight: in_flight as u64,
                    dead_letters: dead as u64,
                })
            })
            .await
    }
}
