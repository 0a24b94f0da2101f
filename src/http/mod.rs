//! The HTTP side: storefront static files, the order REST API, health endpoints.
//!
//! [`Application::build`] binds its own listener, so tests bind port 0 and ask [`Application::port`].

mod errors;
mod input;
mod orders;
mod pages;
mod session;
mod views;

pub use errors::ApiError;
pub use orders::{constant_time_eq, sha256_hex};

use crate::app::Services;
use crate::config::Settings;
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
}

/// Static assets with content-hash versions: versioned URLs are cached for a year, and a
/// deploy that changes a file changes its URL.
#[derive(Clone, Default)]
pub struct Assets {
    /// `index.html` with its `/static/…` references versioned; `None` if missing.
    index_html: Option<String>,
    /// The versioned stylesheet URL for server-rendered pages.
    css_url: String,
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
        }
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
        AppState {
            services,
            settings,
            admin_key_hashes,
            sessions,
            assets,
            draining: Default::default(),
        }
    }

    pub fn is_admin_key(&self, given: &str) -> bool {
        let h = sha256_hex(given.as_bytes());
        // Check every key so the time taken does not say which one matched.
        self.admin_key_hashes.iter().fold(false, |hit, k| {
            constant_time_eq(k.as_bytes(), h.as_bytes()) | hit
        })
    }
}

/// The request id of this request: from `X-Request-Id` or `X-Amzn-Trace-Id`, else generated.
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
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(usable_id)
        .or_else(|| req.headers().get("x-amzn-trace-id").and_then(usable_id))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("http", request_id = %id);
    let (method, path) = (req.method().clone(), req.path().to_owned());
    let started = std::time::Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), v);
    }
    let status = res.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if path == "/healthz" || path == "/readyz" {
            tracing::debug!(%method, %path, status, latency_ms = ms, "request");
        } else {
            tracing::info!(%method, %path, status, latency_ms = ms, "request");
        }
    });
    Ok(res)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({"status": "ok"}))
}

/// Ready when the order store and the queue answer within two seconds.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({"status": "draining", "error": {"code": "DRAINING", "message": "shutting down"}}));
    }
    let s = &state.services;
    let check = async {
        s.store.ping().await?;
        s.queue.depth().await?;
        Ok::<_, crate::ports::PortError>(())
    };
    let problem = match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("backend check timed out".to_owned()),
    };
    match problem {
        None => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({"status": "ready"})),
        Some(p) => {
            tracing::warn!(problem = %p, "not ready");
            HttpResponse::ServiceUnavailable()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(serde_json::json!({"status": "unavailable", "error": {"code": "NOT_READY", "message": p}}))
        }
    }
}

async fn list_products(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let products: Vec<views::ProductView> = state
        .services
        .store
        .list_products()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(serde_json::json!({ "products": products })))
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

/// Versioned static URLs (`?v=` content hash) are immutable; anything else revalidates.
async fn static_cache(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let versioned = req.query_string().split('&').any(|p| p.starts_with("v="));
    let mut res = next.call(req).await?;
    let value = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    Ok(res)
}

/// Registers every route; shared by the server and in-process tests.
pub fn routes(cfg: &mut web::ServiceConfig, static_dir: &std::path::Path) {
    let json_405 = || web::route().to(errors::method_not_allowed);
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .default_service(json_405()),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(readyz))
            .default_service(json_405()),
    )
    .service(
        web::resource("/api/products")
            .route(web::get().to(list_products))
            .default_service(json_405()),
    )
    .service(
        web::resource("/api/orders")
            .route(web::post().to(orders::create_order))
            .route(web::get().to(orders::list_orders))
            .default_service(json_405()),
    )
    .service(
        web::resource("/api/orders/{order_id}")
            .route(web::get().to(orders::get_order))
            .default_service(json_405()),
    )
    .service(
        web::resource("/api/orders/{order_id}/receipt")
            .route(web::get().to(orders::get_receipt))
            .default_service(json_405()),
    )
    .service(
        web::resource("/")
            .route(web::get().to(index))
            .route(web::head().to(index)),
    )
    .service(web::resource("/orders/{order_id}").route(web::get().to(pages::order)))
    .service(web::resource("/admin").route(web::get().to(pages::admin)))
    .service(web::resource("/admin/login").route(web::post().to(pages::login)))
    .service(web::resource("/admin/logout").route(web::post().to(pages::logout)))
    .service(web::resource("/admin/dlq/redrive").route(web::post().to(pages::redrive)))
    .service(web::resource("/admin/orders/{order_id}").route(web::get().to(pages::admin_order)))
    .service(
        web::scope("/static")
            .wrap(from_fn(static_cache))
            .service(actix_files::Files::new("", static_dir).use_etag(true)),
    );
}

/// The HTTP server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    draining: Arc<std::sync::atomic::AtomicBool>,
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
        let state = web::Data::new(AppState::new(services, settings));
        let draining = state.draining.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
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
                .wrap(from_fn(request_context))
                .configure(|cfg| routes(cfg, &static_dir))
                .default_service(web::to(errors::not_found))
        })
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
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server when asked (graceful: in-flight requests finish).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Flag that, once set, makes `/readyz` answer 503 while requests are still served.
    pub fn draining(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.draining.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
