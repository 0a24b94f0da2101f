//! The port conformance suite against the embedded adapter family (fresh data dir per test),
//! and embedded-only checks.

#[path = "common/conformance.rs"]
mod conformance;

use crate::conformance as c;
use orderflow::adapters::embedded::{
    EmbeddedNotifier, EmbeddedQueue, EmbeddedStore, EmlMailer, FileKeyRing, FileReceiptStore,
    SimulatedGateway,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

const VISIBILITY: Duration = Duration::from_secs(1);
const MAX_RECEIVES: u32 = 3;

/// Fresh adapters on a fresh data dir, with probes that read the files the notifier and the
/// mailer wrote there.
async fn fresh() -> Option<c::Adapters> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let queue = EmbeddedQueue::open(&d.join("queue.sqlite3"), VISIBILITY, MAX_RECEIVES).unwrap();
    let store = Arc::new(EmbeddedStore::open(&d.join("store.sqlite3")).unwrap());
    Some(c::Adapters {
        queue: c::QueueFixture {
            queue: Arc::new(queue),
            visibility: VISIBILITY,
            max_receive_count: MAX_RECEIVES,
        },
        store: store.clone(),
        inventory: store.clone(),
        records: store,
        receipts: Arc::new(FileReceiptStore::open(d).unwrap()),
        notifier: Arc::new(EmbeddedNotifier::open(&d.join("notifier.sqlite3")).unwrap()),
        deliveries: Box::new(NotifierRows(d.join("notifier.sqlite3"))),
        mail: c::MailFixture {
            mailer: Arc::new(EmlMailer::open(d).unwrap()),
            from: "shop@example.com".into(),
            probe: Box::new(MailFolder(d.join("mail"))),
        },
        payments: Arc::new(SimulatedGateway::open(&d.join("payments.sqlite3")).unwrap()),
        keep: Box::new(dir),
    })
}

crate::conformance_suite!(fresh);

/// The embedded notifier's deliveries: the rows of its database file, read with a connection
/// of our own (its `recent_*` would be the adapter vouching for itself).
struct NotifierRows(PathBuf);

impl NotifierRows {
    /// (row id, kind column or `None`, body) of `table`, oldest first.
    fn rows(&self, sql: &str) -> Vec<(i64, Option<String>, String)> {
        let db = rusqlite::Connection::open(&self.0).unwrap();
        let mut q = db.prepare(sql).unwrap();
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}

#[async_trait::async_trait]
impl c::DeliveryProbe for NotifierRows {
    async fn events(&self) -> Vec<c::DeliveredEvent> {
        self.rows("SELECT seq, kind, body FROM events ORDER BY seq")
            .into_iter()
            .map(|(seq, kind, body)| c::DeliveredEvent {
                id: format!("events#{seq}"),
                event_type: kind.unwrap(),
                event: serde_json::from_str(&body).unwrap(),
            })
            .collect()
    }

    async fn alarms(&self) -> Vec<c::DeliveredAlarm> {
        self.rows("SELECT seq, NULL, body FROM alarms ORDER BY seq")
            .into_iter()
            .map(|(seq, _, body)| c::DeliveredAlarm {
                id: format!("alarms#{seq}"),
                alarm: serde_json::from_str(&body).unwrap(),
            })
            .collect()
    }

    fn keeps_history(&self) -> bool {
        true
    }
}

/// The embedded mailer's deliveries: the `.eml` files in the mail folder. A file's inode is
/// part of its id, so a message written again over the first (a rename) counts as a second.
struct MailFolder(PathBuf);

#[async_trait::async_trait]
impl c::MailProbe for MailFolder {
    async fn sent(&self) -> Vec<c::SentMail> {
        use std::os::unix::fs::MetadataExt;
        let mut sent: Vec<c::SentMail> = std::fs::read_dir(&self.0)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
            .map(|e| {
                let mime = std::fs::read_to_string(e.path()).unwrap();
                let to = mime
                    .split("\r\n")
                    .find_map(|l| l.strip_prefix("To: "))
                    .unwrap_or_default()
                    .to_owned();
                c::SentMail {
                    id: format!(
                        "{}#{}",
                        e.file_name().to_string_lossy(),
                        e.metadata().unwrap().ino()
                    ),
                    recipients: vec![to],
                    mime,
                }
            })
            .collect();
        sent.sort_by(|a, b| a.id.cmp(&b.id));
        sent
    }
}

fn store() -> (TempDir, Arc<EmbeddedStore>) {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(&dir.path().join("store.sqlite3")).unwrap();
    (dir, Arc::new(s))
}

/// Durability: a message sent survives closing and reopening the queue's file.
#[tokio::test]
async fn queue_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.sqlite3");
    {
        let q = EmbeddedQueue::open(&path, VISIBILITY, MAX_RECEIVES).unwrap();
        orderflow::ports::OrderQueue::send(&q, "durable")
            .await
            .unwrap();
    }
    let q = EmbeddedQueue::open(&path, VISIBILITY, MAX_RECEIVES).unwrap();
    let got = orderflow::ports::OrderQueue::receive(&q, 1, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "durable");
}

#[tokio::test]
async fn keys_agree_across_processes() {
    let (dir, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Processes starting at once on a fresh data dir agree on the one key they create.
    let opened: Vec<FileKeyRing> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| FileKeyRing::open(dir.path()).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for k in &opened[1..] {
        c::keys_agree_across_processes(&opened[0], k, &FileKeyRing::open(other.path()).unwrap())
            .await;
    }
    let path = dir.path().join("data.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner reads the key");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers,
        [std::ffi::OsString::from("data.key")],
        "no candidate files left"
    );
    // A damaged key stops start-up instead of silently becoming another key.
    std::fs::write(&path, "not a key").unwrap();
    let err = FileKeyRing::open(dir.path()).err().unwrap();
    assert!(format!("{err:#}").contains("data.key"), "{err:#}");
}

/// Security review L-1: expired idempotency records (with their stored answers) do not stay
/// on disk forever: each new key removes expired ones.
#[tokio::test]
async fn embedded_idempotency_records_are_swept_after_they_expire() {
    use orderflow::ports::OrderStore;
    let (dir, store) = store();
    let count = || -> i64 {
        rusqlite::Connection::open(dir.path().join("store.sqlite3"))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM idempotency", [], |r| r.get(0))
            .unwrap()
    };
    let lease = Duration::from_secs(1);
    for i in 0..20 {
        store
            .idempotency_begin(
                &format!("old-{i}"),
                "fp",
                "h",
                lease,
                Duration::from_millis(1),
            )
            .await
            .unwrap();
    }
    assert!(count() >= 1);
    tokio::time::sleep(Duration::from_millis(20)).await;
    store
        .idempotency_begin("new", "fp", "h", lease, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(count(), 1, "only the live key is left");
}

/// A data dir from before lease holders (no `holder` column) opens, gets the column, and
/// its old records still resume.
#[tokio::test]
async fn an_embedded_store_from_before_lease_holders_is_migrated() {
    use orderflow::ports::{IdempotencyBegin, OrderStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "CREATE TABLE idempotency (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, order_id TEXT, \
         response TEXT, completed INTEGER NOT NULL DEFAULT 0, locked_until INTEGER NOT NULL, \
         expires_at INTEGER NOT NULL); \
         INSERT INTO idempotency (key, fingerprint, locked_until, expires_at) VALUES ('k-old', 'fp', 0, 9999999999999);",
    )
    .unwrap();
    drop(old);
    let store = EmbeddedStore::open(&path).unwrap();
    let lease = Duration::from_secs(30);
    let ttl = Duration::from_secs(3600);
    assert!(matches!(
        store
            .idempotency_begin("k-old", "fp", "h-new", lease, ttl)
            .await
            .unwrap(),
        IdempotencyBegin::Resumed(_)
    ));
    store
        .idempotency_complete(
            "k-old",
            "h-new",
            &orderflow::ports::StoredResponse {
                status: 201,
                body: "{}".into(),
                location: None,
            },
        )
        .await
        .unwrap();
    // A second open (another process) finds the column there.
    EmbeddedStore::open(&path).unwrap();
}

/// A data dir from before the stock ledger (products without `active`, `opening`, `seq`)
/// opens with every product on sale, its ledger starting from the stock it had.
#[tokio::test]
async fn an_embedded_catalog_from_before_the_ledger_is_migrated() {
    use orderflow::domain::{Adjustment, MovementKind, ProductId};
    use orderflow::ports::{Adjusted, Inventory};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "CREATE TABLE products (product_id TEXT PRIMARY KEY, position INTEGER NOT NULL, \
         name TEXT NOT NULL, description TEXT NOT NULL, price_amount INTEGER NOT NULL, \
         currency TEXT NOT NULL, stock INTEGER NOT NULL); \
         INSERT INTO products VALUES ('sku-old', 0, 'Old mug', '', 1400, 'USD', 7);",
    )
    .unwrap();
    drop(old);
    let store = EmbeddedStore::open(&path).unwrap();
    let id = ProductId::parse("sku-old").unwrap();
    let p = store.get_product(&id).await.unwrap().unwrap();
    assert!(p.active && p.stock == 7);
    let page = store.stock_ledger(&id, None, 10).await.unwrap().unwrap();
    assert_eq!((page.opening, page.stock, page.movements.len()), (7, 7, 0));
    let a = Adjustment {
        key: "k".into(),
        kind: MovementKind::Received,
        delta: 3,
        by: "ops".into(),
        reason: "delivery".into(),
    };
    let Adjusted::Applied(m) = store.adjust_stock(&id, &a).await.unwrap() else {
        panic!("applies")
    };
    assert_eq!((m.seq, m.level_after), (1, 10));
    drop(store);
    // A second open (another process) finds the columns there and the opening kept.
    let store = EmbeddedStore::open(&path).unwrap();
    let page = store.stock_ledger(&id, None, 10).await.unwrap().unwrap();
    assert_eq!((page.opening, page.stock, page.movements.len()), (7, 10, 1));
}
