//! Per-client rate limits on order placement, the throttle on failed admin authentication,
//! and the deadline on request bodies. Both limits are per process: each instance counts
//! on its own (a WAF rate rule on `/admin/*` is the fleet-wide complement).
//!
//! The client is the TCP peer, unless `rate_limit.trusted_proxy_hops` proxies (the ALB)
//! stand in front: each appends the address it saw to `X-Forwarded-For`, so the client is
//! the entry that many places from the right. Entries further left are whatever the client
//! sent and are never trusted.

use super::errors::ApiError;
use crate::config::{AuthSettings, RateLimitSettings};
use crate::domain::client_network;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, ResponseError};
use futures_util::StreamExt;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct OrderRateLimiter {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    hops: usize,
    checks: AtomicU64,
}

impl OrderRateLimiter {
    pub fn new(settings: &RateLimitSettings) -> Self {
        let limiter = settings.enabled.then(|| {
            let per_minute = NonZeroU32::new(settings.orders_per_minute).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new(settings.burst).unwrap_or(NonZeroU32::MIN);
            RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
        });
        OrderRateLimiter {
            limiter,
            hops: settings.trusted_proxy_hops,
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one order from the client's allowance, or answers 429 with when to retry.
    pub fn check(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // Forget idle clients now and then, so memory follows the active clients only.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let Some(ip) = client_ip(req, self.hops) else {
            return Ok(());
        };
        limiter.check_key(&limit_key(ip)).map_err(|not_until| {
            crate::metrics::rate_limited();
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooManyRequests {
                retry_after_secs: retry_after(wait),
            }
        })
    }
}

/// Where an admin credential was presented: the label of `orderflow_auth_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthSurface {
    /// `POST /admin/login`.
    Login,
    /// `X-API-Key` on the admin API routes.
    ApiKey,
    /// `Authorization: Bearer` (or `X-API-Key`) on `/metrics`.
    Metrics,
}

impl AuthSurface {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthSurface::Login => "login",
            AuthSurface::ApiKey => "api_key",
            AuthSurface::Metrics => "metrics",
        }
    }
}

/// A client (or everyone) is blocked from admin authentication for this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    pub retry_after_secs: u64,
}

/// One client's recent failures.
struct ClientFailures {
    /// Failures since `window_start`.
    failures: u32,
    window_start: Instant,
    blocked_until: Option<Instant>,
    /// Blocks so far: the next one lasts `block_secs × 2^blocks` (capped).
    blocks: u32,
    last_failure: Instant,
}

struct ThrottleState {
    clients: HashMap<IpAddr, ClientFailures>,
    /// All clients' failures in the minute that began at `global_start`.
    global_failures: u32,
    global_start: Instant,
    /// Failures recorded since the last sweep of expired clients.
    since_sweep: u32,
}

/// Failed admin authentications, per client (as [`client_ip`] sees it, IPv6 per /64) and
/// for all clients together. A client that fails `max_failures` times within
/// `failure_window_secs` is blocked for `block_secs`, doubling with each further block up
/// to `max_block_secs`; beyond `global_failures_per_minute` everyone is blocked until the
/// minute ends. While blocked, callers must not even check the credential.
///
/// Memory is bounded: a client quiet for its window (and no longer blocked) is forgotten,
/// and at most `max_tracked_clients` are held; failures of clients beyond that count only
/// towards the global ceiling.
pub struct AuthThrottle {
    settings: AuthSettings,
    hops: usize,
    state: Mutex<ThrottleState>,
}

const GLOBAL_WINDOW: Duration = Duration::from_secs(60);

impl AuthThrottle {
    pub fn new(settings: &AuthSettings, trusted_proxy_hops: usize) -> Self {
        let now = Instant::now();
        AuthThrottle {
            settings: settings.clone(),
            hops: trusted_proxy_hops,
            state: Mutex::new(ThrottleState {
                clients: HashMap::new(),
                global_failures: 0,
                global_start: now,
                since_sweep: 0,
            }),
        }
    }

    /// The address the throttle (and its log lines) know this request's client by.
    pub fn client(&self, req: &HttpRequest) -> IpAddr {
        client_ip(req, self.hops).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// `Err` while `client` (or everyone) is blocked: answer 429 without looking at the key.
    pub fn check(&self, client: IpAddr) -> Result<(), Blocked> {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: IpAddr, now: Instant) -> Result<(), Blocked> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = state
            .clients
            .get(&limit_key(client))
            .and_then(|c| c.blocked_until)
            .filter(|&until| until > now);
        let global_end = state.global_start + GLOBAL_WINDOW;
        let global = (state.global_failures >= self.settings.global_failures_per_minute
            && global_end > now)
            .then_some(global_end);
        match until.into_iter().chain(global).max() {
            Some(until) => Err(Blocked {
                retry_after_secs: retry_after(until - now),
            }),
            None => Ok(()),
        }
    }

    /// Records a wrong key from `client`: logged (with the address, never the key) and
    /// counted in `orderflow_auth_failures_total`.
    pub fn failed(&self, client: IpAddr, surface: AuthSurface) {
        self.failed_at(client, surface, Instant::now());
    }

    fn failed_at(&self, client: IpAddr, surface: AuthSurface, now: Instant) {
        crate::metrics::auth_failure(surface.as_str());
        let s = &self.settings;
        let window = Duration::from_secs(s.failure_window_secs);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now >= state.global_start + GLOBAL_WINDOW {
            state.global_start = now;
            state.global_failures = 0;
        }
        state.global_failures = state.global_failures.saturating_add(1);
        state.since_sweep += 1;
        let key = limit_key(client);
        if state.since_sweep >= 256
            || (state.clients.len() >= s.max_tracked_clients && !state.clients.contains_key(&key))
        {
            state.since_sweep = 0;
            state.clients.retain(|_, c| !c.expired(now, window));
        }
        let tracked =
            state.clients.len() < s.max_tracked_clients || state.clients.contains_key(&key);
        let mut blocked_secs = 0;
        let mut failures = 0;
        if tracked {
            let c = state.clients.entry(key).or_insert(ClientFailures {
                failures: 0,
                window_start: now,
                blocked_until: None,
                blocks: 0,
                last_failure: now,
            });
            if c.expired(now, window) {
                c.blocks = 0;
            }
            if now >= c.window_start + window {
                c.failures = 0;
                c.window_start = now;
            }
            c.failures += 1;
            c.last_failure = now;
            failures = c.failures;
            if c.failures >= s.max_failures {
                let block = s
                    .block_secs
                    .saturating_mul(1u64 << c.blocks.min(20))
                    .min(s.max_block_secs);
                c.blocked_until = Some(now + Duration::from_secs(block));
                c.blocks = c.blocks.saturating_add(1);
                c.failures = 0;
                c.window_start = now;
                blocked_secs = block;
            }
        }
        let global = state.global_failures;
        drop(state);
        tracing::warn!(
            client = %client,
            surface = surface.as_str(),
            failures,
            blocked_secs,
            global_failures_this_minute = global,
            tracked,
            "admin authentication failed: wrong key"
        );
    }

    /// A right key from `client`: its own failures are forgotten (nobody else's).
    pub fn succeeded(&self, client: IpAddr) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.clients.remove(&limit_key(client));
    }
}

impl ClientFailures {
    /// Nothing left to remember: not blocked, and no failure within the window.
    fn expired(&self, now: Instant, window: Duration) -> bool {
        self.blocked_until.is_none_or(|u| u <= now) && now >= self.last_failure + window
    }
}

/// Whose allowance a request takes: the client's network (see [`client_network`]).
fn limit_key(ip: IpAddr) -> IpAddr {
    client_network(ip)
}

/// The client's address: the peer, or the `hops`-th `X-Forwarded-For` entry from the right.
pub fn client_ip(req: &HttpRequest, hops: usize) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    if hops == 0 {
        return peer;
    }
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    // Fewer entries than trusted proxies: the nearest proxy's view is the best there is.
    let idx = forwarded
        .len()
        .checked_sub(hops)
        .or(forwarded.len().checked_sub(1));
    idx.and_then(|i| forwarded[i].parse().ok()).or(peer)
}

/// Gives the request body `timeout` from the end of the head: a body still arriving then
/// ends in an error for whoever reads it, and the answer becomes 408 `REQUEST_TIMEOUT`
/// (JSON) with the connection closed. actix itself times only the head of a connection's
/// first request, so a body (of any request) could otherwise trickle in forever.
pub async fn body_deadline(
    timeout: std::time::Duration,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let payload = req.take_payload();
    if matches!(payload, Payload::None) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let timed_out = Rc::new(Cell::new(false));
    let flag = timed_out.clone();
    let stream = futures_util::stream::unfold(Some(payload), move |state| {
        let flag = flag.clone();
        async move {
            let mut payload = state?;
            match tokio::time::timeout_at(deadline, payload.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(payload))),
                Ok(None) => None,
                Err(_) => {
                    flag.set(true);
                    let e = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request body did not arrive in time",
                    );
                    Some((Err(PayloadError::Io(e)), None))
                }
            }
        }
    });
    let stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = _>>> = Box::pin(stream);
    req.set_payload(Payload::from(stream));
    let res = next.call(req).await?;
    if !timed_out.get() {
        return Ok(res.map_into_boxed_body());
    }
    tracing::info!(
        timeout_ms = timeout.as_millis() as u64,
        "request body timed out"
    );
    let error = ApiError::RequestTimeout(format!(
        "the request body did not arrive within {} ms",
        timeout.as_millis()
    ));
    let (req, _) = res.into_parts();
    Ok(ServiceResponse::new(req, error.error_response()))
}

/// Whole seconds to wait, at least one.
pub fn retry_after(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn req(xff: &[&str]) -> HttpRequest {
        req_from("10.0.0.5:4000", xff)
    }

    fn req_from(peer: &str, xff: &[&str]) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(peer.parse().unwrap());
        for v in xff {
            r = r.insert_header(("x-forwarded-for", *v));
        }
        r.to_http_request()
    }

    #[test]
    fn no_trusted_proxy_means_forwarded_headers_are_ignored() {
        let ip = client_ip(&req(&["203.0.113.9"]), 0).unwrap();
        assert_eq!(ip.to_string(), "10.0.0.5");
    }

    #[test]
    fn one_hop_takes_the_address_the_alb_saw_not_what_the_client_claims() {
        let ip = client_ip(&req(&["1.1.1.1, 203.0.113.9"]), 1).unwrap();
        assert_eq!(ip.to_string(), "203.0.113.9");
        let ip = client_ip(&req(&["1.1.1.1", "198.51.100.7, 203.0.113.9"]), 2).unwrap();
        assert_eq!(ip.to_string(), "198.51.100.7");
    }

    #[test]
    fn a_missing_or_garbled_header_falls_back_to_the_peer() {
        assert_eq!(client_ip(&req(&[]), 1).unwrap().to_string(), "10.0.0.5");
        assert_eq!(
            client_ip(&req(&["not-an-ip"]), 1).unwrap().to_string(),
            "10.0.0.5"
        );
    }

    #[test]
    fn the_burst_is_allowed_then_429_with_a_retry_after() {
        let limiter = OrderRateLimiter::new(&RateLimitSettings {
            enabled: true,
            orders_per_minute: 6,
            burst: 2,
            trusted_proxy_hops: 0,
        });
        let r = req(&[]);
        assert!(limiter.check(&r).is_ok());
        assert!(limiter.check(&r).is_ok());
        match limiter.check(&r) {
            Err(ApiError::TooManyRequests { retry_after_secs }) => {
                assert!((1..=10).contains(&retry_after_secs), "{retry_after_secs}")
            }
            other => panic!("expected 429, got {other:?}"),
        }
        let off = OrderRateLimiter::new(&RateLimitSettings {
            enabled: false,
            ..RateLimitSettings::default()
        });
        for _ in 0..1000 {
            assert!(off.check(&r).is_ok());
        }
    }

    fn throttle(
        max_failures: u32,
        block_secs: u64,
        max_block_secs: u64,
        global: u32,
    ) -> AuthThrottle {
        AuthThrottle::new(
            &AuthSettings {
                max_failures,
                failure_window_secs: 300,
                block_secs,
                max_block_secs,
                global_failures_per_minute: global,
                ..AuthSettings::default()
            },
            0,
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_client_is_blocked_after_its_failures_and_the_block_doubles_up_to_the_cap() {
        let t = throttle(3, 10, 25, 1000);
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let t0 = Instant::now();
        for _ in 0..2 {
            t.failed_at(a, AuthSurface::Login, t0);
            assert!(t.check_at(a, t0).is_ok());
        }
        t.failed_at(a, AuthSurface::Login, t0);
        assert_eq!(
            t.check_at(a, t0),
            Err(Blocked {
                retry_after_secs: 10
            })
        );
        assert!(t.check_at(b, t0).is_ok(), "another client is not blocked");
        let t1 = t0 + Duration::from_secs(10);
        assert!(t.check_at(a, t1).is_ok(), "the block ends");
        for _ in 0..3 {
            t.failed_at(a, AuthSurface::ApiKey, t1);
        }
        assert_eq!(
            t.check_at(a, t1),
            Err(Blocked {
                retry_after_secs: 20
            })
        );
        let t2 = t1 + Duration::from_secs(20);
        for _ in 0..3 {
            t.failed_at(a, AuthSurface::Metrics, t2);
        }
        assert_eq!(
            t.check_at(a, t2),
            Err(Blocked {
                retry_after_secs: 25
            }),
            "capped at max_block_secs"
        );
        // A success of another client changes nothing for this one.
        t.succeeded(b);
        assert!(t.check_at(a, t2).is_err());
        // Quiet for the window after the block: forgotten, the next block is short again.
        let t3 = t2 + Duration::from_secs(25 + 300);
        for _ in 0..3 {
            t.failed_at(a, AuthSurface::Login, t3);
        }
        assert_eq!(
            t.check_at(a, t3),
            Err(Blocked {
                retry_after_secs: 10
            })
        );
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t = throttle(2, 10, 10, 1000);
        let a = ip("192.0.2.1");
        let t0 = Instant::now();
        t.failed_at(a, AuthSurface::Login, t0);
        t.failed_at(a, AuthSurface::Login, t0 + Duration::from_secs(301));
        assert!(t.check_at(a, t0 + Duration::from_secs(301)).is_ok());
    }

    #[test]
    fn the_global_ceiling_blocks_everyone_until_the_minute_ends() {
        let t = throttle(100, 10, 10, 5);
        let t0 = Instant::now();
        for i in 0..5 {
            t.failed_at(ip(&format!("198.51.100.{i}")), AuthSurface::ApiKey, t0);
        }
        let fresh = ip("203.0.113.50");
        assert_eq!(
            t.check_at(fresh, t0),
            Err(Blocked {
                retry_after_secs: 60
            })
        );
        assert!(t.check_at(fresh, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn tracked_clients_are_capped_and_the_quiet_ones_forgotten() {
        let t = AuthThrottle::new(
            &AuthSettings {
                max_tracked_clients: 100,
                global_failures_per_minute: 1_000_000,
                ..AuthSettings::default()
            },
            0,
        );
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let a = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            t.failed_at(a, AuthSurface::Login, t0);
        }
        assert_eq!(t.state.lock().unwrap().clients.len(), 100);
        // Once the first ones are quiet for the window, newcomers take their place.
        let later = t0 + Duration::from_secs(301);
        t.failed_at(ip("192.0.2.77"), AuthSurface::Login, later);
        let state = t.state.lock().unwrap();
        assert_eq!(state.clients.len(), 1);
        assert!(state.clients.contains_key(&ip("192.0.2.77")));
    }

    #[test]
    fn a_failure_is_logged_at_warn_with_the_client_address_and_surface() {
        #[derive(Clone, Default)]
        struct Buf(std::sync::Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || writer.clone())
            .finish();
        let t = AuthThrottle::new(&AuthSettings::default(), 1);
        let r = req(&["203.0.113.9"]);
        tracing::subscriber::with_default(subscriber, || {
            // Other tests on other threads may have cached this callsite as unwanted.
            tracing::callsite::rebuild_interest_cache();
            t.failed(t.client(&r), AuthSurface::ApiKey);
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(line["level"], "WARN", "{out}");
        assert_eq!(line["fields"]["client"], "203.0.113.9", "{out}");
        assert_eq!(line["fields"]["surface"], "api_key", "{out}");
    }

    #[test]
    fn ipv6_clients_share_one_allowance_per_64_and_ipv4_stays_per_address() {
        let limiter = OrderRateLimiter::new(&RateLimitSettings {
            enabled: true,
            orders_per_minute: 1,
            burst: 1,
            trusted_proxy_hops: 0,
        });
        let ok = |peer: &str| limiter.check(&req_from(peer, &[])).is_ok();
        assert!(ok("[2001:db8:1:2::1]:4000"));
        // Another address in the same /64: the same client.
        assert!(!ok("[2001:db8:1:2:ffff:ffff:ffff:fffe]:4000"));
        // The next /64 is someone else.
        assert!(ok("[2001:db8:1:3::1]:4000"));
        // IPv4 (also when mapped into IPv6) is limited per address, not per mapped /64.
        assert!(ok("192.0.2.1:4000"));
        assert!(!ok("[::ffff:192.0.2.1]:4000"));
        assert!(ok("[::ffff:192.0.2.2]:4000"));
    }
}
