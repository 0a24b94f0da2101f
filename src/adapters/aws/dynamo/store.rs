//! The DynamoDB order store: orders (with their idempotency records), stock and its
//! reservations, and coordination records.

use super::super::{now_ms, sdk_err};
use super::item::{
    conflict_pause, corrupt, decode_cursor, encode_cursor, failed_conditions, from_json, get_n,
    get_s, get_state, n, s, to_json, transaction_err, ConditionFailed, Item, CONFLICT_RETRIES,
};
use crate::domain::{Currency, Money, Order, OrderId, OrderStatus, Product, ProductId};
use crate::ports::{
    Coordination, Decision, IdempotencyBegin, IdempotencyRecord, Inventory, LiveRecord, NewKey,
    OrderListing, OrderStore, PortError, PortResult, Reservation, StoredResponse,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::time::Duration;

pub struct DynamoStore {
    client: Client,
    orders: String,
    products: String,
    state: String,
}

impl DynamoStore {
    pub fn new(client: Client, orders: String, products: String, state: String) -> Self {
        DynamoStore {
            client,
            orders,
            products,
            state,
        }
    }

    fn order_item(order: &Order) -> PortResult<Item> {
        Ok(HashMap::from([
            ("orderId".to_owned(), s(order.order_id.as_str())),
            ("status".to_owned(), s(order.status.as_str())),
            ("kind".to_owned(), s("order")),
            (
                "createdAt".to_owned(),
                n(order.created_at.timestamp_millis()),
            ),
            ("body".to_owned(), s(to_json(order)?)),
        ]))
    }

    async fn get_state(&self, pk: &str) -> PortResult<Option<Item>> {
        get_state(&self.client, &self.state, pk).await
    }

    fn reservation_state(item: &Item) -> Reservation {
        if get_s(item, "state") == Some("held") {
            Reservation::AlreadyReserved
        } else {
            Reservation::Released
        }
    }

    fn stock_update(&self, product: &ProductId, delta: i64, guard: bool) -> TransactWriteItem {
        let mut u = Update::builder()
            .table_name(&self.products)
            .key("productId", s(product.as_str()))
            .expression_attribute_values(":q", n(delta.abs()));
        u = if delta < 0 {
            u.update_expression("SET stock = stock - :q")
        } else {
            u.update_expression("SET stock = stock + :q")
        };
        u = if guard {
            u.condition_expression("attribute_exists(productId) AND stock >= :q")
        } else {
            u.condition_expression("attribute_exists(productId)")
        };
        TransactWriteItem::builder()
            .update(u.build().expect("update is complete"))
            .build()
    }
}

#[async_trait]
impl OrderStore for DynamoStore {
    async fn ping(&self) -> PortResult<()> {
        self.client
            .describe_table()
            .table_name(&self.orders)
            .send()
            .await
            .map_err(|e| sdk_err("dynamodb DescribeTable", e))?;
        Ok(())
    }

    async fn insert_order(
        &self,
        order: &Order,
        idempotency: Option<(&str, &StoredResponse)>,
    ) -> PortResult<()> {
        let item = Self::order_item(order)?;
        let Some((key, response)) = idempotency else {
            return match self
                .client
                .put_item()
                .table_name(&self.orders)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(orderId)")
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.condition_failed() => Err(PortError::AlreadyExists(format!(
                    "order {}",
                    order.order_id
                ))),
                Err(e) => Err(sdk_err("dynamodb PutItem (order)", e)),
            };
        };
        let put = Put::builder()
            .table_name(&self.orders)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(orderId)")
            .build()
            .expect("put is complete");
        let bind = Update::builder()
            .table_name(&self.state)
            .key("pk", s(format!("idem#{key}")))
            .update_expression("SET orderId = :o, responseJson = :r")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(orderId)")
            .expression_attribute_values(":o", s(order.order_id.as_str()))
            .expression_attribute_values(":r", s(to_json(response)?))
            .build()
            .expect("update is complete");
        match self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(bind).build())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if failed_conditions(&e).is_some_and(|f| f.iter().any(|x| *x)) => {
                Err(PortError::AlreadyExists(format!(
                    "order {} or an order for key {key}",
                    order.order_id
                )))
            }
            Err(e) => Err(transaction_err("dynamodb TransactWriteItems (order)", e)),
        }
    }

    async fn insert_order_keyed(&self, order: &Order, key: &NewKey<'_>) -> PortResult<()> {
        let put_order = Put::builder()
            .table_name(&self.orders)
            .set_item(Some(Self::order_item(order)?))
            .condition_expression("attribute_not_exists(orderId)")
            .build()
            .expect("put is complete");
        let now = now_ms();
        let expires = now + key.ttl.as_millis() as i64;
        let put_key = Put::builder()
            .table_name(&self.state)
            .item("pk", s(format!("idem#{}", key.key)))
            .item("fingerprint", s(key.fingerprint))
            .item("orderId", s(order.order_id.as_str()))
            .item("responseJson", s(to_json(key.response)?))
            .item("completed", AttributeValue::Bool(true))
            .item("holder", s(key.holder))
            .item("lockedUntil", n(0))
            .item("expiresAtMs", n(expires))
            .item("ttl", n(expires / 1000 + 1))
            .condition_expression("attribute_not_exists(pk) OR expiresAtMs <= :now")
            .expression_attribute_values(":now", n(now))
            .build()
            .expect("put is complete");
        let out = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_key).build())
            .transact_items(TransactWriteItem::builder().put(put_order).build())
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) => match &e.as_service_error() {
                // A live record, or a concurrent request on the same key: the caller reads
                // the record the slow way.
                Some(TransactWriteItemsError::TransactionCanceledException(t))
                    if t.cancellation_reasons().iter().any(|r| {
                        matches!(
                            r.code(),
                            Some("ConditionalCheckFailed" | "TransactionConflict")
                        )
                    }) =>
                {
                    Err(PortError::AlreadyExists(format!(
                        "order {} or a record for key {}",
                        order.order_id, key.key
                    )))
                }
                _ => Err(transaction_err(
                    "dynamodb TransactWriteItems (keyed order)",
                    e,
                )),
            },
        }
    }

    async fn get_order(&self, order_id: &OrderId) -> PortResult<Option<Order>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.orders)
            .key("orderId", s(order_id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("dynamodb GetItem (order)", e))?;
        out.item
            .as_ref()
            .and_then(|i| get_s(i, "body"))
            .map(from_json)
            .transpose()
    }

    async fn update_order(&self, order: &Order, expected: OrderStatus) -> PortResult<()> {
        let res = self
            .client
            .put_item()
            .table_name(&self.orders)
            .set_item(Some(Self::order_item(order)?))
            .condition_expression("#s = :expected")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":expected", s(expected.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.condition_failed() => match self.get_order(&order.order_id).await? {
                None => Err(PortError::NotFound(format!("order {}", order.order_id))),
                Some(current) => Err(PortError::Precondition(format!(
                    "order {} is {}, expected {expected}",
                    order.order_id, current.status
                ))),
            },
            Err(e) => Err(sdk_err("dynamodb PutItem (order update)", e)),
        }
    }

    async fn list_orders(
        &self,
        status: Option<OrderStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> PortResult<OrderListing> {
        let start = cursor.map(decode_cursor).transpose()?;
        let mut q = self
            .client
            .query()
            .table_name(&self.orders)
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32);
        q = match status {
            Some(st) => q
                .index_name("by-status")
                .key_condition_expression("#s = :s")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":s", s(st.as_str())),
            None => q
                .index_name("by-time")
                .key_condition_expression("#k = :k")
                .expression_attribute_names("#k", "kind")
                .expression_attribute_values(":k", s("order")),
        };
        let out = q.set_exclusive_start_key(start).send().await.map_err(|e| {
            match e.as_service_error() {
                Some(se) if se.code() == Some("ValidationException") => {
                    PortError::Precondition("cursor does not fit this listing".into())
                }
                _ => sdk_err("dynamodb Query (orders)", e),
            }
        })?;
        let orders = out
            .items()
            .iter()
            .map(|i| {
                get_s(i, "body")
                    .ok_or_else(|| corrupt("order without body"))
                    .and_then(from_json)
            })
            .collect::<PortResult<Vec<Order>>>()?;
        let next_cursor = out
            .last_evaluated_key
            .as_ref()
            .filter(|k| !k.is_empty())
            .map(encode_cursor);
        Ok(OrderListing {
            orders,
            next_cursor,
        })
    }

    async fn count_by_status(&self) -> PortResult<Vec<(OrderStatus, u64)>> {
        let mut out = Vec::new();
        for status in OrderStatus::ALL {
            let mut count = 0u64;
            let mut start: Option<Item> = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.orders)
                    .index_name("by-status")
                    .key_condition_expression("#s = :s")
                    .expression_attribute_names("#s", "status")
                    .expression_attribute_values(":s", s(status.as_str()))
                    .select(aws_sdk_dynamodb::types::Select::Count)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| sdk_err("dynamodb Query (count)", e))?;
                count += page.count() as u64;
                match page.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => break,
                }
            }
            out.push((status, count));
        }
        Ok(out)
    }

    async fn idempotency_begin(
        &self,
        key: &str,
        fingerprint: &str,
        holder: &str,
        lease: Duration,
        ttl: Duration,
    ) -> PortResult<IdempotencyBegin> {
        let pk = format!("idem#{key}");
        let now = now_ms();
        let expires = now + ttl.as_millis() as i64;
        let created = self
            .client
            .put_item()
            .table_name(&self.state)
            .item("pk", s(&pk))
            .item("fingerprint", s(fingerprint))
            .item("completed", AttributeValue::Bool(false))
            .item("holder", s(holder))
            .item("lockedUntil", n(now + lease.as_millis() as i64))
            .item("expiresAtMs", n(expires))
            .item("ttl", n(expires / 1000 + 1))
            .condition_expression("attribute_not_exists(pk) OR expiresAtMs <= :now")
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let existing = match created {
            Ok(_) => return Ok(IdempotencyBegin::Started),
            Err(e) if e.condition_failed() => {
                let old = match e.into_service_error() {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                match old {
                    Some(item) => item,
                    // Not every implementation returns the old item: read it.
                    None => self.get_state(&pk).await?.ok_or_else(|| {
                        PortError::Unavailable("idempotency record vanished; retry".into())
                    })?,
                }
            }
            Err(e) => return Err(sdk_err("dynamodb PutItem (idempotency)", e)),
        };
        let live = LiveRecord {
            record: IdempotencyRecord {
                fingerprint: get_s(&existing, "fingerprint")
                    .unwrap_or_default()
                    .to_owned(),
                order_id: get_s(&existing, "orderId")
                    .map(OrderId::parse)
                    .transpose()
                    .map_err(corrupt)?,
                response: get_s(&existing, "responseJson")
                    .map(from_json)
                    .transpose()?,
                completed: existing
                    .get("completed")
                    .and_then(|v| v.as_bool().ok())
                    .copied()
                    .unwrap_or(false),
            },
            locked_until_ms: get_n(&existing, "lockedUntil").unwrap_or(0),
        };
        match live.decide(fingerprint, now) {
            Decision::Mismatch => return Ok(IdempotencyBegin::Mismatch),
            Decision::Completed(r) => return Ok(IdempotencyBegin::Completed(r)),
            Decision::InFlight => return Ok(IdempotencyBegin::InFlight),
            Decision::TakeOver => {}
        }
        let locked_until = live.locked_until_ms;
        let took = self
            .client
            .update_item()
            .table_name(&self.state)
            .key("pk", s(&pk))
            .update_expression("SET lockedUntil = :new, holder = :h")
            .condition_expression("lockedUntil = :old")
            .expression_attribute_values(":new", n(now + lease.as_millis() as i64))
            .expression_attribute_values(":h", s(holder))
            .expression_attribute_values(":old", n(locked_until))
            .send()
            .await;
        match took {
            Ok(_) => Ok(IdempotencyBegin::Resumed(live.record)),
            Err(e) if e.condition_failed() => Ok(IdempotencyBegin::InFlight),
            Err(e) => Err(sdk_err("dynamodb UpdateItem (idempotency lease)", e)),
        }
    }

    async fn idempotency_complete(
        &self,
        key: &str,
        holder: &str,
        response: &StoredResponse,
    ) -> PortResult<()> {
        match self
            .client
            .update_item()
            .table_name(&self.state)
            .key("pk", s(format!("idem#{key}")))
            .update_expression("SET responseJson = :r, completed = :t, lockedUntil = :zero")
            .condition_expression("holder = :h")
            .expression_attribute_values(":h", s(holder))
            .expression_attribute_values(":r", s(to_json(response)?))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.condition_failed() => Err(PortError::Precondition(format!(
                "idempotency record {key} is not held by this request"
            ))),
            Err(e) => Err(sdk_err("dynamodb UpdateItem (idempotency complete)", e)),
        }
    }

    async fn idempotency_release(&self, key: &str, holder: &str) -> PortResult<()> {
        match self
            .client
            .update_item()
            .table_name(&self.state)
            .key("pk", s(format!("idem#{key}")))
            .update_expression("SET lockedUntil = :zero, completed = :f")
            .condition_expression("holder = :h")
            .expression_attribute_values(":h", s(holder))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.condition_failed() => Ok(()),
            Err(e) => Err(sdk_err("dynamodb UpdateItem (idempotency release)", e)),
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
                .item("position", n(i))
                .condition_expression("attribute_not_exists(productId)")
                .send()
                .await;
            match res {
                Ok(_) => inserted += 1,
                Err(e) if e.condition_failed() => {}
                Err(e) => return Err(sdk_err("dynamodb PutItem (product)", e)),
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
                let id = get_s(item, "productId").ok_or_else(|| corrupt("product without id"))?;
                out.push((
                    get_n(item, "position").unwrap_or(i64::MAX),
                    Product {
                        product_id: ProductId::parse(id).map_err(corrupt)?,
                        name: get_s(item, "name").unwrap_or_default().to_owned(),
                        description: get_s(item, "description").unwrap_or_default().to_owned(),
                        unit_price: Money::new(
                            get_n(item, "priceAmount").ok_or_else(|| corrupt(id))?,
                            Currency::parse(get_s(item, "currency").unwrap_or_default())
                                .map_err(corrupt)?,
                        ),
                        stock: u32::try_from(get_n(item, "stock").ok_or_else(|| corrupt(id))?)
                            .map_err(corrupt)?,
                    },
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
        // No read first: the reservation marker's condition tells a retry apart.
        let marker = Put::builder()
            .table_name(&self.state)
            .item("pk", s(format!("resv#{order_id}")))
            .item("state", s("held"))
            .item("lines", s(to_json(&lines)?))
            .item("at", n(now_ms()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("put is complete");
        let mut conflicts = 0;
        loop {
            let mut tx = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(marker.clone()).build());
            for (product, qty) in lines {
                tx = tx.transact_items(self.stock_update(product, -i64::from(*qty), true));
            }
            return match tx.send().await {
                Ok(_) => Ok(Reservation::Reserved),
                Err(e) => match failed_conditions(&e) {
                    Some(failed) if failed.first() == Some(&true) => {
                        let item = self
                            .get_state(&format!("resv#{order_id}"))
                            .await?
                            .ok_or_else(|| corrupt("reservation vanished"))?;
                        Ok(Self::reservation_state(&item))
                    }
                    Some(failed) => match failed.iter().skip(1).position(|f| *f) {
                        Some(i) => Ok(Reservation::Insufficient {
                            product_id: lines[i].0.clone(),
                        }),
                        // Another order's transaction held a stock item: popular products
                        // meet this under load. Try again at once, briefly, rather than
                        // sending the whole message round a back-off (and towards the DLQ).
                        None if conflicts < CONFLICT_RETRIES => {
                            conflicts += 1;
                            tokio::time::sleep(conflict_pause(conflicts)).await;
                            continue;
                        }
                        None => Err(transaction_err("dynamodb TransactWriteItems (reserve)", e)),
                    },
                    None => Err(transaction_err("dynamodb TransactWriteItems (reserve)", e)),
                },
            };
        }
    }

    async fn release_stock(&self, order_id: &OrderId) -> PortResult<bool> {
        let pk = format!("resv#{order_id}");
        let Some(item) = self.get_state(&pk).await? else {
            return Ok(false);
        };
        if get_s(&item, "state") != Some("held") {
            return Ok(false);
        }
        let lines: Vec<(ProductId, u32)> = from_json(get_s(&item, "lines").unwrap_or("[]"))?;
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
        for (product, qty) in &lines {
            tx = tx.transact_items(self.stock_update(product, i64::from(*qty), false));
        }
        match tx.send().await {
            Ok(_) => Ok(true),
            Err(e) if failed_conditions(&e).is_some_and(|f| f.first() == Some(&true)) => Ok(false),
            Err(e) => Err(transaction_err("dynamodb TransactWriteItems (release)", e)),
        }
    }
}

#[async_trait]
impl Coordination for DynamoStore {
    async fn get_record(&self, name: &str) -> PortResult<Option<(String, u64)>> {
        Ok(self.get_state(&format!("rec#{name}")).await?.map(|item| {
            (
                get_s(&item, "value").unwrap_or_default().to_owned(),
                get_n(&item, "version").unwrap_or(0) as u64,
            )
        }))
    }

    async fn cas_record(&self, name: &str, expected: Option<u64>, value: &str) -> PortResult<bool> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.state)
            .item("pk", s(format!("rec#{name}")))
            .item("value", s(value))
            .item("version", n(expected.unwrap_or(0) + 1));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.condition_failed() => Ok(false),
            Err(e) => Err(sdk_err("dynamodb PutItem (record)", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A DynamoDB endpoint that cancels the first `conflicts` TransactWriteItems calls with a
    /// `TransactionConflict` on the stock item, then accepts.
    async fn conflicting_endpoint(conflicts: usize) -> (String, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let server = HttpServer::new(move || {
            let seen = seen.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let seen = seen.clone();
                async move {
                    let target = req
                        .headers()
                        .get("x-amz-target")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    assert!(target.ends_with("TransactWriteItems"), "{target}");
                    let json = "application/x-amz-json-1.0";
                    if seen.fetch_add(1, Ordering::SeqCst) < conflicts {
                        HttpResponse::BadRequest().content_type(json).body(
                            r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled [None, TransactionConflict]","CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]}"#,
                        )
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
        DynamoStore::new(Client::from_conf(conf), "o".into(), "p".into(), "s".into())
    }

    #[actix_web::test]
    async fn a_reservation_that_meets_a_conflicting_transaction_is_retried_in_place() {
        let (url, calls) = conflicting_endpoint(2).await;
        let store = store_at(&url);
        let line = (ProductId::parse("sku-hot").unwrap(), 1);
        let got = store
            .reserve_stock(&OrderId::generate(), std::slice::from_ref(&line))
            .await
            .unwrap();
        assert_eq!(got, Reservation::Reserved);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "two conflicts, then through"
        );
    }

    #[actix_web::test]
    async fn a_lasting_conflict_is_transient_after_a_few_tries() {
        let (url, calls) = conflicting_endpoint(usize::MAX).await;
        let store = store_at(&url);
        let line = (ProductId::parse("sku-hot").unwrap(), 1);
        let got = store
            .reserve_stock(&OrderId::generate(), std::slice::from_ref(&line))
            .await;
        assert!(matches!(got, Err(PortError::Unavailable(_))), "{got:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1 + CONFLICT_RETRIES as usize);
    }
}
