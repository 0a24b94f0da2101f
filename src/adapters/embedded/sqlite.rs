//! A small async wrapper around one SQLite connection, shared by the embedded adapters.
//!
//! Each adapter owns its own database file (as each AWS service is its own system), in WAL
//! mode with `synchronous=FULL`: a commit that returned survives a crash or power loss.
//! Calls run on tokio's blocking pool so the async threads never wait on disk.

use crate::ports::{PortError, PortResult};
use rusqlite::{Connection, ErrorCode};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    name: &'static str,
}

impl Db {
    /// Opens (creating if needed) `path` and runs `schema` (idempotent DDL).
    pub fn open(path: &Path, name: &'static str, schema: &str) -> anyhow::Result<Db> {
        use anyhow::Context;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating data directory {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("opening {name} database {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(schema)
            .with_context(|| format!("creating the {name} schema in {}", path.display()))?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            name,
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> PortResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, PortError> + Send + 'static,
    {
        let conn = self.conn.clone();
        let name = self.name;
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock poisons it; the connection itself is still
            // consistent (SQLite rolls back an unfinished transaction), so carry on.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| PortError::Unexpected(anyhow::anyhow!("{name} task failed: {e}")))?
    }
}

/// Maps SQLite errors into the shared vocabulary: lock contention and I/O trouble are
/// transient, constraint violations mean the thing exists, the rest is unexpected.
pub fn map_err(e: rusqlite::Error) -> PortError {
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull,
        ) => PortError::Unavailable(e.to_string()),
        Some(ErrorCode::ConstraintViolation) => PortError::AlreadyExists(e.to_string()),
        _ => PortError::Unexpected(anyhow::Error::new(e)),
    }
}

impl From<rusqlite::Error> for PortError {
    fn from(e: rusqlite::Error) -> Self {
        map_err(e)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
