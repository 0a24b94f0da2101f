//! JSON shapes of API responses (camelCase), separate from the domain types.

use crate::domain::{Money, Order, Product};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MoneyView {
    /// Integer minor units (cents).
    pub amount: i64,
    pub currency: String,
    /// The same amount as a decimal string, e.g. "19.99".
    pub decimal: String,
}

impl From<Money> for MoneyView {
    fn from(m: Money) -> Self {
        MoneyView {
            amount: m.amount,
            currency: m.currency.to_string(),
            decimal: m.to_decimal_string(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    pub product_id: String,
    pub name: String,
    pub description: String,
    pub unit_price: MoneyView,
    pub stock: u32,
    /// `false`: retired: no longer sold, and left out of `GET /api/products`.
    pub active: bool,
}

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        ProductView {
            product_id: p.product_id.to_string(),
            name: p.name,
            description: p.description,
            unit_price: p.unit_price.into(),
            stock: p.stock,
            active: p.active,
        }
    }
}

/// One entry of a product's stock ledger.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockMovementView {
    /// 1, 2, 3, … per product, without gaps.
    pub seq: u64,
    pub at: String,
    /// `RESERVED`, `RELEASED` (an order's), `RECEIVED` or `CORRECTED` (an operator's).
    #[schema(example = "RECEIVED")]
    pub kind: String,
    /// Units added (positive) or taken (negative).
    pub delta: i64,
    /// The stock just after this entry.
    pub level_after: u32,
    /// The operator (`api key …`, `console`), or `order`.
    pub by: String,
    pub reason: String,
    pub order_id: Option<String>,
}

impl From<&crate::domain::StockMovement> for StockMovementView {
    fn from(m: &crate::domain::StockMovement) -> Self {
        StockMovementView {
            seq: m.seq,
            at: ts(m.at),
            kind: m.kind.as_str().to_owned(),
            delta: m.delta,
            level_after: m.level_after,
            by: m.by.clone(),
            reason: m.reason.clone(),
            order_id: m.order_id.as_ref().map(ToString::to_string),
        }
    }
}

/// The body of GET /api/products/{product_id}/ledger: newest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerView {
    pub product_id: String,
    /// The stock the product was created with (or had when its ledger began).
    pub opening: u32,
    /// The stock now: `opening` plus every entry's delta.
    pub stock: u32,
    pub movements: Vec<StockMovementView>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next_before: Option<u64>,
}

impl From<&crate::domain::LedgerPage> for LedgerView {
    fn from(p: &crate::domain::LedgerPage) -> Self {
        LedgerView {
            product_id: p.product_id.to_string(),
            opening: p.opening,
            stock: p.stock,
            movements: p.movements.iter().map(Into::into).collect(),
            next_before: p.next_before,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineView {
    pub product_id: String,
    pub name: String,
    pub quantity: u32,
    pub unit_price: MoneyView,
    pub line_total: MoneyView,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineView {
    #[schema(example = "PENDING")]
    pub status: String,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A shipping address as shown on the order (sent as `ShippingAddressRequest`, which also
/// takes `street`, `state` and `zipCode`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShippingAddressView {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(min_length = 1, max_length = 200)]
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100)]
    pub region: Option<String>,
    #[schema(min_length = 1, max_length = 20)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code, e.g. `US` (also when sent as alpha-3).
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: String,
}

impl From<crate::domain::ShippingAddress> for ShippingAddressView {
    fn from(a: crate::domain::ShippingAddress) -> Self {
        ShippingAddressView {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub brand: String,
    pub last4: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub order_id: String,
    pub customer_id: String,
    pub customer_email: String,
    /// PENDING, PROCESSING, AWAITING_PAYMENT (on invoice), COMPLETED or FAILED.
    #[schema(pattern = "^(PENDING|PROCESSING|AWAITING_PAYMENT|COMPLETED|FAILED)$")]
    pub status: String,
    /// Why a FAILED order failed (`OUT_OF_STOCK`, `PAYMENT_DECLINED`, `PAYMENT_OVERDUE`);
    /// null otherwise.
    pub failure_reason: Option<String>,
    /// AWAITING_PAYMENT: when the stock hold runs out unless the payment is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_due: Option<String>,
    /// On invoice, once paid: the payment's reference and when it was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_payment: Option<InvoicePaymentView>,
    pub items: Vec<LineView>,
    pub total: MoneyView,
    /// `total` as a decimal string (`total.decimal`), for clients of the common order APIs.
    #[schema(example = "28.00")]
    pub total_amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<ShippingAddressView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentView>,
    pub timeline: Vec<TimelineView>,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoicePaymentView {
    pub reference: String,
    pub recorded_at: String,
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        OrderView {
            order_id: o.order_id.to_string(),
            customer_id: o.customer_id.to_string(),
            customer_email: o.customer_email.to_string(),
            status: o.status.to_string(),
            failure_reason: o.failure_reason.map(|r| r.as_str().to_owned()),
            payment_due: o
                .payment_due
                .filter(|_| o.status == crate::domain::OrderStatus::AwaitingPayment)
                .map(ts),
            invoice_payment: o.invoice_payment.as_ref().map(|p| InvoicePaymentView {
                reference: p.reference.clone(),
                recorded_at: ts(p.recorded_at),
            }),
            items: o
                .items
                .iter()
                .map(|l| LineView {
                    product_id: l.product_id.to_string(),
                    name: l.name.clone(),
                    quantity: l.quantity.get(),
                    unit_price: l.unit_price.into(),
                    line_total: l.line_total.into(),
                })
                .collect(),
            total: o.total.into(),
            total_amount: o.total.to_decimal_string(),
            shipping_address: o.shipping_address.clone().map(Into::into),
            payment: o.payment.as_ref().map(|p| PaymentView {
                brand: p.brand.clone(),
                last4: p.last4.clone(),
            }),
            timeline: o
                .timeline
                .iter()
                .map(|e| TimelineView {
                    status: e.status.to_string(),
                    at: ts(e.at),
                    reason: e.reason.map(|r| r.as_str().to_owned()),
                })
                .collect(),
            created_at: ts(o.created_at),
            updated_at: ts(o.updated_at),
            receipt_url: (o.status == crate::domain::OrderStatus::Completed
                && o.receipt_key.is_some())
            .then(|| format!("/api/orders/{}/receipt", o.order_id)),
        }
    }
}

/// The 201 body of POST /api/orders.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedView {
    pub order_id: String,
    pub status: String,
    /// Shown once: the bearer token that reads this order.
    pub access_token: String,
    pub total: MoneyView,
    /// `total` as a decimal string (`total.decimal`), for clients of the common order APIs.
    #[schema(example = "28.00")]
    pub total_amount: String,
    pub items: Vec<LineView>,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime)]
    pub created_at: String,
    pub links: Links,
}

#[derive(Serialize, ToSchema)]
pub struct Links {
    #[serde(rename = "self")]
    pub self_: String,
    pub receipt: String,
}

impl CreatedView {
    pub fn new(o: &Order, access_token: String) -> Self {
        let full = OrderView::from(o);
        CreatedView {
            order_id: full.order_id,
            status: full.status,
            access_token,
            total: full.total,
            total_amount: full.total_amount,
            items: full.items,
            created_at: full.created_at,
            links: Links {
                self_: format!("/api/orders/{}", o.order_id),
                receipt: format!("/api/orders/{}/receipt", o.order_id),
            },
        }
    }
}

/// The body of GET /api/products.
#[derive(Serialize, ToSchema)]
pub struct ProductList {
    pub products: Vec<ProductView>,
}

/// The body of GET /api/orders.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderListView {
    pub orders: Vec<OrderView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The body of /livez, /healthz and /readyz.
#[derive(Serialize, ToSchema)]
pub struct HealthView {
    /// `ok` (liveness), `ready`, `draining` or `unavailable`.
    pub status: String,
    /// `/readyz` only (not while draining): each dependency's last check. Never carries the
    /// backend's error text; that is logged on the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<HealthChecks>,
}

/// The dependency checks behind `/readyz`, each `ok` or `fail`.
#[derive(Serialize, ToSchema, Clone, Debug, PartialEq, Eq)]
pub struct HealthChecks {
    /// The order store answered a ping within two seconds.
    #[schema(example = "ok")]
    pub store: &'static str,
    /// The queue answered a depth query within two seconds.
    #[schema(example = "ok")]
    pub queue: &'static str,
}

/// A PDF document.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Pdf(#[allow(dead_code)] Vec<u8>);
