//! Server-rendered pages (askama): the order page for shoppers without JavaScript, and the
//! admin console (sign-in with an admin key → signed session cookie; CSRF-protected forms).

use super::errors::ApiError;
use super::session::{COOKIE, LIFETIME_SECS};
use super::AppState;
use crate::domain::{Order, OrderId, OrderStatus};
use crate::ports::QueueDepth;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use serde::Deserialize;

struct LineRow {
    name: String,
    quantity: u32,
    unit_price: String,
    line_total: String,
}

struct TimelineRow {
    status: String,
    at: String,
    at_display: String,
    reason: Option<String>,
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderTemplate {
    shop: String,
    css: String,
    order_id: String,
    status: String,
    status_class: String,
    failure: Option<String>,
    lines: Vec<LineRow>,
    total: String,
    timeline: Vec<TimelineRow>,
    receipt_url: Option<String>,
    is_final: bool,
    /// AWAITING_PAYMENT: when the hold runs out.
    payment_due: Option<String>,
    /// On the console, for an order awaiting payment: the CSRF token of the "record
    /// payment" form.
    pay_form: Option<String>,
    /// On the console: the reference of a payment recorded and not yet applied.
    payment_recorded: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_login.html")]
struct LoginPage {
    shop: String,
    css: String,
    error: Option<String>,
}

struct OrderRow {
    order_id: String,
    created: String,
    customer: String,
    total: String,
    status: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    shop: String,
    css: String,
    csrf: String,
    notice: Option<String>,
    depth: QueueDepth,
    counts: Vec<(String, u64)>,
    orders: Vec<OrderRow>,
    alarms: Vec<(String, String, String)>,
    aws: bool,
}

fn html(status: actix_web::http::StatusCode, body: Result<String, askama::Error>) -> HttpResponse {
    match body {
        Ok(b) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(b),
        Err(e) => ApiError::Internal(anyhow::anyhow!("rendering a page: {e}")).error_response(),
    }
}

fn reason_in_words(order: &Order) -> Option<String> {
    order.failure_reason.map(|r| match r {
        crate::domain::FailureReason::OutOfStock => {
            "An item was out of stock. Nothing was charged.".to_owned()
        }
        crate::domain::FailureReason::PaymentDeclined => {
            "The card was declined. Nothing was charged.".to_owned()
        }
        crate::domain::FailureReason::PaymentOverdue => {
            "The payment did not arrive in time, so the goods were released.".to_owned()
        }
    })
}

fn order_page(state: &AppState, order: &Order, receipt_url: Option<String>) -> OrderTemplate {
    OrderTemplate {
        shop: state.settings.orders.shop_name.clone(),
        css: state.assets.css_url.clone(),
        order_id: order.order_id.to_string(),
        status: order.status.to_string(),
        status_class: order.status.as_str().to_ascii_lowercase(),
        failure: reason_in_words(order),
        lines: order
            .items
            .iter()
            .map(|l| LineRow {
                name: l.name.clone(),
                quantity: l.quantity.get(),
                unit_price: l.unit_price.to_string(),
                line_total: l.line_total.to_string(),
            })
            .collect(),
        total: order.total.to_string(),
        timeline: order
            .timeline
            .iter()
            .map(|e| TimelineRow {
                status: e.status.to_string(),
                at: e.at.to_rfc3339(),
                at_display: e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                reason: e.reason.map(|r| r.as_str().to_owned()),
            })
            .collect(),
        receipt_url: receipt_url
            .filter(|_| order.status == OrderStatus::Completed && order.receipt_key.is_some()),
        is_final: order.status.is_settled(),
        payment_due: order
            .payment_due
            .filter(|_| order.status == OrderStatus::AwaitingPayment)
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string()),
        pay_form: None,
        payment_recorded: None,
    }
}

fn not_found_page() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body("<!doctype html><title>Not found</title><h1>Not found</h1><p>No such order, or the link is incomplete.</p>")
}

/// GET /orders/{order_id}: the order and its timeline, no JavaScript needed.
///
/// The link a customer keeps is `/orders/{id}?token=…`. Its token is checked and at once
/// exchanged for an order cookie (HttpOnly, `SameSite=Lax` so it works when the link is opened
/// from a mail client, scoped by `Path` to this order's page and receipt), and the answer is a
/// 303 to the clean URL: the token does not stay in the address bar, in history or in the
/// `Referer` of what the page loads. A wrong token gets the same 404 as an unknown order.
pub async fn order(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let token =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("token").cloned());
    let result = match token {
        Some(token) => exchange_token(&req, &state, &token).await,
        None => super::orders::authorized_order(&req, &state)
            .await
            .map(|order| {
                let receipt = format!("/api/orders/{}/receipt", order.order_id);
                html(
                    actix_web::http::StatusCode::OK,
                    order_page(&state, &order, Some(receipt)).render(),
                )
            }),
    };
    match result {
        Ok(res) => res,
        Err(ApiError::NotFound(_)) => not_found_page(),
        Err(e) => e.error_response(),
    }
}

/// The 303 to `/orders/{id}` with the order cookies, if `token` is the order's.
async fn exchange_token(
    req: &HttpRequest,
    state: &AppState,
    token: &str,
) -> Result<HttpResponse, ApiError> {
    let order = super::orders::order_in_path(req, state).await?;
    if !super::auth::is_order_token(&order, token) {
        return Err(ApiError::NotFound("no such order".into()));
    }
    let lifetime = state.settings.orders.link_cookie_secs as i64;
    let value = super::session::issue_order_cookie(
        &state.services.keys.data_key().await?,
        &order.order_id,
        chrono::Utc::now().timestamp(),
        lifetime,
    );
    let page = format!("/orders/{}", order.order_id);
    let mut res = see_other(&page);
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    // The page, and the receipt its link points to; not the JSON API (the storefront sends
    // its Bearer token there) nor any other order.
    for path in [
        page.clone(),
        format!("/api/orders/{}/receipt", order.order_id),
    ] {
        let cookie = http_only_cookie(
            req,
            state,
            (super::session::ORDER_COOKIE, value.clone()),
            path,
            SameSite::Lax,
            lifetime,
        );
        let _ = res.add_cookie(&cookie);
    }
    tracing::info!(order_id = %order.order_id, "order link exchanged for an order cookie");
    Ok(res)
}

fn login_page(
    state: &AppState,
    status: actix_web::http::StatusCode,
    error: Option<String>,
) -> HttpResponse {
    let page = LoginPage {
        shop: state.settings.orders.shop_name.clone(),
        css: state.assets.css_url.clone(),
        error,
    };
    html(status, page.render())
}

#[derive(Deserialize)]
pub struct AdminQuery {
    redriven: Option<usize>,
}

/// GET /admin: the console, or the sign-in form.
pub async fn admin(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(session) = super::auth::admin_session(&req, &state) else {
        return login_page(&state, actix_web::http::StatusCode::OK, None);
    };
    match dashboard(&req, &state, &session).await {
        Ok(r) => r,
        Err(e) => e.error_response(),
    }
}

async fn dashboard(
    req: &HttpRequest,
    state: &AppState,
    session: &str,
) -> Result<HttpResponse, ApiError> {
    let s = &state.services;
    let depth = s.queue.depth().await?;
    let counts = s
        .store
        .count_by_status()
        .await?
        .into_iter()
        .map(|(st, n)| (st.to_string(), n))
        .collect();
    let orders = s
        .store
        .list_orders(None, 20, None)
        .await?
        .orders
        .into_iter()
        .map(|o| OrderRow {
            order_id: o.order_id.to_string(),
            created: o.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            customer: o.customer_email.to_string(),
            total: o.total.to_string(),
            status: match o.failure_reason {
                Some(r) => format!("{} ({})", o.status, r.as_str()),
                None => o.status.to_string(),
            },
        })
        .collect();
    let alarms = s
        .notifier
        .recent_alarms(10)
        .await?
        .into_iter()
        .map(|a| {
            (
                a.raised_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                a.subject,
                a.message,
            )
        })
        .collect();
    let notice = web::Query::<AdminQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.redriven)
        .map(|n| {
            format!("Moved {n} message(s) from the dead-letter queue back to the order queue.")
        });
    let page = AdminPage {
        shop: state.settings.orders.shop_name.clone(),
        css: state.assets.css_url.clone(),
        csrf: state.sessions.csrf(session).unwrap_or_default(),
        notice,
        depth,
        counts,
        orders,
        alarms,
        aws: state.settings.backend == crate::config::Backend::Aws,
    };
    Ok(html(actix_web::http::StatusCode::OK, page.render()))
}

/// Whether the session cookie gets `Secure`: it follows the scheme the browser used.
///
/// - Behind `rate_limit.trusted_proxy_hops` proxies (the ALB), that is the `X-Forwarded-Proto`
///   entry the nearest trusted proxy wrote (picked like the client address in
///   [`super::limits::client_ip`]: entries further left are the client's and never trusted).
///   So plain `http://<ALB DNS name>` gets a cookie the browser keeps, and HTTPS a `Secure` one.
/// - Otherwise the header is ignored (a client must not be able to switch `Secure` off), and
///   the scheme is unknown: a TLS proxy nobody told us about may stand in front. The cookie
///   is then `Secure` unless the request is plain HTTP to a loopback host (local development).
fn secure_cookie(req: &HttpRequest, trusted_proxy_hops: usize) -> bool {
    if let Some(proto) = forwarded_proto(req, trusted_proxy_hops) {
        return proto.eq_ignore_ascii_case("https");
    }
    // The connection's own scheme and Host header; not actix's `connection_info`, which
    // believes Forwarded / X-Forwarded-* headers from anyone.
    if req.app_config().secure() {
        return true;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
    .trim_matches(['[', ']']);
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

/// Whether the browser reached us over HTTPS: the trusted proxy says so, or the connection is
/// TLS itself. (Not the loopback guess of [`secure_cookie`]: HSTS is only ever sent over HTTPS.)
pub(super) fn came_over_https(req: &HttpRequest, trusted_proxy_hops: usize) -> bool {
    match forwarded_proto(req, trusted_proxy_hops) {
        Some(proto) => proto.eq_ignore_ascii_case("https"),
        None => req.app_config().secure(),
    }
}

/// The `X-Forwarded-Proto` entry written by the nearest of `hops` trusted proxies; `None`
/// without trusted proxies or without the header.
fn forwarded_proto(req: &HttpRequest, hops: usize) -> Option<String> {
    if hops == 0 {
        return None;
    }
    let entries: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-proto")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let idx = entries
        .len()
        .checked_sub(hops)
        .or(entries.len().checked_sub(1))?;
    Some(entries[idx].to_owned())
}

fn session_cookie(
    req: &HttpRequest,
    state: &AppState,
    value: String,
    max_age: i64,
) -> Cookie<'static> {
    http_only_cookie(
        req,
        state,
        (COOKIE, value),
        "/".into(),
        SameSite::Strict,
        max_age,
    )
}

/// A cookie scripts cannot read, `Secure` whenever the client reached us over HTTPS.
fn http_only_cookie(
    req: &HttpRequest,
    state: &AppState,
    (name, value): (&'static str, String),
    path: String,
    same_site: SameSite,
    max_age: i64,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .same_site(same_site)
        .secure(secure_cookie(
            req,
            state.settings.rate_limit.trusted_proxy_hops,
        ))
        .max_age(actix_web::cookie::time::Duration::seconds(max_age))
        .finish()
}

#[derive(Deserialize)]
struct LoginForm {
    api_key: String,
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// POST /admin/login
pub async fn login(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return login_page(
            &state,
            actix_web::http::StatusCode::BAD_REQUEST,
            Some("Enter the admin API key.".into()),
        );
    };
    match state.admin_key_attempt(&req, form.api_key.trim(), super::limits::AuthSurface::Login) {
        Ok(true) => {}
        Err(blocked) => {
            let mut res = login_page(
                &state,
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                Some(format!(
                    "Too many failed sign-ins from your address. Sign-in is blocked for {} more second(s); the key was not checked.",
                    blocked.retry_after_secs
                )),
            );
            if let Ok(v) = header::HeaderValue::from_str(&blocked.retry_after_secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return res;
        }
        // Logged, with the client's address, by the throttle.
        Ok(false) => {
            return login_page(
                &state,
                actix_web::http::StatusCode::UNAUTHORIZED,
                Some("That key is not valid.".into()),
            )
        }
    }
    let Some(session) = state.sessions.issue(chrono::Utc::now().timestamp()) else {
        return login_page(
            &state,
            actix_web::http::StatusCode::FORBIDDEN,
            Some("No admin keys are configured.".into()),
        );
    };
    tracing::info!("admin signed in");
    let mut res = see_other("/admin");
    let _ = res.add_cookie(&session_cookie(&req, &state, session, LIFETIME_SECS));
    res
}

/// Checks the session and the form's CSRF token; `Err` is the response to send instead.
fn check_form(req: &HttpRequest, state: &AppState, body: &[u8]) -> Result<(), Box<HttpResponse>> {
    let Some(session) = super::auth::admin_session(req, state) else {
        return Err(Box::new(see_other("/admin")));
    };
    let ok = serde_urlencoded::from_bytes::<CsrfForm>(body)
        .is_ok_and(|f| state.sessions.verify_csrf(&session, &f.csrf));
    if !ok {
        tracing::warn!("admin form refused: CSRF token missing or wrong");
        return Err(Box::new(login_page(
            state,
            actix_web::http::StatusCode::FORBIDDEN,
            Some("The form expired; sign in again.".into()),
        )));
    }
    Ok(())
}

/// POST /admin/logout
pub async fn logout(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(r) = check_form(&req, &state, &body) {
        return *r;
    }
    let mut res = see_other("/admin");
    let _ = res.add_cookie(&session_cookie(&req, &state, String::new(), 0));
    res
}

/// POST /admin/dlq/redrive
pub async fn redrive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(r) = check_form(&req, &state, &body) {
        return *r;
    }
    match state.services.queue.redrive(1000).await {
        Ok(n) => {
            tracing::info!(
                moved = n,
                "dead-letter queue redriven from the admin console"
            );
            see_other(&format!("/admin?redriven={n}"))
        }
        Err(e) => ApiError::from(e).error_response(),
    }
}

/// The form of the console's "record payment".
#[derive(serde::Deserialize)]
struct PaymentForm {
    #[allow(dead_code)]
    csrf: String,
    reference: String,
}

/// POST /admin/orders/{order_id}/payment: the console's "record payment" (see
/// [`crate::invoice::record_payment`]).
pub async fn record_payment(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(r) = check_form(&req, &state, &body) {
        return *r;
    }
    let Ok(form) = serde_urlencoded::from_bytes::<PaymentForm>(&body) else {
        return ApiError::invalid("reference", "the form needs a payment reference")
            .error_response();
    };
    let reference = match crate::domain::values::parse_text(&form.reference, 200) {
        Ok(r) => r,
        Err(e) => {
            return ApiError::invalid("reference", format!("`reference` {e}")).error_response()
        }
    };
    let order = match super::orders::order_in_path(&req, &state).await {
        Ok(o) => o,
        Err(e) => return e.error_response(),
    };
    match crate::invoice::record_payment(
        &state.services,
        &order,
        reference,
        "admin console".into(),
        super::request_id(&req),
    )
    .await
    {
        Ok(_) => see_other(&format!("/admin/orders/{}?paid=1", order.order_id)),
        Err(e) => ApiError::from(e).error_response(),
    }
}

/// GET /admin/orders/{order_id}
pub async fn admin_order(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(session) = super::auth::admin_session(&req, &state) else {
        return see_other("/admin");
    };
    let Some(id) = req
        .match_info()
        .get("order_id")
        .and_then(|s| OrderId::parse(s).ok())
    else {
        return not_found_page();
    };
    match state.services.store.get_order(&id).await {
        Ok(Some(order)) => {
            let receipt = format!("/api/orders/{id}/receipt");
            let mut page = order_page(&state, &order, Some(receipt));
            if order.status == OrderStatus::AwaitingPayment {
                match crate::invoice::recorded_payment(&state.services, &order).await {
                    Ok(Some(p)) => page.payment_recorded = Some(p.reference),
                    Ok(None) => page.pay_form = state.sessions.csrf(&session),
                    Err(e) => return ApiError::from(e).error_response(),
                }
            }
            html(actix_web::http::StatusCode::OK, page.render())
        }
        Ok(None) => not_found_page(),
        Err(e) => ApiError::from(e).error_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::secure_cookie;
    use actix_web::test::TestRequest;

    fn req(host: &str, protos: &[&str]) -> actix_web::HttpRequest {
        let mut r = TestRequest::default()
            .peer_addr("10.0.1.7:40000".parse().unwrap())
            .insert_header(("host", host));
        for p in protos {
            r = r.append_header(("x-forwarded-proto", *p));
        }
        r.to_http_request()
    }

    #[test]
    fn behind_a_trusted_proxy_the_forwarded_scheme_decides() {
        let alb = "orderflow-123.us-east-1.elb.amazonaws.com";
        assert!(!secure_cookie(&req(alb, &["http"]), 1), "plain HTTP ALB");
        assert!(secure_cookie(&req(alb, &["https"]), 1));
        assert!(secure_cookie(&req(alb, &["HTTPS"]), 1));
        // The client's own claim is to the left of what the ALB wrote.
        assert!(secure_cookie(&req(alb, &["http, https"]), 1));
        assert!(secure_cookie(&req(alb, &["http", "https"]), 1));
        assert!(!secure_cookie(&req(alb, &["https, http"]), 1));
        // Two proxies: the entry two from the right.
        assert!(secure_cookie(&req(alb, &["http, https, http"]), 2));
        // No header although a proxy is configured: as without one.
        assert!(secure_cookie(&req(alb, &[]), 1));
        assert!(!secure_cookie(&req("127.0.0.1:8080", &[]), 1));
    }

    #[test]
    fn without_a_trusted_proxy_the_header_is_ignored() {
        assert!(
            secure_cookie(&req("shop.example.com", &["http"]), 0),
            "no downgrade"
        );
        assert!(secure_cookie(&req("shop.example.com", &[]), 0));
        assert!(!secure_cookie(&req("127.0.0.1:8080", &["https"]), 0));
        assert!(!secure_cookie(&req("localhost:8080", &[]), 0));
        assert!(!secure_cookie(&req("[::1]:8080", &[]), 0));
    }
}
