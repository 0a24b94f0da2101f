//! The order queue port: an SQS-shaped work queue with a dead-letter queue.

use super::PortResult;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The body of a queue message: which order to process, and the request id that placed it
/// (so the worker's log lines carry the same id as the API's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderMessage {
    pub order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// A payment an operator recorded for an order on invoice: the worker completes the
    /// order with it. The message is the durable record until then, so a crash between
    /// the operator's click and the order's COMPLETED loses neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<crate::domain::InvoicePayment>,
}

impl OrderMessage {
    /// "Process this order", from the request that placed it.
    pub fn order(order_id: &crate::domain::OrderId, request_id: Option<String>) -> OrderMessage {
        OrderMessage {
            order_id: order_id.to_string(),
            request_id,
            payment: None,
        }
    }

    /// The message as the queue carries it.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("an order message always serializes")
    }
}

/// One received message. `receipt_handle` identifies this receive, not the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// How many times the message has been received, this receive included (1 on the first).
    pub receive_count: u32,
}

/// A message in the dead-letter queue, as listed for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub message_id: String,
    pub body: String,
    pub receive_count: u32,
    /// Why it was dead-lettered, when it was moved explicitly (poison); `None` when the
    /// queue moved it after the maximum receives.
    pub reason: Option<String>,
}

/// Approximate counts, as SQS reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueDepth {
    /// Messages waiting to be received.
    pub visible: u64,
    /// Messages received and not yet deleted or timed out.
    pub in_flight: u64,
    /// Messages in the dead-letter queue.
    pub dead_letters: u64,
}

/// # Contract
///
/// - **At least once.** A message sent is delivered until deleted; it MAY be delivered more
///   than once, so consumers MUST be idempotent.
/// - `send` MUST return only once the message is durably stored; it returns the message id.
/// - `receive(max, wait)` returns 0..=max messages (max ≤ 10). With none visible it waits
///   up to `wait` for one to arrive, then returns empty. Each returned message becomes
///   invisible for the queue's visibility timeout and its receive count goes up by one.
///   A message whose receive count has reached the queue's maximum is moved to the
///   dead-letter queue instead of being returned again.
/// - A message neither deleted nor extended becomes visible again after the visibility timeout.
/// - `delete` with the handle of the latest receive removes the message for good; deleting
///   a message that is already gone is not an error.
/// - `extend_visibility` makes the message invisible for `timeout` from now. It MUST fail
///   with `NotFound` or `Precondition` when the handle is no longer valid (the message was
///   deleted), so a worker knows it lost the message.
/// - `dead_letter` moves the received message to the dead-letter queue at once (poison).
/// - `redrive(max)` moves up to `max` dead-lettered messages back to the main queue with a
///   fresh receive count, returning how many moved.
/// - `peek_dead_letters` lists dead-lettered messages without changing them.
///
/// # Errors
/// `Unavailable` when the backend cannot be reached; callers retry.
#[async_trait]
pub trait OrderQueue: Send + Sync + 'static {
    async fn send(&self, body: &str) -> PortResult<String>;
    async fn receive(&self, max: usize, wait: Duration) -> PortResult<Vec<Delivery>>;
    async fn delete(&self, receipt_handle: &str) -> PortResult<()>;
    async fn extend_visibility(&self, receipt_handle: &str, timeout: Duration) -> PortResult<()>;
    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> PortResult<()>;
    async fn redrive(&self, max: usize) -> PortResult<usize>;
    async fn peek_dead_letters(&self, max: usize) -> PortResult<Vec<DeadLetter>>;
    async fn depth(&self) -> PortResult<QueueDepth>;
}
