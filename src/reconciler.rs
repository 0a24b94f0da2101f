//! The stuck-order reconciler: an order recorded PENDING whose queue message was never sent
//! (the process died between the two writes, or the send failed and the client never
//! retried) would wait forever. In worker mode, one instance at a time (a lease held with
//! a compare-and-set record) re-enqueues PENDING orders older than
//! `worker.stuck_after_secs`. That is safe because processing is idempotent; each re-enqueue
//! is logged and counted on the order (`requeued`), and written conditionally on the order
//! still being PENDING, so two reconcilers cannot both re-enqueue the same pass.
//!
//! The same pass sends a message for each order on invoice whose hold ran out (AWAITING_PAYMENT
//! past `payment_due`): the worker then makes it FAILED `PAYMENT_OVERDUE` and gives the stock
//! back. The order changes only in the worker, so the message, not this pass, is what makes
//! the step happen exactly once.

use crate::domain::OrderStatus;
use crate::ports::Services;
use crate::ports::{OrderMessage, PortError, PortResult, RecordValue};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const LEASE: &str = "reconciler-lease";
/// At most this many PENDING orders are looked at per pass. Orders awaiting payment are all
/// looked at: the list is newest first and the overdue ones are the oldest, so a cap would
/// never reach them once more than it wait (a DynamoDB Query page per 100 orders per pass).
const MAX_PER_PASS: usize = 1000;

/// Who runs the reconciler, and until when (Unix ms): `holder|until` in the record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lease {
    holder: String,
    until_ms: i64,
}

impl RecordValue for Lease {
    fn encode(&self) -> String {
        format!("{}|{}", self.holder, self.until_ms)
    }
    fn decode(text: &str) -> Option<Lease> {
        let (holder, until) = text.split_once('|')?;
        Some(Lease {
            holder: holder.to_owned(),
            until_ms: until.parse().ok()?,
        })
    }
}

pub struct Reconciler {
    services: Services,
    every: Duration,
    stuck_after: Duration,
    /// This process's identity in the lease.
    holder: String,
}

impl Reconciler {
    pub fn new(services: Services, every: Duration, stuck_after: Duration) -> Self {
        Reconciler {
            services,
            every,
            stuck_after,
            holder: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// Takes (or renews) the lease for twice the run interval; false if another instance holds it.
    pub async fn acquire_lease(&self) -> PortResult<bool> {
        let store = &self.services.records;
        let now = Utc::now().timestamp_millis();
        let mine = Lease {
            holder: self.holder.clone(),
            until_ms: now + 2 * self.every.as_millis() as i64,
        };
        match store.read::<Lease>(LEASE).await? {
            None => store.write(LEASE, None, &mine).await,
            Some(current) => {
                // An unreadable lease counts as run out.
                let free = current
                    .value
                    .is_none_or(|l| l.holder == self.holder || l.until_ms <= now);
                if free {
                    store.write(LEASE, Some(current.version), &mine).await
                } else {
                    Ok(false)
                }
            }
        }
    }

    /// One pass: re-enqueues stuck PENDING orders and lapsed holds; returns how many. Does
    /// nothing without the lease.
    pub async fn run_once(&self) -> PortResult<usize> {
        if !self.acquire_lease().await? {
            return Ok(0);
        }
        let cutoff = Utc::now() - chrono::Duration::from_std(self.stuck_after).unwrap_or_default();
        let stuck = self.requeue(OrderStatus::Pending, cutoff).await?;
        Ok(stuck + self.requeue(OrderStatus::AwaitingPayment, cutoff).await?)
    }

    /// Re-enqueues the orders in `status` that wait for the worker: PENDING ones placed (or
    /// last re-enqueued) before `cutoff`, AWAITING_PAYMENT ones past their due time.
    async fn requeue(
        &self,
        status: OrderStatus,
        cutoff: chrono::DateTime<Utc>,
    ) -> PortResult<usize> {
        let s = &self.services;
        let mut requeued = 0;
        let mut seen = 0;
        let mut cursor: Option<String> = None;
        loop {
            let page = s
                .store
                .list_orders(Some(status), 100, cursor.as_deref())
                .await?;
            for mut order in page.orders {
                seen += 1;
                // Stuck since it was placed (or due), or since the last re-enqueue: a message
                // sent then may still be on its way, so each order is re-enqueued at most once
                // per period.
                let skip = match status {
                    OrderStatus::Pending => order.requeued_at.unwrap_or(order.created_at) > cutoff,
                    _ => {
                        !order.is_overdue(Utc::now())
                            || order.requeued_at.is_some_and(|at| at > cutoff)
                    }
                };
                if skip {
                    continue;
                }
                order.requeued += 1;
                order.requeued_at = Some(Utc::now());
                match s.store.update_order(&order, status).await {
                    Ok(()) => {}
                    // Moved on meanwhile (a worker picked it up): not stuck after all.
                    Err(PortError::Precondition(_)) | Err(PortError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                }
                let body = OrderMessage::order(&order.order_id, order.request_id.clone()).to_body();
                s.queue.send(&body).await?;
                requeued += 1;
                if status == OrderStatus::Pending {
                    tracing::warn!(
                        order_id = %order.order_id,
                        request_id = order.request_id.as_deref().unwrap_or("-"),
                        age_secs = (Utc::now() - order.created_at).num_seconds(),
                        times = order.requeued,
                        "stuck PENDING order re-enqueued"
                    );
                } else {
                    tracing::info!(
                        order_id = %order.order_id,
                        due = ?order.payment_due,
                        "unpaid order on invoice past its due time handed to the worker"
                    );
                }
            }
            match page.next_cursor {
                Some(c) if seen < MAX_PER_PASS || status == OrderStatus::AwaitingPayment => {
                    cursor = Some(c)
                }
                _ => break,
            }
        }
        Ok(requeued)
    }

    pub async fn run_until_stopped(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            match self.run_once().await {
                Ok(0) => {}
                Ok(n) => {
                    crate::metrics::orders_requeued(n as u64);
                    tracing::info!(requeued = n, "reconciler pass")
                }
                Err(e) => tracing::warn!(error = %e, "reconciler pass failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_keeps_its_text_form() {
        let lease = Lease {
            holder: "abc".into(),
            until_ms: 1_700_000_000_000,
        };
        assert_eq!(lease.encode(), "abc|1700000000000");
        assert_eq!(Lease::decode(&lease.encode()), Some(lease));
        for foreign in ["", "abc", "abc|soon", "open:3"] {
            assert_eq!(Lease::decode(foreign), None, "{foreign}");
        }
    }
}
