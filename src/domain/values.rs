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
    INVISIBLE_FORMAT
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&(c as u32)))
}

/// The code point ranges [`is_invisible_format`] refuses.
const INVISIBLE_FORMAT: [(u32, u32); 21] = [
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// The control characters (Cc), which `parse_text` refuses as well.
const CONTROL: [(u32, u32); 2] = [(0x0000, 0x001F), (0x007F, 0x009F)];

/// The characters `str::trim` removes (Unicode White_Space).
const WHITE_SPACE: [(u32, u32); 10] = [
    (0x0009, 0x000D),
    (0x0020, 0x0020),
    (0x0085, 0x0085),
    (0x00A0, 0x00A0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
];

/// A regular-expression character class of `ranges`, the characters themselves (no
/// escapes, which JSON Schema's and Python's dialects spell differently).
fn class(ranges: &[&[(u32, u32)]], negated: bool) -> String {
    let mut out = String::from(if negated { "[^" } else { "[" });
    for &(lo, hi) in ranges.iter().flat_map(|r| r.iter()) {
        let ch = |v: u32| char::from_u32(v).expect("a scalar value");
        out.push(ch(lo));
        if hi > lo {
            out.push('-');
            out.push(ch(hi));
        }
    }
    out.push(']');
    out
}

/// The pattern (JSON Schema, anchored) of exactly the strings [`parse_text`] accepts with
/// `max`, and blank ones too when `blank_ok` (fields where blank means absent).
pub fn text_pattern(max: usize, blank_ok: bool) -> String {
    let inner = class(&[&INVISIBLE_FORMAT, &CONTROL], true);
    let edge = class(&[&INVISIBLE_FORMAT, &CONTROL, &WHITE_SPACE], true);
    let core = match max {
        0 => String::new(),
        1 => edge.clone(),
        _ => format!("{edge}(?:{inner}{{0,{}}}{edge})?", max - 2),
    };
    let core = if blank_ok || max == 0 {
        format!("(?:{core})?")
    } else {
        core
    };
    trimmed(&core)
}

/// The character class of what `str::trim` removes (Unicode White_Space).
pub fn white_space_class() -> String {
    class(&[&WHITE_SPACE], false)
}

/// The anchored pattern of `core` with any white space (what `str::trim` removes) around it.
pub fn trimmed(core: &str) -> String {
    let space = white_space_class();
    format!("^{space}*{core}{space}*$")
}

/// ISO 3166-1: every assigned (alpha-2, alpha-3) pair, 249 of them, sorted by alpha-2
/// (generated from Debian's iso-codes `iso_3166-1.json`).
#[rustfmt::skip]
pub const COUNTRIES: [(&str, &str); 249] = [
    ("AD", "AND"), ("AE", "ARE"), ("AF", "AFG"), ("AG", "ATG"), ("AI", "AIA"), ("AL", "ALB"),
    ("AM", "ARM"), ("AO", "AGO"), ("AQ", "ATA"), ("AR", "ARG"), ("AS", "ASM"), ("AT", "AUT"),
    ("AU", "AUS"), ("AW", "ABW"), ("AX", "ALA"), ("AZ", "AZE"), ("BA", "BIH"), ("BB", "BRB"),
    ("BD", "BGD"), ("BE", "BEL"), ("BF", "BFA"), ("BG", "BGR"), ("BH", "BHR"), ("BI", "BDI"),
    ("BJ", "BEN"), ("BL", "BLM"), ("BM", "BMU"), ("BN", "BRN"), ("BO", "BOL"), ("BQ", "BES"),
    ("BR", "BRA"), ("BS", "BHS"), ("BT", "BTN"), ("BV", "BVT"), ("BW", "BWA"), ("BY", "BLR"),
    ("BZ", "BLZ"), ("CA", "CAN"), ("CC", "CCK"), ("CD", "COD"), ("CF", "CAF"), ("CG", "COG"),
    ("CH", "CHE"), ("CI", "CIV"), ("CK", "COK"), ("CL", "CHL"), ("CM", "CMR"), ("CN", "CHN"),
    ("CO", "COL"), ("CR", "CRI"), ("CU", "CUB"), ("CV", "CPV"), ("CW", "CUW"), ("CX", "CXR"),
    ("CY", "CYP"), ("CZ", "CZE"), ("DE", "DEU"), ("DJ", "DJI"), ("DK", "DNK"), ("DM", "DMA"),
    ("DO", "DOM"), ("DZ", "DZA"), ("EC", "ECU"), ("EE", "EST"), ("EG", "EGY"), ("EH", "ESH"),
    ("ER", "ERI"), ("ES", "ESP"), ("ET", "ETH"), ("FI", "FIN"), ("FJ", "FJI"), ("FK", "FLK"),
    ("FM", "FSM"), ("FO", "FRO"), ("FR", "FRA"), ("GA", "GAB"), ("GB", "GBR"), ("GD", "GRD"),
    ("GE", "GEO"), ("GF", "GUF"), ("GG", "GGY"), ("GH", "GHA"), ("GI", "GIB"), ("GL", "GRL"),
    ("GM", "GMB"), ("GN", "GIN"), ("GP", "GLP"), ("GQ", "GNQ"), ("GR", "GRC"), ("GS", "SGS"),
    ("GT", "GTM"), ("GU", "GUM"), ("GW", "GNB"), ("GY", "GUY"), ("HK", "HKG"), ("HM", "HMD"),
    ("HN", "HND"), ("HR", "HRV"), ("HT", "HTI"), ("HU", "HUN"), ("ID", "IDN"), ("IE", "IRL"),
    ("IL", "ISR"), ("IM", "IMN"), ("IN", "IND"), ("IO", "IOT"), ("IQ", "IRQ"), ("IR", "IRN"),
    ("IS", "ISL"), ("IT", "ITA"), ("JE", "JEY"), ("JM", "JAM"), ("JO", "JOR"), ("JP", "JPN"),
    ("KE", "KEN"), ("KG", "KGZ"), ("KH", "KHM"), ("KI", "KIR"), ("KM", "COM"), ("KN", "KNA"),
    ("KP", "PRK"), ("KR", "KOR"), ("KW", "KWT"), ("KY", "CYM"), ("KZ", "KAZ"), ("LA", "LAO"),
    ("LB", "LBN"), ("LC", "LCA"), ("LI", "LIE"), ("LK", "LKA"), ("LR", "LBR"), ("LS", "LSO"),
    ("LT", "LTU"), ("LU", "LUX"), ("LV", "LVA"), ("LY", "LBY"), ("MA", "MAR"), ("MC", "MCO"),
    ("MD", "MDA"), ("ME", "MNE"), ("MF", "MAF"), ("MG", "MDG"), ("MH", "MHL"), ("MK", "MKD"),
    ("ML", "MLI"), ("MM", "MMR"), ("MN", "MNG"), ("MO", "MAC"), ("MP", "MNP"), ("MQ", "MTQ"),
    ("MR", "MRT"), ("MS", "MSR"), ("MT", "MLT"), ("MU", "MUS"), ("MV", "MDV"), ("MW", "MWI"),
    ("MX", "MEX"), ("MY", "MYS"), ("MZ", "MOZ"), ("NA", "NAM"), ("NC", "NCL"), ("NE", "NER"),
    ("NF", "NFK"), ("NG", "NGA"), ("NI", "NIC"), ("NL", "NLD"), ("NO", "NOR"), ("NP", "NPL"),
    ("NR", "NRU"), ("NU", "NIU"), ("NZ", "NZL"), ("OM", "OMN"), ("PA", "PAN"), ("PE", "PER"),
    ("PF", "PYF"), ("PG", "PNG"), ("PH", "PHL"), ("PK", "PAK"), ("PL", "POL"), ("PM", "SPM"),
    ("PN", "PCN"), ("PR", "PRI"), ("PS", "PSE"), ("PT", "PRT"), ("PW", "PLW"), ("PY", "PRY"),
    ("QA", "QAT"), ("RE", "REU"), ("RO", "ROU"), ("RS", "SRB"), ("RU", "RUS"), ("RW", "RWA"),
    ("SA", "SAU"), ("SB", "SLB"), ("SC", "SYC"), ("SD", "SDN"), ("SE", "SWE"), ("SG", "SGP"),
    ("SH", "SHN"), ("SI", "SVN"), ("SJ", "SJM"), ("SK", "SVK"), ("SL", "SLE"), ("SM", "SMR"),
    ("SN", "SEN"), ("SO", "SOM"), ("SR", "SUR"), ("SS", "SSD"), ("ST", "STP"), ("SV", "SLV"),
    ("SX", "SXM"), ("SY", "SYR"), ("SZ", "SWZ"), ("TC", "TCA"), ("TD", "TCD"), ("TF", "ATF"),
    ("TG", "TGO"), ("TH", "THA"), ("TJ", "TJK"), ("TK", "TKL"), ("TL", "TLS"), ("TM", "TKM"),
    ("TN", "TUN"), ("TO", "TON"), ("TR", "TUR"), ("TT", "TTO"), ("TV", "TUV"), ("TW", "TWN"),
    ("TZ", "TZA"), ("UA", "UKR"), ("UG", "UGA"), ("UM", "UMI"), ("US", "USA"), ("UY", "URY"),
    ("UZ", "UZB"), ("VA", "VAT"), ("VC", "VCT"), ("VE", "VEN"), ("VG", "VGB"), ("VI", "VIR"),
    ("VN", "VNM"), ("VU", "VUT"), ("WF", "WLF"), ("WS", "WSM"), ("YE", "YEM"), ("YT", "MYT"),
    ("ZA", "ZAF"), ("ZM", "ZMB"), ("ZW", "ZWE"),
];

/// An assigned ISO 3166-1 code, alpha-2 (`US`) or alpha-3 (`USA`), any case, as its alpha-2.
pub fn parse_country(s: &str) -> Result<String, Invalid> {
    let t = s.trim().to_ascii_uppercase();
    let found = match t.len() {
        2 => COUNTRIES
            .binary_search_by(|(a2, _)| (*a2).cmp(t.as_str()))
            .ok(),
        3 => COUNTRIES.iter().position(|(_, a3)| *a3 == t),
        _ => None,
    };
    match found {
        Some(i) => Ok(COUNTRIES[i].0.to_owned()),
        None => {
            invalid("must be an assigned ISO 3166-1 country code, two letters (US) or three (USA)")
        }
    }
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
    fn the_pattern_tables_are_the_standard_librarys_classes() {
        let within =
            |t: &[(u32, u32)], c: char| t.iter().any(|&(lo, hi)| (lo..=hi).contains(&(c as u32)));
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(
                within(&WHITE_SPACE, c),
                c.is_whitespace(),
                "U+{:04X}",
                c as u32
            );
            assert_eq!(within(&CONTROL, c), c.is_control(), "U+{:04X}", c as u32);
        }
    }

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
        assert!(ProductId::parse("sku-1").is_ok());
        assert!(ProductId::parse("sku 1").is_err());
        assert!(CustomerId::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
    }

    #[test]
    fn countries_are_iso_3166_alpha_2_or_alpha_3_stored_as_alpha_2() {
        for (given, stored) in [
            ("USA", "US"),
            ("DEU", "DE"),
            ("gbr", "GB"),
            (" fra ", "FR"),
            ("de", "DE"),
            ("ALA", "AX"),
            ("ZWE", "ZW"),
        ] {
            assert_eq!(parse_country(given).unwrap(), stored, "{given}");
        }
        for refused in ["XX", "ZZZ", "UK", "EU", "U", "USAA", "", "U1", "ÜS"] {
            assert!(parse_country(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn the_country_table_is_complete_sorted_and_one_to_one() {
        use std::collections::HashSet;
        let a2: HashSet<_> = COUNTRIES.iter().map(|c| c.0).collect();
        let a3: HashSet<_> = COUNTRIES.iter().map(|c| c.1).collect();
        assert_eq!((a2.len(), a3.len()), (249, 249));
        assert!(
            COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted by alpha-2"
        );
        for (two, three) in COUNTRIES {
            assert!(two.len() == 2 && two.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(three.len() == 3 && three.bytes().all(|b| b.is_ascii_uppercase()));
            assert_eq!(parse_country(three).unwrap(), two);
            assert_eq!(parse_country(two).unwrap(), two);
        }
    }
}
