//! Embedded order store on SQLite: orders (JSON documents with indexed status), products
//! with stock, stock reservations and idempotency records.

use super::sqlite::{now_ms, Db};
use crate::domain::stock::{adjusted_level, LevelRefused};
use crate::domain::{
    Adjustment, Currency, LedgerPage, Money, MovementKind, Order, OrderId, OrderStatus, Product,
    ProductChanges, ProductId, StockMovement,
};
use crate::ports::{
    from_json, to_json, Adjusted, Coordination, Decision, IdempotencyBegin, IdempotencyRecord,
    Inventory, LiveRecord, NewKey, OrderListing, OrderStore, PortError, PortResult, Reservation,
    StoredResponse,
};
use async_trait::async_trait;
use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS products (
    product_id   TEXT PRIMARY KEY,
    position     INTEGER NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    price_amount INTEGER NOT NULL CHECK (price_amount >= 0),
    currency     TEXT NOT NULL,
    stock        INTEGER NOT NULL CHECK (stock >= 0),
    active       INTEGER NOT NULL DEFAULT 1,
    opening      INTEGER,
    seq          INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS stock_ledger (
    product_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    delta       INTEGER NOT NULL,
    level_after INTEGER NOT NULL CHECK (level_after >= 0),
    by_whom     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    order_id    TEXT,
    key         TEXT,
    PRIMARY KEY (product_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS stock_ledger_key ON stock_ledger (product_id, key) WHERE key IS NOT NULL;
CREATE TABLE IF NOT EXISTS orders (
    order_id   TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status, order_id);
CREATE TABLE IF NOT EXISTS reservations (
    order_id TEXT PRIMARY KEY,
    lines    TEXT NOT NULL,
    state    TEXT NOT NULL CHECK (state IN ('held', 'released')),
    at       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    name    TEXT PRIMARY KEY,
    value   TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key          TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    order_id     TEXT,
    response     TEXT,
    completed    INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    holder       TEXT
);
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency (expires_at);
";

/// Data dirs from before a column was added get it: `idempotency.holder` (records without
/// one are held by nobody: only a new begin takes them over) and the catalog's `active`,
/// `opening` and `seq` (the stock ledger starts empty, from the stock at the upgrade).
fn add_missing_columns(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    add_column(&conn, "idempotency", "holder", "TEXT")?;
    add_column(&conn, "products", "active", "INTEGER NOT NULL DEFAULT 1")?;
    add_column(&conn, "products", "seq", "INTEGER NOT NULL DEFAULT 0")?;
    if add_column(&conn, "products", "opening", "INTEGER")? {
        conn.execute(
            "UPDATE products SET opening = stock WHERE opening IS NULL",
            [],
        )?;
    }
    Ok(())
}

/// Adds `column` to `table` if the table exists without it; whether this call added it.
fn add_column(conn: &Connection, table: &str, column: &str, ddl: &str) -> anyhow::Result<bool> {
    let columns: Vec<String> = conn
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if columns.is_empty() || columns.iter().any(|c| c == column) {
        return Ok(false);
    }
    match conn.execute(
        &format!("ALTER TABLE {table} ADD COLUMN {column} {ddl}"),
        [],
    ) {
        Ok(_) => Ok(true),
        // Another process added it meanwhile.
        Err(e) if e.to_string().contains("duplicate column") => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Expired idempotency records removed with each new key: the table stays about as large as
/// the keys of one `orders.idempotency_ttl_secs`, and no sweep job is needed.
const SWEEP_PER_NEW_KEY: i64 = 50;

fn sweep_expired_keys(tx: &rusqlite::Savepoint<'_>, now: i64) -> rusqlite::Result<usize> {
    tx.execute(
        "DELETE FROM idempotency WHERE rowid IN \
         (SELECT rowid FROM idempotency WHERE expires_at <= ?1 LIMIT ?2)",
        params![now, SWEEP_PER_NEW_KEY],
    )
}

/// An order as its row in `orders`.
struct OrderRow {
    id: String,
    status: &'static str,
    created: i64,
    body: String,
}

impl OrderRow {
    fn of(order: &Order) -> PortResult<OrderRow> {
        Ok(OrderRow {
            id: order.order_id.to_string(),
            status: order.status.as_str(),
            created: order.created_at.timestamp_millis(),
            body: to_json(order)?,
        })
    }

    /// Inserts the row; `AlreadyExists` if the order id is taken.
    fn insert(&self, c: &Connection) -> PortResult<()> {
        let n = c.execute(
            "INSERT OR IGNORE INTO orders (order_id, status, created_at, body) VALUES (?1, ?2, ?3, ?4)",
            params![self.id, self.status, self.created, self.body],
        )?;
        if n == 0 {
            return Err(PortError::AlreadyExists(format!("order {}", self.id)));
        }
        Ok(())
    }
}

pub struct EmbeddedStore {
    db: Db,
}

impl EmbeddedStore {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        add_missing_columns(path)?;
        Ok(EmbeddedStore {
            db: Db::open(path, "store", SCHEMA)?,
        })
    }
}

const PRODUCT_COLUMNS: &str =
    "product_id, name, description, price_amount, currency, stock, active";

type ProductRow = (String, String, String, i64, String, i64, bool);

fn product_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProductRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn build_product(row: ProductRow) -> PortResult<Product> {
    let (id, name, description, amount, currency, stock, active) = row;
    let bad = |m: String| PortError::Unexpected(anyhow::anyhow!("corrupt product {id}: {m}"));
    Ok(Product {
        product_id: ProductId::parse(&id).map_err(|e| bad(e.0))?,
        name,
        description,
        unit_price: Money::new(amount, Currency::parse(&currency).map_err(bad)?),
        stock: u32::try_from(stock).map_err(|e| bad(e.to_string()))?,
        active,
    })
}

fn load_product(c: &Connection, id: &str) -> PortResult<Option<Product>> {
    c.query_row(
        &format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE product_id = ?1"),
        params![id],
        product_from_row,
    )
    .optional()?
    .map(build_product)
    .transpose()
}

/// A movement to write: the ledger's columns other than the product, seq and level.
struct Entry<'a> {
    kind: MovementKind,
    delta: i64,
    by: &'a str,
    reason: &'a str,
    order_id: Option<&'a str>,
    key: Option<&'a str>,
}

/// Changes `product`'s stock by `entry.delta` and writes its ledger entry, in the caller's
/// transaction; `None` (nothing written) if there is no such product or the stock would go
/// below zero.
fn move_stock(
    tx: &Connection,
    product: &str,
    entry: &Entry<'_>,
) -> PortResult<Option<StockMovement>> {
    let moved: Option<(i64, i64)> = tx
        .query_row(
            "UPDATE products SET stock = stock + ?2, seq = seq + 1, opening = coalesce(opening, stock) \
             WHERE product_id = ?1 AND stock + ?2 >= 0 RETURNING stock, seq",
            params![product, entry.delta],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((level, seq)) = moved else {
        return Ok(None);
    };
    let at = now_ms();
    tx.execute(
        "INSERT INTO stock_ledger (product_id, seq, at, kind, delta, level_after, by_whom, reason, order_id, key) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![product, seq, at, entry.kind.as_str(), entry.delta, level, entry.by, entry.reason, entry.order_id, entry.key],
    )?;
    Ok(Some(StockMovement {
        seq: seq as u64,
        at: chrono::DateTime::from_timestamp_millis(at).unwrap_or_default(),
        kind: entry.kind,
        delta: entry.delta,
        level_after: u32::try_from(level).map_err(|e| PortError::corrupt(e.to_string()))?,
        by: entry.by.to_owned(),
        reason: entry.reason.to_owned(),
        order_id: entry
            .order_id
            .map(OrderId::parse)
            .transpose()
            .map_err(|e| PortError::corrupt(e.0))?,
    }))
}

const MOVEMENT_COLUMNS: &str = "seq, at, kind, delta, level_after, by_whom, reason, order_id";

/// A ledger row: seq, at, kind, delta, level after, by, reason, order id.
type MovementRow = (i64, i64, String, i64, i64, String, String, Option<String>);

fn movement_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MovementRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn build_movement(row: MovementRow) -> PortResult<StockMovement> {
    let (seq, at, kind, delta, level, by, reason, order_id) = row;
    Ok(StockMovement {
        seq: seq as u64,
        at: chrono::DateTime::from_timestamp_millis(at).unwrap_or_default(),
        kind: MovementKind::parse(&kind)
            .ok_or_else(|| PortError::corrupt(format!("ledger kind {kind}")))?,
        delta,
        level_after: u32::try_from(level).map_err(|e| PortError::corrupt(e.to_string()))?,
        by,
        reason,
        order_id: order_id
            .as_deref()
            .map(OrderId::parse)
            .transpose()
            .map_err(|e| PortError::corrupt(e.0))?,
    })
}

fn encode_cursor(order_id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(order_id)
}

fn decode_cursor(cursor: &str) -> PortResult<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| PortError::Precondition("malformed cursor".into()))?;
    let s =
        String::from_utf8(bytes).map_err(|_| PortError::Precondition("malformed cursor".into()))?;
    OrderId::parse(&s).map_err(|_| PortError::Precondition("malformed cursor".into()))?;
    Ok(s)
}

fn load_lines(tx: &Connection, order_id: &str) -> rusqlite::Result<Option<(String, String)>> {
    tx.query_row(
        "SELECT lines, state FROM reservations WHERE order_id = ?1",
        params![order_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

#[async_trait]
impl OrderStore for EmbeddedStore {
    async fn ping(&self) -> PortResult<()> {
        self.db
            .call(|c| {
                c.query_row("SELECT 1", [], |_| Ok(()))?;
                Ok(())
            })
            .await
    }

    async fn insert_order(
        &self,
        order: &Order,
        idempotency: Option<(&str, &StoredResponse)>,
    ) -> PortResult<()> {
        let row = OrderRow::of(order)?;
        let id = row.id.clone();
        let idem = match idempotency {
            Some((k, r)) => Some((k.to_owned(), to_json(r)?)),
            None => None,
        };
        self.db
            .call(move |c| {
                let tx = c.savepoint()?;
                row.insert(&tx)?;
                if let Some((key, response)) = idem {
                    let n = tx.execute(
                        "UPDATE idempotency SET order_id = ?2, response = ?3 WHERE key = ?1 AND order_id IS NULL",
                        params![key, id, response],
                    )?;
                    if n == 0 {
                        // Another holder of the key recorded its order first (or the record
                        // is gone): dropping the transaction undoes this order's insert.
                        return Err(PortError::AlreadyExists(format!("an order for idempotency key {key}")));
                    }
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn insert_order_keyed(&self, order: &Order, key: &NewKey<'_>) -> PortResult<()> {
        let row = OrderRow::of(order)?;
        let id = row.id.clone();
        let (k, fp, response, holder) = (
            key.key.to_owned(),
            key.fingerprint.to_owned(),
            to_json(key.response)?,
            key.holder.to_owned(),
        );
        let ttl = key.ttl.as_millis() as i64;
        self.db
            .call(move |c| {
                let tx = c.savepoint()?;
                let now = now_ms();
                tx.execute("DELETE FROM idempotency WHERE key = ?1 AND expires_at <= ?2", params![k, now])?;
                let claimed = tx.execute(
                    "INSERT OR IGNORE INTO idempotency (key, fingerprint, order_id, response, completed, locked_until, expires_at, holder) \
                     VALUES (?1, ?2, ?3, ?4, 1, 0, ?5, ?6)",
                    params![k, fp, id, response, now + ttl, holder],
                )?;
                if claimed == 0 {
                    return Err(PortError::AlreadyExists(format!("a record for idempotency key {k}")));
                }
                sweep_expired_keys(&tx, now)?;
                // On error, dropping the savepoint undoes the key's record too.
                row.insert(&tx)?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn get_order(&self, order_id: &OrderId) -> PortResult<Option<Order>> {
        let id = order_id.to_string();
        let body: Option<String> = self
            .db
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT body FROM orders WHERE order_id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .await?;
        body.map(|b| from_json(&b)).transpose()
    }

    async fn update_order(&self, order: &Order, expected: OrderStatus) -> PortResult<()> {
        let body = to_json(order)?;
        let id = order.order_id.to_string();
        let status = order.status.as_str();
        self.db
            .call(move |c| {
                let n = c.execute(
                    "UPDATE orders SET status = ?2, body = ?3 WHERE order_id = ?1 AND status = ?4",
                    params![id, status, body, expected.as_str()],
                )?;
                if n == 1 {
                    return Ok(());
                }
                let current: Option<String> = c
                    .query_row(
                        "SELECT status FROM orders WHERE order_id = ?1",
                        params![id],
                        |r| r.get(0),
                    )
                    .optional()?;
                Err(match current {
                    None => PortError::NotFound(format!("order {id}")),
                    Some(s) => {
                        PortError::Precondition(format!("order {id} is {s}, expected {expected}"))
                    }
                })
            })
            .await
    }

    async fn list_orders(
        &self,
        status: Option<OrderStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> PortResult<OrderListing> {
        let after = cursor.map(decode_cursor).transpose()?;
        let limit = limit.clamp(1, 1000);
        let bodies: Vec<String> = self
            .db
            .call(move |c| {
                let mut s = c.prepare_cached(
                    "SELECT body FROM orders
                     WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR order_id < ?2)
                     ORDER BY order_id DESC LIMIT ?3",
                )?;
                let rows = s
                    .query_map(
                        params![status.map(|s| s.as_str()), after, (limit + 1) as i64],
                        |r| r.get(0),
                    )?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await?;
        let mut orders = bodies
            .iter()
            .map(|b| from_json::<Order>(b))
            .collect::<PortResult<Vec<_>>>()?;
        let next_cursor = if orders.len() > limit {
            orders.truncate(limit);
            orders.last().map(|o| encode_cursor(o.order_id.as_str()))
        } else {
            None
        };
        Ok(OrderListing {
            orders,
            next_cursor,
        })
    }

    async fn count_by_status(&self) -> PortResult<Vec<(OrderStatus, u64)>> {
        let rows: Vec<(String, i64)> = self
            .db
            .call(|c| {
                let mut s =
                    c.prepare_cached("SELECT status, COUNT(*) FROM orders GROUP BY status")?;
                let rows = s
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await?;
        Ok(OrderStatus::ALL
            .into_iter()
            .map(|st| {
                (
                    st,
                    rows.iter()
                        .find(|(s, _)| s == st.as_str())
                        .map_or(0, |(_, n)| *n as u64),
                )
            })
            .collect())
    }

    async fn idempotency_begin(
        &self,
        key: &str,
        fingerprint: &str,
        holder: &str,
        lease: Duration,
        ttl: Duration,
    ) -> PortResult<IdempotencyBegin> {
        let (key, fp, holder) = (key.to_owned(), fingerprint.to_owned(), holder.to_owned());
        let (lease, ttl) = (lease.as_millis() as i64, ttl.as_millis() as i64);
        self.db
            .call(move |c| {
                let tx = c.savepoint()?;
                let now = now_ms();
                tx.execute("DELETE FROM idempotency WHERE key = ?1 AND expires_at <= ?2", params![key, now])?;
                let existing = tx
                    .query_row(
                        "SELECT fingerprint, order_id, response, completed, locked_until FROM idempotency WHERE key = ?1",
                        params![key],
                        |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, Option<String>>(1)?,
                                r.get::<_, Option<String>>(2)?,
                                r.get::<_, bool>(3)?,
                                r.get::<_, i64>(4)?,
                            ))
                        },
                    )
                    .optional()?;
                let outcome = match existing {
                    None => {
                        tx.execute(
                            "INSERT INTO idempotency (key, fingerprint, locked_until, expires_at, holder) VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![key, fp, now + lease, now + ttl, holder],
                        )?;
                        sweep_expired_keys(&tx, now)?;
                        IdempotencyBegin::Started
                    }
                    Some((stored_fp, order_id, response, completed, locked_until)) => {
                        let live = LiveRecord {
                            record: IdempotencyRecord {
                                fingerprint: stored_fp,
                                order_id: order_id.as_deref().map(OrderId::parse).transpose().map_err(|e| {
                                    PortError::Unexpected(anyhow::anyhow!("corrupt idempotency record: {e}"))
                                })?,
                                response: response.as_deref().map(from_json).transpose()?,
                                completed,
                            },
                            locked_until_ms: locked_until,
                        };
                        match live.decide(&fp, now) {
                            Decision::Mismatch => IdempotencyBegin::Mismatch,
                            Decision::Completed(resp) => IdempotencyBegin::Completed(resp),
                            Decision::InFlight => IdempotencyBegin::InFlight,
                            Decision::TakeOver => {
                                tx.execute(
                                    "UPDATE idempotency SET locked_until = ?2, holder = ?3 WHERE key = ?1",
                                    params![key, now + lease, holder],
                                )?;
                                IdempotencyBegin::Resumed(live.record)
                            }
                        }
                    }
                };
                tx.commit()?;
                Ok(outcome)
            })
            .await
    }

    async fn idempotency_complete(
        &self,
        key: &str,
        holder: &str,
        response: &StoredResponse,
    ) -> PortResult<()> {
        let (key, holder) = (key.to_owned(), holder.to_owned());
        let resp = to_json(response)?;
        self.db
            .call(move |c| {
                let n = c.execute(
                    "UPDATE idempotency SET response = ?2, completed = 1, locked_until = 0 WHERE key = ?1 AND holder = ?3",
                    params![key, resp, holder],
                )?;
                if n == 0 {
                    return Err(PortError::Precondition(format!(
                        "idempotency record {key} is not held by this request"
                    )));
                }
                Ok(())
            })
            .await
    }

    async fn idempotency_release(&self, key: &str, holder: &str) -> PortResult<()> {
        let (key, holder) = (key.to_owned(), holder.to_owned());
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE idempotency SET locked_until = 0, completed = 0 WHERE key = ?1 AND holder = ?2",
                    params![key, holder],
                )?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl Inventory for EmbeddedStore {
    async fn seed_products(&self, products: &[Product]) -> PortResult<usize> {
        let products = products.to_vec();
        self.db
            .call(move |c| {
                let tx = c.savepoint()?;
                let mut inserted = 0;
                for (i, p) in products.iter().enumerate() {
                    inserted += tx.execute(
                        "INSERT OR IGNORE INTO products (product_id, position, name, description, price_amount, currency, stock, active, opening)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7)",
                        params![
                            p.product_id.as_str(),
                            i as i64,
                            p.name,
                            p.description,
                            p.unit_price.amount,
                            p.unit_price.currency.as_str(),
                            i64::from(p.stock),
                            p.active
                        ],
                    )?;
                }
                tx.commit()?;
                Ok(inserted)
            })
            .await
    }

    async fn list_products(&self) -> PortResult<Vec<Product>> {
        self.db
            .call(|c| {
                let mut s = c.prepare_cached(&format!(
                    "SELECT {PRODUCT_COLUMNS} FROM products ORDER BY position, product_id"
                ))?;
                let rows: Vec<_> = s
                    .query_map([], product_from_row)?
                    .collect::<Result<_, _>>()?;
                rows.into_iter().map(build_product).collect()
            })
            .await
    }

    async fn reserve_stock(
        &self,
        order_id: &OrderId,
        lines: &[(ProductId, u32)],
    ) -> PortResult<Reservation> {
        let id = order_id.to_string();
        let lines = lines.to_vec();
        let lines_json = to_json(&lines)?;
        self.db
            .call(move |c| {
                let tx = c.savepoint()?;
                if let Some((_, state)) = load_lines(&tx, &id)? {
                    return Ok(if state == "held" { Reservation::AlreadyReserved } else { Reservation::Released });
                }
                for (product, qty) in &lines {
                    let entry = Entry { kind: MovementKind::Reserved, delta: -i64::from(*qty), by: "order", reason: "order placed", order_id: Some(&id), key: None };
                    if move_stock(&tx, product.as_str(), &entry)?.is_none() {
                        // Dropping the transaction rolls back the lines already taken.
                        return Ok(Reservation::Insufficient { product_id: product.clone() });
                    }
                }
                tx.execute(
                    "INSERT INTO reservations (order_id, lines, state, at) VALUES (?1, ?2, 'held', ?3)",
                    params![id, lines_json, now_ms()],
                )?;
                tx.commit()?;
                Ok(Reservation::Reserved)
            })
            .await
    }

    async fn release_stock(&self, order_id: &OrderId) -> PortResult<bool> {
        let id = order_id.to_string();
        self.db
            .call(move |c| {
                let tx = c.savepoint()?;
                let Some((lines, state)) = load_lines(&tx, &id)? else {
                    return Ok(false);
                };
                if state != "held" {
                    return Ok(false);
                }
                let lines: Vec<(ProductId, u32)> = from_json(&lines)?;
                for (product, qty) in &lines {
                    let entry = Entry {
                        kind: MovementKind::Released,
                        delta: i64::from(*qty),
                        by: "order",
                        reason: "reservation released",
                        order_id: Some(&id),
                        key: None,
                    };
                    if move_stock(&tx, product.as_str(), &entry)?.is_none() {
                        return Err(PortError::corrupt(format!(
                            "product {product} of a reservation is gone"
                        )));
                    }
                }
                tx.execute(
                    "UPDATE reservations SET state = 'released', at = ?2 WHERE order_id = ?1",
                    params![id, now_ms()],
                )?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn get_product(&self, product_id: &ProductId) -> PortResult<Option<Product>> {
        let id = product_id.to_string();
        self.db.call(move |c| load_product(c, &id)).await
    }

    async fn create_product(&self, product: &Product) -> PortResult<bool> {
        let p = product.clone();
        self.db
            .call(move |c| {
                let n = c.execute(
                    "INSERT OR IGNORE INTO products (product_id, position, name, description, price_amount, currency, stock, active, opening)
                     VALUES (?1, (SELECT coalesce(max(position), -1) + 1 FROM products), ?2, ?3, ?4, ?5, ?6, ?7, ?6)",
                    params![
                        p.product_id.as_str(),
                        p.name,
                        p.description,
                        p.unit_price.amount,
                        p.unit_price.currency.as_str(),
                        i64::from(p.stock),
                        p.active
                    ],
                )?;
                Ok(n == 1)
            })
            .await
    }

    async fn update_product(
        &self,
        product_id: &ProductId,
        changes: &ProductChanges,
    ) -> PortResult<Option<Product>> {
        let id = product_id.to_string();
        let ch = changes.clone();
        self.db
            .call(move |c| {
                let tx = c.savepoint()?;
                // Each field only if named: a concurrent change of another field (or the
                // stock) is never overwritten with a stale copy.
                let n = tx.execute(
                    "UPDATE products SET name = coalesce(?2, name), description = coalesce(?3, description),
                         price_amount = coalesce(?4, price_amount), currency = coalesce(?5, currency),
                         active = coalesce(?6, active)
                     WHERE product_id = ?1",
                    params![
                        id,
                        ch.name,
                        ch.description,
                        ch.unit_price.map(|m| m.amount),
                        ch.unit_price.map(|m| m.currency.as_str().to_owned()),
                        ch.active
                    ],
                )?;
                if n == 0 {
                    return Ok(None);
                }
                let product = load_product(&tx, &id)?;
                tx.commit()?;
                Ok(product)
            })
            .await
    }

    async fn adjust_stock(
        &self,
        product_id: &ProductId,
        adjustment: &Adjustment,
    ) -> PortResult<Adjusted> {
        let id = product_id.to_string();
        let a = adjustment.clone();
        self.db
            .call(move |c| {
                let tx = c.savepoint()?;
                let before = tx
                    .query_row(
                        &format!("SELECT {MOVEMENT_COLUMNS} FROM stock_ledger WHERE product_id = ?1 AND key = ?2"),
                        params![id, a.key],
                        movement_from_row,
                    )
                    .optional()?;
                if let Some(row) = before {
                    return Ok(Adjusted::AlreadyApplied(build_movement(row)?));
                }
                let Some(product) = load_product(&tx, &id)? else {
                    return Ok(Adjusted::NotFound);
                };
                // In this transaction, so the level cannot move between the check and the write.
                match adjusted_level(product.stock, a.delta) {
                    Ok(_) => {}
                    Err(LevelRefused::BelowZero) => return Ok(Adjusted::Insufficient { stock: product.stock }),
                    Err(LevelRefused::AboveMax) => return Ok(Adjusted::TooMuch { stock: product.stock }),
                }
                let entry = Entry { kind: a.kind, delta: a.delta, by: &a.by, reason: &a.reason, order_id: None, key: Some(&a.key) };
                let movement = move_stock(&tx, &id, &entry)?
                    .ok_or_else(|| PortError::corrupt(format!("product {id}: stock moved inside its transaction")))?;
                tx.commit()?;
                Ok(Adjusted::Applied(movement))
            })
            .await
    }

    async fn stock_ledger(
        &self,
        product_id: &ProductId,
        before: Option<u64>,
        limit: usize,
    ) -> PortResult<Option<LedgerPage>> {
        let id = product_id.to_string();
        self.db
            .call(move |c| {
                let tx = c.savepoint()?;
                let Some((stock, opening)) = tx
                    .query_row(
                        "SELECT stock, coalesce(opening, stock) FROM products WHERE product_id = ?1",
                        params![id],
                        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
                    )
                    .optional()?
                else {
                    return Ok(None);
                };
                let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
                let mut s = tx.prepare_cached(&format!(
                    "SELECT {MOVEMENT_COLUMNS} FROM stock_ledger WHERE product_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
                ))?;
                let rows: Vec<_> = s
                    .query_map(params![id, before, limit as i64 + 1], movement_from_row)?
                    .collect::<Result<_, _>>()?;
                drop(s);
                let mut movements = rows.into_iter().map(build_movement).collect::<PortResult<Vec<_>>>()?;
                let next_before = (movements.len() > limit).then(|| {
                    movements.truncate(limit);
                    movements.last().map(|m| m.seq)
                }).flatten();
                let level = |v: i64| u32::try_from(v).map_err(|e| PortError::corrupt(e.to_string()));
                Ok(Some(LedgerPage {
                    product_id: ProductId::parse(&id).map_err(|e| PortError::corrupt(e.0))?,
                    opening: level(opening)?,
                    stock: level(stock)?,
                    movements,
                    next_before,
                }))
            })
            .await
    }
}

#[async_trait]
impl Coordination for EmbeddedStore {
    async fn get_record(&self, name: &str) -> PortResult<Option<(String, u64)>> {
        let name = name.to_owned();
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT value, version FROM records WHERE name = ?1",
                    params![name],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)),
                )
                .optional()?)
            })
            .await
    }

    async fn cas_record(&self, name: &str, expected: Option<u64>, value: &str) -> PortResult<bool> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.db
            .call(move |c| {
                let n = match expected {
                    None => c.execute(
                        "INSERT OR IGNORE INTO records (name, value, version) VALUES (?1, ?2, 1)",
                        params![name, value],
                    )?,
                    Some(v) => c.execute(
                        "UPDATE records SET value = ?2, version = version + 1 WHERE name = ?1 AND version = ?3",
                        params![name, value, v as i64],
                    )?,
                };
                Ok(n == 1)
            })
            .await
    }
}
