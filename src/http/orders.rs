//! Order endpoints: place, read, list, receipt.

use super::errors::ApiError;
use super::errors::ErrorResponse;
use super::input::{parse_json, parse_place_order, parse_record_payment, PlaceOrderInput};
use super::limits::AuthSurface;
use super::views::{CreatedView, OrderPage, OrderView};
use super::{request_id, AppState};
use crate::domain::order::OrderError;
use crate::domain::{IdempotencyKey, Money, NewOrder, Order, OrderId, OrderStatus, PricedLine};
use crate::ports::{
    DataKey, IdempotencyBegin, IdempotencyRecord, NewKey, OrderMessage, PortError, StoredResponse,
};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

/// How long one request holds an Idempotency-Key before another may take over.
const IDEMPOTENCY_LEASE: Duration = Duration::from_secs(30);

pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without an early exit, so timing tells nothing about where values differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
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

async fn read_body(
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

/// An order's access token: 256 bits, derived from the data key and the order id, so a stored
/// 201 (an idempotency replay) needs no copy of it; the order keeps only its SHA-256.
pub(super) fn order_token(key: &DataKey, order_id: &OrderId) -> String {
    key.mac_hex("order-access-token", order_id.as_str().as_bytes())
}

/// The idempotency fingerprint of a request: keyed, so the stored value reveals nothing of
/// the body (the card number in it) to whoever reads the store.
pub fn idempotency_fingerprint(key: &DataKey, value: &Value) -> String {
    // serde_json's map is ordered by key, so this is a canonical form of the body.
    key.mac_hex(
        "idempotency-fingerprint",
        format!("POST /api/orders\n{value}").as_bytes(),
    )
}

/// The fingerprint records written before fingerprints were keyed carry (plain SHA-256):
/// still matched, so a retry of a request placed before an upgrade is replayed, not refused.
fn legacy_fingerprint(value: &Value) -> String {
    sha256_hex(format!("POST /api/orders\n{value}").as_bytes())
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
    request_body = super::openapi::PlaceOrderRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters. A retry with the same key and body gets the first answer (with `Idempotent-Replayed: true`) and never a second order."),
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
        (status = 409, description = "`PRICE_CHANGED`, or `IDEMPOTENCY_IN_FLIGHT` (retry after `Retry-After`)", body = ErrorResponse),
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
    let key = match req.headers().get("Idempotency-Key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| IdempotencyKey::parse(s).ok())
                .ok_or_else(|| {
                    ApiError::invalid_code(
                        "INVALID_HEADER",
                        "Idempotency-Key",
                        "Idempotency-Key must be 1 to 255 visible ASCII characters",
                    )
                })?,
        ),
    };
    let bytes = read_body(&req, payload, state.settings.http.max_body_bytes).await?;
    let value = parse_json(&bytes)?;
    let input = parse_place_order(&value)?;
    let rid = request_id(&req);
    let data_key = state.services.keys.data_key().await?;
    let client = super::limits::client_ip(&req, state.settings.rate_limit.trusted_proxy_hops);
    let prepared = prepare(&state, input, rid.clone(), client).await;
    let Some(key) = key else {
        let p = prepared?;
        record(&state, &p, None, rid).await?;
        return Ok(answer(&p.response, false, &data_key));
    };
    let mut fingerprint = idempotency_fingerprint(&data_key, &value);
    // This request's hold on the key's record: only the holder may finish or release it.
    let holder = uuid::Uuid::new_v4().simple().to_string();
    let mut legacy = Some(legacy_fingerprint(&value));
    let store = &state.services.store;
    let ttl = Duration::from_secs(state.settings.orders.idempotency_ttl_secs);
    // The common case, a key never seen: one atomic write records the order and the key's
    // completed record; then the message goes out. (An order on invoice over a cap may be a
    // retry of one already counted: the lookup below decides.)
    let fast = match &prepared {
        Ok(p) => hold_invoice(&state, p).await?,
        Err(_) => false,
    };
    if let (Ok(p), true) = (&prepared, fast) {
        let new_key = NewKey {
            key: key.as_str(),
            fingerprint: &fingerprint,
            holder: &holder,
            response: &p.response,
            ttl,
        };
        let inserted = store.insert_order_keyed(&p.order, &new_key).await;
        if inserted.is_err() {
            unhold_invoice(&state, p).await;
        }
        match inserted {
            Ok(()) => {
                return match enqueue(&state, &p.order.order_id, rid).await {
                    Ok(()) => {
                        accepted(&p.order);
                        Ok(answer(&p.response, false, &data_key))
                    }
                    Err(e) => {
                        // Reopen the key so a retry re-sends the message at once (the
                        // reconciler re-enqueues the order otherwise).
                        if let Err(release) = store.idempotency_release(key.as_str(), &holder).await
                        {
                            tracing::warn!(error = %release, "could not reopen the idempotency record");
                        }
                        Err(e)
                    }
                };
            }
            // The key has a record (a retry, a duplicate, a concurrent twin): read it below.
            Err(PortError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut prepared = Some(prepared);
    let deadline = tokio::time::Instant::now()
        + Duration::from_millis(state.settings.orders.idempotency_wait_ms);
    loop {
        let began = store
            .idempotency_begin(key.as_str(), &fingerprint, &holder, IDEMPOTENCY_LEASE, ttl)
            .await?;
        let began = match (began, legacy.take()) {
            // Perhaps a record from before keyed fingerprints: compare it the old way, and
            // keep to the way that matched.
            (IdempotencyBegin::Mismatch, Some(old)) => {
                let again = store
                    .idempotency_begin(key.as_str(), &old, &holder, IDEMPOTENCY_LEASE, ttl)
                    .await?;
                if !matches!(again, IdempotencyBegin::Mismatch) {
                    fingerprint = old;
                }
                again
            }
            (began, _) => began,
        };
        let result = match began {
            IdempotencyBegin::Completed(resp) => {
                still_queued(&state, &resp, rid).await?;
                return Ok(answer(&resp, true, &data_key));
            }
            IdempotencyBegin::Mismatch => {
                return Err(ApiError::Unprocessable(
                    "this Idempotency-Key was already used with a different request; use a new key for a new order".into(),
                ))
            }
            IdempotencyBegin::InFlight if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            IdempotencyBegin::InFlight => {
                return Err(ApiError::Conflict {
                    code: "IDEMPOTENCY_IN_FLIGHT",
                    message: "a request with this Idempotency-Key is still being processed; retry shortly".into(),
                    field: None,
                })
            }
            IdempotencyBegin::Started => match prepared.take().expect("prepared once, used once") {
                Ok(p) => record(&state, &p, Some(&key), rid)
                    .await
                    .map(|()| p.response),
                Err(e) => Err(e),
            },
            IdempotencyBegin::Resumed(r) => {
                let p = prepared.take().expect("prepared once, used once");
                resume(&state, p, &key, r, rid).await
            }
        };
        return match result {
            Ok(resp) => {
                if let Err(e) = store
                    .idempotency_complete(key.as_str(), &holder, &resp)
                    .await
                {
                    // The record holds the response already; a retry resumes and completes it.
                    tracing::warn!(error = %e, "could not mark the idempotency record complete");
                }
                Ok(answer(&resp, false, &data_key))
            }
            Err(e) => {
                if let Err(release) = store.idempotency_release(key.as_str(), &holder).await {
                    tracing::warn!(error = %release, "could not release the idempotency lease");
                }
                Err(e)
            }
        };
    }
}

/// Finishes what an earlier holder of the key left: if the order was recorded, (re)send
/// its message — a duplicate message is harmless — and answer with the original response;
/// else record the order prepared for this request.
async fn resume(
    state: &AppState,
    prepared: Result<Prepared, ApiError>,
    key: &IdempotencyKey,
    held: IdempotencyRecord,
    rid: Option<String>,
) -> Result<StoredResponse, ApiError> {
    match (held.order_id, held.response) {
        (Some(order_id), Some(resp)) => {
            tracing::info!(%order_id, "resuming an interrupted order placement");
            enqueue(state, &order_id, rid).await?;
            Ok(resp)
        }
        _ => {
            let p = prepared?;
            record(state, &p, Some(key), rid).await.map(|()| p.response)
        }
    }
}

/// Before a replay says 201: if the order is still PENDING, its message goes out again (a
/// duplicate is harmless: every worker step is idempotent). The one-write fast path records
/// the key as completed before the request that wrote it has enqueued, so a twin arriving in
/// between would otherwise promise an order whose message may never be sent (security
/// review L-3), leaving it to the reconciler minutes later.
async fn still_queued(
    state: &AppState,
    resp: &StoredResponse,
    request_id: Option<String>,
) -> Result<(), ApiError> {
    if resp.status != 201 {
        return Ok(());
    }
    let Some(order_id) = serde_json::from_str::<Value>(&resp.body)
        .ok()
        .and_then(|b| OrderId::parse(b["orderId"].as_str()?).ok())
    else {
        return Ok(());
    };
    match state.services.store.get_order(&order_id).await? {
        Some(order) if order.status == OrderStatus::Pending => {
            enqueue(state, &order_id, request_id).await
        }
        _ => Ok(()),
    }
}

async fn enqueue(
    state: &AppState,
    order_id: &OrderId,
    request_id: Option<String>,
) -> Result<(), ApiError> {
    let body = OrderMessage::order(order_id, request_id).to_body();
    state.services.queue.send(&body).await.map_err(|e| {
        tracing::warn!(%order_id, error = %e, "order recorded but not enqueued");
        ApiError::from(e)
    })?;
    Ok(())
}

/// How long the API prices orders from one read of the catalog. Products and prices change
/// only when a start-up seeds new products, so a few seconds of staleness cost nothing, and
/// every order saves a read of the whole catalog (a DynamoDB Scan on AWS).
pub const CATALOG_TTL: Duration = Duration::from_secs(5);

type Catalog = std::sync::Arc<HashMap<crate::domain::ProductId, crate::domain::Product>>;

/// The catalog as of at most `ttl` ago. Requests that find it stale together wait for one
/// read instead of each reading it.
pub struct CatalogCache {
    ttl: Duration,
    cached: std::sync::Mutex<Option<(std::time::Instant, Catalog)>>,
    refresh: tokio::sync::Mutex<()>,
}

impl CatalogCache {
    pub fn new(ttl: Duration) -> CatalogCache {
        CatalogCache {
            ttl,
            cached: std::sync::Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Option<Catalog> {
        match &*self.cached.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((at, c)) if at.elapsed() < self.ttl => Some(c.clone()),
            _ => None,
        }
    }

    pub async fn get(
        &self,
        store: &dyn crate::ports::OrderStore,
    ) -> crate::ports::PortResult<Catalog> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _one_reader = self.refresh.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let fresh: Catalog = std::sync::Arc::new(
            store
                .list_products()
                .await?
                .into_iter()
                .map(|p| (p.product_id.clone(), p))
                .collect(),
        );
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((std::time::Instant::now(), fresh.clone()));
        Ok(fresh)
    }
}

/// An order priced and built for a request, with the 201 response that announces it.
struct Prepared {
    order: Order,
    response: StoredResponse,
    /// On invoice: what the order's units count against (see [`hold_invoice`]).
    holds: Vec<crate::holds::HoldKey>,
}

/// An order without a card is paid on invoice: it takes stock and sends e-mail before anyone
/// paid, so the shop decides who may (security review H-2). Off by default.
fn invoice_policy(
    settings: &crate::config::OrderSettings,
    input: &PlaceOrderInput,
) -> Result<(), ApiError> {
    if input.card.is_some() {
        return Ok(());
    }
    let refuse = |message: &str| {
        Err(ApiError::invalid_code(
            "PAYMENT_REQUIRED",
            "payment.cardNumber",
            message,
        ))
    };
    if !settings.invoice_enabled {
        return refuse("a card number is required: this shop does not take orders on invoice");
    }
    if !settings.invoice_customers.is_empty()
        && !settings
            .invoice_customers
            .iter()
            .any(|c| c == input.customer_id.as_str())
    {
        return refuse("a card number is required: pay on invoice is for approved customers only");
    }
    let units: u64 = input
        .items
        .iter()
        .map(|i| u64::from(i.quantity.get()))
        .sum();
    if units > u64::from(settings.invoice_max_units) {
        return Err(ApiError::invalid_code(
            "INVOICE_LIMIT",
            "items",
            format!(
                "an order on invoice may hold at most {} units ({units} asked); pay by card for more",
                settings.invoice_max_units
            ),
        ));
    }
    Ok(())
}

/// Prices the order from the catalog and builds it and its 201 response; writes nothing.
async fn prepare(
    state: &AppState,
    input: PlaceOrderInput,
    request_id: Option<String>,
    client: Option<std::net::IpAddr>,
) -> Result<Prepared, ApiError> {
    // Here, not before the idempotency lookup: a retry of an order accepted under an earlier
    // policy still gets its replay.
    invoice_policy(&state.settings.orders, &input)?;
    let s = &state.services;
    let catalog = state.catalog.get(s.store.as_ref()).await?;
    let mut lines = Vec::with_capacity(input.items.len());
    for (i, item) in input.items.iter().enumerate() {
        let product = catalog.get(&item.product_id).ok_or_else(|| {
            ApiError::invalid_code(
                "UNKNOWN_PRODUCT",
                format!("items[{i}].productId"),
                format!("there is no product `{}`", item.product_id),
            )
        })?;
        if let Some(shown) = &item.price {
            let field = format!("items[{i}].price");
            let shown = Money::parse_decimal(shown, product.unit_price.currency)
                .map_err(|e| ApiError::invalid(&field, format!("`{field}`: {e}")))?;
            if shown != product.unit_price {
                return Err(ApiError::Conflict {
                    code: "PRICE_CHANGED",
                    message: format!(
                        "the price of {} is now {}, not {}; review the cart and order again",
                        product.name, product.unit_price, shown
                    ),
                    field: Some(field),
                });
            }
        }
        if product.unit_price.currency != catalog[&input.items[0].product_id].unit_price.currency {
            return Err(ApiError::invalid_code(
                "MIXED_CURRENCY",
                "items",
                "all products on one order must have the same currency",
            ));
        }
        lines.push(PricedLine {
            product,
            quantity: item.quantity,
        });
    }
    let payment = match &input.card {
        Some(card) => Some(s.payments.tokenize(card).await?),
        None => None,
    };
    let order_id = OrderId::generate();
    let data_key = s.keys.data_key().await?;
    let access_token = order_token(&data_key, &order_id);
    let holds = input.card.is_none().then(|| {
        let o = &state.settings.orders;
        crate::holds::hold_keys(
            &data_key,
            crate::holds::HoldCaps {
                per_customer: o.invoice_units_per_customer.into(),
                per_email: o.invoice_units_per_email.into(),
                per_client: o.invoice_units_per_client.into(),
            },
            &input.customer_id,
            &input.customer_email,
            client,
        )
    });
    let mut order = Order::place(
        NewOrder {
            order_id,
            customer_id: input.customer_id,
            customer_email: input.customer_email,
            lines,
            shipping_address: input.shipping_address,
            payment,
            access_token_sha256: sha256_hex(access_token.as_bytes()),
            request_id,
        },
        chrono::Utc::now(),
    )
    .map_err(|e| match e {
        OrderError::Money(m) => {
            ApiError::invalid("items", format!("the order total cannot be computed: {m}"))
        }
        other => ApiError::invalid("items", other.to_string()),
    })?;
    if let Some(h) = &holds {
        order.hold_keys = crate::holds::names(h);
    }
    // Stored (idempotency replays) without the token: `answer` puts it back.
    let body = serde_json::to_string(&CreatedView::new(&order, String::new()))
        .map_err(|e| ApiError::Internal(e.into()))?;
    let response = StoredResponse {
        status: 201,
        body,
        location: Some(format!("/api/orders/{}", order.order_id)),
    };
    Ok(Prepared {
        order,
        response,
        holds: holds.unwrap_or_default(),
    })
}

/// Before an order on invoice is recorded: counts its units against its customer, e-mail
/// address and client address, or refuses it when one of them already holds its cap in
/// unpaid orders (security review H-2). After the idempotency lookup, so a retry of an order
/// already counted is replayed, not refused.
///
/// `Ok(false)`: over a cap, nothing held ([`invoice_limit`] is the answer once the request
/// is known to be new).
async fn hold_invoice(state: &AppState, p: &Prepared) -> Result<bool, ApiError> {
    if p.holds.is_empty() {
        return Ok(true);
    }
    // Counted a day past the hold, so processing delays never let the entry lapse first.
    let hold = Duration::from_secs(state.settings.orders.invoice_hold_secs + 24 * 3600);
    let until = chrono::Utc::now() + chrono::Duration::from_std(hold).unwrap_or_default();
    let taken = crate::holds::take(
        state.services.store.as_ref(),
        &p.holds,
        &p.order.order_id,
        p.order.units(),
        until,
    )
    .await?;
    match taken {
        crate::holds::Taken::Held => Ok(true),
        crate::holds::Taken::OverCap(key) => {
            tracing::info!(record = %key.name, cap = key.cap, units = p.order.units(), "unpaid orders on invoice already hold the cap");
            Ok(false)
        }
    }
}

/// The answer to a new order on invoice over a cap.
fn invoice_limit() -> ApiError {
    crate::metrics::invoice_refused();
    ApiError::Conflict {
        code: "INVOICE_LIMIT",
        message: "unpaid orders on invoice already hold as many units as this shop allows for this customer, e-mail address or network; pay by card, or pay the open invoices first".into(),
        field: Some("items".into()),
    }
}

/// Gives back what [`hold_invoice`] counted for an order that was not recorded after all.
async fn unhold_invoice(state: &AppState, p: &Prepared) {
    if p.holds.is_empty() {
        return;
    }
    if let Err(e) = crate::holds::release(
        state.services.store.as_ref(),
        &p.order.hold_keys,
        &p.order.order_id,
    )
    .await
    {
        tracing::warn!(error = %e, "could not give back an invoice hold (it lapses by itself)");
    }
}

/// Records a prepared order (binding it to the key's record, held by the caller) and
/// enqueues it.
async fn record(
    state: &AppState,
    p: &Prepared,
    key: Option<&IdempotencyKey>,
    request_id: Option<String>,
) -> Result<(), ApiError> {
    let (order, response) = (&p.order, &p.response);
    if !hold_invoice(state, p).await? {
        return Err(invoice_limit());
    }
    let inserted = state
        .services
        .store
        .insert_order(order, key.map(|k| (k.as_str(), response)))
        .await;
    if inserted.is_err() {
        unhold_invoice(state, p).await;
    }
    match inserted {
        Ok(()) => {}
        Err(PortError::AlreadyExists(_)) if key.is_some() => {
            return Err(ApiError::Conflict {
                code: "IDEMPOTENCY_IN_FLIGHT",
                message: "another request with this Idempotency-Key placed the order; retry to get its response".into(),
                field: None,
            })
        }
        Err(e) => return Err(e.into()),
    }
    enqueue(state, &order.order_id, request_id).await?;
    accepted(order);
    Ok(())
}

fn accepted(order: &Order) {
    crate::metrics::order_created(order.total);
    tracing::info!(order_id = %order.order_id, total = %order.total, lines = order.items.len(), "order accepted");
}

/// The token of `Authorization: Bearer …`. Only the header: a token in a URL ends up in
/// access logs, browser history and `Referer` (the page's `?token=` link is exchanged for an
/// order cookie by [`super::pages::order`], and is not accepted here).
pub(super) fn bearer_token(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
}

/// Whether `token` is `order`'s access token.
pub(super) fn is_order_token(order: &Order, token: &str) -> bool {
    constant_time_eq(
        sha256_hex(token.as_bytes()).as_bytes(),
        order.access_token_sha256.as_bytes(),
    )
}

/// Admin key check: missing → 401, wrong → 403, too many wrong ones from this client → 429
/// (the key then not checked).
pub fn require_admin(
    req: &HttpRequest,
    state: &AppState,
    surface: AuthSurface,
) -> Result<(), ApiError> {
    let Some(given) = req.headers().get("X-API-Key").and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::Unauthorized(
            "this endpoint needs an admin key in the X-API-Key header".into(),
        ));
    };
    if state.admin_key_attempt(req, given, surface)? {
        Ok(())
    } else {
        Err(ApiError::Forbidden("the admin key is not valid".into()))
    }
}

/// Records a payment received for an order on invoice: the worker completes the order with
/// it (receipt, event, e-mail). Checked here, carried by a queue message (the durable record
/// until the order is COMPLETED, so a crash between loses nothing). Idempotent: the same
/// reference again is a duplicate, answered as the first.
///
/// `Ok(true)`: queued now (or again); `Ok(false)`: already recorded with this reference.
pub(super) async fn record_invoice_payment(
    state: &AppState,
    order: &Order,
    reference: String,
    recorded_by: String,
    request_id: Option<String>,
) -> Result<bool, ApiError> {
    if order
        .invoice_payment
        .as_ref()
        .is_some_and(|p| p.reference == reference)
    {
        return Ok(false);
    }
    if order.status != OrderStatus::AwaitingPayment {
        return Err(ApiError::Conflict {
            code: "NOT_AWAITING_PAYMENT",
            message: format!(
                "order {} is {}: only an order on invoice that is AWAITING_PAYMENT takes a payment",
                order.order_id, order.status
            ),
            field: None,
        });
    }
    let message = OrderMessage {
        payment: Some(crate::domain::InvoicePayment {
            reference,
            recorded_by,
            recorded_at: chrono::Utc::now(),
        }),
        ..OrderMessage::order(&order.order_id, request_id)
    };
    state.services.queue.send(&message.to_body()).await?;
    tracing::info!(order_id = %order.order_id, "invoice payment recorded; the worker completes the order");
    Ok(true)
}

/// POST /api/orders/{order_id}/payment
#[utoipa::path(
    post,
    path = "/api/orders/{order_id}/payment",
    tag = "orders",
    params(("order_id" = String, Path, description = "The order id")),
    request_body(content = RecordPaymentRequest, content_type = "application/json"),
    security(("admin_key" = [])),
    responses(
        (status = 202, description = "Payment recorded; the worker completes the order shortly", body = OrderView),
        (status = 200, description = "This payment was recorded already", body = OrderView),
        (status = 400, description = "Invalid body", body = ErrorResponse),
        (status = 401, description = "No admin key", body = ErrorResponse),
        (status = 403, description = "Wrong admin key", body = ErrorResponse),
        (status = 404, description = "No such order", body = ErrorResponse),
        (status = 409, description = "The order does not wait for a payment (`NOT_AWAITING_PAYMENT`)", body = ErrorResponse),
        (status = 415, description = "Not `application/json`", body = ErrorResponse),
    )
)]
pub async fn record_payment(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state, AuthSurface::ApiKey)?;
    check_content_type(&req)?;
    let bytes = read_body(&req, payload, state.settings.http.max_body_bytes).await?;
    let reference = parse_record_payment(&parse_json(&bytes)?)?;
    let order = order_in_path(&req, &state).await?;
    let key = req
        .headers()
        .get("X-API-Key")
        .map(|k| sha256_hex(k.as_bytes()))
        .unwrap_or_default();
    let by = format!("api key {}", &key[..key.len().min(8)]);
    let queued = record_invoice_payment(&state, &order, reference, by, request_id(&req)).await?;
    let view = OrderView::from(&order);
    Ok(if queued {
        HttpResponse::Accepted().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// The body of `POST /api/orders/{order_id}/payment`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RecordPaymentRequest {
    /// The payment's reference as the shop books it (a bank transfer's, a cheque number).
    #[schema(min_length = 1, max_length = 200)]
    pub reference: String,
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

/// Loads an order the caller may see: with its access token (`Authorization: Bearer`), its
/// order cookie (the no-JS page, [`super::session::verify_order_cookie`]), an admin key or an
/// admin console session. Everyone else gets the same 404 as for an order that does not exist.
/// A wrong `X-API-Key` counts against the client's admin-key allowance.
pub(super) async fn authorized_order(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Order, ApiError> {
    let order = order_in_path(req, state).await?;
    let admin = match req.headers().get("X-API-Key").and_then(|v| v.to_str().ok()) {
        Some(k) => state.admin_key_attempt(req, k, AuthSurface::ApiKey)?,
        None => false,
    };
    let owner = bearer_token(req).is_some_and(|t| is_order_token(&order, &t));
    let cookie = match req.cookie(super::session::ORDER_COOKIE) {
        Some(c) if !(admin || owner) => super::session::verify_order_cookie(
            &state.services.keys.data_key().await?,
            &order.order_id,
            c.value(),
            chrono::Utc::now().timestamp(),
        ),
        _ => false,
    };
    let console = super::pages::admin_session(req, state).is_some();
    if admin || owner || cookie || console {
        Ok(order)
    } else {
        Err(ApiError::NotFound("no such order".into()))
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
        (status = 404, description = "No such order, or not yours (the same answer for both)", body = ErrorResponse),
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
    let order = authorized_order(&req, &state).await?;
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
        ("status" = Option<String>, Query, description = "PENDING, PROCESSING, AWAITING_PAYMENT, COMPLETED or FAILED"),
        ("limit" = Option<u32>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
    ),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Newest first", body = OrderPage),
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
    require_admin(&req, &state, AuthSurface::ApiKey)?;
    let q = web::Query::<ListQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::Invalid {
            code: "VALIDATION_ERROR",
            message: format!("bad query string: {e}"),
            field: None,
        })?
        .into_inner();
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(OrderStatus::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
            ApiError::invalid(
                "status",
                "`status` must be one of PENDING, PROCESSING, AWAITING_PAYMENT, COMPLETED, FAILED",
            )
        })?),
    };
    let limit = match q.limit.as_deref() {
        None | Some("") => 20,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                ApiError::invalid("limit", "`limit` must be a whole number from 1 to 100")
            })?,
    };
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
        .json(OrderPage {
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
        (status = 200, description = "The PDF receipt", content_type = "application/pdf", body = super::openapi::Pdf,
            headers(
                ("Content-Disposition" = String, description = "`inline; filename=\"receipt-{orderId}.pdf\"`"),
                ("Cache-Control" = String, description = "`private, no-store`"),
            )),
        (status = 404, description = "No such order, or not yours; or the order is COMPLETED but its receipt is no longer stored (expired after the bucket's retention, or deleted)", body = ErrorResponse),
        (status = 409, description = "`RECEIPT_NOT_READY`: the order is not COMPLETED yet", body = ErrorResponse),
        (status = 503, description = "The receipt store does not answer; retry", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
pub async fn get_receipt(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let order = authorized_order(&req, &state).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn sha256_hex_matches_the_published_test_vectors() {
        // FIPS 180-2 / NIST CSRC examples: the empty message and "abc".
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
