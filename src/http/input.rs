//! Turns a raw JSON request into domain values, naming the field at fault on any error.

use super::errors::ApiError;
use crate::domain::values::{parse_country, parse_text};
use crate::domain::{
    CardNumber, Currency, CustomerId, Email, Money, ProductId, Quantity, ShippingAddress,
};
pub use crate::place_order::{ItemInput, PlaceOrderInput};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;
use utoipa::ToSchema;

/// Fields the server decides; a client sending them gets 400 rather than silence.
const READ_ONLY: &[&str] = &[
    "orderId",
    "status",
    "total",
    "totalAmount",
    "totals",
    "subtotal",
    "amount",
    "currency",
    "createdAt",
    "updatedAt",
    "timeline",
    "failureReason",
    "accessToken",
    "receiptUrl",
    "unitPrice",
    "lineTotal",
];

/// Parses a JSON body, refusing a key that appears twice in one object (serde_json would
/// keep the last silently, while a proxy or WAF in front may have read the first): 400
/// `DUPLICATE_KEY` naming it (`shippingAddress.name`, `items[0].quantity`).
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    let duplicate = RefCell::new(None);
    let seed = UniqueKeys {
        path: String::new(),
        duplicate: &duplicate,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match duplicate.into_inner() {
        Some(field) => ApiError::invalid_code(
            "DUPLICATE_KEY",
            &field,
            format!("`{field}` appears more than once; send each key once"),
        ),
        None => ApiError::Invalid {
            code: "MALFORMED_JSON",
            message: format!("the body is not valid JSON: {e}"),
            field: None,
        },
    })
}

/// Deserialises any JSON value at `path`, recording the first duplicate key it meets.
struct UniqueKeys<'a> {
    path: String,
    duplicate: &'a RefCell<Option<String>>,
}

impl<'a> UniqueKeys<'a> {
    fn at(&self, path: String) -> UniqueKeys<'a> {
        UniqueKeys {
            path,
            duplicate: self.duplicate,
        }
    }
}

impl<'de> DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) =
            seq.next_element_seed(self.at(format!("{}[{}]", self.path, out.len())))?
        {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if out.contains_key(&key) {
                let message = format!("duplicate key `{path}`");
                *self.duplicate.borrow_mut() = Some(path);
                return Err(de::Error::custom(message));
            }
            let value = map.next_value_seed(self.at(path))?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

// ---------------------------------------------------------------- request bodies
// Each body is a type deriving both `Deserialize` (what is accepted) and `ToSchema` (what the
// OpenAPI document says), so the two cannot drift. serde checks the shape (objects, arrays,
// strings, unknown and missing fields) and `serde_path_to_error` names the field at fault;
// the conversions below check the values (domain parsing) with the same field names.

/// The body of `POST /api/orders`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceOrderRequest {
    /// 1 to 128 visible ASCII characters.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[!-~]{1,128}$",
        example = "cust-42"
    )]
    pub customer_id: String,
    /// An address `local@domain`: the local part 1 to 64 of letters, digits,
    /// ``!#$%&'*+/=?^_`{|}~-`` and inner single dots; the domain two or more dotted labels of
    /// letters, digits and inner `-` (the last at least two characters). Surrounding spaces
    /// are trimmed; the domain is stored lower-case.
    #[schema(
        max_length = 254,
        pattern = r"^\s*(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9][A-Za-z0-9-]{0,61}[A-Za-z0-9]\s*$",
        example = "ann@example.com"
    )]
    pub customer_email: String,
    /// 1 to 49 lines (`MAX_LINES`), each product at most once.
    #[schema(min_items = 1, max_items = 49)]
    pub items: Vec<OrderItemRequest>,
    #[serde(default)]
    pub shipping_address: Option<ShippingAddressRequest>,
    /// Without it the order is on invoice: refused (400 `PAYMENT_REQUIRED`) unless the shop
    /// takes orders on invoice (`orders.invoice_enabled`).
    #[serde(default)]
    pub payment: Option<PaymentRequest>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderItemRequest {
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$", example = "sku-mug")]
    pub product_id: String,
    /// 1 to 100 (`Quantity::MAX`; a test holds the two together).
    #[schema(value_type = u32, minimum = 1, maximum = 100)]
    pub quantity: WholeNumber,
    /// The unit price the shopper saw (a decimal, as a string or a JSON number). If the
    /// catalog price differs, the order is refused with 409 `PRICE_CHANGED` instead of
    /// charging a surprise.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "12.50")]
    pub price: Option<Decimal>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentRequest {
    /// 12 to 19 digits (spaces and dashes allowed); only a token and the last four are kept.
    /// `4000000000000002` is always declined by the simulated gateway.
    #[schema(example = "4242424242424242")]
    pub card_number: String,
}

/// A shipping address as sent. Besides the names the order shows (`line1`, `region`,
/// `postalCode`) it takes the names clients of the common serverless order APIs send
/// (`street`, `state`, `zipCode`); sending both names of one field is a 400
/// (`CONFLICTING_FIELDS`). The document adds a `oneOf` per required pair
/// ([`super::openapi::json`]).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShippingAddressRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The street line; `street` is another name for it (send one of the two).
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub line1: Option<String>,
    /// Another name for `line1`.
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub street: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100)]
    pub city: Option<String>,
    /// State, province or county; `state` is another name for it (send at most one).
    #[serde(default)]
    #[schema(max_length = 100)]
    pub region: Option<String>,
    /// Another name for `region`.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub state: Option<String>,
    /// `zipCode` is another name for it (send one of the two).
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 20)]
    pub postal_code: Option<String>,
    /// Another name for `postalCode`.
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 20)]
    pub zip_code: Option<String>,
    /// An assigned ISO 3166-1 code, alpha-2 (`US`) or alpha-3 (`USA`), in any case; stored
    /// and shown as alpha-2. The pattern lists every assigned code.
    #[serde(default)]
    #[schema(value_type = String, required = true, example = "US")]
    pub country: Option<String>,
}

/// The body of `POST /api/orders/{order_id}/payment`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPaymentRequest {
    /// The payment's reference as the shop books it (a bank transfer's, a cheque number).
    #[schema(min_length = 1, max_length = 200)]
    pub reference: String,
}

/// A JSON integer (a fraction or a string is refused as not a whole number).
pub struct WholeNumber(pub i64);

impl<'de> Deserialize<'de> for WholeNumber {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Whole;
        impl Visitor<'_> for Whole {
            type Value = WholeNumber;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WholeNumber, E> {
                Ok(WholeNumber(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WholeNumber, E> {
                i64::try_from(v)
                    .map(WholeNumber)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            /// `24.0` is a whole number too (JSON Schema's `integer` says so).
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<WholeNumber, E> {
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(WholeNumber(v as i64))
                } else {
                    Err(E::invalid_type(de::Unexpected::Float(v), &self))
                }
            }
        }
        d.deserialize_any(Whole)
    }
}

/// A decimal amount as the client wrote it: a string (`"12.50"`) or a JSON number (`12.5`).
/// Only its text is kept here; [`Money::parse_decimal`] checks it.
pub struct Decimal(pub String);

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a decimal such as 19.99")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
                Ok(Decimal(v.trim().to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
                Ok(Decimal(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
                // The shortest text that reads back as `v`: `0.57` is "0.57", and the
                // 0.5700000000000001 of `57.0 * 0.01` stays that (refused: 16 decimals), as
                // JSON Schema's `multipleOf: 0.01` refuses it.
                Ok(Decimal(v.to_string()))
            }
        }
        d.deserialize_any(Text)
    }
}

/// The name serde quotes in `problem` after `prefix` (``unknown field `x`, expected …``,
/// ``duplicate field `x` ``), or `None` if `problem` does not start so.
fn quoted_name(problem: &str, prefix: &str) -> Option<String> {
    let rest = problem.strip_prefix(prefix)?;
    let end = rest.find("`, expected").or_else(|| rest.rfind('`'))?;
    Some(rest[..end].to_owned())
}

/// A query string as a `T` whose fields are all optional strings, or a 400 naming the
/// parameter: an unknown one (`UNKNOWN_FIELD`) or one given twice.
pub fn parse_query<T: de::DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(query).map_err(|e| {
        let problem = e.to_string();
        if let Some(name) = quoted_name(&problem, "unknown field `") {
            let message = format!("unknown query parameter `{name}`");
            return ApiError::invalid_code("UNKNOWN_FIELD", name, message);
        }
        if let Some(name) = quoted_name(&problem, "duplicate field `") {
            let message = format!("`{name}` is given more than once");
            return ApiError::invalid(name, message);
        }
        ApiError::Invalid {
            code: "VALIDATION_ERROR",
            message: format!("bad query string: {problem}"),
            field: None,
        }
    })
}

/// A whole-number query parameter (digits only): `None` when absent, else a number in
/// `min` to `max` (no upper bound if `None`) or a 400 naming `field` (an empty value is not
/// absent: it is refused).
pub fn query_number(
    value: Option<&str>,
    field: &str,
    min: u64,
    max: Option<u64>,
) -> Result<Option<u64>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    let bounds = match max {
        Some(max) => format!("from {min} to {max}"),
        None => format!("at least {min}"),
    };
    Some(v)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| *n >= min && max.is_none_or(|max| *n <= max))
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid(field, format!("`{field}` must be a whole number {bounds}"))
        })
}

/// `body` as a `T`, or the 400 naming the field at fault: an unknown field (or one the
/// server decides), a missing one (`null` counts as missing), or a value of the wrong type.
pub fn parse_body<T: de::DeserializeOwned>(body: &Value) -> Result<T, ApiError> {
    if !body.is_object() {
        // serde would read a struct from an array too.
        return Err(ApiError::Invalid {
            code: "VALIDATION_ERROR",
            message: "the body must be a JSON object".into(),
            field: None,
        });
    }
    serde_path_to_error::deserialize(body).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." { String::new() } else { at };
        let problem = e.inner().to_string();
        let join = |name: &str| {
            if at.is_empty() {
                name.to_owned()
            } else {
                format!("{at}.{name}")
            }
        };
        let named = |prefix: &str| quoted_name(&problem, prefix);
        if let Some(name) = named("unknown field `") {
            // The path may already end at the unknown key.
            let field = if at.ends_with(&name) {
                at.clone()
            } else {
                join(&name)
            };
            return if READ_ONLY.contains(&name.as_str()) {
                ApiError::invalid_code(
                    "READ_ONLY_FIELD",
                    field.clone(),
                    format!("`{field}` is decided by the server and must not be sent"),
                )
            } else {
                ApiError::invalid_code(
                    "UNKNOWN_FIELD",
                    field.clone(),
                    format!("unknown field `{field}`"),
                )
            };
        }
        if let Some(name) = named("missing field `") {
            let field = join(&name);
            return ApiError::invalid_code(
                "MISSING_FIELD",
                field.clone(),
                format!("`{field}` is required"),
            );
        }
        if problem.starts_with("invalid type: null") {
            return ApiError::invalid_code(
                "MISSING_FIELD",
                at.clone(),
                format!("`{at}` is required"),
            );
        }
        if at.is_empty() {
            return ApiError::Invalid {
                code: "VALIDATION_ERROR",
                message: "the body must be a JSON object".into(),
                field: None,
            };
        }
        // "invalid type: integer `5`, expected a string" → "must be a string (got integer `5`)"
        let expected = match problem.rsplit_once(", expected ") {
            Some((got, want)) => {
                let got = got
                    .trim_start_matches("invalid type: ")
                    .trim_start_matches("invalid value: ");
                format!("must be {} (got {})", json_words(want), json_words(got))
            }
            None => format!(": {problem}"),
        };
        ApiError::invalid(&at, format!("`{at}` {expected}"))
    })
}

/// serde's words for JSON's kinds of value, in JSON's words.
fn json_words(serde: &str) -> String {
    if serde.starts_with("struct ") || serde == "map" {
        return "an object".into();
    }
    match serde {
        "a sequence" | "sequence" => "an array".into(),
        other => other.to_owned(),
    }
}

/// The most characters of each free-text field (after trimming): the parsers and the
/// document's patterns ([`super::openapi`]) both read them from here.
pub(super) mod most {
    pub const PRODUCT_NAME: usize = 100;
    pub const DESCRIPTION: usize = 1000;
    pub const REASON: usize = 200;
    pub const REFERENCE: usize = 200;
    pub const RECIPIENT: usize = 100;
    pub const STREET: usize = 200;
    pub const CITY: usize = 100;
    pub const REGION: usize = 100;
    pub const POSTAL_CODE: usize = 20;
}

/// `text` as trimmed, printable text of at most `max` characters, or the 400 naming `field`.
pub(super) fn text(value: &str, field: &str, max: usize) -> Result<String, ApiError> {
    parse_text(value, max).map_err(|e| ApiError::invalid(field, format!("`{field}` {e}")))
}

/// Like [`text`], but blank is absent.
pub(super) fn optional_text(
    value: Option<&str>,
    field: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => text(v, field, max).map(Some),
    }
}

/// The body of `POST /api/orders/{id}/payment`: the payment's reference (1 to 200
/// characters of text).
pub fn parse_record_payment(body: &Value) -> Result<String, ApiError> {
    let req: RecordPaymentRequest = parse_body(body)?;
    text(&req.reference, "reference", most::REFERENCE)
}

/// One field sent under its name (`canonical`) or its alias, not both: the name it came
/// under and its value, if sent.
fn one_of(
    canonical: (&'static str, Option<String>),
    alias: (&'static str, Option<String>),
) -> Result<Option<(&'static str, String)>, ApiError> {
    match (canonical, alias) {
        ((other, Some(_)), (name, Some(_))) => {
            let (name, other) = (f_address(name), f_address(other));
            Err(ApiError::invalid_code(
                "CONFLICTING_FIELDS",
                name.clone(),
                format!("`{name}` is another name for `{other}`; send one of the two"),
            ))
        }
        ((name, Some(v)), _) | (_, (name, Some(v))) => Ok(Some((name, v))),
        _ => Ok(None),
    }
}

fn f_address(name: &str) -> String {
    format!("shippingAddress.{name}")
}

/// `value`, or the 400 saying `shippingAddress.{name}` is required.
fn required<T>(name: &str, value: Option<T>) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        let field = f_address(name);
        ApiError::invalid_code(
            "MISSING_FIELD",
            field.clone(),
            format!("`{field}` is required"),
        )
    })
}

fn shipping_address(a: ShippingAddressRequest) -> Result<ShippingAddress, ApiError> {
    let f = f_address;
    // Checked in the order of the fields, as serde reports a missing `name`.
    let (line1_as, line1) = required("line1", one_of(("line1", a.line1), ("street", a.street))?)?;
    let region = one_of(("region", a.region), ("state", a.state))?;
    let city = required("city", a.city)?;
    let postal = one_of(("postalCode", a.postal_code), ("zipCode", a.zip_code))?;
    let (postal_as, postal_code) = required("postalCode", postal)?;
    let country = required("country", a.country)?;
    let region = match region {
        None => None,
        Some((name, v)) => optional_text(Some(&v), &f(name), most::REGION)?,
    };
    Ok(ShippingAddress {
        name: text(&a.name, &f("name"), most::RECIPIENT)?,
        line1: text(&line1, &f(line1_as), most::STREET)?,
        line2: optional_text(a.line2.as_deref(), &f("line2"), most::STREET)?,
        city: text(&city, &f("city"), most::CITY)?,
        region,
        postal_code: text(&postal_code, &f(postal_as), most::POSTAL_CODE)?,
        country: parse_country(&country).map_err(|e| {
            let field = f("country");
            ApiError::invalid(&field, format!("`{field}` {e}"))
        })?,
    })
}

pub fn parse_place_order(body: &Value) -> Result<PlaceOrderInput, ApiError> {
    let req: PlaceOrderRequest = parse_body(body)?;
    let customer_id = CustomerId::parse(&req.customer_id)
        .map_err(|e| ApiError::invalid("customerId", format!("`customerId` {e}")))?;
    let customer_email = Email::parse(&req.customer_email)
        .map_err(|e| ApiError::invalid("customerEmail", format!("`customerEmail` {e}")))?;
    if req.items.is_empty() {
        return Err(ApiError::invalid(
            "items",
            "`items` must list at least one product",
        ));
    }
    let max_lines = crate::domain::order::MAX_LINES;
    if req.items.len() > max_lines {
        return Err(ApiError::invalid(
            "items",
            format!("`items` may list at most {max_lines} lines"),
        ));
    }
    let mut items: Vec<ItemInput> = Vec::with_capacity(req.items.len());
    for (i, item) in req.items.into_iter().enumerate() {
        let field = format!("items[{i}].productId");
        let product_id = ProductId::parse(&item.product_id)
            .map_err(|e| ApiError::invalid(&field, format!("`{field}` {e}")))?;
        if items.iter().any(|p| p.product_id == product_id) {
            return Err(ApiError::invalid(&field, format!("`{field}`: {product_id} is already on another line; change its quantity instead")));
        }
        let field = format!("items[{i}].quantity");
        let quantity = Quantity::parse(item.quantity.0)
            .map_err(|e| ApiError::invalid(&field, format!("`{field}` {e}")))?;
        let price = item.price.map(|p| p.0);
        if let Some(p) = &price {
            // Syntax only here; the currency comes from the catalog.
            let field = format!("items[{i}].price");
            Money::parse_decimal(p, Currency::USD)
                .map_err(|e| ApiError::invalid(&field, format!("`{field}`: {e}")))?;
        }
        items.push(ItemInput {
            product_id,
            quantity,
            price,
        });
    }
    let shipping_address = match req.shipping_address {
        None => None,
        Some(a) => Some(shipping_address(a)?),
    };
    let card = match req.payment {
        None => None,
        Some(p) => {
            let field = "payment.cardNumber";
            Some(
                CardNumber::parse(&p.card_number)
                    .map_err(|e| ApiError::invalid(field, format!("`{field}` {e}")))?,
            )
        }
    };
    Ok(PlaceOrderInput {
        customer_id,
        customer_email,
        items,
        shipping_address,
        card,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_json_number_price_is_read_as_its_shortest_decimal() {
        let text = |v: f64| serde_json::from_value::<Decimal>(json!(v)).unwrap().0;
        assert_eq!(text(0.57), "0.57");
        assert_eq!(
            text(57.0 * 0.01),
            "0.5700000000000001",
            "refused later, as documented"
        );
        assert_eq!(text(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(text(1e21), "1000000000000000000000");
    }

    #[test]
    fn json_with_a_key_twice_is_refused_naming_the_key() {
        let field = |body: &str| match parse_json(body.as_bytes()) {
            Err(ApiError::Invalid { code, field, .. }) => (code, field.unwrap_or_default()),
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(
            field(r#"{"customerEmail":"a@x.io","customerEmail":"b@y.io"}"#),
            ("DUPLICATE_KEY", "customerEmail".into())
        );
        assert_eq!(
            field(r#"{"items":[{"quantity":1},{"productId":"a","quantity":1,"quantity":2}]}"#),
            ("DUPLICATE_KEY", "items[1].quantity".into())
        );
        assert_eq!(
            field(r#"{"shippingAddress":{"name":"A","name":"B"}}"#),
            ("DUPLICATE_KEY", "shippingAddress.name".into())
        );
        assert_eq!(field(r#"{"a":1} x"#).0, "MALFORMED_JSON");
        assert_eq!(field(r#"{"a":"#).0, "MALFORMED_JSON");
        // The same key in different objects is fine, and the value is what serde_json reads.
        let body = r#"{"a":{"n":1.5,"m":[true,null,-3,18446744073709551615]},"b":{"n":"x"}}"#;
        let plain: Value = serde_json::from_str(body).unwrap();
        assert_eq!(parse_json(body.as_bytes()).unwrap(), plain);
    }

    fn field_of(v: Value) -> String {
        match parse_place_order(&v) {
            Err(ApiError::Invalid { field, .. }) => field.unwrap_or_default(),
            Err(e) => panic!("unexpected error {e:?}"),
            Ok(_) => panic!("accepted {v}"),
        }
    }

    fn good() -> Value {
        json!({"customerId":"c1","customerEmail":"a@example.com","items":[{"productId":"sku-mug","quantity":1}]})
    }

    #[test]
    fn accepts_a_minimal_order() {
        let o = parse_place_order(&good()).unwrap();
        assert_eq!(o.items.len(), 1);
        assert!(o.card.is_none());
    }

    #[test]
    fn names_the_field_at_fault() {
        let mut v = good();
        v["total"] = json!(1);
        assert_eq!(field_of(v), "total");
        let mut v = good();
        v["customerEmail"] = json!("nope");
        assert_eq!(field_of(v), "customerEmail");
        let mut v = good();
        v["items"][0]["quantity"] = json!(0);
        assert_eq!(field_of(v), "items[0].quantity");
        let mut v = good();
        v["items"][0]["quantity"] = json!(1.5);
        assert_eq!(field_of(v), "items[0].quantity");
        let mut v = good();
        v["items"][0]["price"] = json!("1.999");
        assert_eq!(field_of(v), "items[0].price");
        let mut v = good();
        v["payment"] = json!({"cardNumber":"4242424242424241"});
        assert_eq!(field_of(v), "payment.cardNumber");
        let mut v = good();
        v["shippingAddress"] =
            json!({"name":"A","line1":"1 St","city":"X","postalCode":"1","country":"ZZZ"});
        assert_eq!(field_of(v), "shippingAddress.country");
        let mut v = good();
        v.as_object_mut().unwrap().remove("customerId");
        assert_eq!(field_of(v), "customerId");
        let mut v = good();
        v["items"] = json!([]);
        assert_eq!(field_of(v), "items");
        let mut v = good();
        v["items"][0]["status"] = json!("COMPLETED");
        assert_eq!(field_of(v), "items[0].status");
    }
}

#[cfg(test)]
mod messages {
    use super::*;
    use serde_json::json;

    /// (code, field, message) of the 400 for `good()` changed by `change`.
    fn refused(change: impl FnOnce(&mut Value)) -> (&'static str, String, String) {
        let mut v = json!({"customerId":"c1","customerEmail":"a@example.com",
            "items":[{"productId":"sku-mug","quantity":1}]});
        change(&mut v);
        match parse_place_order(&v) {
            Err(ApiError::Invalid {
                code,
                field,
                message,
            }) => (code, field.unwrap_or_default(), message),
            other => panic!("{v}: {:?}", other.map(|_| ())),
        }
    }

    type Change = Box<dyn FnOnce(&mut Value)>;

    #[test]
    fn each_shape_error_names_its_field_and_says_what_was_expected_in_json_words() {
        let cases: Vec<(Change, &str, &str, &str)> = vec![
            (
                Box::new(|b| b["items"][0]["lineTotal"] = json!(1)),
                "READ_ONLY_FIELD",
                "items[0].lineTotal",
                "decided by the server",
            ),
            (
                Box::new(|b| b["items"][0]["coupon"] = json!(1)),
                "UNKNOWN_FIELD",
                "items[0].coupon",
                "unknown field `items[0].coupon`",
            ),
            (
                Box::new(|b| {
                    b["items"][0].as_object_mut().unwrap().remove("quantity");
                }),
                "MISSING_FIELD",
                "items[0].quantity",
                "is required",
            ),
            (
                Box::new(|b| b["items"][0]["quantity"] = json!(1.5)),
                "VALIDATION_ERROR",
                "items[0].quantity",
                "must be a whole number (got floating point `1.5`)",
            ),
            (
                Box::new(|b| b["items"][0]["quantity"] = json!("2")),
                "VALIDATION_ERROR",
                "items[0].quantity",
                "must be a whole number (got string \"2\")",
            ),
            (
                Box::new(|b| b["items"][0]["price"] = json!(true)),
                "VALIDATION_ERROR",
                "items[0].price",
                "must be a decimal such as 19.99",
            ),
            (
                Box::new(|b| b["customerId"] = json!(null)),
                "MISSING_FIELD",
                "customerId",
                "is required",
            ),
            (
                Box::new(|b| b["customerEmail"] = json!(5)),
                "VALIDATION_ERROR",
                "customerEmail",
                "must be a string (got integer `5`)",
            ),
            (
                Box::new(|b| b["items"] = json!({})),
                "VALIDATION_ERROR",
                "items",
                "must be an array (got an object)",
            ),
            (
                Box::new(|b| b["shippingAddress"] = json!("x")),
                "VALIDATION_ERROR",
                "shippingAddress",
                "must be an object",
            ),
            (
                Box::new(|b| b["shippingAddress"] = json!({"name":"A"})),
                "MISSING_FIELD",
                "shippingAddress.line1",
                "is required",
            ),
            (
                Box::new(|b| b["payment"] = json!({"cvc":"1"})),
                "UNKNOWN_FIELD",
                "payment.cvc",
                "unknown field",
            ),
            (
                Box::new(|b| *b = json!([1])),
                "VALIDATION_ERROR",
                "",
                "the body must be a JSON object",
            ),
        ];
        for (change, code, field, says) in cases {
            let (got_code, got_field, message) = refused(change);
            assert_eq!((got_code, got_field.as_str()), (code, field), "{message}");
            assert!(message.contains(says), "{field}: {message}");
        }
    }

    #[test]
    fn a_price_may_be_a_string_or_a_json_number() {
        let mut v = json!({"customerId":"c1","customerEmail":"a@example.com",
            "items":[{"productId":"sku-mug","quantity":1,"price":12.5},
                     {"productId":"sku-tea","quantity":2,"price":" 3.00 "}]});
        let parsed = parse_place_order(&v).unwrap();
        assert_eq!(parsed.items[0].price.as_deref(), Some("12.5"));
        assert_eq!(parsed.items[1].price.as_deref(), Some("3.00"));
        v["items"][0]["price"] = json!(null);
        assert_eq!(parse_place_order(&v).unwrap().items[0].price, None);
    }
}
