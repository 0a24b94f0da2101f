//! The port conformance suite against the embedded adapter family (fresh data dir per test).

use orderflow::adapters::embedded::{
    EmbeddedNotifier, EmbeddedQueue, EmbeddedStore, FileKeyRing, FileReceiptStore, SimulatedGateway,
};
use orderflow::conformance as c;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

const VISIBILITY: Duration = Duration::from_secs(1);
const MAX_RECEIVES: u32 = 3;

fn queue() -> (TempDir, c::QueueFixture) {
    let dir = tempfile::tempdir().unwrap();
    let queue =
        EmbeddedQueue::open(&dir.path().join("queue.sqlite3"), VISIBILITY, MAX_RECEIVES).unwrap();
    (
        dir,
        c::QueueFixture {
            queue: Arc::new(queue),
            visibility: VISIBILITY,
            max_receive_count: MAX_RECEIVES,
        },
    )
}

fn store() -> (TempDir, Arc<EmbeddedStore>) {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(&dir.path().join("store.sqlite3")).unwrap();
    (dir, Arc::new(s))
}

#[tokio::test]
async fn queue_send_receive_delete() {
    let (_d, f) = queue();
    c::queue_send_receive_delete(&f).await;
}

#[tokio::test]
async fn queue_visibility_timeout_redelivers() {
    let (_d, f) = queue();
    c::queue_visibility_timeout_redelivers(&f).await;
}

#[tokio::test]
async fn queue_dead_letters_after_max_receives() {
    let (_d, f) = queue();
    c::queue_dead_letters_after_max_receives(&f).await;
}

#[tokio::test]
async fn queue_extend_visibility() {
    let (_d, f) = queue();
    c::queue_extend_visibility(&f).await;
}

#[tokio::test]
async fn queue_explicit_dead_letter_and_redrive() {
    let (_d, f) = queue();
    c::queue_explicit_dead_letter_and_redrive(&f).await;
}

#[tokio::test]
async fn queue_long_poll_wakes_on_send() {
    let (_d, f) = queue();
    c::queue_long_poll_wakes_on_send(&f).await;
}

#[tokio::test]
async fn queue_batches() {
    let (_d, f) = queue();
    c::queue_batches(&f).await;
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
async fn store_orders_and_conditional_updates() {
    let (_d, s) = store();
    c::store_orders_and_conditional_updates(s.as_ref()).await;
}

#[tokio::test]
async fn store_concurrent_transitions_have_one_winner() {
    let (_d, s) = store();
    c::store_concurrent_transitions_have_one_winner(s).await;
}

#[tokio::test]
async fn store_lists_orders_newest_first() {
    let (_d, s) = store();
    c::store_lists_orders_newest_first(s.as_ref()).await;
}

#[tokio::test]
async fn store_reservations_are_atomic_and_idempotent() {
    let (_d, s) = store();
    c::store_reservations_are_atomic_and_idempotent(s.as_ref()).await;
}

#[tokio::test]
async fn store_invoice_holds_never_exceed_their_cap() {
    let (_d, s) = store();
    c::store_invoice_holds_never_exceed_their_cap(s).await;
}

#[tokio::test]
async fn store_keyed_insert() {
    let (_d, s) = store();
    c::store_keyed_insert(s).await;
}

#[tokio::test]
async fn store_idempotency_records() {
    let (_d, s) = store();
    c::store_idempotency_records(s).await;
}

#[tokio::test]
async fn receipts_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    c::receipts_roundtrip(&FileReceiptStore::open(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn notifier_records_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let n = EmbeddedNotifier::open(&dir.path().join("notifier.sqlite3")).unwrap();
    c::notifier_records_each_event_once(&n).await;
    assert!(
        !orderflow::ports::Notifier::recent_events(&n, 10)
            .await
            .unwrap()
            .is_empty(),
        "the embedded notifier keeps a record"
    );
}

#[tokio::test]
async fn payments_charge_once_per_key() {
    let dir = tempfile::tempdir().unwrap();
    c::payments_charge_once_per_key(
        &SimulatedGateway::open(&dir.path().join("payments.sqlite3")).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn store_records_compare_and_set() {
    let (_d, s) = store();
    c::store_records_compare_and_set(s).await;
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
