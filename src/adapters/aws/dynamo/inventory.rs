//! The DynamoDB inventory: products and their stock in the products table, reservations,
//! the stock ledger and adjustment markers in the state table.
//!
//! Every stock change is one transaction that moves the product from the (stock, seq) it was
//! read at to the next, and puts the ledger entry `ledger#<product>#<seq>` beside it: the
//! ledger is dense (1, 2, 3, …), so a page of it is one BatchGetItem of known keys, and a
//! writer that read a stale level loses the condition and reads again. Nothing is ever
//! counted twice or lost, whoever races.

use super::super::{now_ms, sdk_err};
use super::item::{
    cancellation_codes, conflict_pause, corrupt, failed_conditions, from_json, get_n, get_s, n, s,
    to_json, transaction_err, ConditionFailed, Item, TransactError, CONFLICT_RETRIES,
};
use super::store::DynamoStore;
use crate::domain::stock::{adjusted_level, level_after, LevelRefused};
use crate::domain::{
    Adjustment, Currency, LedgerPage, Money, MovementKind, OrderId, Product, ProductChanges,
    ProductId, StockMovement,
};
use crate::ports::{Adjusted, Inventory, PortError, PortResult, Reservation};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update,
};
use std::collections::HashMap;

/// How often a stock change that read a level another writer moved on is tried again, at
/// once, before the caller hears "unavailable" (a popular product under load).
const STALE_RETRIES: u32 = 8;

/// A product's stock as read: the level and how many ledger entries led to it.
#[derive(Debug, Clone, Copy)]
struct Level {
    stock: u32,
    seq: u64,
}

/// A movement to write, without its seq and level (the transaction decides those).
struct Entry<'a> {
    kind: MovementKind,
    delta: i64,
    by: &'a str,
    reason: &'a str,
    order_id: Option<&'a OrderId>,
}

fn ledger_pk(product: &ProductId, seq: u64) -> String {
    format!("ledger#{product}#{seq}")
}

/// The line (0, 1, …) whose ledger entry a cancelled stock transaction could not put while
/// the product's update beside it was not the cause; `None` if there is none. The
/// transaction's items are one marker, then an (update, put) pair per line. Such an entry
/// may exist at a seq the product has not reached ([`DynamoStore::ledger_ahead`] reads again
/// to tell): then the product and its ledger disagree, and trying again cannot mend it.
fn ledger_collision(codes: &[&str]) -> Option<usize> {
    codes
        .get(1..)?
        .chunks(2)
        .position(|pair| pair == ["None", "ConditionalCheckFailed"])
}

/// Each line's product with the level it was read at, in the lines' order (those read).
fn read_at<'a>(
    lines: &'a [(ProductId, u32)],
    levels: &HashMap<String, Level>,
) -> Vec<(&'a ProductId, Level)> {
    lines
        .iter()
        .filter_map(|(p, _)| Some((p, *levels.get(p.as_str())?)))
        .collect()
}

fn collision_err(product: &ProductId) -> PortError {
    corrupt(format!(
        "product {product}: its ledger has an entry past the product's seq; the products and \
         state tables disagree (see docs/operations.md, \"Catalog and stock\")"
    ))
}

fn product_of(item: &Item) -> PortResult<Product> {
    let id = get_s(item, "productId").ok_or_else(|| corrupt("product without id"))?;
    Ok(Product {
        product_id: ProductId::parse(id).map_err(corrupt)?,
        name: get_s(item, "name").unwrap_or_default().to_owned(),
        description: get_s(item, "description").unwrap_or_default().to_owned(),
        unit_price: Money::new(
            get_n(item, "priceAmount").ok_or_else(|| corrupt(id))?,
            Currency::parse(get_s(item, "currency").unwrap_or_default()).map_err(corrupt)?,
        ),
        stock: u32::try_from(get_n(item, "stock").ok_or_else(|| corrupt(id))?).map_err(corrupt)?,
        active: item
            .get("active")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(true),
    })
}

fn level_of(item: &Item) -> PortResult<Level> {
    Ok(Level {
        stock: u32::try_from(get_n(item, "stock").ok_or_else(|| corrupt("product without stock"))?)
            .map_err(corrupt)?,
        seq: get_n(item, "seq").unwrap_or(0) as u64,
    })
}

fn movement_of(item: &Item) -> PortResult<StockMovement> {
    let kind = get_s(item, "kind").unwrap_or_default();
    Ok(StockMovement {
        seq: get_n(item, "seq").ok_or_else(|| corrupt("ledger entry without seq"))? as u64,
        at: chrono::DateTime::from_timestamp_millis(get_n(item, "at").unwrap_or(0))
            .unwrap_or_default(),
        kind: MovementKind::parse(kind).ok_or_else(|| corrupt(format!("ledger kind {kind}")))?,
        delta: get_n(item, "delta").ok_or_else(|| corrupt("ledger entry without delta"))?,
        level_after: u32::try_from(get_n(item, "levelAfter").unwrap_or(-1)).map_err(corrupt)?,
        by: get_s(item, "by").unwrap_or_default().to_owned(),
        reason: get_s(item, "reason").unwrap_or_default().to_owned(),
        order_id: get_s(item, "orderId")
            .map(OrderId::parse)
            .transpose()
            .map_err(corrupt)?,
    })
}

impl DynamoStore {
    /// The products' levels, read consistently in one BatchGetItem (at most 100 ids); a
    /// product that does not exist is missing from the map.
    async fn levels(&self, ids: &[&ProductId]) -> PortResult<HashMap<String, Level>> {
        let keys = ids
            .iter()
            .map(|id| HashMap::from([("productId".to_owned(), s(id.as_str()))]))
            .collect();
        let items = self.batch_get(&self.products, keys).await?;
        items
            .iter()
            .map(|item| {
                let id = get_s(item, "productId").unwrap_or_default().to_owned();
                Ok((id, level_of(item)?))
            })
            .collect()
    }

    /// Every item of `keys` in `table` that exists, read consistently (retrying what
    /// DynamoDB leaves unprocessed).
    async fn batch_get(&self, table: &str, keys: Vec<Item>) -> PortResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut pending = keys;
        let mut rounds = 0;
        while !pending.is_empty() {
            let got = self
                .client
                .batch_get_item()
                .request_items(
                    table,
                    KeysAndAttributes::builder()
                        .set_keys(Some(std::mem::take(&mut pending)))
                        .consistent_read(true)
                        .build()
                        .expect("keys are set"),
                )
                .send()
                .await
                .map_err(|e| sdk_err("dynamodb BatchGetItem", e))?;
            if let Some(mut r) = got.responses {
                out.extend(r.remove(table).unwrap_or_default());
            }
            pending = got
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .map(|k| k.keys)
                .unwrap_or_default();
            rounds += 1;
            if !pending.is_empty() {
                if rounds > CONFLICT_RETRIES {
                    return Err(PortError::Unavailable(
                        "dynamodb BatchGetItem: keys left unprocessed (throttled)".into(),
                    ));
                }
                tokio::time::sleep(conflict_pause(rounds)).await;
            }
        }
        Ok(out)
    }

    /// The two writes of one movement from `level`: the product's next level (conditional on
    /// `level` still being current) and its ledger entry; `None` if the stock would go below
    /// zero.
    fn movement_writes(
        &self,
        product: &ProductId,
        level: Level,
        entry: &Entry<'_>,
        at: i64,
    ) -> PortResult<Option<([TransactWriteItem; 2], StockMovement)>> {
        let Some(after) = level_after(level.stock, entry.delta) else {
            return Ok(None);
        };
        let seq = level.seq + 1;
        let mut update = Update::builder()
            .table_name(&self.products)
            .key("productId", s(product.as_str()))
            .update_expression(
                "SET stock = :after, seq = :seq, openingStock = if_not_exists(openingStock, :before)",
            )
            .expression_attribute_values(":after", n(after))
            .expression_attribute_values(":seq", n(seq))
            .expression_attribute_values(":before", n(level.stock));
        update = if level.seq == 0 {
            update
                .condition_expression(
                    "stock = :before AND (attribute_not_exists(seq) OR seq = :zero)",
                )
                .expression_attribute_values(":zero", n(0))
        } else {
            update
                .condition_expression("stock = :before AND seq = :was")
                .expression_attribute_values(":was", n(level.seq))
        };
        let mut put = Put::builder()
            .table_name(&self.state)
            .item("pk", s(ledger_pk(product, seq)))
            .item("seq", n(seq))
            .item("at", n(at))
            .item("kind", s(entry.kind.as_str()))
            .item("delta", n(entry.delta))
            .item("levelAfter", n(after))
            .item("by", s(entry.by))
            .item("reason", s(entry.reason))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(id) = entry.order_id {
            put = put.item("orderId", s(id.as_str()));
        }
        let movement = StockMovement {
            seq,
            at: chrono::DateTime::from_timestamp_millis(at).unwrap_or_default(),
            kind: entry.kind,
            delta: entry.delta,
            level_after: after,
            by: entry.by.to_owned(),
            reason: entry.reason.to_owned(),
            order_id: entry.order_id.cloned(),
        };
        Ok(Some((
            [
                TransactWriteItem::builder()
                    .update(update.build().expect("update is complete"))
                    .build(),
                TransactWriteItem::builder()
                    .put(put.build().expect("put is complete"))
                    .build(),
            ],
            movement,
        )))
    }

    /// Whether `product`, read again, is still at `seq` while its ledger has an entry past
    /// it: the products and state tables disagree (a table restored without the other, an
    /// item written outside Orderflow). A product that moved on was only read stale.
    async fn ledger_ahead(&self, product: &ProductId, seq: u64) -> PortResult<bool> {
        let Some(item) = self.product_item(product).await? else {
            return Ok(false);
        };
        if level_of(&item)?.seq != seq {
            return Ok(false);
        }
        Ok(self
            .get_state(&ledger_pk(product, seq + 1))
            .await?
            .is_some())
    }

    /// The corruption a cancelled stock transaction of `lines` (each with the level it was
    /// read at, in the order sent) shows, if it shows one.
    async fn collision(
        &self,
        e: &TransactError,
        lines: &[(&ProductId, Level)],
    ) -> PortResult<Option<PortError>> {
        let Some((product, level)) = cancellation_codes(e)
            .as_deref()
            .and_then(ledger_collision)
            .and_then(|i| lines.get(i))
        else {
            return Ok(None);
        };
        Ok(self
            .ledger_ahead(product, level.seq)
            .await?
            .then(|| collision_err(product)))
    }

    fn reservation_state(item: &Item) -> Reservation {
        if get_s(item, "state") == Some("held") {
            Reservation::AlreadyReserved
        } else {
            Reservation::Released
        }
    }
}

#[async_trait]
impl Inventory for DynamoStore {
    async fn seed_products(&self, products: &[Product]) -> PortResult<usize> {
        // One Scan of the ids first: a start-up with the catalog in place writes nothing.
        let present: std::collections::HashSet<String> = self
            .list_products()
            .await?
            .into_iter()
            .map(|p| p.product_id.as_str().to_owned())
            .collect();
        let mut inserted = 0;
        for (i, p) in products.iter().enumerate() {
            if present.contains(p.product_id.as_str()) {
                continue;
            }
            if self.put_product(p, i as i64).await? {
                inserted += 1;
            }
        }
        Ok(inserted)
    }

    async fn list_products(&self) -> PortResult<Vec<Product>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.products)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_err("dynamodb Scan (products)", e))?;
            for item in page.items() {
                out.push((
                    get_n(item, "position").unwrap_or(i64::MAX),
                    product_of(item)?,
                ));
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.sort_by(|a, b| (a.0, &a.1.product_id).cmp(&(b.0, &b.1.product_id)));
        Ok(out.into_iter().map(|(_, p)| p).collect())
    }

    async fn reserve_stock(
        &self,
        order_id: &OrderId,
        lines: &[(ProductId, u32)],
    ) -> PortResult<Reservation> {
        let marker_pk = format!("resv#{order_id}");
        let ids: Vec<&ProductId> = lines.iter().map(|(p, _)| p).collect();
        let mut attempts = 0;
        loop {
            let levels = self.levels(&ids).await?;
            let at = now_ms();
            let marker = Put::builder()
                .table_name(&self.state)
                .item("pk", s(&marker_pk))
                .item("state", s("held"))
                .item("lines", s(to_json(&lines)?))
                .item("at", n(at))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .expect("put is complete");
            let mut tx = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(marker).build());
            let mut short = None;
            for (product, qty) in lines {
                let entry = Entry {
                    kind: MovementKind::Reserved,
                    delta: -i64::from(*qty),
                    by: "order",
                    reason: "order placed",
                    order_id: Some(order_id),
                };
                let writes = match levels.get(product.as_str()) {
                    Some(level) => self.movement_writes(product, *level, &entry, at)?,
                    None => None,
                };
                match writes {
                    Some((items, _)) => {
                        for item in items {
                            tx = tx.transact_items(item);
                        }
                    }
                    None => {
                        short = Some(product.clone());
                        break;
                    }
                }
            }
            if let Some(product_id) = short {
                // Not enough stock now; but a retry of an order that reserved before must
                // hear that, not "insufficient".
                return Ok(match self.get_state(&marker_pk).await? {
                    Some(item) => Self::reservation_state(&item),
                    None => Reservation::Insufficient { product_id },
                });
            }
            let sent = tx.send().await;
            if let Err(e) = &sent {
                if let Some(err) = self.collision(e, &read_at(lines, &levels)).await? {
                    return Err(err);
                }
            }
            match sent {
                Ok(_) => return Ok(Reservation::Reserved),
                Err(e) => match failed_conditions(&e) {
                    Some(failed) if failed.first() == Some(&true) => {
                        let item = self
                            .get_state(&marker_pk)
                            .await?
                            .ok_or_else(|| corrupt("reservation vanished"))?;
                        return Ok(Self::reservation_state(&item));
                    }
                    // A level moved on since it was read, or another transaction held a
                    // stock item (popular products meet this under load): read again at
                    // once, briefly, rather than sending the whole message round a
                    // back-off (and towards the DLQ).
                    Some(_) if attempts < STALE_RETRIES => {
                        attempts += 1;
                        tokio::time::sleep(conflict_pause(attempts.min(4))).await;
                    }
                    _ => return Err(transaction_err("dynamodb TransactWriteItems (reserve)", e)),
                },
            }
        }
    }

    async fn release_stock(&self, order_id: &OrderId) -> PortResult<bool> {
        let pk = format!("resv#{order_id}");
        let mut attempts = 0;
        loop {
            let Some(item) = self.get_state(&pk).await? else {
                return Ok(false);
            };
            if get_s(&item, "state") != Some("held") {
                return Ok(false);
            }
            let lines: Vec<(ProductId, u32)> = from_json(get_s(&item, "lines").unwrap_or("[]"))?;
            let ids: Vec<&ProductId> = lines.iter().map(|(p, _)| p).collect();
            let levels = self.levels(&ids).await?;
            let mark = Update::builder()
                .table_name(&self.state)
                .key("pk", s(&pk))
                .update_expression("SET #st = :released")
                .condition_expression("#st = :held")
                .expression_attribute_names("#st", "state")
                .expression_attribute_values(":released", s("released"))
                .expression_attribute_values(":held", s("held"))
                .build()
                .expect("update is complete");
            let mut tx = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(mark).build());
            let at = now_ms();
            for (product, qty) in &lines {
                let entry = Entry {
                    kind: MovementKind::Released,
                    delta: i64::from(*qty),
                    by: "order",
                    reason: "reservation released",
                    order_id: Some(order_id),
                };
                let level = levels.get(product.as_str()).ok_or_else(|| {
                    corrupt(format!("product {product} of a reservation is gone"))
                })?;
                let (items, _) = self
                    .movement_writes(product, *level, &entry, at)?
                    .ok_or_else(|| corrupt(format!("product {product}: stock overflow")))?;
                for item in items {
                    tx = tx.transact_items(item);
                }
            }
            let sent = tx.send().await;
            if let Err(e) = &sent {
                if let Some(err) = self.collision(e, &read_at(&lines, &levels)).await? {
                    return Err(err);
                }
            }
            match sent {
                Ok(_) => return Ok(true),
                Err(e) => match failed_conditions(&e) {
                    Some(f) if f.first() == Some(&true) => return Ok(false),
                    Some(_) if attempts < STALE_RETRIES => {
                        attempts += 1;
                        tokio::time::sleep(conflict_pause(attempts.min(4))).await;
                    }
                    _ => return Err(transaction_err("dynamodb TransactWriteItems (release)", e)),
                },
            }
        }
    }

    async fn get_product(&self, product_id: &ProductId) -> PortResult<Option<Product>> {
        self.product_item(product_id)
            .await?
            .as_ref()
            .map(product_of)
            .transpose()
    }

    async fn create_product(&self, product: &Product) -> PortResult<bool> {
        // After every seeded product (their positions are 0, 1, 2, …), in creation order.
        self.put_product(product, now_ms()).await
    }

    async fn update_product(
        &self,
        product_id: &ProductId,
        changes: &ProductChanges,
    ) -> PortResult<Option<Product>> {
        if changes.is_empty() {
            return self.get_product(product_id).await;
        }
        // Only the fields named: a concurrent change of another field (or the stock) is never
        // overwritten with a stale copy.
        let mut sets = Vec::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        let mut set = |attr: &str, v: AttributeValue| {
            sets.push(format!("#{attr} = :{attr}"));
            values.insert(format!(":{attr}"), v);
            attr.to_owned()
        };
        let mut names = Vec::new();
        if let Some(v) = &changes.name {
            names.push(set("name", s(v)));
        }
        if let Some(v) = &changes.description {
            names.push(set("description", s(v)));
        }
        if let Some(m) = changes.unit_price {
            names.push(set("priceAmount", n(m.amount)));
            names.push(set("currency", s(m.currency.as_str())));
        }
        if let Some(v) = changes.active {
            names.push(set("active", AttributeValue::Bool(v)));
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.products)
            .key("productId", s(product_id.as_str()))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression("attribute_exists(productId)")
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew);
        for name in names {
            update = update.expression_attribute_names(format!("#{name}"), name);
        }
        match update.send().await {
            Ok(out) => out.attributes.as_ref().map(product_of).transpose(),
            Err(e) if e.condition_failed() => Ok(None),
            Err(e) => Err(sdk_err("dynamodb UpdateItem (product)", e)),
        }
    }

    async fn adjust_stock(
        &self,
        product_id: &ProductId,
        adjustment: &Adjustment,
    ) -> PortResult<Adjusted> {
        let marker_pk = format!("adj#{product_id}#{}", adjustment.key);
        let entry = Entry {
            kind: adjustment.kind,
            delta: adjustment.delta,
            by: &adjustment.by,
            reason: &adjustment.reason,
            order_id: None,
        };
        let applied_before = |marker: Item| async move {
            let seq = get_n(&marker, "seq").ok_or_else(|| corrupt("adjustment without seq"))?;
            let entry = self
                .get_state(&ledger_pk(product_id, seq as u64))
                .await?
                .ok_or_else(|| corrupt("adjustment without its ledger entry"))?;
            Ok::<_, PortError>(Adjusted::AlreadyApplied(movement_of(&entry)?))
        };
        let mut attempts = 0;
        loop {
            let levels = self.levels(&[product_id]).await?;
            let Some(level) = levels.get(product_id.as_str()).copied() else {
                return Ok(Adjusted::NotFound);
            };
            let at = now_ms();
            let refused = match adjusted_level(level.stock, entry.delta) {
                Ok(_) => None,
                Err(LevelRefused::BelowZero) => Some(Adjusted::Insufficient { stock: level.stock }),
                Err(LevelRefused::AboveMax) => Some(Adjusted::TooMuch { stock: level.stock }),
            };
            if let Some(refused) = refused {
                // Refused now; but a retry of an adjustment booked before must hear that.
                return match self.get_state(&marker_pk).await? {
                    Some(marker) => applied_before(marker).await,
                    None => Ok(refused),
                };
            }
            let (items, movement) = self
                .movement_writes(product_id, level, &entry, at)?
                .ok_or_else(|| corrupt(format!("product {product_id}: stock overflow")))?;
            let marker = Put::builder()
                .table_name(&self.state)
                .item("pk", s(&marker_pk))
                .item("seq", n(movement.seq))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .expect("put is complete");
            let mut tx = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(marker).build());
            for item in items {
                tx = tx.transact_items(item);
            }
            let sent = tx.send().await;
            if let Err(e) = &sent {
                if let Some(err) = self.collision(e, &[(product_id, level)]).await? {
                    return Err(err);
                }
            }
            match sent {
                Ok(_) => return Ok(Adjusted::Applied(movement)),
                Err(e) => match failed_conditions(&e) {
                    Some(f) if f.first() == Some(&true) => {
                        let marker = self
                            .get_state(&marker_pk)
                            .await?
                            .ok_or_else(|| corrupt("adjustment marker vanished"))?;
                        return applied_before(marker).await;
                    }
                    Some(_) if attempts < STALE_RETRIES => {
                        attempts += 1;
                        tokio::time::sleep(conflict_pause(attempts.min(4))).await;
                    }
                    _ => return Err(transaction_err("dynamodb TransactWriteItems (adjust)", e)),
                },
            }
        }
    }

    async fn stock_ledger(
        &self,
        product_id: &ProductId,
        before: Option<u64>,
        limit: usize,
    ) -> PortResult<Option<LedgerPage>> {
        let Some(item) = self.product_item(product_id).await? else {
            return Ok(None);
        };
        let level = level_of(&item)?;
        let opening = match get_n(&item, "openingStock") {
            Some(v) => u32::try_from(v).map_err(corrupt)?,
            // No movement yet: the stock is the opening level.
            None => level.stock,
        };
        // Entries level.seq, level.seq - 1, …: dense, so their keys are known.
        let top = before.map_or(level.seq, |b| b.saturating_sub(1).min(level.seq));
        let bottom = top.saturating_sub(limit.min(100) as u64);
        let keys: Vec<Item> = (bottom + 1..=top)
            .rev()
            .map(|seq| HashMap::from([("pk".to_owned(), s(ledger_pk(product_id, seq)))]))
            .collect();
        let mut movements = if keys.is_empty() {
            Vec::new()
        } else {
            self.batch_get(&self.state, keys)
                .await?
                .iter()
                .map(movement_of)
                .collect::<PortResult<Vec<_>>>()?
        };
        movements.sort_by_key(|m| std::cmp::Reverse(m.seq));
        Ok(Some(LedgerPage {
            product_id: product_id.clone(),
            opening,
            stock: level.stock,
            movements,
            next_before: (bottom > 0).then_some(bottom + 1),
        }))
    }
}

impl DynamoStore {
    /// The product's item, read consistently.
    async fn product_item(&self, product_id: &ProductId) -> PortResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.products)
            .key("productId", s(product_id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("dynamodb GetItem (product)", e))?;
        Ok(out.item)
    }

    /// Puts `product` unless its id is taken; whether it did.
    async fn put_product(&self, p: &Product, position: i64) -> PortResult<bool> {
        let res = self
            .client
            .put_item()
            .table_name(&self.products)
            .item("productId", s(p.product_id.as_str()))
            .item("name", s(&p.name))
            .item("description", s(&p.description))
            .item("priceAmount", n(p.unit_price.amount))
            .item("currency", s(p.unit_price.currency.as_str()))
            .item("stock", n(p.stock))
            .item("openingStock", n(p.stock))
            .item("seq", n(0))
            .item("active", AttributeValue::Bool(p.active))
            .item("position", n(position))
            .condition_expression("attribute_not_exists(productId)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if e.condition_failed() => Ok(false),
            Err(e) => Err(sdk_err("dynamodb PutItem (product)", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn cancelled(codes: &[&str]) -> String {
        let reasons: Vec<String> = codes
            .iter()
            .map(|c| format!(r#"{{"Code":"{c}"}}"#))
            .collect();
        format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled [{}]","CancellationReasons":[{}]}}"#,
            codes.join(", "),
            reasons.join(",")
        )
    }

    /// A reservation of one line (marker, stock update, ledger put) cancelled because
    /// another transaction held the stock item.
    const CONFLICT: [&str; 3] = ["None", "TransactionConflict", "None"];
    /// … because its ledger entry exists, the stock item's condition holding.
    const LEDGER_TAKEN: [&str; 3] = ["None", "None", "ConditionalCheckFailed"];
    /// … because another transaction held the stock item and had put that entry.
    const RACED: [&str; 3] = ["None", "TransactionConflict", "ConditionalCheckFailed"];

    /// A DynamoDB endpoint with one product, read at stock 5 and seq 3 (BatchGetItem), then
    /// at seq `reread_seq` (GetItem), whose every ledger entry exists; it cancels the first
    /// `conflicts` TransactWriteItems calls with `codes`, then accepts. Counts the
    /// TransactWriteItems calls.
    async fn conflicting_endpoint(
        conflicts: usize,
        codes: [&'static str; 3],
        reread_seq: u64,
    ) -> (String, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let body = cancelled(&codes);
        let server = HttpServer::new(move || {
            let seen = seen.clone();
            let body = body.clone();
            App::new().default_service(web::to(move |req: HttpRequest, sent: String| {
                let seen = seen.clone();
                let body = body.clone();
                async move {
                    let target = req
                        .headers()
                        .get("x-amz-target")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let json = "application/x-amz-json-1.0";
                    if target.ends_with("BatchGetItem") {
                        return HttpResponse::Ok().content_type(json).body(
                            r#"{"Responses":{"p":[{"productId":{"S":"sku-hot"},"stock":{"N":"5"},"seq":{"N":"3"}}]}}"#,
                        );
                    }
                    if target.ends_with("GetItem") {
                        let item = if sent.contains(r#""TableName":"p""#) {
                            format!(
                                r#"{{"productId":{{"S":"sku-hot"}},"stock":{{"N":"5"}},"seq":{{"N":"{reread_seq}"}}}}"#
                            )
                        } else {
                            r#"{"pk":{"S":"ledger#sku-hot#4"},"seq":{"N":"4"}}"#.to_owned()
                        };
                        return HttpResponse::Ok()
                            .content_type(json)
                            .body(format!(r#"{{"Item":{item}}}"#));
                    }
                    assert!(target.ends_with("TransactWriteItems"), "{target}");
                    if seen.fetch_add(1, Ordering::SeqCst) < conflicts {
                        HttpResponse::BadRequest().content_type(json).body(body)
                    } else {
                        HttpResponse::Ok().content_type(json).body("{}")
                    }
                }
            }))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let url = format!("http://{}", server.addrs()[0]);
        tokio::spawn(server.run());
        (url, calls)
    }

    fn store_at(url: &str) -> DynamoStore {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .endpoint_url(url)
            .build();
        DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(conf),
            "o".into(),
            "p".into(),
            "s".into(),
        )
    }

    async fn reserve_one(url: &str) -> PortResult<Reservation> {
        let line = (ProductId::parse("sku-hot").unwrap(), 1);
        store_at(url)
            .reserve_stock(&OrderId::generate(), std::slice::from_ref(&line))
            .await
    }

    #[actix_web::test]
    async fn a_reservation_that_meets_a_conflicting_transaction_is_retried_in_place() {
        let (url, calls) = conflicting_endpoint(2, CONFLICT, 3).await;
        assert_eq!(reserve_one(&url).await.unwrap(), Reservation::Reserved);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "two conflicts, then through"
        );
    }

    #[actix_web::test]
    async fn a_lasting_conflict_is_transient_after_a_few_tries() {
        let (url, calls) = conflicting_endpoint(usize::MAX, CONFLICT, 3).await;
        let got = reserve_one(&url).await;
        assert!(matches!(got, Err(PortError::Unavailable(_))), "{got:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1 + STALE_RETRIES as usize);
    }

    #[actix_web::test]
    async fn a_ledger_entry_past_the_products_seq_is_corruption_not_a_retry() {
        let (url, calls) = conflicting_endpoint(usize::MAX, LEDGER_TAKEN, 3).await;
        match reserve_one(&url).await {
            Err(e @ PortError::Unexpected(_)) => {
                let m = format!("{e}");
                assert!(m.contains("sku-hot") && m.contains("disagree"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "not tried again");
    }

    #[actix_web::test]
    async fn a_taken_entry_of_a_product_that_moved_on_is_only_a_stale_read() {
        // Read again, the product is past the seq the entry was put at: another writer's.
        let (url, calls) = conflicting_endpoint(1, LEDGER_TAKEN, 4).await;
        assert_eq!(reserve_one(&url).await.unwrap(), Reservation::Reserved);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // A conflict beside the taken entry is a race, never corruption.
        let (url, calls) = conflicting_endpoint(1, RACED, 3).await;
        assert_eq!(reserve_one(&url).await.unwrap(), Reservation::Reserved);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_collision_is_a_put_refused_beside_an_update_that_was_not_the_cause() {
        let ccf = "ConditionalCheckFailed";
        assert_eq!(ledger_collision(&LEDGER_TAKEN), Some(0));
        assert_eq!(ledger_collision(&RACED), None);
        assert_eq!(ledger_collision(&CONFLICT), None);
        assert_eq!(
            ledger_collision(&["None", ccf, ccf, "None", "None"]),
            None,
            "a stale level"
        );
        assert_eq!(
            ledger_collision(&["None", ccf, "None", "None", ccf]),
            Some(1)
        );
        assert_eq!(ledger_collision(&[ccf, "None", "None"]), None);
        assert_eq!(ledger_collision(&[]), None);
    }
}
