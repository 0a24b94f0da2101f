//! The customer e-mail sent when an order is final, as a MIME message (RFC 5322), the same
//! bytes whether SES sends it or the embedded family writes it to an `.eml` file.

use super::order::{Order, OrderStatus};
use chrono::{DateTime, Utc};
use lettre::message::header::{
    ContentDisposition, ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue,
};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};

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

    /// The message as MIME text (RFC 5322, built with lettre: CRLF line ends, base64 bodies
    /// wrapped at 76 columns, a non-ASCII subject encoded per RFC 2047). The same message and
    /// date give the same bytes: the boundary and the Message-ID derive from the key.
    pub fn to_mime(&self, date: DateTime<Utc>) -> String {
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .header(ContentTransferEncoding::Base64)
            // As bytes: lettre would turn a `String`'s LF line ends into CRLF (the canonical
            // form of text/plain); the base64 body carries the text exactly as written, as
            // before and as the mailer conformance suite reads it back.
            .body(self.text.as_bytes().to_vec());
        let mut body = MultiPart::mixed()
            .boundary(boundary(&self.key))
            .singlepart(text);
        if let Some((name, bytes)) = &self.attachment {
            let content_type = ContentType::parse(&format!("application/pdf; name=\"{name}\""))
                .unwrap_or_else(|_| ContentType::parse("application/pdf").expect("a MIME type"));
            let part = SinglePart::builder()
                .header(content_type)
                .header(ContentTransferEncoding::Base64);
            let part = match AttachmentName::new(name) {
                Some(plain) => part.header(plain),
                None => part.header(ContentDisposition::attachment(name)),
            };
            body = body.singlepart(part.body(bytes.clone()));
        }
        let message = Message::builder()
            .from(mailbox(&self.from))
            .to(mailbox(&self.to))
            .subject(self.subject.clone())
            .date(date.into())
            .message_id(Some(format!("<{}@orderflow>", self.key.replace(':', "."))))
            .multipart(body)
            .expect("From and To are set");
        String::from_utf8(message.formatted())
            .expect("lettre writes 7-bit headers and base64 bodies")
    }
}

/// A multipart boundary of the key's own (the same bytes for the same message), short enough
/// for `Content-Type: multipart/mixed; boundary="…"` to stay on one line. `-` is not in the
/// base64 alphabet, so no body line can be taken for it.
fn boundary(key: &str) -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    format!("orderflow-{}", &digest[..20])
}

/// An address as a lettre mailbox. Senders and recipients are [`super::Email`]-checked before
/// they get here; one lettre still refuses is written as it is rather than dropping the mail.
fn mailbox(address: &str) -> Mailbox {
    let email = address.parse::<Address>().unwrap_or_else(|_| {
        let (user, domain) = address.rsplit_once('@').unwrap_or((address, "invalid"));
        Address::new_dangerous(user, domain)
    });
    Mailbox::new(None, email)
}

/// `Content-Disposition: attachment; filename="receipt-ord_….pdf"` on one line, for a plain
/// file name (letters, digits, `.`, `_`, `-`). lettre's own header splits a name that does
/// not fit 76 columns into RFC 2231 continuations (`filename*0="…"`), which fewer mail
/// clients read than the plain parameter; RFC 5322 allows the longer line (up to 998).
#[derive(Clone)]
struct AttachmentName(String);

impl AttachmentName {
    fn new(name: &str) -> Option<Self> {
        let plain = !name.is_empty()
            && name.len() <= 200
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        plain.then(|| AttachmentName(format!("attachment; filename=\"{name}\"")))
    }
}

impl Header for AttachmentName {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Content-Disposition")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        s.strip_prefix("attachment; filename=\"")
            .and_then(|rest| rest.strip_suffix('"'))
            .and_then(AttachmentName::new)
            .ok_or_else(|| "not a plain attachment file name".into())
    }

    fn display(&self) -> HeaderValue {
        // Checked in `new`: printable ASCII without quotes, CR or LF; nothing to encode.
        HeaderValue::dangerous_new_pre_encoded(Self::name(), self.0.clone(), self.0.clone())
    }
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
        assert!(mime.contains(&base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            b"%PDF-1.3"
        )));
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

    fn confirmation() -> MailMessage {
        MailMessage {
            key: "ord_0190a1b2c3d4e5f60718293a4b5c6d7e:confirmation".into(),
            from: "shop@example.com".into(),
            to: "zoe@example.com".into(),
            subject: "Bestätigung — Order ord_0190a1b2c3d4e5f60718293a4b5c6d7e".into(),
            text: "Grüße\n".into(),
            attachment: Some((
                "receipt-ord_0190a1b2c3d4e5f60718293a4b5c6d7e.pdf".into(),
                b"%PDF-1.3\n%\xe2\xe3\xcf\xd3\n".to_vec(),
            )),
        }
    }

    /// The header block of `entity`, unfolded (RFC 5322 2.2.3), as (name, value) pairs.
    fn headers(entity: &str) -> Vec<(String, String)> {
        let head = entity
            .split("\r\n\r\n")
            .next()
            .unwrap()
            .replace("\r\n ", " ");
        head.split("\r\n")
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn header(entity: &str, name: &str) -> Option<String> {
        headers(entity)
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// An unfolded header value with its RFC 2047 encoded words (`=?utf-8?b?…?=`, as lettre
    /// writes them) decoded: the space between two encoded words is not part of the text.
    fn decode_words(v: &str) -> String {
        use base64::Engine;
        let mut out = String::new();
        let mut after_word = false;
        for token in v.split(' ') {
            let word = token
                .strip_prefix("=?utf-8?b?")
                .or_else(|| token.strip_prefix("=?UTF-8?B?"))
                .and_then(|w| w.strip_suffix("?="));
            if !out.is_empty() && (!after_word || word.is_none()) {
                out.push(' ');
            }
            match word {
                Some(b64) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap();
                    out.push_str(std::str::from_utf8(&bytes).unwrap());
                }
                None => out.push_str(token),
            }
            after_word = word.is_some();
        }
        out
    }

    #[test]
    fn a_non_ascii_subject_is_encoded_and_the_message_parses_back() {
        use base64::Engine;
        let m = confirmation();
        let mime = m.to_mime(Utc::now());
        assert!(mime.is_ascii(), "7-bit headers and base64 bodies");
        assert!(mime.lines().all(|l| l.len() <= 998), "RFC 5322 line limit");
        let subject = header(&mime, "Subject").unwrap();
        assert!(
            subject.starts_with("=?utf-8?b?") || subject.starts_with("=?UTF-8?B?"),
            "{subject}"
        );
        let decoded: String = decode_words(&subject);
        assert_eq!(decoded, m.subject);
        assert_eq!(header(&mime, "From").as_deref(), Some("shop@example.com"));
        assert_eq!(header(&mime, "To").as_deref(), Some("zoe@example.com"));
        assert_eq!(header(&mime, "MIME-Version").as_deref(), Some("1.0"));

        let content_type = header(&mime, "Content-Type").unwrap();
        let boundary = content_type
            .split_once("boundary=\"")
            .and_then(|(_, b)| b.split_once('"'))
            .map(|(b, _)| b.to_owned())
            .unwrap_or_else(|| panic!("a quoted boundary: {content_type}"));
        assert!(
            content_type.starts_with("multipart/mixed"),
            "{content_type}"
        );
        let parts: Vec<&str> = mime
            .split(format!("--{boundary}").as_str())
            .skip(1)
            .filter(|p| !p.starts_with("--"))
            .map(|p| p.trim_start_matches("\r\n"))
            .collect();
        assert_eq!(parts.len(), 2, "{mime}");
        let body = |part: &str| {
            let b64: String = part
                .split_once("\r\n\r\n")
                .unwrap()
                .1
                .split_whitespace()
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap()
        };
        assert!(header(parts[0], "Content-Type")
            .unwrap()
            .starts_with("text/plain"));
        assert_eq!(body(parts[0]), m.text.as_bytes());
        let (name, pdf) = m.attachment.as_ref().unwrap();
        assert_eq!(
            header(parts[1], "Content-Disposition"),
            Some(format!("attachment; filename=\"{name}\""))
        );
        assert!(header(parts[1], "Content-Type")
            .unwrap()
            .starts_with("application/pdf"));
        assert_eq!(&body(parts[1]), pdf);
    }

    #[test]
    fn the_same_message_and_date_render_the_same_bytes() {
        let date = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let m = confirmation();
        let mime = m.to_mime(date);
        assert_eq!(mime, m.to_mime(date));
        assert_eq!(
            header(&mime, "Message-ID").as_deref(),
            Some("<ord_0190a1b2c3d4e5f60718293a4b5c6d7e.confirmation@orderflow>")
        );
        assert_eq!(
            header(&mime, "Date").as_deref(),
            Some("Tue, 01 Dec 2026 10:00:00 +0000")
        );
        assert_ne!(
            boundary(&m.key),
            boundary("ord_0190a1b2c3d4e5f60718293a4b5c6d7e:failure"),
            "a boundary per message"
        );
    }
}
