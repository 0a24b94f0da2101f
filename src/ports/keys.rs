//! The key port: the deployment's secret for keyed hashes of request data.

use super::PortResult;
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// 32 secret bytes. Never printed, never stored in clear beside the data it protects.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey([u8; 32]);

impl DataKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DataKey(bytes)
    }

    /// HMAC-SHA256 under the key of `purpose`, a newline and `message`, in hex: the purpose
    /// keeps one use's values from standing in for another's.
    pub fn mac_hex(&self, purpose: &str, message: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"\n");
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Parses the 64 hex digits [`Self::to_hex`] wrote.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).ok()?;
        Some(DataKey(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A fresh key from the OS's random source (four v4 UUIDs: 488 random bits, hashed).
    pub fn generate() -> Self {
        use sha2::Digest;
        let mut h = Sha256::new();
        for _ in 0..4 {
            h.update(uuid::Uuid::new_v4().as_bytes());
        }
        DataKey(h.finalize().into())
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

/// # Contract
/// - `data_key` returns the same key in every process that shares the backend, and across
///   restarts: values keyed with it (idempotency fingerprints, order access tokens) must match
///   wherever a retry lands.
/// - The key is not kept in clear in the order store: a copy of the store (a backup, an export)
///   does not yield it. Embedded: a `0600` file beside the databases; aws: a data key wrapped
///   by the stack's KMS key, kept wrapped in the state table.
/// - `Unavailable` when the backend that holds it cannot be reached: retry later.
#[async_trait]
pub trait KeyRing: Send + Sync + 'static {
    async fn data_key(&self) -> PortResult<DataKey>;
}

#[cfg(test)]
mod tests {
    use super::DataKey;

    #[test]
    fn macs_depend_on_key_purpose_and_message_and_hex_roundtrips() {
        let k = DataKey::from_bytes([7; 32]);
        let other = DataKey::from_bytes([8; 32]);
        let m = k.mac_hex("fingerprint", b"body");
        assert_eq!(m.len(), 64);
        assert_eq!(m, k.mac_hex("fingerprint", b"body"));
        assert_ne!(m, other.mac_hex("fingerprint", b"body"));
        assert_ne!(m, k.mac_hex("token", b"body"));
        assert_ne!(m, k.mac_hex("fingerprint", b"body2"));
        assert_eq!(DataKey::from_hex(&k.to_hex()), Some(k.clone()));
        assert_eq!(DataKey::from_hex("abc"), None);
        assert_ne!(DataKey::generate(), DataKey::generate());
        assert_eq!(format!("{k:?}"), "DataKey(…)");
    }
}
