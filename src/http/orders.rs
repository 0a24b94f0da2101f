//! Order endpoints: place, read, list, receipt.

use super::errors::ApiError;
use super::errors::ErrorResponse;
use super::input::{parse_json, parse_place_order, parse_record_payment};
use super::limits::AuthSurface;
use super::views::{CreatedView, OrderListView, OrderView};
use super::{request_id, AppState};
use crate::domain::{IdempotencyKey, Order, OrderId, OrderStatus};
use crate::place_order::{order_token, sha256_hex, PlaceRequest};
use crate::ports::{DataKey, PortError, StoredResponse};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;

pub(super) fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type must be application/json, not `{}`",
            if ct.is_empty() { "(none)" } else { ct }
        )))
    }
}

pub(super) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let too_large = || ApiError::PayloadTooLarge(format!("the body must be at most {limit} bytes"));
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
    {
        if len > limit {
            return Err(too_large());
        }
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::Invalid {
            code: "BAD_BODY",
            message: format!("reading the body failed: {e}"),
            field: None,
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The request's `Idempotency-Key`, if it sent one; 400 naming the header if it is not 1 to
/// 255 visible ASCII characters.
pub(super) fn idempotency_key(req: &HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    req.headers()
        .get("Idempotency-Key")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| IdempotencyKey::parse(s).ok())
                .ok_or_else(|| {
                    ApiError::invalid_code(
                        "INVALID_HEADER",
                        "Idempotency-Key",
                        "Idempotency-Key must be 1 to 255 visible ASCII characters",
                    )
                })
        })
        .transpose()
}

/// Who an admin-key request acts as, for histories and ledgers: the key's fingerprint
/// (never the key).
pub(super) fn api_caller(req: &HttpRequest) -> String {
    let key = req
        .headers()
        .get("X-API-Key")
        .map(|k| sha256_hex(k.as_bytes()))
        .unwrap_or_default();
    format!("api key {}", &key[..key.len().min(8)])
}

/// The client's answer from a stored response: a 201 stored without its access token gets
/// it back (derived); one stored before tokens were derived has it already.
fn answer(resp: &StoredResponse, replayed: bool, key: &DataKey) -> HttpResponse {
    let mut shown = None;
    if resp.status == 201 {
        if let Ok(mut body) = serde_json::from_str::<Value>(&resp.body) {
            let order_id = body["orderId"]
                .as_str()
                .and_then(|id| OrderId::parse(id).ok());
            if let (Some(id), Some("")) = (order_id, body["accessToken"].as_str()) {
                body["accessToken"] = Value::String(order_token(key, &id));
                shown = Some(StoredResponse {
                    body: body.to_string(),
                    ..resp.clone()
                });
            }
        }
    }
    replay(shown.as_ref().unwrap_or(resp), replayed)
}

fn replay(resp: &StoredResponse, replayed: bool) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(resp.status)
        .unwrap_or(actix_web::http::StatusCode::OK);
    let mut b = HttpResponse::build(status);
    b.content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(loc) = &resp.location {
        b.insert_header((header::LOCATION, loc.as_str()));
    }
    if replayed {
        b.insert_header(("Idempotent-Replayed", "true"));
    }
    b.body(resp.body.clone())
}

/// POST /api/orders
#[utoipa::path(
    post,
    path = "/api/orders",
    tag = "orders",
    request_body = super::input::PlaceOrderRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "1 to 255 visible ASCII characters. A retry with the same key and body gets the first answer (with `Idempotent-Replayed: true`) and never a second order."),
    ),
    responses(
        (status = 201, description = "Accepted and queued; follow `Location` (with the access token) to watch it", body = CreatedView,
            headers(
                ("Location" = String, description = "/api/orders/{orderId}"),
                ("X-Request-Id" = String, description = "This request's id, also in the logs"),
                ("Idempotent-Replayed" = String, description = "`true` on a replayed answer"),
            )),
        (status = 400, description = "A field is missing or wrong (`field` names it), a key appears twice (`DUPLICATE_KEY`, `field` names it), or the JSON is malformed", body = ErrorResponse),
        (status = 408, description = "The body did not arrive within `http.request_body_timeout_ms`; the connection is closed", body = ErrorResponse),
        (status = 409, description = "`PRICE_CHANGED`, `INVOICE_LIMIT` (unpaid orders on invoice hold a cap), or `IDEMPOTENCY_IN_FLIGHT` (retry after `Retry-After`)", body = ErrorResponse),
        (status = 413, description = "The body exceeds `http.max_body_bytes`", body = ErrorResponse),
        (status = 415, description = "Not `application/json`", body = ErrorResponse),
        (status = 422, description = "The Idempotency-Key was used with a different body", body = ErrorResponse),
        (status = 429, description = "Too many orders from this address", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds until an order would be accepted"))),
        (status = 503, description = "A backend does not answer; retry with the same Idempotency-Key", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
pub async fn create_order(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.rate_limiter.check(&req)?;
    check_content_type(&req)?;
    let key = idempotency_key(&req)?;
    let bytes = read_body(&req, payload, state.settings.http.max_body_bytes).await?;
    let value = parse_json(&bytes)?;
    let input = parse_place_order(&value)?;
    let placed = state
        .intake
        .place(PlaceRequest {
            input,
            body: &value,
            key,
            request_id: request_id(&req),
            client: super::limits::client_ip(&req, state.settings.rate_limit.trusted_proxy_hops),
        })
        .await?;
    let data_key = state.services.keys.data_key().await?;
    Ok(answer(&placed.response, placed.replayed, &data_key))
}

/// The 201 a new order is announced with (stored for replays without its access token:
/// [`answer`] puts it back).
pub(super) fn created_response(order: &Order) -> anyhow::Result<StoredResponse> {
    Ok(StoredResponse {
        status: 201,
        body: serde_json::to_string(&CreatedView::new(order, String::new()))?,
        location: Some(format!("/api/orders/{}", order.order_id)),
    })
}

/// POST /api/orders/{order_id}/payment
#[utoipa::path(
    post,
    path = "/api/orders/{order_id}/payment",
    tag = "orders",
    params(("order_id" = String, Path, description = "The order id")),
    request_body(content = super::input::RecordPaymentRequest, content_type = "application/json"),
    security(("admin_key" = [])),
    responses(
        (status = 202, description = "Payment recorded; the worker completes the order shortly", body = OrderView),
        (status = 200, description = "This payment was recorded already", body = OrderView),
        (status = 400, description = "Invalid body", body = ErrorResponse),
        (status = 401, description = "No admin key", body = ErrorResponse),
        (status = 403, description = "Wrong admin key", body = ErrorResponse),
        (status = 404, description = "No such order", body = ErrorResponse),
        (status = 409, description = "The order does not wait for a payment (`NOT_AWAITING_PAYMENT`), or another payment was recorded for it (`PAYMENT_ALREADY_RECORDED`)", body = ErrorResponse),
        (status = 413, description = "The body exceeds `http.max_body_bytes`", body = ErrorResponse),
        (status = 415, description = "Not `application/json`", body = ErrorResponse),
        (status = 429, description = "Too many wrong admin keys from this client", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
        (status = 503, description = "A backend does not answer; retry", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
pub async fn record_payment(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    super::auth::require_admin(&req, &state, AuthSurface::ApiKey)?;
    check_content_type(&req)?;
    let bytes = read_body(&req, payload, state.settings.http.max_body_bytes).await?;
    let reference = parse_record_payment(&parse_json(&bytes)?)?;
    let order = order_in_path(&req, &state).await?;
    let by = api_caller(&req);
    let recorded =
        crate::invoice::record_payment(&state.services, &order, reference, by, request_id(&req))
            .await?;
    let view = OrderView::from(&order);
    Ok(if recorded == crate::invoice::Recorded::Queued {
        HttpResponse::Accepted().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// The order named by the path's `{order_id}`; the same 404 when the id is malformed or
/// unknown.
pub(super) async fn order_in_path(req: &HttpRequest, state: &AppState) -> Result<Order, ApiError> {
    let not_found = || ApiError::NotFound("no such order".into());
    let id = req
        .match_info()
        .get("order_id")
        .and_then(|s| OrderId::parse(s).ok())
        .ok_or_else(not_found)?;
    state
        .services
        .store
        .get_order(&id)
        .await?
        .ok_or_else(not_found)
}

/// Loads an order the caller may see ([`super::auth::may_read`]); everyone else gets the same
/// 404 as for an order that does not exist.
pub(super) async fn authorized_order(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Order, ApiError> {
    let order = order_in_path(req, state).await?;
    if super::auth::may_read(req, state, &order).await? {
        Ok(order)
    } else {
        Err(ApiError::NotFound("no such order".into()))
    }
}

/// [`authorized_order`] for the API. Whoever may not read the order hears 401, the same
/// whether the order exists or not (no credential, a wrong or another order's token, a
/// wrong admin key); only an operator learns that an order does not exist (404).
async fn api_order(req: &HttpRequest, state: &AppState) -> Result<Order, ApiError> {
    let denied = || {
        ApiError::Unauthorized(
            "reading this order needs its access token (`Authorization: Bearer …`), its order \
             cookie or an admin key"
                .into(),
        )
    };
    if !super::auth::carries_credentials(req) {
        return Err(denied());
    }
    let order = match order_in_path(req, state).await {
        Ok(order) => order,
        Err(ApiError::NotFound(m)) if super::auth::is_admin(req, state)? => {
            return Err(ApiError::NotFound(m))
        }
        Err(ApiError::NotFound(_)) => return Err(denied()),
        Err(e) => return Err(e),
    };
    if super::auth::may_read(req, state, &order).await? {
        Ok(order)
    } else {
        Err(denied())
    }
}

/// GET /api/orders/{order_id}
#[utoipa::path(
    get,
    path = "/api/orders/{order_id}",
    tag = "orders",
    params(("order_id" = String, Path, description = "The order id from the 201 answer")),
    security(("order_token" = []), ("admin_key" = [])),
    responses(
        (status = 200, description = "The order with its timeline", body = OrderView),
        (status = 401, description = "No valid access token, order cookie or admin key for this order: the same answer whether it exists or not", body = ErrorResponse),
        (status = 404, description = "No such order (told only to an operator)", body = ErrorResponse),
        (status = 429, description = "`TOO_MANY_AUTH_FAILURES`: an `X-API-Key` was sent by a client blocked after too many wrong admin keys; it was not checked", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
        (status = 503, description = "The store does not answer; retry", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
pub async fn get_order(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let order = api_order(&req, &state).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(OrderView::from(&order)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// GET /api/orders?status=&limit=&cursor= (admin)
#[utoipa::path(
    get,
    path = "/api/orders",
    tag = "orders",
    params(
        ("status" = Option<String>, Query, description = "PENDING, PROCESSING, AWAITING_PAYMENT, COMPLETED or FAILED, in any case; empty: all", pattern = "^(|[Pp][Ee][Nn][Dd][Ii][Nn][Gg]|[Pp][Rr][Oo][Cc][Ee][Ss][Ss][Ii][Nn][Gg]|[Aa][Ww][Aa][Ii][Tt][Ii][Nn][Gg]_[Pp][Aa][Yy][Mm][Ee][Nn][Tt]|[Cc][Oo][Mm][Pp][Ll][Ee][Tt][Ee][Dd]|[Ff][Aa][Ii][Ll][Ee][Dd])$"),
        ("limit" = Option<u32>, Query, description = "1 to 100 (default 20, when absent)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page: opaque, URL-safe base64 without padding; any other value is a 400 naming `cursor`", pattern = "^[A-Za-z0-9_-]*$"),
    ),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Newest first", body = OrderListView),
        (status = 400, description = "A bad query parameter (`field` names it)", body = ErrorResponse),
        (status = 401, description = "No admin key", body = ErrorResponse),
        (status = 403, description = "Wrong admin key", body = ErrorResponse),
        (status = 429, description = "`TOO_MANY_AUTH_FAILURES`: too many wrong admin keys from this address (or from everywhere); the key was not checked", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
        (status = 503, description = "The store does not answer; retry", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
pub async fn list_orders(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    super::auth::require_admin(&req, &state, AuthSurface::ApiKey)?;
    let q: ListQuery = super::input::parse_query(req.query_string())?;
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(OrderStatus::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
            ApiError::invalid(
                "status",
                "`status` must be one of PENDING, PROCESSING, AWAITING_PAYMENT, COMPLETED, FAILED",
            )
        })?),
    };
    let limit = super::input::query_number(q.limit.as_deref(), "limit", 1, Some(100))?.unwrap_or(20)
        as usize;
    let page = match state
        .services
        .store
        .list_orders(status, limit, q.cursor.as_deref().filter(|c| !c.is_empty()))
        .await
    {
        Err(PortError::Precondition(_)) => {
            return Err(ApiError::invalid(
                "cursor",
                "`cursor` is not a cursor this API returned",
            ))
        }
        other => other?,
    };
    let orders: Vec<OrderView> = page.orders.iter().map(OrderView::from).collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(OrderListView {
            orders,
            next_cursor: page.next_cursor,
        }))
}

/// GET /api/orders/{order_id}/receipt
///
/// The PDF bytes themselves on both families, read with `ReceiptStore::get`: the storefront
/// fetches this with its bearer token and makes a blob of it, so the answer must come from
/// this origin (a redirect to S3 would be followed cross-origin, without CORS headers).
#[utoipa::path(
    get,
    path = "/api/orders/{order_id}/receipt",
    tag = "orders",
    params(("order_id" = String, Path, description = "The order id")),
    security(("order_token" = []), ("admin_key" = [])),
    responses(
        (status = 200, description = "The PDF receipt", content_type = "application/pdf", body = super::views::Pdf,
            headers(
                ("Content-Disposition" = String, description = "`inline; filename=\"receipt-{orderId}.pdf\"`"),
                ("Cache-Control" = String, description = "`private, no-store`"),
            )),
        (status = 401, description = "No valid access token, order cookie or admin key for this order: the same answer whether it exists or not", body = ErrorResponse),
        (status = 404, description = "No such order (told only to an operator); or the order is COMPLETED but its receipt is no longer stored (expired after the bucket's retention, or deleted)", body = ErrorResponse),
        (status = 409, description = "`RECEIPT_NOT_READY`: the order is not COMPLETED yet", body = ErrorResponse),
        (status = 429, description = "`TOO_MANY_AUTH_FAILURES`: an `X-API-Key` was sent by a client blocked after too many wrong admin keys; it was not checked", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
        (status = 503, description = "The receipt store does not answer; retry", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
pub async fn get_receipt(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let order = api_order(&req, &state).await?;
    let key = match (&order.status, &order.receipt_key) {
        (OrderStatus::Completed, Some(k)) => k.clone(),
        (status, _) => {
            return Err(ApiError::Conflict {
                code: "RECEIPT_NOT_READY",
                message: format!("the order is {status}; a receipt exists once it is COMPLETED"),
                field: None,
            })
        }
    };
    let bytes = match state.services.receipts.get(&key).await {
        Ok(bytes) => bytes,
        // The worker stores the receipt before the order becomes COMPLETED, and both stores
        // read their own writes: a missing receipt was deleted (the S3 lifecycle expires
        // receipts after their retention, or an operator removed it). Retrying cannot help.
        Err(PortError::NotFound(_)) => {
            tracing::warn!(order_id = %order.order_id, key = %key, "receipt of a COMPLETED order is not stored");
            return Err(ApiError::NotFound(
                "this order's receipt is no longer stored".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"receipt-{}.pdf\"", order.order_id),
        ))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(bytes))
}
