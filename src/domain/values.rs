//! Parse-don't-validate newtypes: a value of one of these types is valid by construction.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a raw value was rejected; the HTTP layer adds the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid<T>(msg: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(msg.into()))
}

fn is_visible_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// `ord_` followed by a UUIDv7 in lower-case hex: unique, unguessable enough to be
/// an id (not a secret), and sorting ids sorts orders by creation time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderId(String);

impl OrderId {
    pub fn generate() -> Self {
        OrderId(format!("ord_{}", uuid::Uuid::now_v7().simple()))
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.strip_prefix("ord_") {
            Some(hex)
                if hex.len() == 32
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                Ok(OrderId(s.to_owned()))
            }
            _ => invalid(format!("`{}` is not an order id", truncate(s, 64))),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrderId {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        OrderId::parse(&s)
    }
}
impl From<OrderId> for String {
    fn from(v: OrderId) -> String {
        v.0
    }
}
impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(s: String) -> Result<Self, Invalid> {
                $name::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// The shop's identifier for a customer: 1–128 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerId(String);
string_newtype!(CustomerId);

impl CustomerId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.len() > 128 || !is_visible_ascii(s) {
            return invalid("must be 1 to 128 visible ASCII characters without spaces");
        }
        Ok(CustomerId(s.to_owned()))
    }
}

/// A catalog product id: 1–64 of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductId(String);
string_newtype!(ProductId);

impl ProductId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty()
            || s.len() > 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return invalid("must be 1 to 64 letters, digits, `-` or `_`");
        }
        Ok(ProductId(s.to_owned()))
    }
}

/// An e-mail address, checked for shape (one `@`, a dotted domain, no spaces), lower-cased domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);
string_newtype!(Email);

impl Email {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if s.is_empty() {
            return invalid("must not be empty");
        }
        if s.len() > 254 {
            return invalid("must be at most 254 characters");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return invalid("must be an e-mail address like name@example.com");
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && labels.last().is_some_and(|tld| tld.len() >= 2);
        if !local_ok || !domain_ok {
            return invalid("must be an e-mail address like name@example.com");
        }
        Ok(Email(format!("{local}@{}", domain.to_ascii_lowercase())))
    }
}

/// Units of one product on one order line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: u32 = 100;

    pub fn parse(n: i64) -> Result<Self, Invalid> {
        if !(1..=i64::from(Self::MAX)).contains(&n) {
            return invalid(format!("must be between 1 and {}", Self::MAX));
        }
        Ok(Quantity(n as u32))
    }

    pub fn get(&self) -> u32 {
        self.0
    }
}
impl TryFrom<u32> for Quantity {
    type Error = Invalid;
    fn try_from(n: u32) -> Result<Self, Invalid> {
        Quantity::parse(i64::from(n))
    }
}
impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        q.0
    }
}

/// A payment card number that passed the Luhn check. Never logged, never stored: the
/// payment gateway turns it into a token at intake. `Debug` shows only the last four digits.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber(String);

impl CardNumber {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let digits: String = s.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if digits.len() < 12 || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return invalid("must be 12 to 19 digits");
        }
        if !luhn_ok(&digits) {
            return invalid("is not a valid card number (checksum)");
        }
        Ok(CardNumber(digits))
    }

    pub fn digits(&self) -> &str {
        &self.0
    }

    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    pub fn brand(&self) -> &'static str {
        match self.0.as_bytes()[0] {
            b'4' => "visa",
            b'5' => "mastercard",
            b'3' => "amex",
            _ => "card",
        }
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber(****{})", self.last4())
    }
}

fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Where to ship. All text fields are trimmed, non-empty where required and bounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingAddress {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
}

/// Checks one free-text field: trimmed, 1..=max characters, no control characters and no
/// invisible format characters ([`is_invisible_format`]).
pub fn parse_text(s: &str, max: usize) -> Result<String, Invalid> {
    let t = s.trim();
    if t.is_empty() {
        return invalid("must not be empty");
    }
    if t.chars().count() > max {
        return invalid(format!("must be at most {max} characters"));
    }
    if t.chars().any(char::is_control) {
        return invalid("must not contain control characters");
    }
    if let Some(c) = t.chars().find(|&c| is_invisible_format(c)) {
        return invalid(format!(
            "must not contain invisible formatting characters (bidi controls, zero-width characters, line or paragraph separators): found U+{:04X}",
            c as u32
        ));
    }
    Ok(t.to_owned())
}

/// Unicode's format characters (category Cf: bidi embeddings, overrides and isolates,
/// zero-width space/joiners, word joiner, BOM, soft hyphen, invisible operators, tags…) and
/// the line and paragraph separators (Zl, Zp). Invisible in print, they can reorder or hide
/// what a person reads (a name shown reversed, an address that looks like another).
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

pub fn parse_country(s: &str) -> Result<String, Invalid> {
    let t = s.trim().to_ascii_uppercase();
    if t.len() != 2 || !t.bytes().all(|b| b.is_ascii_uppercase()) {
        return invalid("must be a two-letter country code such as US");
    }
    Ok(t)
}

/// An `Idempotency-Key` header value: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);
string_newtype!(IdempotencyKey);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.len() > 255 || !is_visible_ascii(s) {
            return invalid("must be 1 to 255 visible ASCII characters");
        }
        Ok(IdempotencyKey(s.to_owned()))
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The network one client controls: an IPv4 address, or an IPv6 address's /64 (one
/// subscriber's network: a host picks any address in it at will). IPv4-mapped IPv6
/// addresses count as the IPv4 address. What per-client limits count by.
pub fn client_network(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip.to_canonical() {
        std::net::IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            std::net::IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_roundtrip_and_sort_by_time() {
        let a = OrderId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = OrderId::generate();
        assert!(a < b);
        assert_eq!(OrderId::parse(a.as_str()).unwrap(), a);
        assert!(OrderId::parse("ord_xyz").is_err());
        assert!(OrderId::parse("../../etc/passwd").is_err());
        assert!(OrderId::parse(&a.as_str().to_uppercase()).is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "Ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "ann@x",
            "a b@x.com",
            "ann@x..com",
            "ann@-x.com",
            "a@b.c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantities_are_bounded() {
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(101).is_err());
        assert!(Quantity::parse(-1).is_err());
        assert_eq!(Quantity::parse(100).unwrap().get(), 100);
    }

    #[test]
    fn cards_need_a_valid_checksum_and_never_debug_print() {
        let c = CardNumber::parse("4242 4242 4242 4242").unwrap();
        assert_eq!(c.last4(), "4242");
        assert_eq!(format!("{c:?}"), "CardNumber(****4242)");
        assert!(CardNumber::parse("4000000000000002").is_ok());
        assert!(CardNumber::parse("4242424242424241").is_err());
        assert!(CardNumber::parse("12ab").is_err());
    }

    #[test]
    fn text_and_ids() {
        assert_eq!(parse_text("  Ann  ", 10).unwrap(), "Ann");
        assert!(parse_text("   ", 10).is_err());
        assert!(parse_text("abcdefghijk", 10).is_err());
        assert!(parse_text("a\u{0}b", 10).is_err());
        for hidden in [
            "\u{202E}",
            "\u{2066}",
            "\u{200B}",
            "\u{200D}",
            "\u{FEFF}",
            "\u{2028}",
            "\u{2029}",
            "\u{E0041}",
        ] {
            let err = parse_text(&format!("Ann{hidden}Lee"), 20).unwrap_err();
            assert!(err.to_string().contains("U+"), "{hidden:?}: {err}");
        }
        assert_eq!(parse_text("Zoë Ñúñez-Øre", 20).unwrap(), "Zoë Ñúñez-Øre");
        assert_eq!(parse_country("us").unwrap(), "US");
        assert!(parse_country("USA").is_err());
        assert!(ProductId::parse("sku-1").is_ok());
        assert!(ProductId::parse("sku 1").is_err());
        assert!(CustomerId::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
    }
}
