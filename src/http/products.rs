//! Catalog endpoints: list and read products (anyone), and for operators (admin key): create,
//! change and retire products, adjust stock, read the stock ledger.

use super::errors::{ApiError, ErrorResponse};
use super::input::{
    most, parse_body, parse_json, parse_query, query_number, text, Decimal, WholeNumber,
};
use super::limits::AuthSurface;
use super::orders::{api_caller, check_content_type, idempotency_key, read_body};
use super::views::{LedgerView, ProductView, StockMovementView};
use super::AppState;
use crate::domain::stock::MAX_LEVEL;
use crate::domain::{
    Adjustment, Currency, Money, MovementKind, Product, ProductChanges, ProductId, StockMovement,
};
use crate::ports::Adjusted;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// The body of `POST /api/products`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProductRequest {
    /// 1 to 64 letters, digits, `-` or `_`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9_-]{1,64}$",
        example = "sku-teapot"
    )]
    pub product_id: String,
    #[schema(min_length = 1, max_length = 100, example = "Teapot")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// The unit price, a decimal as a string or a JSON number.
    #[schema(value_type = String, example = "24.00")]
    pub price: Decimal,
    /// ISO 4217 (three upper-case letters); `USD` when absent.
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{3}$", example = "USD")]
    pub currency: Option<String>,
    /// The opening stock (0 to 1,000,000): the level its ledger starts from.
    #[schema(value_type = u32, minimum = 0, maximum = 1_000_000)]
    pub stock: WholeNumber,
    /// `false` creates it retired. Default `true`.
    #[serde(default)]
    pub active: Option<bool>,
}

/// The body of `PATCH /api/products/{product_id}`: only the fields sent change. Stock is not
/// here: it changes through `POST /api/products/{product_id}/stock`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProductRequest {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// The new unit price in the product's currency. Accepted orders keep theirs.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "26.00")]
    pub price: Option<Decimal>,
    /// `false` retires the product (no longer sold or shown), `true` brings it back.
    #[serde(default)]
    pub active: Option<bool>,
}

/// The body of `POST /api/products/{product_id}/stock`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdjustStockRequest {
    /// `RECEIVED` (goods in: a positive quantity) or `CORRECTED` (a count put right, either
    /// way).
    #[schema(example = "RECEIVED")]
    pub kind: String,
    /// Units to add (or, for a correction, to take when negative); never zero.
    #[schema(value_type = i64, minimum = -1_000_000, maximum = 1_000_000, example = 24)]
    pub quantity: WholeNumber,
    /// Why, for the ledger: 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, example = "delivery note 4411")]
    pub reason: String,
}

/// The ledger's query parameters as sent: each is checked on its own, so that a 400 names it.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// Entries older than this seq (`nextBefore` of the page before).
    #[param(value_type = Option<i64>, minimum = 1)]
    before: Option<String>,
    /// 1 to 100; default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// `(before, limit)` of a ledger query, or the 400 naming the parameter at fault.
fn parse_ledger_query(query: &str) -> Result<(Option<u64>, usize), ApiError> {
    let q: LedgerQuery = parse_query(query)?;
    let before = query_number(q.before.as_deref(), "before", 1, Some(i64::MAX as u64))?;
    let limit = query_number(q.limit.as_deref(), "limit", 1, Some(100))?.unwrap_or(50);
    Ok((before, limit as usize))
}

const MAX_STOCK: i64 = 1_000_000;

fn product_in_path(req: &HttpRequest) -> Result<ProductId, ApiError> {
    req.match_info()
        .get("product_id")
        .and_then(|s| ProductId::parse(s).ok())
        .ok_or_else(|| ApiError::NotFound("no such product".into()))
}

fn price(decimal: &Decimal, currency: Currency, field: &str) -> Result<Money, ApiError> {
    let m = Money::parse_decimal(&decimal.0, currency)
        .map_err(|e| ApiError::invalid(field, format!("`{field}`: {e}")))?;
    if m.amount < 0 {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` must not be negative"),
        ));
    }
    Ok(m)
}

pub fn parse_create(body: &serde_json::Value) -> Result<Product, ApiError> {
    let req: CreateProductRequest = parse_body(body)?;
    let product_id = ProductId::parse(&req.product_id)
        .map_err(|e| ApiError::invalid("productId", format!("`productId` {e}")))?;
    let currency = match &req.currency {
        None => Currency::USD,
        Some(c) => Currency::parse(c)
            .map_err(|e| ApiError::invalid("currency", format!("`currency`: {e}")))?,
    };
    if !(0..=MAX_STOCK).contains(&req.stock.0) {
        return Err(ApiError::invalid(
            "stock",
            format!("`stock` must be 0 to {MAX_STOCK}"),
        ));
    }
    Ok(Product {
        product_id,
        name: text(&req.name, "name", most::PRODUCT_NAME)?,
        description: match &req.description {
            Some(d) if !d.trim().is_empty() => text(d, "description", most::DESCRIPTION)?,
            _ => String::new(),
        },
        unit_price: price(&req.price, currency, "price")?,
        stock: req.stock.0 as u32,
        active: req.active.unwrap_or(true),
    })
}

pub fn parse_update(
    body: &serde_json::Value,
    currency: Currency,
) -> Result<ProductChanges, ApiError> {
    let req: UpdateProductRequest = parse_body(body)?;
    Ok(ProductChanges {
        name: req
            .name
            .as_deref()
            .map(|n| text(n, "name", most::PRODUCT_NAME))
            .transpose()?,
        description: req
            .description
            .as_deref()
            .map(|d| {
                if d.trim().is_empty() {
                    Ok(String::new())
                } else {
                    text(d, "description", most::DESCRIPTION)
                }
            })
            .transpose()?,
        unit_price: req
            .price
            .as_ref()
            .map(|p| price(p, currency, "price"))
            .transpose()?,
        active: req.active,
    })
}

/// An adjustment without its key and operator: (kind, delta, reason).
pub fn parse_adjustment(body: &serde_json::Value) -> Result<(MovementKind, i64, String), ApiError> {
    let req: AdjustStockRequest = parse_body(body)?;
    let kind = MovementKind::parse(&req.kind)
        .filter(|k| k.is_manual())
        .ok_or_else(|| ApiError::invalid("kind", "`kind` must be RECEIVED or CORRECTED"))?;
    let delta = req.quantity.0;
    if delta == 0 || !(-MAX_STOCK..=MAX_STOCK).contains(&delta) {
        return Err(ApiError::invalid(
            "quantity",
            format!("`quantity` must be a non-zero whole number from -{MAX_STOCK} to {MAX_STOCK}"),
        ));
    }
    if kind == MovementKind::Received && delta < 0 {
        return Err(ApiError::invalid(
            "quantity",
            "`quantity` of goods RECEIVED must be positive; book a CORRECTED entry to take stock away",
        ));
    }
    Ok((kind, delta, text(&req.reason, "reason", most::REASON)?))
}

/// What an operator's stock adjustment answered, for the API and the console alike.
pub enum AdjustOutcome {
    Applied(StockMovement),
    Replayed(StockMovement),
}

/// Applies an adjustment of `product_id`; the errors are the API's (404, 409).
pub async fn adjust(
    state: &AppState,
    product_id: &ProductId,
    adjustment: &Adjustment,
) -> Result<AdjustOutcome, ApiError> {
    let adjusted = state
        .services
        .inventory
        .adjust_stock(product_id, adjustment)
        .await?;
    answer(adjusted, product_id, adjustment)
}

/// What the API makes of what the inventory did with an adjustment.
fn answer(
    adjusted: Adjusted,
    product_id: &ProductId,
    adjustment: &Adjustment,
) -> Result<AdjustOutcome, ApiError> {
    match adjusted {
        Adjusted::Applied(m) => {
            tracing::info!(product = %product_id, seq = m.seq, delta = m.delta, by = %m.by, reason = %m.reason, "stock adjusted");
            Ok(AdjustOutcome::Applied(m))
        }
        Adjusted::AlreadyApplied(m) if m.delta == adjustment.delta && m.kind == adjustment.kind => {
            Ok(AdjustOutcome::Replayed(m))
        }
        Adjusted::AlreadyApplied(_) => Err(ApiError::Conflict {
            code: "IDEMPOTENCY_KEY_REUSED",
            message: "this Idempotency-Key was used for a different adjustment of this product"
                .into(),
            field: Some("Idempotency-Key".into()),
        }),
        Adjusted::Insufficient { stock } => Err(ApiError::Conflict {
            code: "INSUFFICIENT_STOCK",
            message: format!("the stock is {stock}; it cannot go below zero"),
            field: Some("quantity".into()),
        }),
        Adjusted::TooMuch { stock } => Err(ApiError::Conflict {
            code: "STOCK_LIMIT",
            message: format!(
                "the stock is {stock}; an adjustment may not take it past {MAX_LEVEL}"
            ),
            field: Some("quantity".into()),
        }),
        Adjusted::NotFound => Err(ApiError::NotFound("no such product".into())),
    }
}

/// GET /api/products/{product_id}
#[utoipa::path(
    get,
    path = "/api/products/{product_id}",
    tag = "catalog",
    params(("product_id" = String, Path, description = "The product id")),
    responses(
        (status = 200, description = "The product with its stock", body = ProductView),
        (status = 404, description = "No such product", body = ErrorResponse),
        (status = 503, description = "The store does not answer; retry", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
pub async fn get_product(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = product_in_path(&req)?;
    let product = state
        .services
        .inventory
        .get_product(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such product".into()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(ProductView::from(product)))
}

/// POST /api/products
#[utoipa::path(
    post,
    path = "/api/products",
    tag = "catalog",
    request_body(content = CreateProductRequest, content_type = "application/json"),
    security(("admin_key" = [])),
    responses(
        (status = 201, description = "Created", body = ProductView,
            headers(("Location" = String, description = "The product's URL"))),
        (status = 200, description = "The same create again (every field and the opening stock as sent): the product as it is now", body = ProductView),
        (status = 400, description = "Invalid body", body = ErrorResponse),
        (status = 401, description = "No admin key", body = ErrorResponse),
        (status = 403, description = "Wrong admin key", body = ErrorResponse),
        (status = 409, description = "Another product has this id (`PRODUCT_EXISTS`)", body = ErrorResponse),
        (status = 413, description = "The body exceeds `http.max_body_bytes`", body = ErrorResponse),
        (status = 415, description = "Not `application/json`", body = ErrorResponse),
        (status = 429, description = "Too many wrong admin keys from this client", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
        (status = 503, description = "The store does not answer; retry", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
pub async fn create_product(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    super::auth::require_admin(&req, &state, AuthSurface::ApiKey)?;
    check_content_type(&req)?;
    let bytes = read_body(&req, payload, state.settings.http.max_body_bytes).await?;
    let product = parse_create(&parse_json(&bytes)?)?;
    let inventory = &state.services.inventory;
    if inventory.create_product(&product).await? {
        tracing::info!(product = %product.product_id, by = %api_caller(&req), "product created");
        state.intake.catalog_changed();
        return Ok(HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("/api/products/{}", product.product_id),
            ))
            .json(ProductView::from(product)));
    }
    // A retry of this very create is answered as the first was; anything else is a clash.
    // The stock may have moved since, so the retry is compared with the opening level.
    let existing = inventory.get_product(&product.product_id).await?;
    let opening = match &existing {
        Some(_) => inventory
            .stock_ledger(&product.product_id, None, 0)
            .await?
            .map(|page| page.opening),
        None => None,
    };
    match existing {
        Some(existing)
            if opening == Some(product.stock)
                && Product {
                    stock: product.stock,
                    ..existing.clone()
                } == product =>
        {
            // The first may have been cut off before it said so.
            state.intake.catalog_changed();
            Ok(HttpResponse::Ok().json(ProductView::from(existing)))
        }
        _ => Err(ApiError::Conflict {
            code: "PRODUCT_EXISTS",
            message: format!("there is a product `{}` already", product.product_id),
            field: Some("productId".into()),
        }),
    }
}

/// PATCH /api/products/{product_id}
#[utoipa::path(
    patch,
    path = "/api/products/{product_id}",
    tag = "catalog",
    params(("product_id" = String, Path, description = "The product id")),
    request_body(content = UpdateProductRequest, content_type = "application/json"),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The product as it is now", body = ProductView),
        (status = 400, description = "Invalid body", body = ErrorResponse),
        (status = 401, description = "No admin key", body = ErrorResponse),
        (status = 403, description = "Wrong admin key", body = ErrorResponse),
        (status = 404, description = "No such product", body = ErrorResponse),
        (status = 413, description = "The body exceeds `http.max_body_bytes`", body = ErrorResponse),
        (status = 415, description = "Not `application/json`", body = ErrorResponse),
        (status = 429, description = "Too many wrong admin keys from this client", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
        (status = 503, description = "The store does not answer; retry", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
pub async fn update_product(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    super::auth::require_admin(&req, &state, AuthSurface::ApiKey)?;
    check_content_type(&req)?;
    let id = product_in_path(&req)?;
    let bytes = read_body(&req, payload, state.settings.http.max_body_bytes).await?;
    let body = parse_json(&bytes)?;
    let inventory = &state.services.inventory;
    let current = inventory
        .get_product(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such product".into()))?;
    let changes = parse_update(&body, current.unit_price.currency)?;
    let product = inventory
        .update_product(&id, &changes)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such product".into()))?;
    if !changes.is_empty() {
        tracing::info!(product = %id, by = %api_caller(&req), ?changes, "product changed");
        state.intake.catalog_changed();
    }
    Ok(HttpResponse::Ok().json(ProductView::from(product)))
}

/// POST /api/products/{product_id}/stock
#[utoipa::path(
    post,
    path = "/api/products/{product_id}/stock",
    tag = "catalog",
    params(
        ("product_id" = String, Path, description = "The product id"),
        ("Idempotency-Key" = String, Header, pattern = "^[!-~]{1,255}$", description = "Required: 1 to 255 visible ASCII characters. A retry with the same key changes nothing and gets the first entry (with `Idempotent-Replayed: true`)."),
    ),
    request_body(content = AdjustStockRequest, content_type = "application/json"),
    security(("admin_key" = [])),
    responses(
        (status = 201, description = "Adjusted: the ledger entry", body = StockMovementView),
        (status = 200, description = "This key's adjustment was applied before: its entry", body = StockMovementView),
        (status = 400, description = "Invalid body, or no Idempotency-Key", body = ErrorResponse),
        (status = 401, description = "No admin key", body = ErrorResponse),
        (status = 403, description = "Wrong admin key", body = ErrorResponse),
        (status = 404, description = "No such product", body = ErrorResponse),
        (status = 409, description = "The stock would go below zero (`INSUFFICIENT_STOCK`) or past 1,000,000,000 (`STOCK_LIMIT`), or the key was used for another adjustment (`IDEMPOTENCY_KEY_REUSED`)", body = ErrorResponse),
        (status = 413, description = "The body exceeds `http.max_body_bytes`", body = ErrorResponse),
        (status = 415, description = "Not `application/json`", body = ErrorResponse),
        (status = 429, description = "Too many wrong admin keys from this client", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
        (status = 503, description = "The store does not answer; retry with the same key", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
pub async fn adjust_stock(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    super::auth::require_admin(&req, &state, AuthSurface::ApiKey)?;
    check_content_type(&req)?;
    let id = product_in_path(&req)?;
    let key = idempotency_key(&req)?.ok_or_else(|| {
        ApiError::invalid_code(
            "MISSING_HEADER",
            "Idempotency-Key",
            "a stock adjustment needs an Idempotency-Key header, so that a retry is not booked twice",
        )
    })?;
    let bytes = read_body(&req, payload, state.settings.http.max_body_bytes).await?;
    let (kind, delta, reason) = parse_adjustment(&parse_json(&bytes)?)?;
    let adjustment = Adjustment {
        key: key.to_string(),
        kind,
        delta,
        by: api_caller(&req),
        reason,
    };
    Ok(match adjust(&state, &id, &adjustment).await? {
        AdjustOutcome::Applied(m) => HttpResponse::Created().json(StockMovementView::from(&m)),
        AdjustOutcome::Replayed(m) => HttpResponse::Ok()
            .insert_header(("Idempotent-Replayed", "true"))
            .json(StockMovementView::from(&m)),
    })
}

/// GET /api/products/{product_id}/ledger
#[utoipa::path(
    get,
    path = "/api/products/{product_id}/ledger",
    tag = "catalog",
    params(("product_id" = String, Path, description = "The product id"), LedgerQuery),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The product's stock ledger, newest first", body = LedgerView),
        (status = 400, description = "Invalid query", body = ErrorResponse),
        (status = 401, description = "No admin key", body = ErrorResponse),
        (status = 403, description = "Wrong admin key", body = ErrorResponse),
        (status = 404, description = "No such product", body = ErrorResponse),
        (status = 429, description = "Too many wrong admin keys from this client", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
        (status = 503, description = "The store does not answer; retry", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
pub async fn ledger(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    super::auth::require_admin(&req, &state, AuthSurface::ApiKey)?;
    let id = product_in_path(&req)?;
    let (before, limit) = parse_ledger_query(req.query_string())?;
    let page = state
        .services
        .inventory
        .stock_ledger(&id, before, limit)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such product".into()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(LedgerView::from(&page)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_adjustments_are_conflicts_naming_the_quantity() {
        let id = ProductId::parse("sku-a").unwrap();
        let a = Adjustment {
            key: "k".into(),
            kind: MovementKind::Received,
            delta: 5,
            by: "ops".into(),
            reason: "why".into(),
        };
        for (adjusted, code) in [
            (Adjusted::Insufficient { stock: 2 }, "INSUFFICIENT_STOCK"),
            (Adjusted::TooMuch { stock: MAX_LEVEL }, "STOCK_LIMIT"),
        ] {
            match answer(adjusted, &id, &a) {
                Err(ApiError::Conflict {
                    code: got, field, ..
                }) => assert_eq!((got, field.as_deref()), (code, Some("quantity"))),
                _ => panic!("{code}"),
            }
        }
        assert!(matches!(
            answer(Adjusted::NotFound, &id, &a),
            Err(ApiError::NotFound(_))
        ));
    }
}
