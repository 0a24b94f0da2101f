//! The DynamoDB order store: orders (with their idempotency records), stock and its
//! reservations, and coordination records.

use super::super::{now_ms, sdk_err};
use super::item::{
    corrupt, decode_cursor, encode_cursor, failed_conditions, from_json, get_n, get_s, get_state,
    n, s, to_json, transaction_err, ConditionFailed, Item,
};
use crate::domain::{Order, OrderId, OrderStatus};
use crate::ports::{
    Coordination, Decision, IdempotencyBegin, IdempotencyRecord, LiveRecord, NewKey, OrderListing,
    OrderStore, PortError, PortResult, StoredResponse,
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
    pub(super) client: Client,
    orders: String,
    pub(super) products: String,
    pub(super) state: String,
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

    pub(super) async fn get_state(&self, pk: &str) -> PortResult<Option<Item>> {
        get_state(&self.client, &self.state, pk).await
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
