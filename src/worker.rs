//! The queue worker: takes order messages and drives each order to COMPLETED or FAILED,
//! or, for an order on invoice, to AWAITING_PAYMENT, and from there to COMPLETED when a
//! message brings the payment an operator recorded or to FAILED `PAYMENT_OVERDUE` (stock
//! released) once its hold ran out.
//!
//! [`Worker::process`] handles one delivery (zero-to-production's `try_execute_task`
//! shape); [`Worker::run_until_stopped`] loops receives with bounded concurrency and a
//! visibility heartbeat, and on shutdown stops receiving and lets in-flight orders finish.
//!
//! Every step is safe to repeat, so a redelivered or duplicated message never charges,
//! reserves, renders or notifies twice:
//! - status changes are conditional writes on the current status;
//! - the stock reservation is keyed by order id (taken at most once, released at most once);
//! - the charge uses the order id as the gateway's idempotency key;
//! - the receipt is rendered only if it is not already stored;
//! - order events carry a deterministic id, recorded once by the notifier.

use crate::config::WorkerSettings;
use crate::domain::receipt::{receipt_key, Receipt};
use crate::domain::{FailureReason, InvoicePayment, Order, OrderId, OrderStatus};
use crate::ports::Services;
use crate::ports::{
    ChargeOutcome, ChargeRequest, Delivery, EventType, OrderEvent, OrderMessage, PortError,
    Reservation,
};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    Completed(OrderId),
    /// On invoice: the stock is held until the payment is recorded or the hold runs out.
    AwaitingPayment(OrderId),
    Failed(OrderId, FailureReason),
    /// Undecodable, or names no known order: moved to the dead-letter queue.
    Poisoned(String),
    /// A transient error: the message stays and is retried after a back-off.
    Retry(String),
}

pub struct Worker {
    services: Services,
    settings: WorkerSettings,
    shop_name: String,
    /// Sender of customer e-mail.
    mail_from: String,
    /// Poked when a message goes to the dead-letter queue (see [`crate::dlq::DlqMonitor`]).
    dlq_growth: Option<Arc<tokio::sync::Notify>>,
    /// Bounds the CPU-bound receipt renders running at once.
    renders: Arc<Semaphore>,
    /// How long an order on invoice holds its stock unpaid (`orders.invoice_hold_secs`).
    invoice_hold: Duration,
}

impl Worker {
    pub fn new(services: Services, settings: WorkerSettings, shop_name: String) -> Self {
        crate::metrics::handle();
        Worker {
            renders: Arc::new(Semaphore::new(settings.max_concurrent_renders.max(1))),
            services,
            settings,
            shop_name,
            mail_from: "orders@localhost.localdomain".into(),
            dlq_growth: None,
            invoice_hold: Duration::from_secs(
                crate::config::OrderSettings::default().invoice_hold_secs,
            ),
        }
    }

    /// A worker configured from the settings (worker section, shop name, e-mail sender).
    pub fn from_settings(services: Services, settings: &crate::config::Settings) -> Self {
        let mut w = Worker::new(
            services,
            settings.worker.clone(),
            settings.orders.shop_name.clone(),
        );
        w.mail_from = match settings.backend {
            crate::config::Backend::Embedded => settings.embedded.email_from.clone(),
            crate::config::Backend::Aws => settings.aws.email_from.clone().unwrap_or_default(),
        };
        w.invoice_hold = Duration::from_secs(settings.orders.invoice_hold_secs);
        w
    }

    /// Reports dead-lettered messages to the DLQ monitor at once.
    pub fn with_dlq_signal(mut self, signal: Arc<tokio::sync::Notify>) -> Self {
        self.dlq_growth = Some(signal);
        self
    }

    fn dlq_grew(&self) {
        if let Some(s) = &self.dlq_growth {
            s.notify_one();
        }
    }

    fn visibility(&self) -> Duration {
        Duration::from_secs(self.settings.visibility_timeout_secs)
    }

    /// Receives and processes messages until `shutdown` fires, then waits for in-flight
    /// orders (each is bounded by its own heartbeat) and returns.
    pub async fn run_until_stopped(self: Arc<Self>, shutdown: CancellationToken) {
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        let mut running = JoinSet::new();
        let wait = Duration::from_secs(self.settings.receive_wait_secs);
        let mut failures: u32 = 0;
        tracing::info!(concurrency = self.settings.concurrency, "worker started");
        loop {
            // Only receive what can be started now, so nothing waits invisible in memory.
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                p = permits.clone().acquire_owned() => p.expect("semaphore is never closed"),
            };
            let want = (1 + permits.available_permits()).min(10);
            let batch = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = self.services.queue.receive(want, wait) => r,
            };
            while running.try_join_next().is_some() {}
            let deliveries = match batch {
                Ok(d) => {
                    failures = 0;
                    d
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let pause = backoff(failures, Duration::from_secs(30));
                    tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "receiving from the queue failed");
                    drop(first);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause) => continue,
                    }
                }
            };
            let mut first = Some(first);
            for delivery in deliveries {
                let permit = match first.take() {
                    Some(p) => p,
                    None => permits
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("semaphore is never closed"),
                };
                let me = self.clone();
                running.spawn(async move {
                    me.process_with_heartbeat(delivery).await;
                    drop(permit);
                });
            }
        }
        tracing::info!(
            in_flight = running.len(),
            "worker stopping: finishing in-flight orders"
        );
        while running.join_next().await.is_some() {}
        if let Err(e) = self.services.notifier.flush().await {
            tracing::warn!(error = %e, "flushing the notifier failed");
        }
        tracing::info!("worker stopped");
    }

    /// Processes one delivery while extending its visibility every half timeout, so a slow
    /// order is not handed to another worker meanwhile.
    pub async fn process_with_heartbeat(&self, delivery: Delivery) -> StepOutcome {
        let half = self.visibility() / 2;
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + half, half);
        let work = self.process(&delivery);
        tokio::pin!(work);
        loop {
            tokio::select! {
                outcome = &mut work => return outcome,
                _ = beat.tick() => {
                    if let Err(e) = self.services.queue.extend_visibility(&delivery.receipt_handle, self.visibility()).await {
                        tracing::warn!(message_id = %delivery.message_id, error = %e, "visibility heartbeat failed");
                    }
                }
            }
        }
    }

    /// Handles one delivery end to end and settles the message: deleted when the order
    /// reached a final state, dead-lettered when poison, left for retry on transient errors.
    pub async fn process(&self, delivery: &Delivery) -> StepOutcome {
        let queue = &self.services.queue;
        let message: OrderMessage = match serde_json::from_str(&delivery.body) {
            Ok(m) => m,
            Err(e) => {
                return self
                    .poison(delivery, format!("undecodable message: {e}"))
                    .await
            }
        };
        let Ok(order_id) = OrderId::parse(&message.order_id) else {
            return self
                .poison(delivery, "message names an invalid order id".into())
                .await;
        };
        let span = tracing::info_span!(
            "order",
            order_id = %order_id,
            request_id = message.request_id.as_deref().unwrap_or("-"),
            receive_count = delivery.receive_count,
        );
        async {
            let started = std::time::Instant::now();
            let outcome = match self.advance(&order_id, message.payment).await {
                Ok(Some(o)) => o,
                Ok(None) => return self.poison(delivery, format!("no order {order_id}")).await,
                Err(e) => {
                    let pause = backoff(delivery.receive_count, self.visibility());
                    crate::metrics::message_retried();
                    if delivery.receive_count >= self.settings.max_receive_count {
                        tracing::error!(error = %e, "order step failed on its last attempt: the message goes to the dead-letter queue");
                        crate::metrics::message_dead_lettered();
                        self.dlq_grew();
                    } else {
                        tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "order step failed; will retry");
                    }
                    // Come back sooner than the full visibility timeout, growing per attempt.
                    let _ = queue.extend_visibility(&delivery.receipt_handle, pause).await;
                    return StepOutcome::Retry(e.to_string());
                }
            };
            if let Err(e) = queue.delete(&delivery.receipt_handle).await {
                // The order is final; a redelivery will find it so and only delete.
                tracing::warn!(error = %e, "deleting the finished message failed");
            }
            crate::metrics::worker_step("total", started.elapsed());
            match &outcome {
                StepOutcome::Completed(_) => crate::metrics::order_processed(None),
                StepOutcome::AwaitingPayment(_) => crate::metrics::order_awaiting_payment(),
                StepOutcome::Failed(_, reason) => crate::metrics::order_processed(Some(reason.as_str())),
                _ => {}
            }
            outcome
        }
        .instrument(span)
        .await
    }

    async fn poison(&self, delivery: &Delivery, reason: String) -> StepOutcome {
        tracing::error!(message_id = %delivery.message_id, %reason, "poison message: moving it to the dead-letter queue");
        if let Err(e) = self.services.queue.dead_letter(delivery, &reason).await {
            tracing::warn!(error = %e, "dead-lettering failed; the redrive policy will move it");
            return StepOutcome::Retry(e.to_string());
        }
        crate::metrics::message_dead_lettered();
        self.dlq_grew();
        StepOutcome::Poisoned(reason)
    }

    /// Moves the order as far as it goes. `None`: there is no such order. `payment`: the
    /// message brings a payment recorded for an order on invoice.
    async fn advance(
        &self,
        order_id: &OrderId,
        payment: Option<InvoicePayment>,
    ) -> Result<Option<StepOutcome>, PortError> {
        let store = &self.services.store;
        let Some(mut order) = store.get_order(order_id).await? else {
            return Ok(None);
        };
        if order.status == OrderStatus::Pending {
            order = self.move_to(order, OrderStatus::Processing, None).await?.0;
        }
        // Whether this call's own conditional write made the order final: then its event
        // cannot have been published yet.
        let mut made_final = false;
        let mut rendered = None;
        if order.status == OrderStatus::Processing {
            (order, made_final, rendered) = self.fulfil(order).await?;
        }
        if order.status == OrderStatus::AwaitingPayment {
            if let Some(paid) = payment.clone() {
                (order, made_final, rendered) = self.settle(order, paid).await?;
            } else if order.is_overdue(Utc::now()) {
                tracing::info!(due = ?order.payment_due, "payment not received in time: releasing the stock");
                (order, made_final) = self
                    .move_to(
                        order,
                        OrderStatus::Failed,
                        Some(FailureReason::PaymentOverdue),
                    )
                    .await?;
            }
        }
        if let Some(paid) = &payment {
            if order.invoice_payment.as_ref().map(|p| &p.reference) != Some(&paid.reference)
                && order.status != OrderStatus::AwaitingPayment
            {
                // Recorded while the order was still waiting (the console checks), but the
                // hold ran out first (or another payment was recorded): the money is the shop's
                // to give back. Logged for the operator; the message is done.
                tracing::error!(status = %order.status, reference = %paid.reference, recorded_by = %paid.recorded_by,
                    "a payment was recorded for an order that no longer waits for one: refund it");
                crate::metrics::payment("unmatched");
            }
        }
        // The stock of a lapsed hold goes back after the status says so (not before: a
        // payment recorded meanwhile would complete an order without its stock); released
        // at most once, so a redelivery only checks.
        if order.failure_reason == Some(FailureReason::PaymentOverdue)
            && self
                .services
                .inventory
                .release_stock(&order.order_id)
                .await?
        {
            tracing::info!("stock of the lapsed order released");
        }
        if let (true, Some(hold)) = (order.status.is_terminal(), &order.invoice_hold) {
            crate::holds::release(self.services.records.as_ref(), &hold.records, &hold.entry)
                .await?;
        }
        self.announce(&order, made_final, rendered).await?;
        // Only a settled order lets its message go; anything else is retried (never deleted).
        match (order.status, order.failure_reason) {
            (OrderStatus::Failed, Some(r)) => {
                Ok(Some(StepOutcome::Failed(order.order_id.clone(), r)))
            }
            (OrderStatus::Completed, _) => Ok(Some(StepOutcome::Completed(order.order_id.clone()))),
            (OrderStatus::AwaitingPayment, _) => {
                Ok(Some(StepOutcome::AwaitingPayment(order.order_id.clone())))
            }
            (status, _) => Err(PortError::Precondition(format!(
                "order {} is {status} after processing, not final",
                order.order_id
            ))),
        }
    }

    /// AWAITING_PAYMENT → receipt → COMPLETED with the payment an operator recorded.
    async fn settle(
        &self,
        order: Order,
        paid: InvoicePayment,
    ) -> Result<(Order, bool, Option<Vec<u8>>), PortError> {
        // The receipt says how it was paid: rendered from the order as it will be.
        let as_paid = Order {
            invoice_payment: Some(paid.clone()),
            ..order.clone()
        };
        let rendered = self.receipt(&as_paid, false).await?;
        let order = Order {
            receipt_key: Some(receipt_key(&order.order_id)),
            ..order
        };
        tracing::info!(reference = %paid.reference, recorded_by = %paid.recorded_by, "invoice paid");
        let (order, moved) = self
            .move_with(order, |o| o.record_payment(paid, Utc::now()))
            .await?;
        Ok((order, moved, rendered.filter(|_| moved)))
    }

    /// PROCESSING → reserve → charge → receipt → COMPLETED (or FAILED on the way); also
    /// says whether this call made the final transition (see [`Self::move_to`]), and gives
    /// the receipt's bytes when this call rendered it (for the e-mail, without reading back).
    async fn fulfil(&self, order: Order) -> Result<(Order, bool, Option<Vec<u8>>), PortError> {
        let s = &self.services;
        let step = std::time::Instant::now();
        let reservation = s
            .inventory
            .reserve_stock(&order.order_id, &order.stock_lines())
            .await?;
        crate::metrics::worker_step("reserve", step.elapsed());
        if let Reservation::Insufficient { product_id } = &reservation {
            tracing::info!(%product_id, "not enough stock");
            return self
                .move_to(order, OrderStatus::Failed, Some(FailureReason::OutOfStock))
                .await
                .map(|(o, made_final)| (o, made_final, None));
        }
        if order.on_invoice() {
            // Nothing to charge: the stock is held until the payment is recorded or the
            // hold runs out (security review H-2). The receipt waits for the payment.
            if reservation == Reservation::Released {
                return Err(PortError::Unexpected(anyhow::anyhow!(
                    "order {} on invoice is PROCESSING but its stock was released",
                    order.order_id
                )));
            }
            let now = Utc::now();
            let due = now + chrono::Duration::from_std(self.invoice_hold).unwrap_or_default();
            tracing::info!(%due, "order on invoice: stock held until paid");
            let (order, moved) = self.move_with(order, |o| o.await_payment(due, now)).await?;
            return Ok((order, moved, None));
        }
        let step = std::time::Instant::now();
        let charge = s
            .payments
            .charge(&ChargeRequest {
                idempotency_key: order.order_id.to_string(),
                amount: order.total,
                payment_token: order.payment.as_ref().map(|p| p.token.clone()),
            })
            .await?;
        crate::metrics::worker_step("charge", step.elapsed());
        crate::metrics::payment(match charge {
            ChargeOutcome::Approved { .. } => "approved",
            ChargeOutcome::Declined { .. } => "declined",
        });
        match charge {
            ChargeOutcome::Declined { code } => {
                tracing::info!(%code, "payment declined");
                s.inventory.release_stock(&order.order_id).await?;
                return self
                    .move_to(
                        order,
                        OrderStatus::Failed,
                        Some(FailureReason::PaymentDeclined),
                    )
                    .await
                    .map(|(o, made_final)| (o, made_final, None));
            }
            ChargeOutcome::Approved { charge_id } => {
                if reservation == Reservation::Released {
                    return Err(PortError::Unexpected(anyhow::anyhow!(
                        "charge {charge_id} approved for an order whose stock was released"
                    )));
                }
                tracing::info!(%charge_id, amount = %order.total, "payment approved");
            }
        }
        let rendered = self
            .receipt(&order, reservation == Reservation::Reserved)
            .await?;
        let key = receipt_key(&order.order_id);
        let mut order = order;
        order.receipt_key = Some(key);
        let (order, made_final) = self.move_to(order, OrderStatus::Completed, None).await?;
        Ok((order, made_final, rendered))
    }

    /// Renders and stores the order's receipt unless it is stored already; the bytes when
    /// this call rendered them. `fresh`: this call took the stock, so no earlier attempt got
    /// this far and there is nothing stored to look for.
    async fn receipt(&self, order: &Order, fresh: bool) -> Result<Option<Vec<u8>>, PortError> {
        let s = &self.services;
        let key = receipt_key(&order.order_id);
        let step = std::time::Instant::now();
        let mut rendered = None;
        if fresh || !s.receipts.exists(&key).await? {
            let receipt = Receipt::for_order(order, &self.shop_name);
            let permit = self
                .renders
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| PortError::Unexpected(anyhow::anyhow!("render semaphore: {e}")))?;
            let started = std::time::Instant::now();
            let pdf = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                crate::receipt_pdf::render(&receipt)
            })
            .await
            .map_err(|e| PortError::Unexpected(anyhow::anyhow!("render task: {e}")))?
            .map_err(|e| PortError::Unexpected(e.into()))?;
            crate::metrics::receipt_rendered(started.elapsed());
            tracing::info!(
                bytes = pdf.len(),
                render_ms = started.elapsed().as_millis() as u64,
                "receipt rendered"
            );
            s.receipts.put(&key, pdf.clone()).await?;
            rendered = Some(pdf);
        }
        crate::metrics::worker_step("receipt", step.elapsed());
        Ok(rendered)
    }

    /// A guarded transition written conditionally; `true` with the moved order. If another
    /// worker moved the order first, `false` with the stored order, so the caller carries on
    /// from the truth.
    async fn move_to(
        &self,
        order: Order,
        to: OrderStatus,
        reason: Option<FailureReason>,
    ) -> Result<(Order, bool), PortError> {
        self.move_with(order, |o| o.transition(to, reason, Utc::now()))
            .await
    }

    /// [`Self::move_to`] with the change made by `change` (a guarded transition and what
    /// comes with it), written conditionally on the status before it.
    async fn move_with(
        &self,
        mut order: Order,
        change: impl FnOnce(&mut Order) -> Result<(), crate::domain::order::OrderError>,
    ) -> Result<(Order, bool), PortError> {
        let from = order.status;
        change(&mut order).map_err(|e| PortError::Unexpected(e.into()))?;
        match self.services.store.update_order(&order, from).await {
            Ok(()) => {
                tracing::info!(from = %from, to = %order.status, reason = order.failure_reason.map(|r| r.as_str()), "order status changed");
                Ok((order, true))
            }
            Err(PortError::Precondition(_)) => self
                .services
                .store
                .get_order(&order.order_id)
                .await?
                .map(|stored| (stored, false))
                .ok_or_else(|| PortError::NotFound(format!("order {}", order.order_id))),
            Err(e) => Err(e),
        }
    }

    /// Publishes the final event (the notifier records each event id once; `first`: this
    /// worker just made the order final, so no earlier publish can exist).
    async fn announce(
        &self,
        order: &Order,
        first: bool,
        rendered: Option<Vec<u8>>,
    ) -> Result<(), PortError> {
        let event_type = match order.status {
            OrderStatus::AwaitingPayment => EventType::OrderAwaitingPayment,
            OrderStatus::Completed => EventType::OrderCompleted,
            OrderStatus::Failed => EventType::OrderFailed,
            _ => return Ok(()),
        };
        let event = OrderEvent {
            event_id: format!("{}:{}", order.order_id, event_type.as_str()),
            event_type,
            order_id: order.order_id.to_string(),
            customer_id: order.customer_id.to_string(),
            customer_email: order.customer_email.to_string(),
            status: order.status.to_string(),
            failure_reason: order.failure_reason.map(|r| r.as_str().to_owned()),
            total: order.total,
            receipt_key: order.receipt_key.clone(),
            occurred_at: order.updated_at,
        };
        let step = std::time::Instant::now();
        if first {
            self.services.notifier.publish_new(&event).await?;
        } else {
            self.services.notifier.publish(&event).await?;
        }
        crate::metrics::notification("order_event");
        self.mail(order, rendered).await?;
        crate::metrics::worker_step("notify", step.elapsed());
        Ok(())
    }

    /// The customer e-mail for a final order (the receipt attached when COMPLETED: the bytes
    /// this worker just rendered, else the stored ones; the same by the receipt store's
    /// contract); the mailer sends each message once. A mail the mailer refuses for good
    /// (`Rejected`) is logged and counted, and does not fail or retry the order.
    async fn mail(&self, order: &Order, rendered: Option<Vec<u8>>) -> Result<(), PortError> {
        if !self.services.mailer.enabled() {
            return Ok(());
        }
        let receipt = match (&order.status, &order.receipt_key, rendered) {
            (OrderStatus::Completed, Some(_), Some(pdf)) => Some(pdf),
            (OrderStatus::Completed, Some(key), None) => {
                Some(self.services.receipts.get(key).await?)
            }
            _ => None,
        };
        match crate::domain::mail::MailMessage::for_order(
            order,
            &self.shop_name,
            &self.mail_from,
            receipt,
        ) {
            Some(m) => match self.services.mailer.send(&m).await {
                Ok(()) => {
                    crate::metrics::notification("email");
                    Ok(())
                }
                // Sending again would be refused again: the order stands, the message is done.
                Err(PortError::Rejected(why)) => {
                    tracing::error!(key = %m.key, error = %why, "customer e-mail refused for good by the mail service; not retried");
                    crate::metrics::email_rejected();
                    Ok(())
                }
                Err(e) => Err(e),
            },
            None => Ok(()),
        }
    }
}

/// Exponential back-off with full jitter, capped: ~1 s, 2 s, 4 s … ≤ `cap`.
pub fn backoff(attempt: u32, cap: Duration) -> Duration {
    let base_ms = 1000u64.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    let ceiling = base_ms.min(cap.as_millis() as u64).max(1);
    // Full jitter over the upper half (fastrand's thread-local generator: nothing shared).
    Duration::from_millis(ceiling / 2 + fastrand::u64(0..=ceiling / 2))
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_grows_and_is_capped() {
        let cap = Duration::from_secs(30);
        assert!(backoff(1, cap) <= Duration::from_secs(1));
        assert!(backoff(3, cap) >= Duration::from_secs(2));
        for n in 0..40 {
            assert!(backoff(n, cap) <= cap);
        }
    }
}
