//! The DynamoDB item codec and error vocabulary the store and the payment ledger share:
//! attribute helpers, JSON bodies, opaque list cursors, the conditional-check guard and how a
//! cancelled transaction is read; and consistent reads of the state table.

use super::super::sdk_err;
use crate::domain::OrderId;
use crate::ports::{PortError, PortResult};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use base64::Engine;
use std::collections::HashMap;
use std::time::Duration;

/// Whether a DynamoDB write failed because its condition did not hold (the one answer every
/// conditional write here turns into `AlreadyExists`, `Precondition` or "someone else won").
pub(super) trait ConditionFailed {
    fn condition_failed(&self) -> bool;
}

macro_rules! condition_failed_for {
    ($($error:ty),*) => {$(
        impl<R> ConditionFailed for aws_sdk_dynamodb::error::SdkError<$error, R> {
            fn condition_failed(&self) -> bool {
                self.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception())
            }
        }
    )*};
}

condition_failed_for!(
    aws_sdk_dynamodb::operation::put_item::PutItemError,
    aws_sdk_dynamodb::operation::update_item::UpdateItemError,
    aws_sdk_dynamodb::operation::delete_item::DeleteItemError
);

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
pub(super) fn get_s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}
pub(super) fn get_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}
pub(super) fn corrupt(what: impl std::fmt::Display) -> PortError {
    PortError::corrupt(format!("item: {what}"))
}
pub(super) use crate::ports::{from_json, to_json};

/// A TransactWriteItems error as the SDK returns it.
pub(super) type TransactError = aws_sdk_dynamodb::error::SdkError<
    TransactWriteItemsError,
    aws_smithy_runtime_api::client::orchestrator::HttpResponse,
>;

/// The cancellation code of each item of a cancelled transaction, in the order sent: `None`
/// for an item that was not the cause, `ConditionalCheckFailed`, `TransactionConflict`, ….
pub(super) fn cancellation_codes(e: &TransactError) -> Option<Vec<&str>> {
    match e.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(t) => Some(
            t.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect(),
        ),
        _ => None,
    }
}

/// Which items of a cancelled transaction failed their condition.
pub(super) fn failed_conditions(e: &TransactError) -> Option<Vec<bool>> {
    Some(
        cancellation_codes(e)?
            .into_iter()
            .map(|c| c == "ConditionalCheckFailed")
            .collect(),
    )
}

/// A cancelled transaction whose items did not fail a condition lost a race with another
/// transaction (`TransactionConflict`) or met throttling: transient, retry.
pub(super) fn transaction_err(op: &str, e: TransactError) -> PortError {
    match failed_conditions(&e) {
        Some(_) => PortError::Unavailable(format!(
            "{op}: transaction cancelled without a failed condition (conflict)"
        )),
        None => match e.as_service_error() {
            Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
                PortError::Unavailable(format!("{op}: transaction in progress"))
            }
            _ => sdk_err(op, e),
        },
    }
}

/// How often a reservation that lost a race with another transaction is tried again in place.
pub(super) const CONFLICT_RETRIES: u32 = 4;

/// 5–10 ms, 10–20 ms, 20–40 ms, …: jittered so racing workers spread out.
pub(super) fn conflict_pause(attempt: u32) -> Duration {
    let base = 10u64 << attempt.saturating_sub(1).min(6);
    Duration::from_millis(base / 2 + fastrand::u64(0..=base / 2))
}

pub(super) fn encode_cursor(key: &Item) -> String {
    let plain: HashMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_s().ok()?.as_str())))
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&plain).unwrap_or_default())
}

pub(super) fn decode_cursor(cursor: &str) -> PortResult<Item> {
    let bad = || PortError::Precondition("malformed cursor".into());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let plain: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let id = plain.get("orderId").ok_or_else(bad)?;
    OrderId::parse(id).map_err(|_| bad())?;
    if plain
        .keys()
        .any(|k| !["orderId", "status", "kind"].contains(&k.as_str()))
    {
        return Err(bad());
    }
    Ok(plain.into_iter().map(|(k, v)| (k, s(v))).collect())
}

/// The item at `pk` in the state table, read consistently.
pub(super) async fn get_state(client: &Client, table: &str, pk: &str) -> PortResult<Option<Item>> {
    let out = client
        .get_item()
        .table_name(table)
        .key("pk", s(pk))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| sdk_err("dynamodb GetItem", e))?;
    Ok(out.item)
}
