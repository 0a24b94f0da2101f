//! Turns a raw JSON request into domain values, naming the field at fault on any error.

use super::errors::ApiError;
use crate::domain::values::{parse_country, parse_text};
use crate::domain::{
    CardNumber, Currency, CustomerId, Email, Money, ProductId, Quantity, ShippingAddress,
};
pub use crate::place_order::{ItemInput, PlaceOrderInput};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;

/// Fields the server decides; a client sending them gets 400 rather than silence.
const READ_ONLY: &[&str] = &[
    "orderId",
    "status",
    "total",
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

fn check_keys(obj: &Map<String, Value>, prefix: &str, allowed: &[&str]) -> Result<(), ApiError> {
    for key in obj.keys() {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        let field = format!("{prefix}{key}");
        if READ_ONLY.contains(&key.as_str()) {
            return Err(ApiError::invalid_code(
                "READ_ONLY_FIELD",
                field.clone(),
                format!("`{field}` is decided by the server and must not be sent"),
            ));
        }
        return Err(ApiError::invalid_code(
            "UNKNOWN_FIELD",
            field.clone(),
            format!("unknown field `{field}`"),
        ));
    }
    Ok(())
}

fn required<'a>(
    obj: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<&'a Value, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(ApiError::invalid_code(
            "MISSING_FIELD",
            format!("{prefix}{key}"),
            format!("`{prefix}{key}` is required"),
        )),
        Some(v) => Ok(v),
    }
}

fn string<'a>(v: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    v.as_str()
        .ok_or_else(|| ApiError::invalid(field, format!("`{field}` must be a string")))
}

fn text(obj: &Map<String, Value>, prefix: &str, key: &str, max: usize) -> Result<String, ApiError> {
    let field = format!("{prefix}{key}");
    let s = string(required(obj, prefix, key)?, &field)?;
    parse_text(s, max).map_err(|e| ApiError::invalid(&field, format!("`{field}` {e}")))
}

fn optional_text(
    obj: &Map<String, Value>,
    prefix: &str,
    key: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(_) => text(obj, prefix, key, max).map(Some),
    }
}

/// The body of `POST /api/orders/{id}/payment`: `{"reference": "…"}`, the payment's
/// reference as the shop books it (1 to 200 characters of text).
pub fn parse_record_payment(body: &Value) -> Result<String, ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("body", "the body must be a JSON object"))?;
    check_keys(obj, "", &["reference"])?;
    text(obj, "", "reference", 200)
}

pub fn parse_place_order(body: &Value) -> Result<PlaceOrderInput, ApiError> {
    let obj = body.as_object().ok_or_else(|| ApiError::Invalid {
        code: "VALIDATION_ERROR",
        message: "the body must be a JSON object".into(),
        field: None,
    })?;
    check_keys(
        obj,
        "",
        &[
            "customerId",
            "customerEmail",
            "items",
            "shippingAddress",
            "payment",
        ],
    )?;

    let customer_id = CustomerId::parse(string(required(obj, "", "customerId")?, "customerId")?)
        .map_err(|e| ApiError::invalid("customerId", format!("`customerId` {e}")))?;
    let customer_email = Email::parse(string(
        required(obj, "", "customerEmail")?,
        "customerEmail",
    )?)
    .map_err(|e| ApiError::invalid("customerEmail", format!("`customerEmail` {e}")))?;

    let items = required(obj, "", "items")?
        .as_array()
        .ok_or_else(|| ApiError::invalid("items", "`items` must be an array"))?;
    if items.is_empty() {
        return Err(ApiError::invalid(
            "items",
            "`items` must list at least one product",
        ));
    }
    if items.len() > crate::domain::order::MAX_LINES {
        return Err(ApiError::invalid(
            "items",
            format!(
                "`items` may list at most {} lines",
                crate::domain::order::MAX_LINES
            ),
        ));
    }
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("items[{i}].");
        let item = item.as_object().ok_or_else(|| {
            ApiError::invalid(
                format!("items[{i}]"),
                format!("`items[{i}]` must be an object"),
            )
        })?;
        check_keys(item, &prefix, &["productId", "quantity", "price"])?;
        let field = format!("{prefix}productId");
        let product_id = ProductId::parse(string(required(item, &prefix, "productId")?, &field)?)
            .map_err(|e| ApiError::invalid(&field, format!("`{field}` {e}")))?;
        if parsed
            .iter()
            .any(|p: &ItemInput| p.product_id == product_id)
        {
            return Err(ApiError::invalid(&field, format!("`{field}`: {product_id} is already on another line; change its quantity instead")));
        }
        let field = format!("{prefix}quantity");
        let q = required(item, &prefix, "quantity")?;
        let quantity = q
            .as_i64()
            .ok_or_else(|| ApiError::invalid(&field, format!("`{field}` must be a whole number")))
            .and_then(|n| {
                Quantity::parse(n).map_err(|e| ApiError::invalid(&field, format!("`{field}` {e}")))
            })?;
        let field = format!("{prefix}price");
        let price = match item.get("price") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(_) => {
                return Err(ApiError::invalid(
                    &field,
                    format!("`{field}` must be a decimal such as 19.99"),
                ))
            }
        };
        if let Some(p) = &price {
            // Syntax only here; the currency comes from the catalog.
            Money::parse_decimal(p, Currency::USD)
                .map_err(|e| ApiError::invalid(&field, format!("`{field}`: {e}")))?;
        }
        parsed.push(ItemInput {
            product_id,
            quantity,
            price,
        });
    }

    let shipping_address = match obj.get("shippingAddress") {
        None | Some(Value::Null) => None,
        Some(Value::Object(a)) => {
            let p = "shippingAddress.";
            check_keys(
                a,
                p,
                &[
                    "name",
                    "line1",
                    "line2",
                    "city",
                    "region",
                    "postalCode",
                    "country",
                ],
            )?;
            let country_field = "shippingAddress.country";
            let country = string(required(a, p, "country")?, country_field)?;
            Some(ShippingAddress {
                name: text(a, p, "name", 100)?,
                line1: text(a, p, "line1", 200)?,
                line2: optional_text(a, p, "line2", 200)?,
                city: text(a, p, "city", 100)?,
                region: optional_text(a, p, "region", 100)?,
                postal_code: text(a, p, "postalCode", 20)?,
                country: parse_country(country).map_err(|e| {
                    ApiError::invalid(country_field, format!("`{country_field}` {e}"))
                })?,
            })
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "shippingAddress",
                "`shippingAddress` must be an object",
            ))
        }
    };

    let card = match obj.get("payment") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => {
            check_keys(p, "payment.", &["cardNumber"])?;
            let field = "payment.cardNumber";
            let number = string(required(p, "payment.", "cardNumber")?, field)?;
            Some(
                CardNumber::parse(number)
                    .map_err(|e| ApiError::invalid(field, format!("`{field}` {e}")))?,
            )
        }
        Some(_) => return Err(ApiError::invalid("payment", "`payment` must be an object")),
    };

    Ok(PlaceOrderInput {
        customer_id,
        customer_email,
        items: parsed,
        shipping_address,
        card,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            json!({"name":"A","line1":"1 St","city":"X","postalCode":"1","country":"USA"});
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
