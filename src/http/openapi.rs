//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes and
//! the response types, served at `GET /api/openapi.json`. `tests/api/openapi.rs` checks
//! that real answers match it.

use super::errors::ErrorResponse;
use actix_web::http::header;
use actix_web::HttpResponse;
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

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc =
            serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
        address_rules(&mut doc["components"]["schemas"]["ShippingAddressRequest"]);
        serde_json::to_string_pretty(&doc).expect("the OpenAPI document serialises")
    })
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
    schema["properties"]["country"]["pattern"] = json!(format!("^\\s*({})\\s*$", codes.join("|")));
}

/// GET /api/openapi.json
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json"))
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(json())
}
