//! The payment gateway port.

use super::PortResult;
use crate::domain::{CardNumber, Money, PaymentMethod};
use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    /// One charge per key, however often it is retried. Orderflow uses the order id.
    pub idempotency_key: String,
    pub amount: Money,
    /// `None`: pay on invoice, always accepted.
    pub payment_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Approved { charge_id: String },
    Declined { code: String },
}

/// # Contract
/// - `tokenize` turns a card number into a [`PaymentMethod`] whose token stands for the card
///   from then on; the number itself is never stored or logged by Orderflow.
/// - `charge` with an idempotency key already charged MUST return the first outcome again
///   without charging twice (approved or declined alike).
/// - `Unavailable` means the outcome is unknown: retry with the same key.
#[async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    async fn tokenize(&self, card: &CardNumber) -> PortResult<PaymentMethod>;
    async fn charge(&self, request: &ChargeRequest) -> PortResult<ChargeOutcome>;
    /// How many charges were made under this key (0 or 1), for audits and tests.
    async fn charges_for(&self, idempotency_key: &str) -> PortResult<u32>;
}
