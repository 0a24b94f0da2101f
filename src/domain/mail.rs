//! The customer e-mail sent when an order is final, as a MIME message (RFC 5322), the same
//! bytes whether SES sends it or the embedded family writes it to an `.eml` file.

use super::order::{Order, OrderStatus};
use base64::Engine;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailMessage {
    /// `{orderId}:{kind}`: one message per order and outcome; mailers send each key once.
    pub key: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    /// (file name, PDF bytes)
    pub attachment: Option<(String, Vec<u8>)>,
}

impl MailMessage {
    /// The confirmation (with the receipt attached) or the failure notice for a final order,
    /// or the payment request for an order on invoice whose stock is held. `None` while the
    /// worker has not settled the order.
    pub fn for_order(
        order: &Order,
        shop: &str,
        from: &str,
        receipt: Option<Vec<u8>>,
    ) -> Option<MailMessage> {
        let (kind, subject, text) = match order.status {
            OrderStatus::Completed => (
                "confirmation",
                format!("{shop}: your order {} is confirmed", order.order_id),
                format!(
                    "Thank you for your order.\n\nOrder: {}\nTotal: {}\n\n{}\nYour receipt is attached.\n\n{shop}\n",
                    order.order_id,
                    order.total,
                    order
                        .items
                        .iter()
                        .map(|l| format!("  {} x {} ({})\n", l.quantity.get(), l.name, l.line_total))
                        .collect::<String>()
                ),
            ),
            OrderStatus::AwaitingPayment => (
                "invoice",
                format!("{shop}: please pay for order {}", order.order_id),
                format!(
                    "Thank you for your order. We hold the goods for you until {} and send them once we receive your payment.\n\nOrder: {}\nAmount due: {}\nReference to quote: {}\n\n{}\nAn unpaid order is cancelled at that time.\n\n{shop}\n",
                    order
                        .payment_due
                        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_else(|| "further notice".into()),
                    order.order_id,
                    order.total,
                    order.order_id,
                    order
                        .items
                        .iter()
                        .map(|l| format!("  {} x {} ({})\n", l.quantity.get(), l.name, l.line_total))
                        .collect::<String>()
                ),
            ),
            OrderStatus::Failed => (
                "failure",
                format!("{shop}: we could not complete order {}", order.order_id),
                format!(
                    "We are sorry: your order {} could not be completed ({}).\nYou have not been charged.\n\n{shop}\n",
                    order.order_id,
                    match order.failure_reason {
                        Some(super::FailureReason::OutOfStock) => "an item is out of stock",
                        Some(super::FailureReason::PaymentDeclined) => "the card was declined",
                        Some(super::FailureReason::PaymentOverdue) =>
                            "we did not receive the payment in time, so the goods were released",
                        None => "unknown reason",
                    }
                ),
            ),
            _ => return None,
        };
        Some(MailMessage {
            key: format!("{}:{kind}", order.order_id),
            from: from.to_owned(),
            to: order.customer_email.to_string(),
            subject,
            text,
            attachment: receipt
                .filter(|_| order.status == OrderStatus::Completed)
                .map(|pdf| (format!("receipt-{}.pdf", order.order_id), pdf)),
        })
    }

    /// The message as MIME text (CRLF line ends, base64 bodies wrapped at 76 columns).
    pub fn to_mime(&self, date: DateTime<Utc>) -> String {
        let boundary = format!("orderflow-{}", self.key.replace(':', "-"));
        let mut m = String::new();
        let mut header = |k: &str, v: &str| m.push_str(&format!("{k}: {v}\r\n"));
        header("From", &self.from);
        header("To", &self.to);
        header("Subject", &encode_header(&self.subject));
        header("Date", &date.to_rfc2822());
        header(
            "Message-ID",
            &format!("<{}@orderflow>", self.key.replace(':', ".")),
        );
        header("MIME-Version", "1.0");
        header(
            "Content-Type",
            &format!("multipart/mixed; boundary=\"{boundary}\""),
        );
        m.push_str("\r\n");
        m.push_str(&format!("--{boundary}\r\n"));
        m.push_str(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        );
        m.push_str(&wrap_base64(self.text.as_bytes()));
        if let Some((name, bytes)) = &self.attachment {
            m.push_str(&format!("--{boundary}\r\n"));
            m.push_str(&format!(
                "Content-Type: application/pdf; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            ));
            m.push_str(&wrap_base64(bytes));
        }
        m.push_str(&format!("--{boundary}--\r\n"));
        m
    }
}

fn encode_header(v: &str) -> String {
    if v.is_ascii() {
        v.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(v)
        )
    }
}

fn wrap_base64(bytes: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(b64.len() + b64.len() / 76 * 2 + 2);
    for chunk in b64.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::tests::product;
    use crate::domain::{CustomerId, Email, NewOrder, PricedLine, Quantity};

    fn order(status: OrderStatus) -> Order {
        let p = product("sku-a", 1999, 5);
        let mut o = Order::place(
            NewOrder {
                order_id: crate::domain::OrderId::generate(),
                customer_id: CustomerId::parse("c").unwrap(),
                customer_email: Email::parse("ann@example.com").unwrap(),
                lines: vec![PricedLine {
                    product: &p,
                    quantity: Quantity::parse(2).unwrap(),
                }],
                shipping_address: None,
                payment: None,
                access_token_sha256: String::new(),
                request_id: None,
            },
            Utc::now(),
        )
        .unwrap();
        o.transition(OrderStatus::Processing, None, Utc::now())
            .unwrap();
        match status {
            OrderStatus::Failed => o
                .transition(
                    status,
                    Some(crate::domain::FailureReason::OutOfStock),
                    Utc::now(),
                )
                .unwrap(),
            OrderStatus::Completed => o.transition(status, None, Utc::now()).unwrap(),
            _ => {}
        }
        o
    }

    #[test]
    fn a_confirmation_carries_the_receipt() {
        let o = order(OrderStatus::Completed);
        let m = MailMessage::for_order(&o, "Shop", "shop@example.com", Some(b"%PDF-1.3".to_vec()))
            .unwrap();
        assert_eq!(m.key, format!("{}:confirmation", o.order_id));
        let mime = m.to_mime(Utc::now());
        assert!(mime.contains("To: ann@example.com\r\n"));
        assert!(mime.contains("application/pdf"));
        assert!(mime.contains(&base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.3")));
        assert!(mime.lines().all(|l| l.len() <= 998), "RFC 5322 line limit");
    }

    #[test]
    fn a_failure_notice_has_no_attachment_and_pending_orders_get_nothing() {
        let m = MailMessage::for_order(
            &order(OrderStatus::Failed),
            "Shop",
            "s@example.com",
            Some(vec![1]),
        )
        .unwrap();
        assert!(m.attachment.is_none());
        assert!(m.text.contains("out of stock"));
        assert!(MailMessage::for_order(
            &order(OrderStatus::Processing),
            "Shop",
            "s@example.com",
            None
        )
        .is_none());
    }

    #[test]
    fn an_order_on_invoice_is_asked_to_pay_by_its_due_date_then_told_it_lapsed() {
        let mut o = order(OrderStatus::Processing);
        let due = chrono::DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        o.await_payment(due, Utc::now()).unwrap();
        let m = MailMessage::for_order(&o, "Shop", "s@example.com", Some(vec![1])).unwrap();
        assert_eq!(m.key, format!("{}:invoice", o.order_id));
        assert!(m.attachment.is_none(), "nothing is paid yet: no receipt");
        assert!(m.text.contains("2026-12-04 10:00 UTC"), "{}", m.text);
        assert!(m.text.contains("Amount due: 39.98"), "{}", m.text);
        o.transition(
            OrderStatus::Failed,
            Some(crate::domain::FailureReason::PaymentOverdue),
            Utc::now(),
        )
        .unwrap();
        let m = MailMessage::for_order(&o, "Shop", "s@example.com", None).unwrap();
        assert_eq!(m.key, format!("{}:failure", o.order_id));
        assert!(m.text.contains("did not receive the payment"), "{}", m.text);
    }

    #[test]
    fn non_ascii_subjects_are_encoded() {
        assert_eq!(encode_header("plain"), "plain");
        assert!(encode_header("Zoë").starts_with("=?UTF-8?B?"));
    }
}
