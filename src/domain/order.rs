//! Orders, their lines and totals, and the guarded status machine.

use super::money::{Money, MoneyError};
use super::values::{CustomerId, Email, OrderId, ProductId, Quantity, ShippingAddress};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// At most this many lines on one order: a reservation on DynamoDB is one transaction of
/// one reservation marker plus a stock update and a ledger entry per line, and a
/// transaction holds at most 100 writes.
pub const MAX_LINES: usize = 49;

/// A catalog product with its current price and stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub product_id: ProductId,
    pub name: String,
    pub description: String,
    pub unit_price: Money,
    pub stock: u32,
    /// A retired product (`false`) is not sold and not shown in the storefront.
    #[serde(default = "active_by_default")]
    pub active: bool,
}

fn active_by_default() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Processing,
    /// An order on invoice: its stock is held until the payment is recorded or the hold
    /// runs out (`payment_due`).
    AwaitingPayment,
    Completed,
    Failed,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::Pending,
        OrderStatus::Processing,
        OrderStatus::AwaitingPayment,
        OrderStatus::Completed,
        OrderStatus::Failed,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::Processing => "PROCESSING",
            OrderStatus::AwaitingPayment => "AWAITING_PAYMENT",
            OrderStatus::Completed => "COMPLETED",
            OrderStatus::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        OrderStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, OrderStatus::Completed | OrderStatus::Failed)
    }

    /// Whether the worker is done with the order for now: final, or waiting for a payment
    /// that only an operator can record.
    pub fn is_settled(&self) -> bool {
        self.is_terminal() || *self == OrderStatus::AwaitingPayment
    }

    /// The only legal moves: PENDING → PROCESSING → COMPLETED | FAILED, and for an order on
    /// invoice PROCESSING → AWAITING_PAYMENT → COMPLETED (paid) | FAILED (out of stock
    /// before, or the hold ran out).
    pub fn can_become(&self, next: OrderStatus) -> bool {
        matches!(
            (self, next),
            (OrderStatus::Pending, OrderStatus::Processing)
                | (OrderStatus::Processing, OrderStatus::Completed)
                | (OrderStatus::Processing, OrderStatus::Failed)
                | (OrderStatus::Processing, OrderStatus::AwaitingPayment)
                | (OrderStatus::AwaitingPayment, OrderStatus::Completed)
                | (OrderStatus::AwaitingPayment, OrderStatus::Failed)
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an order ended FAILED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureReason {
    OutOfStock,
    PaymentDeclined,
    /// An order on invoice whose payment was not recorded before `payment_due`.
    PaymentOverdue,
}

impl FailureReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            FailureReason::OutOfStock => "OUT_OF_STOCK",
            FailureReason::PaymentDeclined => "PAYMENT_DECLINED",
            FailureReason::PaymentOverdue => "PAYMENT_OVERDUE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            FailureReason::OutOfStock,
            FailureReason::PaymentDeclined,
            FailureReason::PaymentOverdue,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// One entry of an order's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEvent {
    pub status: OrderStatus,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FailureReason>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub product_id: ProductId,
    /// The product name when ordered, so receipts survive catalog edits.
    pub name: String,
    pub quantity: Quantity,
    pub unit_price: Money,
    pub line_total: Money,
}

/// What the payment gateway gave us at intake in place of the card: never the number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethod {
    pub token: String,
    pub brand: String,
    pub last4: String,
}

/// The hold records an order on invoice counts against, and the entry it is counted under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceHold {
    pub records: Vec<String>,
    pub entry: String,
}

/// A payment received for an order on invoice, as the operator recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoicePayment {
    /// The bank transfer's reference or whatever the shop books the payment under.
    pub reference: String,
    /// Who recorded it: `admin console`, or `api key ` and the first 8 hex digits of the
    /// SHA-256 of the `X-API-Key` used.
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub customer_email: Email,
    pub items: Vec<OrderLine>,
    pub total: Money,
    pub status: OrderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
    pub timeline: Vec<StatusEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<ShippingAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentMethod>,
    /// SHA-256 (hex) of the access token handed to the client; the token itself is not kept.
    pub access_token_sha256: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Key of the stored PDF receipt once rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_key: Option<String>,
    /// Request id of the HTTP request that placed the order, carried into worker logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// How often the reconciler re-enqueued this order because it sat PENDING too long.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub requeued: u32,
    /// When the reconciler last re-enqueued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeued_at: Option<DateTime<Utc>>,
    /// On invoice, once AWAITING_PAYMENT: when the stock hold runs out unless paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_due: Option<DateTime<Utc>>,
    /// On invoice: the payment the operator recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_payment: Option<InvoicePayment>,
    /// On invoice: what counts this order's units against its customer, e-mail address and
    /// client network until it is paid or failed (see `crate::holds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_hold: Option<InvoiceHold>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("an order needs at least one item")]
    NoItems,
    #[error("an order has at most {MAX_LINES} lines")]
    TooManyLines,
    #[error("product {0} appears on more than one line")]
    DuplicateProduct(ProductId),
    #[error("illegal status transition {from} → {to}")]
    IllegalTransition { from: OrderStatus, to: OrderStatus },
    #[error("a FAILED status needs a reason and only FAILED takes one")]
    ReasonMismatch,
    #[error("only an order on invoice waits for a payment")]
    NotOnInvoice,
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// A line as requested, priced from the catalog product.
pub struct PricedLine<'a> {
    pub product: &'a Product,
    pub quantity: Quantity,
}

/// Everything needed to create an order except what the system decides.
pub struct NewOrder<'a> {
    /// Chosen by the caller, so values derived from it (the access token) exist before the order.
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub customer_email: Email,
    pub lines: Vec<PricedLine<'a>>,
    pub shipping_address: Option<ShippingAddress>,
    pub payment: Option<PaymentMethod>,
    pub access_token_sha256: String,
    pub request_id: Option<String>,
}

impl Order {
    /// Builds a PENDING order with totals computed from catalog prices.
    pub fn place(new: NewOrder<'_>, now: DateTime<Utc>) -> Result<Order, OrderError> {
        if new.lines.is_empty() {
            return Err(OrderError::NoItems);
        }
        if new.lines.len() > MAX_LINES {
            return Err(OrderError::TooManyLines);
        }
        let mut items: Vec<OrderLine> = Vec::with_capacity(new.lines.len());
        for line in &new.lines {
            if items
                .iter()
                .any(|i| i.product_id == line.product.product_id)
            {
                return Err(OrderError::DuplicateProduct(
                    line.product.product_id.clone(),
                ));
            }
            let unit = line.product.unit_price;
            items.push(OrderLine {
                product_id: line.product.product_id.clone(),
                name: line.product.name.clone(),
                quantity: line.quantity,
                unit_price: unit,
                line_total: unit.checked_mul(line.quantity.get())?,
            });
        }
        let mut total = Money::zero(items[0].unit_price.currency);
        for i in &items {
            total = total.checked_add(i.line_total)?;
        }
        Ok(Order {
            order_id: new.order_id,
            customer_id: new.customer_id,
            customer_email: new.customer_email,
            items,
            total,
            status: OrderStatus::Pending,
            failure_reason: None,
            timeline: vec![StatusEvent {
                status: OrderStatus::Pending,
                at: now,
                reason: None,
            }],
            shipping_address: new.shipping_address,
            payment: new.payment,
            access_token_sha256: new.access_token_sha256,
            created_at: now,
            updated_at: now,
            receipt_key: None,
            request_id: new.request_id,
            requeued: 0,
            requeued_at: None,
            payment_due: None,
            invoice_payment: None,
            invoice_hold: None,
        })
    }

    /// Paid on invoice: no card was given.
    pub fn on_invoice(&self) -> bool {
        self.payment.is_none()
    }

    /// All units on the order, every line together.
    pub fn units(&self) -> u64 {
        self.items.iter().map(|i| u64::from(i.quantity.get())).sum()
    }

    /// PROCESSING → AWAITING_PAYMENT for an order on invoice whose stock is reserved; the
    /// hold runs until `due`.
    pub fn await_payment(
        &mut self,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), OrderError> {
        if !self.on_invoice() {
            return Err(OrderError::NotOnInvoice);
        }
        self.transition(OrderStatus::AwaitingPayment, None, now)?;
        self.payment_due = Some(due);
        Ok(())
    }

    /// AWAITING_PAYMENT → COMPLETED with the payment the operator recorded.
    pub fn record_payment(
        &mut self,
        payment: InvoicePayment,
        now: DateTime<Utc>,
    ) -> Result<(), OrderError> {
        if self.status != OrderStatus::AwaitingPayment {
            return Err(OrderError::IllegalTransition {
                from: self.status,
                to: OrderStatus::Completed,
            });
        }
        self.transition(OrderStatus::Completed, None, now)?;
        self.invoice_payment = Some(payment);
        Ok(())
    }

    /// AWAITING_PAYMENT past its `payment_due`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.status == OrderStatus::AwaitingPayment && self.payment_due.is_some_and(|d| d <= now)
    }

    /// Applies a guarded transition. A FAILED status must carry a reason; no other may.
    pub fn transition(
        &mut self,
        to: OrderStatus,
        reason: Option<FailureReason>,
        now: DateTime<Utc>,
    ) -> Result<(), OrderError> {
        if !self.status.can_become(to) {
            return Err(OrderError::IllegalTransition {
                from: self.status,
                to,
            });
        }
        if (to == OrderStatus::Failed) != reason.is_some() {
            return Err(OrderError::ReasonMismatch);
        }
        self.status = to;
        self.failure_reason = reason;
        self.updated_at = now;
        self.timeline.push(StatusEvent {
            status: to,
            at: now,
            reason,
        });
        Ok(())
    }

    /// (product, quantity) for every line: what a stock reservation takes.
    pub fn stock_lines(&self) -> Vec<(ProductId, u32)> {
        self.items
            .iter()
            .map(|i| (i.product_id.clone(), i.quantity.get()))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::money::Currency;

    pub fn product(id: &str, cents: i64, stock: u32) -> Product {
        Product {
            product_id: ProductId::parse(id).unwrap(),
            name: format!("Product {id}"),
            description: String::new(),
            unit_price: Money::new(cents, Currency::USD),
            stock,
            active: true,
        }
    }

    fn new_order<'a>(lines: Vec<PricedLine<'a>>) -> NewOrder<'a> {
        NewOrder {
            order_id: OrderId::generate(),
            customer_id: CustomerId::parse("c-1").unwrap(),
            customer_email: Email::parse("a@example.com").unwrap(),
            lines,
            shipping_address: None,
            payment: None,
            access_token_sha256: "x".into(),
            request_id: None,
        }
    }

    #[test]
    fn totals_come_from_catalog_prices() {
        let (a, b) = (product("a", 1999, 5), product("b", 250, 5));
        let lines = vec![
            PricedLine {
                product: &a,
                quantity: Quantity::parse(2).unwrap(),
            },
            PricedLine {
                product: &b,
                quantity: Quantity::parse(3).unwrap(),
            },
        ];
        let o = Order::place(new_order(lines), Utc::now()).unwrap();
        assert_eq!(o.items[0].line_total.amount, 3998);
        assert_eq!(o.total.amount, 3998 + 750);
        assert_eq!(o.status, OrderStatus::Pending);
        assert_eq!(o.timeline.len(), 1);
    }

    #[test]
    fn rejects_empty_duplicate_and_too_many_lines() {
        assert_eq!(
            Order::place(new_order(vec![]), Utc::now()).unwrap_err(),
            OrderError::NoItems
        );
        let a = product("a", 1, 1);
        let q = Quantity::parse(1).unwrap();
        let dup = vec![
            PricedLine {
                product: &a,
                quantity: q,
            },
            PricedLine {
                product: &a,
                quantity: q,
            },
        ];
        assert!(matches!(
            Order::place(new_order(dup), Utc::now()),
            Err(OrderError::DuplicateProduct(_))
        ));
        let many: Vec<Product> = (0..51).map(|i| product(&format!("p{i}"), 1, 1)).collect();
        let lines = many
            .iter()
            .map(|p| PricedLine {
                product: p,
                quantity: q,
            })
            .collect();
        assert_eq!(
            Order::place(new_order(lines), Utc::now()).unwrap_err(),
            OrderError::TooManyLines
        );
    }

    #[test]
    fn status_machine_is_guarded() {
        let a = product("a", 100, 1);
        let lines = vec![PricedLine {
            product: &a,
            quantity: Quantity::parse(1).unwrap(),
        }];
        let mut o = Order::place(new_order(lines), Utc::now()).unwrap();
        assert!(o
            .transition(OrderStatus::Completed, None, Utc::now())
            .is_err());
        assert!(o
            .transition(
                OrderStatus::Failed,
                Some(FailureReason::OutOfStock),
                Utc::now()
            )
            .is_err());
        o.transition(OrderStatus::Processing, None, Utc::now())
            .unwrap();
        assert_eq!(
            o.transition(OrderStatus::Failed, None, Utc::now()),
            Err(OrderError::ReasonMismatch)
        );
        o.transition(
            OrderStatus::Failed,
            Some(FailureReason::PaymentDeclined),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(o.failure_reason, Some(FailureReason::PaymentDeclined));
        assert_eq!(o.timeline.len(), 3);
        for to in OrderStatus::ALL {
            assert!(!o.status.can_become(to), "FAILED is terminal");
        }
    }

    #[test]
    fn an_invoice_order_waits_for_its_payment_or_its_due_date() {
        let a = product("a", 100, 1);
        let lines = || {
            vec![PricedLine {
                product: &a,
                quantity: Quantity::parse(2).unwrap(),
            }]
        };
        let now = Utc::now();
        let due = now + chrono::Duration::hours(72);
        let mut o = Order::place(new_order(lines()), now).unwrap();
        assert!(o.on_invoice());
        assert_eq!(o.units(), 2);
        // Not from PENDING, and never for an order with a card.
        assert!(o.await_payment(due, now).is_err());
        o.transition(OrderStatus::Processing, None, now).unwrap();
        let mut card = o.clone();
        card.payment = Some(PaymentMethod {
            token: "t".into(),
            brand: "Visa".into(),
            last4: "4242".into(),
        });
        assert_eq!(card.await_payment(due, now), Err(OrderError::NotOnInvoice));
        o.await_payment(due, now).unwrap();
        assert_eq!(o.status, OrderStatus::AwaitingPayment);
        assert!(o.status.is_settled() && !o.status.is_terminal());
        assert!(!o.is_overdue(now));
        assert!(o.is_overdue(due));
        let mut lapsed = o.clone();
        lapsed
            .transition(
                OrderStatus::Failed,
                Some(FailureReason::PaymentOverdue),
                due,
            )
            .unwrap();
        assert!(lapsed
            .record_payment(
                InvoicePayment {
                    reference: "r".into(),
                    recorded_by: "ops".into(),
                    recorded_at: due,
                },
                due
            )
            .is_err());
        let paid = InvoicePayment {
            reference: "transfer 0042".into(),
            recorded_by: "ops".into(),
            recorded_at: now,
        };
        o.record_payment(paid.clone(), now).unwrap();
        assert_eq!(o.status, OrderStatus::Completed);
        assert_eq!(o.invoice_payment, Some(paid.clone()));
        assert!(!o.is_overdue(due), "a paid order is never overdue");
        assert!(o.record_payment(paid, now).is_err(), "recorded once");
        // A card order cannot skip to AWAITING_PAYMENT's way out either.
        let mut p = Order::place(new_order(lines()), now).unwrap();
        assert!(p
            .transition(OrderStatus::AwaitingPayment, None, now)
            .is_err());
    }

    #[test]
    fn status_names_roundtrip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            FailureReason::parse("OUT_OF_STOCK"),
            Some(FailureReason::OutOfStock)
        );
        assert_eq!(
            FailureReason::parse("PAYMENT_OVERDUE"),
            Some(FailureReason::PaymentOverdue)
        );
    }
}
