//! Admin browser sessions: a signed, expiring cookie (no server-side state, so any instance
//! behind the load balancer accepts it) and a CSRF token bound to the session.
//!
//! The signing key is derived from the configured admin keys: rotating the keys ends every
//! session, and instances sharing a config agree on it.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const COOKIE: &str = "orderflow_admin";
/// How long a sign-in lasts.
pub const LIFETIME_SECS: i64 = 8 * 3600;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct SessionKeys {
    /// `None` when no admin keys are configured: nobody can sign in.
    key: Option<[u8; 32]>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
        let mut parts = value.splitn(3, '.');
        let (Some("v1"), Some(expires), Some(sig)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Ok(exp) = expires.parse::<i64>() else {
            return false;
        };
        let Some(expected) = self.sign(&format!("session:{exp}")) else {
            return false;
        };
        exp > now && super::constant_time_eq(expected.as_bytes(), sig.as_bytes())
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
    fn without_admin_keys_nobody_signs_in() {
        let keys = SessionKeys::from_admin_key_hashes(&[]);
        assert!(keys.issue(1).is_none());
        assert!(!keys.verify("v1.99.00", 1));
    }
}
