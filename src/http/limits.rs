//! Per-client rate limits on order placement, and the deadline on request bodies.
//!
//! The client is the TCP peer, unless `rate_limit.trusted_proxy_hops` proxies (the ALB)
//! stand in front: each appends the address it saw to `X-Forwarded-For`, so the client is
//! the entry that many places from the right. Entries further left are whatever the client
//! sent and are never trusted.

use super::errors::ApiError;
use crate::config::RateLimitSettings;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, ResponseError};
use futures_util::StreamExt;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::cell::Cell;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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

/// Whose allowance a request takes: an IPv4 address, or an IPv6 address's /64 (one
/// subscriber's network: a host picks any address in it at will). IPv4-mapped IPv6
/// addresses count as the IPv4 address.
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
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
