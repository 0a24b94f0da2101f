//! Embedded notifier: events and alarms recorded in SQLite (once per id), so they can be
//! listed, and logged for whoever tails the log.

use super::sqlite::{now_ms, Db};
use crate::ports::{from_json, to_json, Alarm, Notifier, OrderEvent, PortResult};
use async_trait::async_trait;
use rusqlite::params;
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    kind     TEXT NOT NULL,
    body     TEXT NOT NULL,
    at       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alarms (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id TEXT NOT NULL UNIQUE,
    body     TEXT NOT NULL,
    at       INTEGER NOT NULL
);
";

pub struct EmbeddedNotifier {
    db: Db,
}

impl EmbeddedNotifier {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Ok(EmbeddedNotifier {
            db: Db::open(path, "notifier", SCHEMA)?,
        })
    }
}

impl EmbeddedNotifier {
    /// The newest `limit` JSON bodies a query returns, decoded.
    async fn recent<T: serde::de::DeserializeOwned>(
        &self,
        sql: &'static str,
        limit: usize,
    ) -> PortResult<Vec<T>> {
        let bodies: Vec<String> = self
            .db
            .call(move |c| {
                let mut s = c.prepare_cached(sql)?;
                let rows = s
                    .query_map(params![limit as i64], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await?;
        bodies.iter().map(|b| from_json(b)).collect()
    }
}

#[async_trait]
impl Notifier for EmbeddedNotifier {
    async fn publish(&self, event: &OrderEvent) -> PortResult<()> {
        let (id, kind, body) = (
            event.event_id.clone(),
            event.event_type.as_str(),
            to_json(event)?,
        );
        let fresh = self
            .db
            .call(move |c| {
                Ok(c.execute(
                    "INSERT OR IGNORE INTO events (event_id, kind, body, at) VALUES (?1, ?2, ?3, ?4)",
                    params![id, kind, body, now_ms()],
                )?)
            })
            .await?;
        if fresh == 1 {
            tracing::info!(event_id = %event.event_id, event_type = kind, order_id = %event.order_id, "order event published");
        }
        Ok(())
    }

    async fn raise_alarm(&self, alarm: &Alarm) -> PortResult<()> {
        let (id, body) = (alarm.alarm_id.clone(), to_json(alarm)?);
        let fresh = self
            .db
            .call(move |c| {
                Ok(c.execute(
                    "INSERT OR IGNORE INTO alarms (alarm_id, body, at) VALUES (?1, ?2, ?3)",
                    params![id, body, now_ms()],
                )?)
            })
            .await?;
        if fresh == 1 {
            tracing::warn!(alarm_id = %alarm.alarm_id, subject = %alarm.subject, "{}", alarm.message);
        }
        Ok(())
    }

    async fn recent_events(&self, limit: usize) -> PortResult<Vec<OrderEvent>> {
        self.recent("SELECT body FROM events ORDER BY seq DESC LIMIT ?1", limit)
            .await
    }

    async fn recent_alarms(&self, limit: usize) -> PortResult<Vec<Alarm>> {
        self.recent("SELECT body FROM alarms ORDER BY seq DESC LIMIT ?1", limit)
            .await
    }
}
