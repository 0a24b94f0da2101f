//! Signed, expiring browser cookies (no server-side state, so any instance behind the load
//! balancer accepts them), all of the shape `v1.{expires}.{hex HMAC}`:
//!
//! - the admin session, with a CSRF token bound to it. Its key is derived from the configured
//!   admin keys: rotating the keys ends every session, and instances sharing a config agree on it.
//! - the order cookie the no-JS order page gets in exchange for a `?token=` link: it opens
//!   that one order (the HMAC covers the order id) until it expires. Its key is the data key
//!   ([`crate::ports::KeyRing`]), which every instance shares.

use crate::domain::OrderId;
use crate::ports::DataKey;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const COOKIE: &str = "orderflow_admin";
/// The order cookie: one per order, each scoped by `Path` to that order's routes.
pub const ORDER_COOKIE: &str = "orderflow_order";
/// How long a sign-in lasts.
pub const LIFETIME_SECS: i64 = 8 * 3600;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct SessionKeys {
    /// `None` when no admin keys are configured: nobody can sign in.
    key: Option<[u8; 32]>,
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

impl SessionKeys {
    pub fn from_admin_key_hashes(hashes: &[String]) -> Self {
        if hashes.is_empty() {
            return SessionKeys { key: None };
        }
        let mut sorted = hashes.to_vec();
        sorted.sort();
        let mut h = Sha256::new();
        h.update(b"orderflow admin session v1");
        for k in sorted {
            h.update(k.as_bytes());
        }
        SessionKeys {
            key: Some(h.finalize().into()),
        }
    }

    fn sign(&self, message: &str) -> Option<String> {
        let mut mac =
            HmacSha256::new_from_slice(self.key.as_ref()?).expect("HMAC takes any key length");
        mac.update(message.as_bytes());
        Some(hex(&mac.finalize().into_bytes()))
    }

    /// A new session value valid until `now + LIFETIME_SECS`.
    pub fn issue(&self, now: i64) -> Option<String> {
        let expires = now + LIFETIME_SECS;
        Some(format!(
            "v1.{expires}.{}",
            self.sign(&format!("session:{expires}"))?
        ))
    }

    /// Whether `value` is a session this key issued and it has not expired.
    pub fn verify(&self, value: &str, now: i64) -> bool {
        verify_signed(value, now, |exp| self.sign(&format!("session:{exp}")))
    }

    /// The CSRF token for forms of this session.
    pub fn csrf(&self, session: &str) -> Option<String> {
        self.sign(&format!("csrf:{session}"))
    }

    pub fn verify_csrf(&self, session: &str, token: &str) -> bool {
        self.csrf(session)
            .is_some_and(|t| super::constant_time_eq(t.as_bytes(), token.as_bytes()))
    }
}

/// Whether `value` is `v1.{expires}.{sig}` with `sig` what `sign(expires)` gives and
/// `expires` still ahead of `now`.
fn verify_signed(value: &str, now: i64, sign: impl FnOnce(i64) -> Option<String>) -> bool {
    let mut parts = value.splitn(3, '.');
    let (Some("v1"), Some(expires), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(exp) = expires.parse::<i64>() else {
        return false;
    };
    let Some(expected) = sign(exp) else {
        return false;
    };
    exp > now && super::constant_time_eq(expected.as_bytes(), sig.as_bytes())
}

fn order_mac(key: &DataKey, order_id: &OrderId, expires: i64) -> String {
    key.mac_hex(
        "order-cookie",
        format!("{}\n{expires}", order_id.as_str()).as_bytes(),
    )
}

/// An order cookie value opening `order_id` until `now + lifetime_secs`.
pub fn issue_order_cookie(
    key: &DataKey,
    order_id: &OrderId,
    now: i64,
    lifetime_secs: i64,
) -> String {
    let expires = now + lifetime_secs;
    format!("v1.{expires}.{}", order_mac(key, order_id, expires))
}

/// Whether `value` is an unexpired order cookie for `order_id` (not another order's).
pub fn verify_order_cookie(key: &DataKey, order_id: &OrderId, value: &str, now: i64) -> bool {
    verify_signed(value, now, |exp| Some(order_mac(key, order_id, exp)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_signed_and_expire() {
        let keys = SessionKeys::from_admin_key_hashes(&["abc".into()]);
        let s = keys.issue(1000).unwrap();
        assert!(keys.verify(&s, 1001));
        assert!(!keys.verify(&s, 1000 + LIFETIME_SECS), "expired");
        let forged = s.replacen(
            &(1000 + LIFETIME_SECS).to_string(),
            &(9_000_000).to_string(),
            1,
        );
        assert!(!keys.verify(&forged, 1001), "the expiry is signed");
        let other = SessionKeys::from_admin_key_hashes(&["rotated".into()]);
        assert!(!other.verify(&s, 1001), "rotating keys ends sessions");
        assert!(!keys.verify("garbage", 1001));
    }

    #[test]
    fn csrf_tokens_bind_to_the_session() {
        let keys = SessionKeys::from_admin_key_hashes(&["abc".into()]);
        let (a, b) = (keys.issue(1).unwrap(), keys.issue(2).unwrap());
        let t = keys.csrf(&a).unwrap();
        assert!(keys.verify_csrf(&a, &t));
        assert!(!keys.verify_csrf(&b, &t));
    }

    #[test]
    fn order_cookies_open_one_order_until_they_expire() {
        let key = DataKey::from_bytes([7; 32]);
        let (a, b) = (OrderId::generate(), OrderId::generate());
        let c = issue_order_cookie(&key, &a, 1000, 3600);
        assert!(verify_order_cookie(&key, &a, &c, 1001));
        assert!(!verify_order_cookie(&key, &a, &c, 4600), "expired");
        assert!(!verify_order_cookie(&key, &b, &c, 1001), "another order");
        let later = c.replacen("4600", "999999", 1);
        assert!(
            !verify_order_cookie(&key, &a, &later, 1001),
            "the expiry is signed"
        );
        let other = DataKey::from_bytes([8; 32]);
        assert!(
            !verify_order_cookie(&other, &a, &c, 1001),
            "another data key"
        );
        assert!(!verify_order_cookie(&key, &a, "garbage", 1001));
    }

    #[test]
    fn without_admin_keys_nobody_signs_in() {
        let keys = SessionKeys::from_admin_key_hashes(&[]);
        assert!(keys.issue(1).is_none());
        assert!(!keys.verify("v1.99.00", 1));
    }
}
