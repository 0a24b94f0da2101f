//! A small async wrapper around one SQLite connection, shared by the embedded adapters.
//!
//! Each adapter owns its own database file (as each AWS service is its own system), in WAL
//! mode with `synchronous=FULL`: a commit that returned survives a crash or power loss.
//!
//! **Group commit.** One thread owns the connection. Calls queue up while it works; it takes
//! every queued call (up to [`MAX_GROUP`]), runs each inside its own savepoint within one
//! transaction, commits once (one fsync for the group), and only then answers each caller.
//! A call that fails is rolled back to its savepoint alone; a failed commit fails the whole
//! group. So every caller still sees "my write is durable" or an error, at a fraction of the
//! fsyncs under load, and the async threads never wait on disk. Calls write with
//! `Connection::savepoint`, never `transaction` (there is always an outer transaction).

use crate::ports::{PortError, PortResult};
use rusqlite::{Connection, ErrorCode};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// Most calls committed together.
const MAX_GROUP: usize = 256;

/// A queued call: runs on the connection, returns what delivers its answer after the commit.
type Job = Box<dyn FnOnce(&mut Connection) -> Finish + Send>;
type Finish = Box<dyn FnOnce(Result<(), &CommitError>) + Send>;

/// Why a group's commit failed (every call of the group gets it).
struct CommitError {
    transient: bool,
    message: String,
}

impl CommitError {
    fn to_port(&self, name: &str) -> PortError {
        let m = format!("{name}: commit failed: {}", self.message);
        if self.transient {
            PortError::Unavailable(m)
        } else {
            PortError::Unexpected(anyhow::anyhow!(m))
        }
    }
}

#[derive(Clone)]
pub struct Db {
    jobs: mpsc::Sender<Job>,
    name: &'static str,
}

impl Db {
    /// Opens (creating if needed) `path`, runs `schema` (idempotent DDL) and starts the
    /// connection's thread, which ends when the last `Db` clone is dropped.
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
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("sqlite-{name}"))
            .spawn(move || run_groups(conn, queue))
            .context("starting the SQLite thread")?;
        Ok(Db { jobs, name })
    }

    /// Runs `f` with the connection on its thread; answers once `f`'s writes are committed.
    pub async fn call<R, F>(&self, f: F) -> PortResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, PortError> + Send + 'static,
    {
        let name = self.name;
        let (tx, rx) = tokio::sync::oneshot::channel::<PortResult<R>>();
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, name, f);
            Box::new(move |committed: Result<(), &CommitError>| {
                let _ = tx.send(match committed {
                    Ok(()) => result,
                    // A failed call was rolled back anyway: its own error says more.
                    Err(e) if result.is_ok() => Err(e.to_port(name)),
                    Err(_) => result,
                });
            })
        });
        self.jobs.send(job).map_err(|_| {
            PortError::Unexpected(anyhow::anyhow!("{name}: the database thread is gone"))
        })?;
        rx.await.map_err(|_| {
            PortError::Unexpected(anyhow::anyhow!("{name}: the database thread stopped"))
        })?
    }
}

/// Runs `f` inside a savepoint: released when it succeeds, rolled back when it fails.
/// A panic in `f` is an error for its caller alone (and its writes are rolled back).
fn in_savepoint<R>(
    conn: &mut Connection,
    name: &str,
    f: impl FnOnce(&mut Connection) -> Result<R, PortError>,
) -> Result<R, PortError> {
    conn.execute_batch("SAVEPOINT call")?;
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn))).unwrap_or_else(|_| {
            Err(PortError::Unexpected(anyhow::anyhow!(
                "{name}: a database call panicked"
            )))
        });
    let end = if result.is_ok() {
        "RELEASE call"
    } else {
        "ROLLBACK TO call; RELEASE call"
    };
    conn.execute_batch(end)?;
    result
}

/// The connection's thread: one transaction and one commit per group of queued calls.
fn run_groups(mut conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if conn.execute_batch("BEGIN IMMEDIATE").is_err() {
            // No group transaction (another process holds the write lock past the busy
            // timeout): each call's savepoint is then its own transaction, and each caller
            // gets its own outcome.
            for job in group {
                job(&mut conn)(Ok(()));
            }
            continue;
        }
        let finishes: Vec<Finish> = group.into_iter().map(|job| job(&mut conn)).collect();
        let committed = conn.execute_batch("COMMIT").map_err(|e| CommitError {
            transient: transient(&e),
            message: e.to_string(),
        });
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for finish in finishes {
            finish(committed.as_ref().map(|_| ()));
        }
    }
}

/// Maps SQLite errors into the shared vocabulary: lock contention and I/O trouble are
/// transient, constraint violations mean the thing exists, the rest is unexpected.
pub fn map_err(e: rusqlite::Error) -> PortError {
    if transient(&e) {
        return PortError::Unavailable(e.to_string());
    }
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => PortError::AlreadyExists(e.to_string()),
        _ => PortError::Unexpected(anyhow::Error::new(e)),
    }
}

/// Lock contention and I/O trouble: retrying later may succeed.
fn transient(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
        )
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY)";

    fn count(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_grouped_in_one_commit_keep_their_own_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::open(&path, "test", SCHEMA).unwrap();
        let calls: Vec<_> = (0..300i64)
            .map(|k| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.call(move |c| {
                        c.execute("INSERT INTO t (k) VALUES (?1)", [k])?;
                        if k % 10 == 0 {
                            // Wrote, then failed: the write must not survive.
                            return Err(PortError::Precondition(format!("{k}")));
                        }
                        Ok(k)
                    })
                    .await
                })
            })
            .collect();
        let mut ok = 0;
        for (k, call) in calls.into_iter().enumerate() {
            match call.await.unwrap() {
                Ok(got) => {
                    assert_eq!(got, k as i64);
                    ok += 1;
                }
                Err(PortError::Precondition(m)) => assert_eq!(m, k.to_string()),
                Err(e) => panic!("{k}: {e}"),
            }
        }
        assert_eq!(ok, 270);
        // Answered means committed: another connection sees exactly the successful writes.
        assert_eq!(count(&path), 270);
        let failed_present: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t WHERE k % 10 = 0", [], |r| r.get(0))
            .unwrap();
        assert_eq!(failed_present, 0);
    }

    #[tokio::test]
    async fn a_panicking_call_is_an_error_and_the_thread_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::open(&path, "test", SCHEMA).unwrap();
        let r: PortResult<()> = db
            .call(|c| {
                c.execute("INSERT INTO t (k) VALUES (1)", [])?;
                panic!("boom")
            })
            .await;
        assert!(matches!(r, Err(PortError::Unexpected(_))));
        db.call(|c| Ok(c.execute("INSERT INTO t (k) VALUES (2)", [])?))
            .await
            .unwrap();
        assert_eq!(
            count(&path),
            1,
            "the panicking call's write was rolled back"
        );
    }

    #[tokio::test]
    async fn a_constraint_violation_is_already_exists() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), "test", SCHEMA).unwrap();
        db.call(|c| Ok(c.execute("INSERT INTO t (k) VALUES (1)", [])?))
            .await
            .unwrap();
        let again = db
            .call(|c| Ok(c.execute("INSERT INTO t (k) VALUES (1)", [])?))
            .await;
        assert!(matches!(again, Err(PortError::AlreadyExists(_))));
    }
}
