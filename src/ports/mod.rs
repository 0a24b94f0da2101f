//! Ports: the traits the core talks to, each with a written contract that every adapter
//! family (embedded, aws) MUST honour. The conformance suite (`tests/common/conformance.rs`) checks them.
//!
//! All ports share one error vocabulary, [`PortError`]; adapters map their backend's errors
//! into it inside the adapter, by error kind, never by matching message strings.

pub mod coordination;
pub mod inventory;
pub mod keys;
pub mod mailer;
pub mod notifier;
pub mod payment;
pub mod queue;
pub mod receipts;
pub mod store;

use std::sync::Arc;

pub use coordination::{Coordination, Json, RecordValue, Versioned};
pub use inventory::{Adjusted, Inventory, Reservation};
pub use keys::{DataKey, KeyRing};
pub use mailer::Mailer;
pub use notifier::{Alarm, EventType, Notifier, OrderEvent};
pub use payment::{ChargeOutcome, ChargeRequest, PaymentGateway};
pub use queue::{DeadLetter, Delivery, OrderMessage, OrderQueue, QueueDepth};
pub use receipts::ReceiptStore;
pub use store::{
    Decision, IdempotencyBegin, IdempotencyRecord, LiveRecord, NewKey, OrderListing, OrderStore,
    StoredResponse,
};

/// The ports the core talks to, whichever family implements them.
#[derive(Clone)]
pub struct Services {
    pub queue: Arc<dyn OrderQueue>,
    /// Orders and their idempotency records.
    pub store: Arc<dyn OrderStore>,
    /// Products and their stock.
    pub inventory: Arc<dyn Inventory>,
    /// The fleet's coordination records.
    pub records: Arc<dyn Coordination>,
    pub receipts: Arc<dyn ReceiptStore>,
    pub notifier: Arc<dyn Notifier>,
    pub payments: Arc<dyn PaymentGateway>,
    pub mailer: Arc<dyn Mailer>,
    pub keys: Arc<dyn KeyRing>,
}

/// The shared error vocabulary of all ports.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The thing addressed does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A create found the thing already there.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// A conditional write found the state other than expected (e.g. the status moved on).
    #[error("precondition failed: {0}")]
    Precondition(String),
    /// The backend is unreachable, throttling or timed out: retrying later may succeed.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// The backend refused this request for good (SES: the message or the sender was
    /// rejected, sending is paused): the same call will fail again, so callers do not retry.
    #[error("rejected by the backend: {0}")]
    Rejected(String),
    /// Anything else: a bug, corrupt data, a misconfiguration.
    #[error("unexpected backend error: {0:#}")]
    Unexpected(#[from] anyhow::Error),
}

impl PortError {
    /// Stored data that does not read back as what was written there.
    pub fn corrupt(what: impl std::fmt::Display) -> PortError {
        PortError::Unexpected(anyhow::anyhow!("corrupt stored data: {what}"))
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, PortError::Unavailable(_))
    }
}

pub type PortResult<T> = Result<T, PortError>;

/// `value` as the JSON text an adapter stores (orders, events and alarms are kept so).
pub fn to_json<T: serde::Serialize>(value: &T) -> PortResult<String> {
    serde_json::to_string(value).map_err(|e| PortError::Unexpected(e.into()))
}

/// Stored JSON text back as a `T`; text that does not parse is [`PortError::corrupt`].
pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> PortResult<T> {
    serde_json::from_str(text).map_err(PortError::corrupt)
}
