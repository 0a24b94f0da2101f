//! Prometheus metrics: every name the service records, with its help text, and the
//! process-wide recorder that renders them for `GET /metrics`.
//!
//! Names follow Prometheus conventions (`orderflow_` prefix, base units, `_total` for
//! counters). The seeds' CloudWatch names map as: OrdersCreated → `orders_created_total`,
//! OrderValue → `order_value_minor_units`, OrdersProcessed → `orders_processed_total`,
//! PaymentsProcessed → `payments_processed_total`, NotificationsSent →
//! `notifications_sent_total`.
//!
//! Counters count what this process did. The exactly-once effects live in the stores: a
//! redelivered message that finds its order already COMPLETED counts as processed again,
//! but never charges or notifies again.

use metrics::Unit;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

pub const HTTP_REQUESTS: &str = "orderflow_http_requests_total";
pub const HTTP_DURATION: &str = "orderflow_http_request_duration_seconds";
pub const ORDERS_CREATED: &str = "orderflow_orders_created_total";
pub const ORDER_VALUE: &str = "orderflow_order_value_minor_units";
pub const ORDERS_PROCESSED: &str = "orderflow_orders_processed_total";
pub const ORDERS_FAILED: &str = "orderflow_orders_failed_total";
pub const PAYMENTS_PROCESSED: &str = "orderflow_payments_processed_total";
pub const NOTIFICATIONS_SENT: &str = "orderflow_notifications_sent_total";
pub const EMAILS_REJECTED: &str = "orderflow_emails_rejected_total";
pub const EFFECTS_RETAKEN: &str = "orderflow_effects_retaken_total";
pub const MESSAGES_RETRIED: &str = "orderflow_messages_retried_total";
pub const MESSAGES_DEAD_LETTERED: &str = "orderflow_messages_dead_lettered_total";
pub const ORDERS_REQUEUED: &str = "orderflow_orders_requeued_total";
pub const RATE_LIMITED: &str = "orderflow_rate_limited_total";
pub const INVOICE_REFUSED: &str = "orderflow_invoice_orders_refused_total";
pub const AUTH_FAILURES: &str = "orderflow_auth_failures_total";
pub const QUEUE_DEPTH: &str = "orderflow_queue_depth";
pub const QUEUE_IN_FLIGHT: &str = "orderflow_queue_in_flight";
pub const DLQ_DEPTH: &str = "orderflow_dlq_depth";
pub const WORKER_STEP: &str = "orderflow_worker_step_duration_seconds";
pub const RECEIPT_RENDER: &str = "orderflow_receipt_render_seconds";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder on first use and returns its handle.
pub fn handle() -> PrometheusHandle {
    HANDLE.get_or_init(install).clone()
}

fn install() -> PrometheusHandle {
    let seconds = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    // Order values in minor units: 1.00 … 10,000.00.
    let value = [
        100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 25000.0, 50000.0, 100000.0, 1000000.0,
    ];
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(ORDER_VALUE.into()), &value))
        .expect("bucket lists are not empty")
        .build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::warn!("another metrics recorder is installed; /metrics will be empty");
    }
    describe();
    // Histogram samples are buffered until drained; drain them even if nobody scrapes.
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            upkeep.run_upkeep();
        })
        .expect("spawning the metrics upkeep thread");
    handle
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency, by method and route"
    );
    describe_counter!(
        ORDERS_CREATED,
        "Orders accepted (201) and enqueued, by currency"
    );
    describe_histogram!(
        ORDER_VALUE,
        "Value of accepted orders in minor units (cents), by currency; _sum is the revenue"
    );
    describe_counter!(
        ORDERS_PROCESSED,
        "Orders the worker brought to a final status (or, on invoice, to AWAITING_PAYMENT), by outcome"
    );
    describe_counter!(ORDERS_FAILED, "Orders that ended FAILED, by reason");
    describe_counter!(
        PAYMENTS_PROCESSED,
        "Charges answered by the payment gateway, by outcome"
    );
    describe_counter!(
        NOTIFICATIONS_SENT,
        "Order events, e-mails and alarms sent, by kind"
    );
    describe_counter!(
        EMAILS_REJECTED,
        "Customer e-mails the mail service refused for good (not retried; the order stands)"
    );
    describe_counter!(
        EFFECTS_RETAKEN,
        "E-mails and order events sent again after an earlier sender died between the service accepting them and recording it: each may have reached its recipient twice"
    );
    describe_counter!(
        MESSAGES_RETRIED,
        "Deliveries left on the queue for a retry after an error"
    );
    describe_counter!(
        MESSAGES_DEAD_LETTERED,
        "Messages moved to the dead-letter queue by the worker"
    );
    describe_counter!(
        ORDERS_REQUEUED,
        "Orders the reconciler re-enqueued: stuck PENDING ones, and unpaid ones on invoice past their due time"
    );
    describe_counter!(RATE_LIMITED, "Order placements refused with 429");
    describe_counter!(
        INVOICE_REFUSED,
        "Orders on invoice refused (409 INVOICE_LIMIT) because unpaid orders already hold a customer's, e-mail address's or network's cap"
    );
    describe_counter!(
        AUTH_FAILURES,
        "Wrong admin keys presented, by surface (login, api_key, metrics); answers refused while blocked are not counted"
    );
    describe_gauge!(QUEUE_DEPTH, "Messages waiting on the order queue");
    describe_gauge!(QUEUE_IN_FLIGHT, "Messages received and not yet finished");
    describe_gauge!(DLQ_DEPTH, "Messages in the dead-letter queue");
    describe_histogram!(
        WORKER_STEP,
        Unit::Seconds,
        "Duration of each worker step, by step"
    );
    describe_histogram!(
        RECEIPT_RENDER,
        Unit::Seconds,
        "Time to render one PDF receipt"
    );
}

/// One answered HTTP request; `route` is the matched pattern, never the raw path, and
/// `method` one of a fixed set ([`method_label`]), so clients cannot add series.
pub fn http_request(method: &str, route: &str, status: u16, took: Duration) {
    let method = method_label(method);
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.to_owned(), "status" => status.to_string()).increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route.to_owned())
        .record(took.as_secs_f64());
}

/// The method as a metric label: the standard methods by name, anything else (any token
/// a client invents) as `OTHER`.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

pub fn order_created(total: crate::domain::Money) {
    let currency = total.currency.to_string();
    counter!(ORDERS_CREATED, "currency" => currency.clone()).increment(1);
    histogram!(ORDER_VALUE, "currency" => currency).record(total.amount as f64);
}

/// An order on invoice refused because unpaid orders already hold a cap.
pub fn invoice_refused() {
    counter!(INVOICE_REFUSED).increment(1);
}

/// An order on invoice now waits for its payment (`outcome="awaiting_payment"`).
pub fn order_awaiting_payment() {
    counter!(ORDERS_PROCESSED, "outcome" => "awaiting_payment").increment(1);
}

/// `outcome`: `completed` or `failed` (with the failure reason).
pub fn order_processed(failure: Option<&str>) {
    match failure {
        None => counter!(ORDERS_PROCESSED, "outcome" => "completed").increment(1),
        Some(reason) => {
            counter!(ORDERS_PROCESSED, "outcome" => "failed").increment(1);
            counter!(ORDERS_FAILED, "reason" => reason.to_owned()).increment(1);
        }
    }
}

pub fn payment(outcome: &'static str) {
    counter!(PAYMENTS_PROCESSED, "outcome" => outcome).increment(1);
}

/// `kind`: `order_event`, `email` or `alarm`.
pub fn notification(kind: &'static str) {
    counter!(NOTIFICATIONS_SENT, "kind" => kind).increment(1);
}

/// A customer e-mail refused for good (`PortError::Rejected`).
pub fn email_rejected() {
    counter!(EMAILS_REJECTED).increment(1);
}

pub fn effect_retaken(kind: &'static str) {
    counter!(EFFECTS_RETAKEN, "kind" => kind).increment(1);
}

pub fn message_retried() {
    counter!(MESSAGES_RETRIED).increment(1);
}

pub fn message_dead_lettered() {
    counter!(MESSAGES_DEAD_LETTERED).increment(1);
}

pub fn orders_requeued(n: u64) {
    counter!(ORDERS_REQUEUED).increment(n);
}

pub fn rate_limited() {
    counter!(RATE_LIMITED).increment(1);
}

/// A wrong admin key; `surface` is `login`, `api_key` or `metrics` (a fixed set).
pub fn auth_failure(surface: &'static str) {
    counter!(AUTH_FAILURES, "surface" => surface).increment(1);
}

pub fn queue_depth(d: &crate::ports::QueueDepth) {
    gauge!(QUEUE_DEPTH).set(d.visible as f64);
    gauge!(QUEUE_IN_FLIGHT).set(d.in_flight as f64);
    gauge!(DLQ_DEPTH).set(d.dead_letters as f64);
}

pub fn worker_step(step: &'static str, took: Duration) {
    histogram!(WORKER_STEP, "step" => step).record(took.as_secs_f64());
}

pub fn receipt_rendered(took: Duration) {
    histogram!(RECEIPT_RENDER).record(took.as_secs_f64());
}

/// The text exposition, after refreshing the queue gauges (bounded: a slow queue leaves the
/// last values in place rather than delaying the scrape).
pub async fn render(queue: &dyn crate::ports::OrderQueue) -> String {
    let handle = handle();
    match tokio::time::timeout(Duration::from_secs(2), queue.depth()).await {
        Ok(Ok(d)) => queue_depth(&d),
        Ok(Err(e)) => tracing::warn!(error = %e, "queue depth for /metrics"),
        Err(_) => tracing::warn!("queue depth for /metrics timed out"),
    }
    handle.render()
}
