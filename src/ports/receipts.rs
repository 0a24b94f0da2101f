//! The receipt store port: where rendered PDF receipts live.

use super::PortResult;
use async_trait::async_trait;

/// # Contract
/// - `put` stores `bytes` under `key` durably and atomically: a reader never sees a partial
///   file. Putting the same key again replaces it (same content on retries).
/// - `exists` says whether a complete object is stored under `key`.
/// - `get` returns the stored bytes, `NotFound` when nothing is stored under `key`. The API
///   serves receipts with it (same origin as the storefront, whatever the family).
/// - Keys are `receipts/{orderId}.pdf`; adapters MUST reject keys that could escape their root.
#[async_trait]
pub trait ReceiptStore: Send + Sync + 'static {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> PortResult<()>;
    async fn exists(&self, key: &str) -> PortResult<bool>;
    /// The stored bytes (`NotFound` when absent): the receipt download, the e-mail attachment.
    async fn get(&self, key: &str) -> PortResult<Vec<u8>>;
}
