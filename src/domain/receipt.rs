//! Receipts: what a receipt says, independent of how it is rendered or stored.

use super::order::Order;
use super::values::OrderId;

/// Where an order's receipt lives in a receipt store: `receipts/{orderId}.pdf`.
pub fn receipt_key(order_id: &OrderId) -> String {
    format!("receipts/{order_id}.pdf")
}

/// The text content of a receipt, line by line, in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub title: String,
    pub header: Vec<String>,
    /// One row per order line: (description, quantity × unit price, line total).
    pub rows: Vec<(String, String, String)>,
    pub total: String,
    pub footer: Vec<String>,
}

impl Receipt {
    pub fn for_order(order: &Order, shop_name: &str) -> Receipt {
        let mut header = vec![
            format!("Order: {}", order.order_id),
            format!("Date: {}", order.created_at.format("%Y-%m-%d %H:%M UTC")),
            format!("Customer: {} <{}>", order.customer_id, order.customer_email),
        ];
        if let Some(a) = &order.shipping_address {
            header.push(format!(
                "Ship to: {}, {}{}, {} {}, {}",
                a.name,
                a.line1,
                a.line2
                    .as_deref()
                    .map(|l| format!(", {l}"))
                    .unwrap_or_default(),
                a.postal_code,
                a.city,
                a.country
            ));
        }
        if let Some(p) = &order.payment {
            header.push(format!("Paid with: {} ending {}", p.brand, p.last4));
        }
        if let Some(p) = &order.invoice_payment {
            header.push(format!(
                "Paid on invoice: {} (received {})",
                p.reference,
                p.recorded_at.format("%Y-%m-%d")
            ));
        }
        let rows = order
            .items
            .iter()
            .map(|l| {
                (
                    format!("{} ({})", l.name, l.product_id),
                    format!("{} x {}", l.quantity.get(), l.unit_price),
                    l.line_total.to_string(),
                )
            })
            .collect();
        Receipt {
            title: format!("{shop_name} - Receipt"),
            header,
            rows,
            total: format!("Total: {}", order.total),
            footer: vec!["Thank you for your order.".to_owned()],
        }
    }
}

/// The file name part of a receipt key, if the key is `receipts/<name>` with a name of
/// letters, digits, `.`, `_` and `-` that does not start with `.`: nothing that could address
/// another folder or prefix. Every receipt store checks keys with this.
pub fn receipt_key_name(key: &str) -> Option<&str> {
    key.strip_prefix("receipts/").filter(|n| {
        !n.is_empty()
            && !n.starts_with('.')
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_keys_cannot_escape() {
        let id = OrderId::generate();
        assert!(receipt_key_name(&receipt_key(&id)).is_some());
        for bad in [
            "receipts/../x.pdf",
            "receipts/",
            "other/x.pdf",
            "receipts/.hidden",
            "receipts/a/b.pdf",
            "/etc/passwd",
        ] {
            assert_eq!(receipt_key_name(bad), None, "{bad}");
        }
    }
}
