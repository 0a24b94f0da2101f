//! The notifier port: order events for subscribers, alarms for operators.

use super::PortResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// An order on invoice holds its stock and waits for the payment.
    OrderAwaitingPayment,
    OrderCompleted,
    OrderFailed,
}

impl EventType {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::OrderAwaitingPayment => "OrderAwaitingPayment",
            EventType::OrderCompleted => "OrderCompleted",
            EventType::OrderFailed => "OrderFailed",
        }
    }
}

/// An order event; carries what a subscriber needs to tell the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderEvent {
    /// Deterministic (`{orderId}:{eventType}`), so a subscriber can drop duplicates.
    pub event_id: String,
    pub event_type: EventType,
    pub order_id: String,
    pub customer_id: String,
    pub customer_email: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub total: crate::domain::Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_key: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// An operator alarm (e.g. the dead-letter queue grew).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alarm {
    /// Same id ⇒ same alarm: raising it twice records it once.
    pub alarm_id: String,
    pub subject: String,
    pub message: String,
    pub raised_at: DateTime<Utc>,
}

/// # Contract
/// - `publish` delivers the event to subscribers. Publishing an event whose `event_id` was
///   already published MUST NOT deliver it again where the backend can tell (embedded);
///   the event id lets downstream consumers drop the rest.
/// - `publish_new` is `publish` without the duplicate check, for the first publish of an event.
/// - `raise_alarm` likewise, keyed by `alarm_id`.
/// - `recent_events` / `recent_alarms` list what was published, newest first, where the
///   backend keeps a record (aws: empty list if it does not).
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    async fn publish(&self, event: &OrderEvent) -> PortResult<()>;
    /// `publish` for an event the caller knows cannot have been published yet: it has just
    /// made the transition the event reports (its conditional write won). An adapter may skip
    /// its check for an earlier publish (a read on aws); it still records the event id, so a
    /// later `publish` of the same event is dropped as usual.
    async fn publish_new(&self, event: &OrderEvent) -> PortResult<()> {
        self.publish(event).await
    }
    async fn raise_alarm(&self, alarm: &Alarm) -> PortResult<()>;
    async fn recent_events(&self, limit: usize) -> PortResult<Vec<OrderEvent>>;
    async fn recent_alarms(&self, limit: usize) -> PortResult<Vec<Alarm>>;
    /// Writes out anything the adapter batches (the aws event archive); called on shutdown.
    async fn flush(&self) -> PortResult<()> {
        Ok(())
    }
}
