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
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serialises")
    })
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
