//! The order store port: orders and their idempotency records (one write may cover both).
//! Stock is the [`Inventory`](super::Inventory) port; fleet coordination records are
//! [`Coordination`](super::Coordination).

use super::PortResult;
use crate::domain::{Order, OrderId, OrderStatus};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An HTTP response kept for replay under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

/// A new idempotency key claimed together with its order by [`OrderStore::insert_order_keyed`].
#[derive(Debug, Clone, Copy)]
pub struct NewKey<'a> {
    pub key: &'a str,
    pub fingerprint: &'a str,
    /// The request that writes the record (see `idempotency_begin`'s `holder`).
    pub holder: &'a str,
    pub response: &'a StoredResponse,
    pub ttl: Duration,
}

/// What an idempotency record says when a request with its key arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    /// The order created under the key, once inserted.
    pub order_id: Option<OrderId>,
    /// The response prepared when the order was inserted (kept so a retry can replay it).
    pub response: Option<StoredResponse>,
    pub completed: bool,
}

/// A live idempotency record as an adapter read it: what [`LiveRecord::decide`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRecord {
    pub record: IdempotencyRecord,
    /// Until when (Unix ms) the current holder's lease runs.
    pub locked_until_ms: i64,
}

/// What a live record says to a request; `TakeOver`: the lease ran out, so the caller takes
/// it (atomically, if still the same lease) and gets [`IdempotencyBegin::Resumed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Mismatch,
    Completed(StoredResponse),
    InFlight,
    TakeOver,
}

impl LiveRecord {
    /// The idempotency decision, the same for every family (`idempotency_begin`'s contract):
    /// another fingerprint is a mismatch; a finished record with its response is replayed; a
    /// lease still running means in flight; else the caller takes over.
    pub fn decide(&self, fingerprint: &str, now_ms: i64) -> Decision {
        match &self.record {
            r if r.fingerprint != fingerprint => Decision::Mismatch,
            IdempotencyRecord {
                completed: true,
                response: Some(resp),
                ..
            } => Decision::Completed(resp.clone()),
            _ if self.locked_until_ms > now_ms => Decision::InFlight,
            _ => Decision::TakeOver,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key was new: the caller holds its lease and does the work.
    Started,
    /// An earlier holder's lease ran out (it crashed or gave up): the caller holds the lease
    /// now and finishes what the record says was done.
    Resumed(IdempotencyRecord),
    /// Another request holds the lease right now.
    InFlight,
    /// The work is done: replay this.
    Completed(StoredResponse),
    /// The key was used with a different request.
    Mismatch,
}

/// A page of orders, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderListing {
    pub orders: Vec<Order>,
    /// Opaque; pass back to get the next page. `None` on the last page.
    pub next_cursor: Option<String>,
}

/// # Contract
/// - `insert_order` MUST fail with `AlreadyExists` if the order id exists, or if the
///   idempotency record already names an order. It records the order id and prepared response on that key's record in
///   the same atomic write.
/// - `update_order` writes the order only if the stored status equals `expected`, else
///   `Precondition` (`NotFound` if there is no such order). Status changes are therefore
///   linearisable: two workers cannot both move PENDING → PROCESSING.
/// - `list_orders` returns newest first, at most `limit`, optionally by status; the cursor is
///   opaque and `Precondition` if malformed.
/// - Idempotency: `idempotency_begin` atomically creates the record (fingerprint, a lease of
///   `lease`, expiry after `ttl`) or reports its state: `Mismatch` for another fingerprint,
///   `Completed` with the stored response, `InFlight` while another holder's lease runs,
///   `Resumed` when it has run out (the caller then holds it). Expired records count as
///   absent. `holder` is the caller's own token: `Started` and `Resumed` record it as the
///   lease's holder. `idempotency_complete` stores the final response, and
///   `idempotency_release` ends the claim early (the record is marked unfinished with no
///   lease, so a retry resumes at once and re-sends the order's message if the record names
///   an order) — both only while `holder` still holds the record: a request whose lease ran
///   out and was taken over cannot strip the new holder's lease or reset a finished record
///   (`complete` then fails with `Precondition`, `release` does nothing).
/// - `insert_order_keyed` is the one-write fast path for a new key: atomically, the order is
///   inserted and the key's record created already completed (fingerprint, order id, the
///   response, expiry after `ttl`, `holder`), only if the key has no live record and the order id is
///   new. Otherwise nothing is written and it fails with `AlreadyExists` (also when a
///   concurrent write on the same key got in the way); the caller then goes the
///   `idempotency_begin` way, which reports what the record holds.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    async fn ping(&self) -> PortResult<()>;

    async fn insert_order(
        &self,
        order: &Order,
        idempotency: Option<(&str, &StoredResponse)>,
    ) -> PortResult<()>;
    async fn insert_order_keyed(&self, order: &Order, key: &NewKey<'_>) -> PortResult<()>;
    async fn get_order(&self, order_id: &OrderId) -> PortResult<Option<Order>>;
    async fn update_order(&self, order: &Order, expected: OrderStatus) -> PortResult<()>;
    async fn list_orders(
        &self,
        status: Option<OrderStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> PortResult<OrderListing>;

    /// How many orders are in each status (every status listed, zeros included).
    async fn count_by_status(&self) -> PortResult<Vec<(OrderStatus, u64)>>;

    async fn idempotency_begin(
        &self,
        key: &str,
        fingerprint: &str,
        holder: &str,
        lease: Duration,
        ttl: Duration,
    ) -> PortResult<IdempotencyBegin>;
    async fn idempotency_complete(
        &self,
        key: &str,
        holder: &str,
        response: &StoredResponse,
    ) -> PortResult<()>;
    async fn idempotency_release(&self, key: &str, holder: &str) -> PortResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(completed: bool, response: bool, locked_until_ms: i64) -> LiveRecord {
        LiveRecord {
            record: IdempotencyRecord {
                fingerprint: "fp".into(),
                order_id: None,
                response: response.then(|| StoredResponse {
                    status: 201,
                    body: "{}".into(),
                    location: None,
                }),
                completed,
            },
            locked_until_ms,
        }
    }

    #[test]
    fn the_idempotency_decision() {
        let now = 1_000;
        assert_eq!(live(true, true, 0).decide("other", now), Decision::Mismatch);
        assert!(matches!(
            live(true, true, now + 5).decide("fp", now),
            Decision::Completed(_)
        ));
        // Finished without a response (cannot be replayed) counts by its lease.
        assert_eq!(
            live(true, false, now + 5).decide("fp", now),
            Decision::InFlight
        );
        assert_eq!(
            live(false, true, now + 5).decide("fp", now),
            Decision::InFlight
        );
        assert_eq!(live(false, true, now).decide("fp", now), Decision::TakeOver);
        assert_eq!(live(false, false, 0).decide("fp", now), Decision::TakeOver);
    }
}
