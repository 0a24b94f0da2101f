//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes and
//! the response types, served at `GET /api/openapi.json`. `tests/api/openapi.rs` checks
//! that real answers match it.

use super::errors::ErrorResponse;
use actix_web::http::header;
use actix_web::web;
use actix_web::HttpResponse;
use serde_json::Value;
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "One of `auth.admin_api_keys`.",
            ))),
        );
        components.add_security_scheme(
            "order_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The order's `accessToken` from the 201 answer, in `Authorization: Bearer` only (a `?token=` query parameter is not accepted: URLs end up in logs). For /metrics: an admin key.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Orderflow API",
        description = "Place orders and follow them to COMPLETED (with a PDF receipt) or FAILED.\n\n\
            Every answer carries `X-Request-Id` (the server's id for the request, also in its logs). Every error \
            is JSON `{\"error\": {\"code\", \"message\", \"field\"?}}`. Answers with `Retry-After` \
            (429, 503, 409 `IDEMPOTENCY_IN_FLIGHT`) may be retried with the same \
            `Idempotency-Key`. The HTML pages (`/`, `/orders/{id}`, `/admin`) are not part of this API.",
        license(name = "MIT")
    ),
    paths(
        super::livez,
        super::healthz,
        super::readyz,
        super::metrics_endpoint,
        document,
        super::list_products,
        super::products::get_product,
        super::products::create_product,
        super::products::update_product,
        super::products::adjust_stock,
        super::products::ledger,
        super::orders::create_order,
        super::orders::list_orders,
        super::orders::get_order,
        super::orders::get_receipt,
        super::orders::record_payment,
    ),
    components(schemas(ErrorResponse)),
    modifiers(&Security),
    tags(
        (name = "orders", description = "Placing and reading orders"),
        (name = "catalog", description = "Products and stock"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once per shop setting it depends on: whether orders on
/// invoice are taken (without, `payment` is required).
pub fn json(invoice_enabled: bool) -> &'static str {
    static DOCS: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    DOCS[usize::from(invoice_enabled)].get_or_init(|| {
        let mut doc =
            serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
        let schemas = &mut doc["components"]["schemas"];
        address_rules(&mut schemas["ShippingAddressRequest"]);
        text_rules(schemas);
        email_rule(&mut schemas["PlaceOrderRequest"]);
        amount_rules(schemas);
        adjustment_rules(&mut schemas["AdjustStockRequest"]);
        if !invoice_enabled {
            payment_required(&mut schemas["PlaceOrderRequest"]);
        }
        serde_json::to_string_pretty(&doc).expect("the OpenAPI document serialises")
    })
}

/// `schema`'s property `name`, which must be there.
fn property<'a>(schema: &'a mut Value, name: &str) -> &'a mut serde_json::Map<String, Value> {
    schema["properties"][name]
        .as_object_mut()
        .unwrap_or_else(|| panic!("property {name} is in the document"))
}

/// Text the server trims and checks (`input::text`): a pattern of exactly what it accepts
/// (the length counts after trimming, so `minLength`/`maxLength` would be wrong).
fn text_rules(schemas: &mut Value) {
    use super::input::most;
    // (schema, property, most characters, blank means absent)
    const TEXT: [(&str, &str, usize, bool); 15] = [
        ("CreateProductRequest", "name", most::PRODUCT_NAME, false),
        (
            "CreateProductRequest",
            "description",
            most::DESCRIPTION,
            true,
        ),
        ("UpdateProductRequest", "name", most::PRODUCT_NAME, false),
        (
            "UpdateProductRequest",
            "description",
            most::DESCRIPTION,
            true,
        ),
        ("AdjustStockRequest", "reason", most::REASON, false),
        ("RecordPaymentRequest", "reference", most::REFERENCE, false),
        ("ShippingAddressRequest", "name", most::RECIPIENT, false),
        ("ShippingAddressRequest", "line1", most::STREET, false),
        ("ShippingAddressRequest", "street", most::STREET, false),
        ("ShippingAddressRequest", "line2", most::STREET, true),
        ("ShippingAddressRequest", "city", most::CITY, false),
        ("ShippingAddressRequest", "region", most::REGION, true),
        ("ShippingAddressRequest", "state", most::REGION, true),
        (
            "ShippingAddressRequest",
            "postalCode",
            most::POSTAL_CODE,
            false,
        ),
        (
            "ShippingAddressRequest",
            "zipCode",
            most::POSTAL_CODE,
            false,
        ),
    ];
    for (schema, name, max, blank_ok) in TEXT {
        let p = property(&mut schemas[schema], name);
        p.remove("minLength");
        p.remove("maxLength");
        p.insert(
            "pattern".into(),
            crate::domain::values::text_pattern(max, blank_ok).into(),
        );
    }
}

/// The e-mail pattern's surrounding white space as the server trims it (Python's and
/// JSON Schema's `\s` are other sets).
fn email_rule(schema: &mut Value) {
    let p = property(schema, "customerEmail");
    let pattern = p["pattern"].as_str().expect("customerEmail has a pattern");
    let core = pattern
        .strip_prefix("^\\s*")
        .and_then(|c| c.strip_suffix("\\s*$"))
        .expect("the pattern allows white space around the address");
    // At most 254 characters once trimmed (all of them visible ASCII); `maxLength` would
    // count the white space around too.
    let space = crate::domain::values::white_space_class();
    let core = format!("(?=[!-~]{{1,254}}{space}*$){core}");
    p.remove("maxLength");
    p.insert(
        "pattern".into(),
        crate::domain::values::trimmed(&core).into(),
    );
}

/// A price as sent (`input::Decimal`): a decimal string, or a JSON number, of at most 12
/// whole digits and 2 decimals, never negative.
fn amount_rules(schemas: &mut Value) {
    use crate::domain::values::trimmed;
    use serde_json::json;
    for (schema, nullable) in [
        ("CreateProductRequest", false),
        ("UpdateProductRequest", true),
        ("OrderItemRequest", true),
    ] {
        let p = property(&mut schemas[schema], "price");
        p.remove("type");
        let mut forms = vec![
            json!({"type": "string", "pattern": trimmed("[0-9]{1,12}(\\.[0-9]{1,2}0*)?")}),
            json!({"type": "number", "minimum": 0, "maximum": 999_999_999_999.99_f64, "multipleOf": 0.01}),
        ];
        if nullable {
            forms.push(json!({"type": "null"}));
        }
        p.insert("anyOf".into(), forms.into());
    }
}

/// `kind` is one of two, `quantity` never zero, and positive for goods received.
fn adjustment_rules(schema: &mut Value) {
    use serde_json::json;
    property(schema, "kind").insert("enum".into(), json!(["RECEIVED", "CORRECTED"]));
    property(schema, "quantity").insert("not".into(), json!({"const": 0}));
    schema["if"] = json!({"properties": {"kind": {"const": "RECEIVED"}}, "required": ["kind"]});
    schema["then"] = json!({"properties": {"quantity": {"minimum": 1}}});
}

/// A shop that takes no orders on invoice refuses an order without a card.
fn payment_required(schema: &mut Value) {
    let p = property(schema, "payment");
    let card = p
        .get("oneOf")
        .and_then(Value::as_array)
        .and_then(|forms| forms.iter().find(|f| f.get("$ref").is_some()))
        .cloned()
        .expect("payment is a $ref or null");
    *p = card.as_object().cloned().expect("an object");
    p.insert(
        "description".into(),
        "Required: this shop takes no orders on invoice (`orders.invoice_enabled` is off).".into(),
    );
    schema["required"]
        .as_array_mut()
        .expect("PlaceOrderRequest has required fields")
        .push("payment".into());
}

/// What utoipa's attributes cannot say about a sent address: `line1`/`street` and
/// `postalCode`/`zipCode` are each required under exactly one of their names, `region` and
/// `state` are at most one, and `country` is one of the assigned ISO 3166-1 codes in any
/// case (surrounding spaces are trimmed).
fn address_rules(schema: &mut serde_json::Value) {
    use serde_json::json;
    assert!(
        schema.is_object(),
        "ShippingAddressRequest is in the document"
    );
    let exactly_one = |a: &str, b: &str| json!({"oneOf": [{"required": [a]}, {"required": [b]}]});
    schema["allOf"] = json!([
        exactly_one("line1", "street"),
        exactly_one("postalCode", "zipCode"),
        {"not": {"required": ["region", "state"]}},
    ]);
    let any_case = |code: &str| -> String {
        code.chars()
            .map(|c| format!("[{c}{}]", c.to_ascii_lowercase()))
            .collect()
    };
    let codes: Vec<String> = crate::domain::values::COUNTRIES
        .iter()
        .flat_map(|(two, three)| [any_case(two), any_case(three)])
        .collect();
    schema["properties"]["country"]["pattern"] = json!(crate::domain::values::trimmed(&format!(
        "({})",
        codes.join("|")
    )));
}

/// GET /api/openapi.json
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json"))
)]
pub async fn document(state: web::Data<super::AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(json(state.settings.orders.invoice_enabled))
}
