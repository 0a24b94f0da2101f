//! `state.sqlite3`: the order store, the payment ledger and the event log in one database.
//!
//! The worker writes to all three for every order (reserve, charge, status, event). On one
//! database they share one group-commit thread, so one fsync covers a whole group of those
//! writes instead of one per database: measured, end-to-end throughput rose by about 40% on
//! a 2-vCPU machine (docs/benchmarks.md). Each adapter still owns its own tables and keeps
//! its own contract; only the file and the commit thread are shared. The queue keeps its own
//! file, so the API's enqueue never waits behind a group of the worker's writes.
//!
//! **Upgrade.** Earlier versions kept each in its own file (`store.sqlite3`,
//! `payments.sqlite3`, `notifier.sqlite3`). At start-up every such file still present is
//! copied into `state.sqlite3` in one transaction and then renamed to `….migrated`, so no
//! order, stock level, charge or event is lost. A crash between the copy and the rename only
//! repeats the copy next time, which changes nothing (`INSERT OR IGNORE` of the same rows).

use super::notifier::{self, EmbeddedNotifier};
use super::payment::{self, SimulatedGateway};
use super::sqlite::{self, Db};
use super::store::{self, EmbeddedStore};
use anyhow::{bail, Context};
use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const FILE: &str = "state.sqlite3";

/// Files of earlier versions adopted into [`FILE`] at start-up.
pub const LEGACY_FILES: [&str; 3] = ["store.sqlite3", "payments.sqlite3", "notifier.sqlite3"];

/// The three adapters that live in `state.sqlite3`.
pub struct State {
    pub store: EmbeddedStore,
    pub payments: SimulatedGateway,
    pub notifier: EmbeddedNotifier,
}

impl State {
    /// Opens (creating if needed) `{data_dir}/state.sqlite3`, adopting the files of earlier
    /// versions first.
    pub fn open(data_dir: &Path) -> anyhow::Result<State> {
        let schema = [store::SCHEMA, payment::SCHEMA, notifier::SCHEMA].concat();
        let path = data_dir.join(FILE);
        adopt_legacy(data_dir, &path, &schema)?;
        let db = Db::open(&path, "state", &schema)?;
        Ok(State {
            store: EmbeddedStore::on(db.clone()),
            payments: SimulatedGateway::on(db.clone()),
            notifier: EmbeddedNotifier::on(db),
        })
    }
}

/// Copies every legacy file still in `data_dir` into `path`, then renames it `….migrated`.
fn adopt_legacy(data_dir: &Path, path: &Path, schema: &str) -> anyhow::Result<()> {
    let legacy: Vec<PathBuf> = LEGACY_FILES
        .iter()
        .map(|f| data_dir.join(f))
        .filter(|p| p.exists())
        .collect();
    if legacy.is_empty() {
        return Ok(());
    }
    let mut conn = sqlite::connect(path, "state", schema)?;
    for old in legacy {
        let rows = adopt(&mut conn, &old)
            .with_context(|| format!("adopting {} into {}", old.display(), path.display()))?;
        let Some(rows) = rows else { continue };
        let kept = old.with_extension("sqlite3.migrated");
        match std::fs::rename(&old, &kept) {
            // Another process adopted and renamed it meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            r => r.with_context(|| format!("renaming {} after adopting it", old.display()))?,
        }
        tracing::info!(
            from = %old.display(),
            into = %path.display(),
            rows,
            kept = %kept.display(),
            "adopted an earlier version's database"
        );
    }
    Ok(())
}

/// Copies every row of every table of `old` into the same table of `conn` (columns both
/// have), in one transaction. `None` when `old` was gone once the write lock was ours.
fn adopt(conn: &mut Connection, old: &Path) -> anyhow::Result<Option<u64>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !old.exists() {
        return Ok(None);
    }
    let from = Connection::open(old)?;
    from.busy_timeout(Duration::from_secs(5))?;
    // Fold the WAL back into the file, so the renamed copy is whole on its own. This needs
    // the file to itself: an earlier version still running on it is an error, not a race.
    let mode: String = from
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .context("is an earlier orderflow still running on this data_dir?")?;
    if !mode.eq_ignore_ascii_case("delete") {
        bail!("could not leave WAL mode (journal_mode is {mode}): is another process using it?");
    }
    let tables: Vec<String> = from
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut rows = 0u64;
    for table in tables {
        let theirs = columns(&from, &table)?;
        let ours = columns(&tx, &table)?;
        if ours.is_empty() {
            bail!("table {table} is not part of this version's schema");
        }
        let shared: Vec<&String> = theirs.iter().filter(|c| ours.contains(c)).collect();
        let list = shared
            .iter()
            .map(|c| quoted(c))
            .collect::<Vec<_>>()
            .join(", ");
        let marks = vec!["?"; shared.len()].join(", ");
        let mut select = from.prepare(&format!("SELECT {list} FROM {}", quoted(&table)))?;
        let mut insert = tx.prepare(&format!(
            "INSERT OR IGNORE INTO {} ({list}) VALUES ({marks})",
            quoted(&table)
        ))?;
        let mut found = select.query([])?;
        while let Some(row) = found.next()? {
            let values = (0..shared.len())
                .map(|i| row.get::<_, Value>(i))
                .collect::<Result<Vec<_>, _>>()?;
            insert.execute(rusqlite::params_from_iter(values))?;
            rows += 1;
        }
    }
    tx.commit()?;
    Ok(Some(rows))
}

fn columns(conn: &Connection, table: &str) -> anyhow::Result<Vec<String>> {
    Ok(conn
        .prepare(&format!(
            "SELECT name FROM pragma_table_info({})",
            literal(table)
        ))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{order_for, product};
    use crate::domain::{Currency, Money};
    use crate::ports::{
        ChargeRequest, EventType, Notifier, OrderEvent, OrderStore, PaymentGateway, Reservation,
    };

    struct Written {
        order: crate::domain::Order,
        product: crate::domain::Product,
        charge: ChargeRequest,
        first: crate::ports::ChargeOutcome,
        event: OrderEvent,
    }

    /// What an earlier version left behind: each adapter in its own file, with data.
    async fn earlier_version(dir: &Path) -> Written {
        let store = EmbeddedStore::on(
            Db::open(&dir.join("store.sqlite3"), "store", store::SCHEMA).unwrap(),
        );
        let payments = SimulatedGateway::on(
            Db::open(&dir.join("payments.sqlite3"), "payments", payment::SCHEMA).unwrap(),
        );
        let notifier = EmbeddedNotifier::on(
            Db::open(&dir.join("notifier.sqlite3"), "notifier", notifier::SCHEMA).unwrap(),
        );
        let product = product("sku-legacy", 250, 5);
        store
            .seed_products(std::slice::from_ref(&product))
            .await
            .unwrap();
        let order = order_for(&[(&product, 2)]);
        store.insert_order(&order, None).await.unwrap();
        assert_eq!(
            store
                .reserve_stock(&order.order_id, &order.stock_lines())
                .await
                .unwrap(),
            Reservation::Reserved
        );
        let charge = ChargeRequest {
            idempotency_key: order.order_id.to_string(),
            amount: Money::new(500, Currency::USD),
            payment_token: None,
        };
        let first = payments.charge(&charge).await.unwrap();
        let event = OrderEvent {
            event_id: format!("{}:OrderCompleted", order.order_id),
            event_type: EventType::OrderCompleted,
            order_id: order.order_id.to_string(),
            customer_id: "c".into(),
            customer_email: "c@example.com".into(),
            status: "COMPLETED".into(),
            failure_reason: None,
            total: Money::new(500, Currency::USD),
            receipt_key: None,
            occurred_at: chrono::Utc::now(),
        };
        notifier.publish(&event).await.unwrap();
        drop((store, payments, notifier));
        for f in LEGACY_FILES {
            closed(&dir.join(f)).await;
        }
        Written {
            order,
            product,
            charge,
            first,
            event,
        }
    }

    /// Waits until the dropped adapter's thread has closed its connection to `path`.
    async fn closed(path: &Path) {
        for _ in 0..100 {
            let mode: String = Connection::open(path)
                .unwrap()
                .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
                .unwrap_or_default();
            if mode == "delete" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} stayed open", path.display());
    }

    /// Everything the earlier version wrote is there, once, and still guarded.
    async fn assert_carried_over(state: &State, w: &Written) {
        let order = state.store.get_order(&w.order.order_id).await.unwrap();
        assert_eq!(order.as_ref().map(|o| &o.order_id), Some(&w.order.order_id));
        let stock = state
            .store
            .list_products()
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.product_id == w.product.product_id)
            .unwrap()
            .stock;
        assert_eq!(stock, 3, "the reservation's decrement survived");
        assert_eq!(
            state
                .store
                .reserve_stock(&w.order.order_id, &w.order.stock_lines())
                .await
                .unwrap(),
            Reservation::AlreadyReserved,
            "a retried reservation still changes nothing"
        );
        assert_eq!(
            state
                .payments
                .charges_for(&w.charge.idempotency_key)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            state.payments.charge(&w.charge).await.unwrap(),
            w.first,
            "a retried charge replays the first outcome"
        );
        assert_eq!(
            state
                .payments
                .charges_for(&w.charge.idempotency_key)
                .await
                .unwrap(),
            1
        );
        let events = state.notifier.recent_events(10).await.unwrap();
        assert_eq!(events, vec![w.event.clone()]);
    }

    #[tokio::test]
    async fn an_earlier_versions_files_are_adopted_whole_and_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let w = earlier_version(dir.path()).await;
        let state = State::open(dir.path()).unwrap();
        assert_carried_over(&state, &w).await;
        for f in LEGACY_FILES {
            assert!(!dir.path().join(f).exists(), "{f} was renamed");
            assert!(
                dir.path().join(format!("{f}.migrated")).exists(),
                "{f} kept aside"
            );
        }
        drop(state);
        // The next start has nothing to adopt and loses nothing.
        let again = State::open(dir.path()).unwrap();
        assert_carried_over(&again, &w).await;
    }

    #[tokio::test]
    async fn an_adoption_repeated_after_a_crash_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let w = earlier_version(dir.path()).await;
        drop(State::open(dir.path()).unwrap());
        // A crash after the copy's commit, before the renames: the files are still there.
        for f in LEGACY_FILES {
            std::fs::rename(dir.path().join(format!("{f}.migrated")), dir.path().join(f)).unwrap();
        }
        let state = State::open(dir.path()).unwrap();
        assert_carried_over(&state, &w).await;
    }

    #[tokio::test]
    async fn a_legacy_file_still_in_use_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let w = earlier_version(dir.path()).await;
        // An earlier orderflow still running on the payments file.
        let running = Connection::open(dir.path().join("payments.sqlite3")).unwrap();
        running.pragma_update(None, "journal_mode", "WAL").unwrap();
        running
            .query_row("SELECT COUNT(*) FROM charges", [], |r| r.get::<_, i64>(0))
            .unwrap();
        let err = State::open(dir.path()).err().expect("refused");
        assert!(format!("{err:#}").contains("payments.sqlite3"), "{err:#}");
        drop(running);
        let state = State::open(dir.path()).unwrap();
        assert_carried_over(&state, &w).await;
    }
}
