//! The receipt store port: where rendered PDF receipts live.

use super::PortResult;
use async_trait::async_trait;

/// How a client gets a stored receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptLink {
    /// The API streams the bytes itself (embedded family).
    Inline(Vec<u8>),
    /// The client is redirected to a short-lived URL (aws family: presigned S3 GET).
    Redirect(String),
}

/// # Contract
/// - `put` stores `bytes` under `key` durably and atomically: a reader never sees a partial
///   file. Putting the same key again replaces it (same content on retries).
/// - `exists` says whether a complete object is stored under `key`.
/// - `link` and `get` return `NotFound` when nothing is stored under `key`.
/// - Keys are `receipts/{orderId}.pdf`; adapters MUST reject keys that could escape their root.
#[async_trait]
pub trait ReceiptStore: Send + Sync + 'static {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> PortResult<()>;
    async fn exists(&self, key: &str) -> PortResult<bool>;
    async fn link(&self, key: &str) -> PortResult<ReceiptLink>;
    /// The stored bytes (`NotFound` when absent), e.g. to attach the receipt to an e-mail.
    async fn get(&self, key: &str) -> PortResult<Vec<u8>>;
}
