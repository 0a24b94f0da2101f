//! Who is calling: the one place that reads credentials. An order's owner shows its access
//! token (`Authorization: Bearer`) or the order cookie its link was exchanged for; an
//! operator shows an admin key (`X-API-Key`, or a Bearer token on `/metrics` as Prometheus
//! sends it) or the console's session cookie. Every admin key check goes through the throttle
//! ([`AppState::admin_key_attempt`]); every comparison of secrets is constant-time.

use super::errors::ApiError;
use super::limits::{self, AuthSurface};
use super::AppState;
use crate::domain::Order;
use crate::place_order::sha256_hex;
use actix_web::http::header;
use actix_web::HttpRequest;
use subtle::ConstantTimeEq;

/// Compares without an early exit, so timing tells nothing about where values differ (only
/// whether their lengths do: every value compared here has a fixed length).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The token of `Authorization: Bearer …` (the scheme in any case, RFC 7235). Only the header:
/// a token in a URL ends up in access logs, browser history and `Referer` (the page's
/// `?token=` link is exchanged for an order cookie by [`super::pages::order`], and is not
/// accepted here).
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether `token` is `order`'s access token.
pub fn is_order_token(order: &Order, token: &str) -> bool {
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
    admitted(state.admin_key_attempt(req, given, surface)?)
}

/// [`require_admin`], the key also accepted as `Authorization: Bearer` (Prometheus's way).
pub fn require_admin_or_bearer(
    req: &HttpRequest,
    state: &AppState,
    surface: AuthSurface,
) -> Result<(), ApiError> {
    match bearer(req) {
        Some(key) => admitted(state.admin_key_attempt(req, key, surface)?),
        None => require_admin(req, state, surface),
    }
}

fn admitted(valid: bool) -> Result<(), ApiError> {
    if valid {
        Ok(())
    } else {
        Err(ApiError::Forbidden("the admin key is not valid".into()))
    }
}

/// The valid admin console session carried by this request, if any.
pub fn admin_session(req: &HttpRequest, state: &AppState) -> Option<String> {
    let value = req.cookie(super::session::COOKIE)?.value().to_owned();
    state
        .sessions
        .verify(&value, chrono::Utc::now().timestamp())
        .then_some(value)
}

/// Whether the request comes from an operator: a valid admin key (checked under the
/// throttle, so a wrong one counts) or admin console session.
pub fn is_admin(req: &HttpRequest, state: &AppState) -> Result<bool, ApiError> {
    if let Some(k) = req.headers().get("X-API-Key").and_then(|v| v.to_str().ok()) {
        if state.admin_key_attempt(req, k, AuthSurface::ApiKey)? {
            return Ok(true);
        }
    }
    Ok(admin_session(req, state).is_some())
}

/// Whether the request carries any credential an order may be read with, right or wrong:
/// an admin key, a bearer token, an order cookie or an admin session cookie.
pub fn carries_credentials(req: &HttpRequest) -> bool {
    req.headers().contains_key("X-API-Key")
        || bearer(req).is_some()
        || req.cookie(super::session::ORDER_COOKIE).is_some()
        || req.cookie(super::session::COOKIE).is_some()
}

/// Whether the caller may read `order`: with its access token, its order cookie (the no-JS
/// page, [`super::session::verify_order_cookie`]), an admin key or an admin console session.
/// A wrong `X-API-Key` counts against the client's admin-key allowance (`Err` once blocked).
pub async fn may_read(
    req: &HttpRequest,
    state: &AppState,
    order: &Order,
) -> Result<bool, ApiError> {
    if bearer(req).is_some_and(|t| is_order_token(order, t)) {
        return Ok(true);
    }
    if let Some(c) = req.cookie(super::session::ORDER_COOKIE) {
        let key = state.services.keys.data_key().await?;
        let now = chrono::Utc::now().timestamp();
        if super::session::verify_order_cookie(&key, &order.order_id, c.value(), now) {
            return Ok(true);
        }
    }
    is_admin(req, state)
}

impl AppState {
    /// An admin key presented on `surface`, checked under the throttle. `Err` while this
    /// client (or everyone) is blocked: the key is then not even compared, so a right guess
    /// during a block tells nothing. Otherwise whether it is valid; a wrong one is logged
    /// with the client's address and counts against it, a right one clears its failures.
    pub(crate) fn admin_key_attempt(
        &self,
        req: &HttpRequest,
        given: &str,
        surface: AuthSurface,
    ) -> Result<bool, limits::Blocked> {
        let client = self.auth_throttle.client(req);
        if let Err(blocked) = self.auth_throttle.check(client) {
            tracing::info!(
                client = %client,
                surface = surface.as_str(),
                retry_after_secs = blocked.retry_after_secs,
                "admin authentication refused unchecked: too many failures"
            );
            return Err(blocked);
        }
        if self.is_admin_key(given) {
            self.auth_throttle.succeeded(client);
            Ok(true)
        } else {
            self.auth_throttle.failed(client, surface);
            Ok(false)
        }
    }

    fn is_admin_key(&self, given: &str) -> bool {
        let h = sha256_hex(given.as_bytes());
        // Check every key so the time taken does not say which one matched.
        self.admin_key_hashes.iter().fold(false, |hit, k| {
            constant_time_eq(k.as_bytes(), h.as_bytes()) | hit
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case_and_nothing_else_is() {
        let with = |v: &str| {
            TestRequest::default()
                .insert_header((header::AUTHORIZATION, v))
                .to_http_request()
        };
        for v in ["Bearer tok", "bearer tok", "BEARER tok", "Bearer   tok  "] {
            assert_eq!(bearer(&with(v)), Some("tok"), "{v:?}");
        }
        for v in ["Basic dG9rOg==", "Bearer", "Bearer ", "Bearertok", "tok"] {
            assert_eq!(bearer(&with(v)), None, "{v:?}");
        }
        assert_eq!(bearer(&TestRequest::default().to_http_request()), None);
    }
}
