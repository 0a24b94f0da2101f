//! The HTTP side: storefront static files, the order REST API, health endpoints.
//!
//! [`Application::build`] binds its own listener, so tests bind port 0 and ask [`Application::port`].

pub(crate) mod auth;
mod errors;
mod input;
mod limits;
pub mod openapi;
mod orders;
mod pages;
mod products;
mod session;
mod views;

use crate::place_order::sha256_hex;
pub use auth::constant_time_eq;
pub use errors::ApiError;
pub use limits::client_ip;

use crate::config::Settings;
use crate::ports::Services;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{from_fn, DefaultHeaders, Next};
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Shared by all handlers.
pub struct AppState {
    pub services: Services,
    pub settings: Arc<Settings>,
    /// SHA-256 of each admin key: compared in constant time, never kept in clear here.
    admin_key_hashes: Vec<String>,
    sessions: session::SessionKeys,
    assets: Assets,
    /// Set on shutdown: `/readyz` fails so the load balancer drains this instance.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    rate_limiter: limits::OrderRateLimiter,
    /// Failed admin authentications per client and overall (every admin key check goes
    /// through [`AppState::admin_key_attempt`]).
    auth_throttle: limits::AuthThrottle,
    /// Placing orders (the intake use case).
    pub(crate) intake: crate::place_order::PlaceOrder,
    /// The last dependency check behind `/readyz`.
    readiness: Readiness,
}

/// Static assets with content-hash versions: versioned URLs are cached for a year, and a
/// deploy that changes a file changes its URL.
#[derive(Clone, Default)]
pub struct Assets {
    /// `index.html` with its `/static/…` references versioned; `None` if missing.
    index_html: Option<String>,
    /// The versioned stylesheet URL for server-rendered pages.
    css_url: String,
    /// File name → its version (the `?v=` that makes a response immutable).
    versions: std::collections::HashMap<String, String>,
}

impl Assets {
    pub fn load(static_dir: &std::path::Path) -> Assets {
        let mut versions = Vec::new();
        if let Ok(entries) = std::fs::read_dir(static_dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".js") || name.ends_with(".css") {
                    if let Ok(bytes) = std::fs::read(e.path()) {
                        versions.push((name, sha256_hex(&bytes)[..12].to_owned()));
                    }
                }
            }
        }
        let versioned = |name: &str| match versions.iter().find(|(n, _)| n == name) {
            Some((_, v)) => format!("/static/{name}?v={v}"),
            None => format!("/static/{name}"),
        };
        let index_html = std::fs::read_to_string(static_dir.join("index.html"))
            .ok()
            .map(|mut html| {
                for (name, _) in &versions {
                    html = html.replace(
                        &format!("\"/static/{name}\""),
                        &format!("\"{}\"", versioned(name)),
                    );
                }
                html
            });
        Assets {
            index_html,
            css_url: versioned("style.css"),
            versions: versions.into_iter().collect(),
        }
    }

    /// Whether `v` is the current version of the static file `name`.
    fn is_current(&self, name: &str, v: &str) -> bool {
        self.versions.get(name).is_some_and(|current| current == v)
    }
}

impl AppState {
    pub fn new(services: Services, settings: Arc<Settings>) -> Self {
        let admin_key_hashes: Vec<String> = settings
            .auth
            .admin_api_keys
            .iter()
            .map(|k| sha256_hex(k.expose().as_bytes()))
            .collect();
        let sessions = session::SessionKeys::from_admin_key_hashes(&admin_key_hashes);
        let assets = Assets::load(&settings.http.static_dir);
        let rate_limiter = limits::OrderRateLimiter::new(&settings.rate_limit);
        let auth_throttle =
            limits::AuthThrottle::new(&settings.auth, settings.rate_limit.trusted_proxy_hops);
        let intake = crate::place_order::PlaceOrder::new(
            services.clone(),
            &settings.orders,
            orders::created_response,
        );
        AppState {
            services,
            settings,
            admin_key_hashes,
            sessions,
            assets,
            draining: Default::default(),
            rate_limiter,
            auth_throttle,
            intake,
            readiness: Readiness::new(READY_CACHE),
        }
    }
}

/// The request id of this request: the ALB's `X-Amzn-Trace-Id` when a trusted proxy stands
/// in front, else generated. Never the client's own `X-Request-Id` (it would let a client
/// forge or collide with another request's id in the logs and on the order); that one is
/// logged beside it as `client_request_id`.
#[derive(Clone)]
pub struct RequestId(pub String);

pub fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|r| r.0.clone())
}

fn usable_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?.trim();
    (!s.is_empty() && s.len() <= 200 && s.bytes().all(|b| (0x21..=0x7e).contains(&b)))
        .then(|| s.to_owned())
}

/// Gives every request an id (echoed as `X-Request-Id`) and a span carrying it, and logs
/// one line per request. Only the path is logged: query strings may hold access tokens.
async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let behind_proxy = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.settings.rate_limit.trusted_proxy_hops > 0);
    let id = behind_proxy
        .then(|| req.headers().get("x-amzn-trace-id").and_then(usable_id))
        .flatten()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let client_id = req.headers().get("x-request-id").and_then(usable_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = match &client_id {
        Some(c) => tracing::info_span!("http", request_id = %id, client_request_id = %c),
        None => tracing::info_span!("http", request_id = %id),
    };
    let (method, path) = (req.method().clone(), req.path().to_owned());
    let started = std::time::Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), v);
    }
    let status = res.status().as_u16();
    let took = started.elapsed();
    let route = res.request().match_pattern();
    crate::metrics::http_request(
        method.as_str(),
        route.as_deref().unwrap_or("unmatched"),
        status,
        took,
    );
    let ms = took.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if path == "/livez" || path == "/healthz" || path == "/readyz" {
            tracing::debug!(%method, %path, status, latency_ms = ms, "request");
        } else {
            tracing::info!(%method, %path, status, latency_ms = ms, "request");
        }
    });
    Ok(res)
}

fn health(status: &str, checks: Option<views::HealthChecks>) -> views::HealthView {
    views::HealthView {
        status: status.to_owned(),
        checks,
    }
}

fn alive() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(health("ok", None))
}

/// Liveness: the process answers HTTP. Touches no backend (an AWS outage must not get the
/// instance replaced) and stays 200 while draining.
#[utoipa::path(
    get,
    path = "/livez",
    tag = "operations",
    responses((status = 200, description = "The process is alive and its HTTP workers answer", body = views::HealthView))
)]
async fn livez() -> HttpResponse {
    alive()
}

/// Liveness under its older name: the same answer as `/livez`.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is alive (same as /livez)", body = views::HealthView))
)]
async fn healthz() -> HttpResponse {
    alive()
}

/// How long one readiness check's result answers `/readyz` probes.
pub const READY_CACHE: Duration = Duration::from_secs(5);

/// The last readiness check, shared by every probe: a check runs at most once per
/// [`READY_CACHE`], and probes arriving while one runs wait for its result (single flight)
/// instead of starting their own.
pub(crate) struct Readiness {
    ttl: Duration,
    last: tokio::sync::Mutex<Option<(std::time::Instant, views::HealthChecks)>>,
}

impl Readiness {
    pub(crate) fn new(ttl: Duration) -> Self {
        Readiness {
            ttl,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The cached result when fresh, else the result of `check` (run by one caller only).
    pub(crate) async fn get<F, Fut>(&self, check: F) -> views::HealthChecks
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = views::HealthChecks>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, checks)) = &*last {
            if at.elapsed() < self.ttl {
                return checks.clone();
            }
        }
        let checks = check().await;
        *last = Some((std::time::Instant::now(), checks.clone()));
        checks
    }
}

/// Pings the store and the queue (at the same time, two seconds each). Failures are logged
/// here with their detail; the answer only says which dependency failed.
async fn check_dependencies(s: &Services) -> views::HealthChecks {
    let limit = Duration::from_secs(2);
    let (store, queue) = tokio::join!(
        tokio::time::timeout(limit, s.store.ping()),
        tokio::time::timeout(limit, async { s.queue.depth().await.map(|_| ()) }),
    );
    let verdict = |name: &str, r: Result<crate::ports::PortResult<()>, _>| match r {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(dependency = name, error = %e, "readiness check failed");
            "fail"
        }
        Err(_) => {
            tracing::warn!(dependency = name, "readiness check timed out after 2 s");
            "fail"
        }
    };
    views::HealthChecks {
        store: verdict("store", store),
        queue: verdict("queue", queue),
    }
}

/// Readiness, for the load balancer: 503 while draining, else whether the order store and
/// the queue answered (checked at most every 5 s, shared by concurrent probes).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready for traffic", body = views::HealthView),
        (status = 503, description = "Draining, or a backend did not answer its last check (`checks` says which)", body = views::HealthView),
    )
)]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(health("draining", None));
    }
    let checks = state
        .readiness
        .get(|| check_dependencies(&state.services))
        .await;
    let ready = checks.store == "ok" && checks.queue == "ok";
    let (mut res, status) = if ready {
        (HttpResponse::Ok(), "ready")
    } else {
        (HttpResponse::ServiceUnavailable(), "unavailable")
    };
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .json(health(status, Some(checks)))
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(("admin_key" = []), ("order_token" = [])),
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "No admin key", body = errors::ErrorResponse),
        (status = 403, description = "Wrong admin key", body = errors::ErrorResponse),
        (status = 404, description = "Metrics are on the separate `metrics.addr` listener", body = errors::ErrorResponse),
        (status = 429, description = "`TOO_MANY_AUTH_FAILURES`: too many wrong admin keys from this address (or from everywhere); the key was not checked", body = errors::ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
/// GET /metrics on the main listener: for holders of an admin key (`X-API-Key`, or
/// `Authorization: Bearer` as Prometheus sends it). With `metrics.addr` set, metrics live on
/// that listener instead and this route is 404.
async fn metrics_endpoint(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if state.settings.metrics.addr.is_some() {
        return Err(ApiError::NotFound("no such resource".into()));
    }
    auth::require_admin_or_bearer(&req, &state, limits::AuthSurface::Metrics)?;
    Ok(metrics_response(state.services.queue.as_ref()).await)
}

async fn metrics_response(queue: &dyn crate::ports::OrderQueue) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(crate::metrics::render(queue).await)
}

/// A listener that serves only `GET /metrics`, without a key: bind it to a private address
/// (`metrics.addr` for serve, `metrics.worker_addr` for the worker).
pub fn metrics_server(
    addr: &str,
    queue: Arc<dyn crate::ports::OrderQueue>,
) -> anyhow::Result<(u16, Server)> {
    crate::metrics::handle();
    let listener = TcpListener::bind(addr)
        .map_err(|e| anyhow::anyhow!("binding metrics address {addr}: {e}"))?;
    let port = listener.local_addr()?.port();
    let queue = web::Data::from(Arc::new(queue));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(queue.clone())
            .route(
                "/metrics",
                web::get().to(
                    |q: web::Data<Arc<dyn crate::ports::OrderQueue>>| async move {
                        metrics_response(q.as_ref().as_ref()).await
                    },
                ),
            )
            .default_service(web::to(errors::not_found))
    })
    .workers(1)
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(1)
    .run();
    Ok((port, server))
}

/// The products on sale (retired ones are left out) with current stock.
#[utoipa::path(
    get,
    path = "/api/products",
    tag = "catalog",
    responses(
        (status = 200, description = "The products on sale", body = views::ProductList),
        (status = 503, description = "The store does not answer; retry", body = errors::ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
async fn list_products(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let products: Vec<views::ProductView> = state
        .services
        .inventory
        .list_products()
        .await?
        .into_iter()
        .filter(|p| p.active)
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(views::ProductList { products }))
}

/// The storefront page, its asset URLs versioned; HTML itself is never cached.
async fn index(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let html = state.assets.index_html.clone().ok_or_else(|| {
        ApiError::NotFound("the storefront is not installed (http.static_dir)".into())
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(html))
}

/// `Strict-Transport-Security` on every answer to a request that came over HTTPS (behind the
/// ALB: its `X-Forwarded-Proto` from the trusted hop), so a browser that once used HTTPS never
/// tries plain HTTP again (the HTTP listener only redirects then). Never over plain HTTP,
/// where browsers ignore it and the default stack has no certificate.
async fn hsts(
    max_age_secs: u64,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let https = max_age_secs > 0
        && req.app_data::<web::Data<AppState>>().is_some_and(|state| {
            pages::came_over_https(req.request(), state.settings.rate_limit.trusted_proxy_hops)
        });
    let mut res = next.call(req).await?;
    if https {
        res.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_str(&format!("max-age={max_age_secs}"))
                .expect("digits are a valid header value"),
        );
    }
    Ok(res)
}

/// A static URL whose `?v=` is the file's current content hash is immutable when found
/// (200, or 304 to a revalidation); anything else revalidates: an old or invented
/// version, a 404, a file served by an instance with other content (a rolling deploy).
async fn static_cache(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let current = match (
        req.app_data::<web::Data<AppState>>(),
        req.path().strip_prefix("/static/"),
    ) {
        (Some(state), Some(name)) => req
            .query_string()
            .split('&')
            .filter_map(|p| p.strip_prefix("v="))
            .any(|v| state.assets.is_current(name, v)),
        _ => false,
    };
    let mut res = next.call(req).await?;
    let found = matches!(
        res.status(),
        actix_web::http::StatusCode::OK | actix_web::http::StatusCode::NOT_MODIFIED
    );
    let value = if current && found {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    Ok(res)
}

/// `Referrer-Policy: no-referrer` for one order's routes (stricter than the global
/// `strict-origin-when-cross-origin`, which [`DefaultHeaders`] outside then leaves alone):
/// nothing an order page or answer links to learns the order's URL.
fn no_referrer() -> DefaultHeaders {
    DefaultHeaders::new().add((header::REFERRER_POLICY, "no-referrer"))
}

/// Registers every route; shared by the server and in-process tests.
pub fn routes(cfg: &mut web::ServiceConfig, static_dir: &std::path::Path) {
    // 405 with `Allow` (RFC 9110) naming what the resource answers.
    let json_405 = |allow: &'static str| web::route().to(move || errors::method_not_allowed(allow));
    cfg.service(
        web::resource("/livez")
            .route(web::get().to(livez))
            .default_service(json_405("GET")),
    )
    .service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .default_service(json_405("GET")),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(readyz))
            .default_service(json_405("GET")),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(metrics_endpoint))
            .default_service(json_405("GET")),
    )
    .service(
        web::resource("/api/openapi.json")
            .route(web::get().to(openapi::document))
            .default_service(json_405("GET")),
    )
    .service(
        web::resource("/api/products")
            .route(web::get().to(list_products))
            .route(web::post().to(products::create_product))
            .default_service(json_405("GET, POST")),
    )
    .service(
        web::resource("/api/products/{product_id}")
            .route(web::get().to(products::get_product))
            .route(web::patch().to(products::update_product))
            .default_service(json_405("GET, PATCH")),
    )
    .service(
        web::resource("/api/products/{product_id}/stock")
            .route(web::post().to(products::adjust_stock))
            .default_service(json_405("POST")),
    )
    .service(
        web::resource("/api/products/{product_id}/ledger")
            .route(web::get().to(products::ledger))
            .default_service(json_405("GET")),
    )
    .service(
        web::resource("/api/orders")
            .route(web::post().to(orders::create_order))
            .route(web::get().to(orders::list_orders))
            .default_service(json_405("POST, GET")),
    )
    .service(
        web::resource("/api/orders/{order_id}")
            .wrap(no_referrer())
            .route(web::get().to(orders::get_order))
            .default_service(json_405("GET")),
    )
    .service(
        web::resource("/api/orders/{order_id}/payment")
            .route(web::post().to(orders::record_payment))
            .default_service(json_405("POST")),
    )
    .service(
        web::resource("/api/orders/{order_id}/receipt")
            .wrap(no_referrer())
            .route(web::get().to(orders::get_receipt))
            .default_service(json_405("GET")),
    )
    .service(
        web::resource("/")
            .route(web::get().to(index))
            .route(web::head().to(index)),
    )
    .service(
        web::resource("/orders/{order_id}")
            .wrap(no_referrer())
            .route(web::get().to(pages::order)),
    )
    .service(web::resource("/admin").route(web::get().to(pages::admin)))
    .service(web::resource("/admin/login").route(web::post().to(pages::login)))
    .service(web::resource("/admin/logout").route(web::post().to(pages::logout)))
    .service(web::resource("/admin/dlq/redrive").route(web::post().to(pages::redrive)))
    .service(
        web::resource("/admin/orders/{order_id}/payment")
            .route(web::post().to(pages::record_payment)),
    )
    .service(
        web::resource("/admin/orders/{order_id}")
            .wrap(no_referrer())
            .route(web::get().to(pages::admin_order)),
    )
    .service(
        web::scope("/static")
            .wrap(from_fn(static_cache))
            .service(actix_files::Files::new("", static_dir).use_etag(true)),
    );
}

/// CORS for storefronts on other origins: only the configured origins, the API's methods,
/// and the headers the API reads (Idempotency-Key, Authorization, X-API-Key).
fn cors(settings: &crate::config::CorsSettings) -> actix_cors::Cors {
    let mut c = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-api-key"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::LOCATION,
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(settings.max_age_secs as usize);
    // Each origin listed (config validation refuses `*`).
    for origin in &settings.allowed_origins {
        c = c.allowed_origin(origin);
    }
    c
}

/// The HTTP server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    draining: Arc<std::sync::atomic::AtomicBool>,
    metrics: Option<(u16, Server)>,
}

impl Application {
    pub fn build(settings: Arc<Settings>, services: Services) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.http.addr)
            .map_err(|e| anyhow::anyhow!("binding http.addr {}: {e}", settings.http.addr))?;
        let port = listener.local_addr()?.port();
        let static_dir = settings.http.static_dir.clone();
        if !static_dir.join("index.html").exists() {
            tracing::warn!(static_dir = %static_dir.display(), "no index.html in http.static_dir: the storefront will 404");
        }
        crate::metrics::handle();
        let metrics = match &settings.metrics.addr {
            Some(addr) => Some(metrics_server(addr, services.queue.clone())?),
            None => None,
        };
        let cors_settings = settings.cors.clone();
        let http = settings.http.clone();
        let body_timeout = Duration::from_millis(http.request_body_timeout_ms);
        let hsts_max_age = http.hsts_max_age_secs;
        let state = web::Data::new(AppState::new(services, settings));
        let draining = state.draining.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(actix_web::middleware::Condition::new(
                    !cors_settings.allowed_origins.is_empty(),
                    cors(&cors_settings),
                ))
                .wrap(
                    DefaultHeaders::new()
                        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                        .add((header::REFERRER_POLICY, "strict-origin-when-cross-origin"))
                        .add((header::X_FRAME_OPTIONS, "DENY"))
                        .add((
                            header::CONTENT_SECURITY_POLICY,
                            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
                        )),
                )
                .wrap(from_fn(move |req, next| {
                    limits::body_deadline(body_timeout, req, next)
                }))
                .wrap(from_fn(move |req, next| hsts(hsts_max_age, req, next)))
                .wrap(from_fn(request_context))
                .configure(|cfg| routes(cfg, &static_dir))
                .default_service(web::to(errors::not_found))
        })
        // Slow clients: the first request's head, every body (`body_deadline`), idle
        // keep-alive connections and closing ones are all timed; connections are capped.
        .client_request_timeout(Duration::from_millis(http.request_head_timeout_ms))
        .keep_alive(Duration::from_secs(http.keep_alive_secs))
        .client_disconnect_timeout(Duration::from_millis(http.client_disconnect_timeout_ms))
        .max_connections(http.max_connections)
        .listen(listener)?
        .disable_signals()
        // After the drain, in-flight requests get this long; with the deploy's 30 s drain it
        // fits the serve unit's TimeoutStopSec of 45 s.
        .shutdown_timeout(10)
        .run();
        Ok(Application {
            port,
            server,
            draining,
            metrics,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the separate metrics listener, when `metrics.addr` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(p, _)| *p)
    }

    /// Stops the server when asked (graceful: in-flight requests finish).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Flag that, once set, makes `/readyz` answer 503 while requests are still served.
    pub fn draining(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.draining.clone()
    }

    /// Runs until stopped; the metrics listener (if any) stops with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Some((_, metrics)) = self.metrics else {
            return self.server.await;
        };
        let metrics_handle = metrics.handle();
        let metrics_task = tokio::spawn(metrics);
        let result = self.server.await;
        metrics_handle.stop(false).await;
        let _ = metrics_task.await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::{views::HealthChecks, Readiness};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_probes_share_one_check_and_the_result_is_cached() {
        let readiness = Arc::new(Readiness::new(Duration::from_millis(300)));
        let runs = Arc::new(AtomicUsize::new(0));
        let probe = |readiness: Arc<Readiness>, runs: Arc<AtomicUsize>| async move {
            readiness
                .get(|| async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    HealthChecks {
                        store: "ok",
                        queue: "fail",
                    }
                })
                .await
        };
        let probes: Vec<_> = (0..20)
            .map(|_| tokio::spawn(probe(readiness.clone(), runs.clone())))
            .collect();
        for p in probes {
            assert_eq!(p.await.unwrap().queue, "fail");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one check for 20 probes");
        probe(readiness.clone(), runs.clone()).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "cached");
        tokio::time::sleep(Duration::from_millis(350)).await;
        probe(readiness.clone(), runs.clone()).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2, "checked again once stale");
    }
}
