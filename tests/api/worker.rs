//! Worker behaviour: poison messages, duplicates and redeliveries never double an effect.

use crate::conformance::eventually;
use crate::helpers::{order_body, spawn_app, spawn_app_with};
use orderflow::domain::{OrderId, OrderStatus};
use orderflow::ports::{ChargeRequest, OrderMessage};
use orderflow::worker::{StepOutcome, Worker};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn poison_messages_go_straight_to_the_dead_letter_queue() {
    let app = spawn_app().await;
    let q = app.services.queue.clone();
    q.send("this is not json").await.unwrap();
    let unknown = serde_json::to_string(&OrderMessage {
        order_id: OrderId::generate().to_string(),
        request_id: None,
        payment: None,
    })
    .unwrap();
    q.send(&unknown).await.unwrap();
    q.send(r#"{"orderId":"../../etc/passwd"}"#).await.unwrap();
    eventually(
        Duration::from_secs(10),
        "three messages dead-lettered",
        || async {
            let d = q.depth().await.unwrap();
            d.dead_letters == 3 && d.visible == 0 && d.in_flight == 0
        },
    )
    .await;
    let dead = q.peek_dead_letters(10).await.unwrap();
    assert!(
        dead.iter().all(|d| d.receive_count == 1),
        "dead-lettered on the first receive, no retries burnt"
    );
}

#[tokio::test]
async fn duplicate_messages_change_nothing() {
    let app = spawn_app().await;
    let before = app.stock_of("sku-kettle").await;
    let (created, done) = app.place_and_finish(&order_body("sku-kettle", 1)).await;
    assert_eq!(done["status"], "COMPLETED");
    let id = created["orderId"].as_str().unwrap();
    let receipt_path = app.data_dir.path().join(format!("receipts/{id}.pdf"));
    let modified = std::fs::metadata(&receipt_path)
        .unwrap()
        .modified()
        .unwrap();
    let msg = serde_json::to_string(&OrderMessage {
        order_id: id.into(),
        request_id: None,
        payment: None,
    })
    .unwrap();
    for _ in 0..3 {
        app.services.queue.send(&msg).await.unwrap();
    }
    let q = app.services.queue.clone();
    eventually(Duration::from_secs(10), "duplicates consumed", || async {
        let d = q.depth().await.unwrap();
        d.visible == 0 && d.in_flight == 0
    })
    .await;
    assert_eq!(app.stock_of("sku-kettle").await, before - 1);
    assert_eq!(app.services.payments.charges_for(id).await.unwrap(), 1);
    let events = app.services.notifier.recent_events(50).await.unwrap();
    assert_eq!(
        events.iter().filter(|e| e.order_id == id).count(),
        1,
        "notified once"
    );
    assert_eq!(
        std::fs::metadata(&receipt_path)
            .unwrap()
            .modified()
            .unwrap(),
        modified,
        "not re-rendered"
    );
    let mails: Vec<_> = std::fs::read_dir(app.data_dir.path().join("mail"))
        .unwrap()
        .collect();
    assert_eq!(mails.len(), 1, "one e-mail");
    assert_eq!(q.depth().await.unwrap().dead_letters, 0);
}

/// A worker that died after reserving and charging: the redelivery finishes the order
/// without a second reservation or charge.
#[tokio::test]
async fn a_redelivery_after_a_crash_mid_order_completes_once() {
    let app = spawn_app_with(&[], false).await;
    let before = app.stock_of("sku-beans").await;
    let created: Value = app
        .post_order(&order_body("sku-beans", 4))
        .await
        .json()
        .await
        .unwrap();
    let id = OrderId::parse(created["orderId"].as_str().unwrap()).unwrap();
    let s = &app.services;

    // The first attempt got this far: PROCESSING, stock reserved, card charged. Then it died.
    let mut order = s.store.get_order(&id).await.unwrap().unwrap();
    order
        .transition(OrderStatus::Processing, None, chrono::Utc::now())
        .unwrap();
    s.store
        .update_order(&order, OrderStatus::Pending)
        .await
        .unwrap();
    s.inventory
        .reserve_stock(&id, &order.stock_lines())
        .await
        .unwrap();
    s.payments
        .charge(&ChargeRequest {
            idempotency_key: id.to_string(),
            amount: order.total,
            payment_token: order.payment.as_ref().map(|p| p.token.clone()),
        })
        .await
        .unwrap();
    let first = s.queue.receive(1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);

    let settings = crate::helpers::test_settings(app.data_dir.path(), &[]);
    let worker = Worker::new(s.clone(), settings.worker.clone(), "Test Shop".into());
    assert_eq!(
        worker.process(&first[0]).await,
        StepOutcome::Completed(id.clone())
    );
    assert_eq!(app.stock_of("sku-beans").await, before - 4, "reserved once");
    assert_eq!(
        s.payments.charges_for(id.as_str()).await.unwrap(),
        1,
        "charged once"
    );
    let depth = s.queue.depth().await.unwrap();
    assert_eq!(
        (depth.visible, depth.in_flight),
        (0, 0),
        "the message was deleted"
    );
    // Processing the same delivery again is harmless.
    assert_eq!(
        worker.process(&first[0]).await,
        StepOutcome::Completed(id.clone())
    );
    assert_eq!(s.notifier.recent_events(10).await.unwrap().len(), 1);
}

/// A receipt store that is down for its first `failures` writes.
struct FlakyReceipts {
    inner: std::sync::Arc<dyn orderflow::ports::ReceiptStore>,
    failures: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl orderflow::ports::ReceiptStore for FlakyReceipts {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> orderflow::ports::PortResult<()> {
        use std::sync::atomic::Ordering;
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(orderflow::ports::PortError::Unavailable(
                "receipt store is down".into(),
            ));
        }
        self.inner.put(key, bytes).await
    }
    async fn exists(&self, key: &str) -> orderflow::ports::PortResult<bool> {
        self.inner.exists(key).await
    }
    async fn get(&self, key: &str) -> orderflow::ports::PortResult<Vec<u8>> {
        self.inner.get(key).await
    }
}

/// A dependency that fails transiently leaves the message for a retry; the retry finishes
/// the order with one reservation and one charge.
#[tokio::test]
async fn transient_failures_are_retried_without_doubling_effects() {
    let app = spawn_app_with(&[], false).await;
    let before = app.stock_of("sku-candle").await;
    let created: Value = app
        .post_order(&order_body("sku-candle", 2))
        .await
        .json()
        .await
        .unwrap();
    let id = OrderId::parse(created["orderId"].as_str().unwrap()).unwrap();
    let mut services = app.services.clone();
    services.receipts = std::sync::Arc::new(FlakyReceipts {
        inner: app.services.receipts.clone(),
        failures: 2.into(),
    });
    let settings = crate::helpers::test_settings(app.data_dir.path(), &[]);
    let worker = Worker::new(services, settings.worker.clone(), "Test Shop".into());

    let mut outcomes = Vec::new();
    for attempt in 1..=3u32 {
        let got = app
            .services
            .queue
            .receive(1, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "attempt {attempt}: the message came back");
        assert_eq!(got[0].receive_count, attempt);
        outcomes.push(worker.process(&got[0]).await);
    }
    assert!(matches!(outcomes[0], StepOutcome::Retry(_)), "{outcomes:?}");
    assert!(matches!(outcomes[1], StepOutcome::Retry(_)), "{outcomes:?}");
    assert_eq!(outcomes[2], StepOutcome::Completed(id.clone()));
    assert_eq!(
        app.stock_of("sku-candle").await,
        before - 2,
        "reserved once over three attempts"
    );
    assert_eq!(
        app.services
            .payments
            .charges_for(id.as_str())
            .await
            .unwrap(),
        1,
        "charged once"
    );
    let order = app.services.store.get_order(&id).await.unwrap().unwrap();
    assert_eq!(order.status, OrderStatus::Completed);
    assert_eq!(
        order.timeline.len(),
        3,
        "PENDING, PROCESSING, COMPLETED: no repeated entries"
    );
}

/// One alarm per DLQ episode across instances, a recovery when empty again, and a growth
/// seen by a worker raises the alarm even if the DLQ was drained before the poll.
#[tokio::test]
async fn the_dlq_alarm_fires_once_per_episode() {
    use orderflow::dlq::{AlarmStep, DlqMonitor};
    let app = spawn_app_with(&[], false).await;
    let s = app.services.clone();
    let one = DlqMonitor::new(s.clone(), Duration::from_secs(30));
    let other = DlqMonitor::new(s.clone(), Duration::from_secs(30)); // a second instance
    assert_eq!(one.check(false).await.unwrap(), AlarmStep::Quiet);

    s.queue.send("poison").await.unwrap();
    let got = s.queue.receive(1, Duration::from_secs(1)).await.unwrap();
    s.queue.dead_letter(&got[0], "undecodable").await.unwrap();
    assert_eq!(
        other.check(false).await.unwrap(),
        AlarmStep::Raised {
            episode: 1,
            depth: 1
        }
    );
    assert_eq!(
        one.check(false).await.unwrap(),
        AlarmStep::Quiet,
        "the other instance raised it"
    );
    assert_eq!(
        other.check(false).await.unwrap(),
        AlarmStep::Quiet,
        "not once per poll"
    );
    assert_eq!(s.notifier.recent_alarms(10).await.unwrap().len(), 1);

    assert_eq!(s.queue.redrive(10).await.unwrap(), 1);
    let back = s.queue.receive(1, Duration::from_secs(1)).await.unwrap();
    s.queue.delete(&back[0].receipt_handle).await.unwrap();
    assert_eq!(
        one.check(false).await.unwrap(),
        AlarmStep::Recovered { episode: 1 }
    );
    assert_eq!(other.check(false).await.unwrap(), AlarmStep::Quiet);
    let alarms = s.notifier.recent_alarms(10).await.unwrap();
    assert_eq!(alarms.len(), 2);
    assert!(alarms[0].subject.contains("empty again"));

    // A message that went to the DLQ and was drained before any poll still raises an alarm.
    assert_eq!(
        one.check(true).await.unwrap(),
        AlarmStep::Raised {
            episode: 2,
            depth: 0
        }
    );
    assert_eq!(
        one.check(false).await.unwrap(),
        AlarmStep::Recovered { episode: 2 }
    );
    assert_eq!(s.notifier.recent_alarms(10).await.unwrap().len(), 4);
}

/// The worker tells the monitor at once when it dead-letters a poison message.
#[tokio::test]
async fn the_worker_signals_dlq_growth() {
    let app = spawn_app_with(&[], false).await;
    let s = app.services.clone();
    let settings = crate::helpers::test_settings(app.data_dir.path(), &[]);
    let signal = std::sync::Arc::new(tokio::sync::Notify::new());
    let worker = Worker::new(s.clone(), settings.worker.clone(), "Shop".into())
        .with_dlq_signal(signal.clone());
    s.queue.send("garbage").await.unwrap();
    let got = s.queue.receive(1, Duration::from_secs(1)).await.unwrap();
    assert!(matches!(
        worker.process(&got[0]).await,
        StepOutcome::Poisoned(_)
    ));
    tokio::time::timeout(Duration::from_secs(1), signal.notified())
        .await
        .expect("growth was signalled");
}

/// A mailer that refuses every message, for good or for now.
struct RefusingMailer {
    permanent: bool,
    attempts: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl orderflow::ports::Mailer for RefusingMailer {
    async fn send(
        &self,
        _message: &orderflow::domain::mail::MailMessage,
    ) -> orderflow::ports::PortResult<()> {
        self.attempts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(if self.permanent {
            orderflow::ports::PortError::Rejected(
                "sesv2 SendEmail: MessageRejected: Email address is not verified.".into(),
            )
        } else {
            orderflow::ports::PortError::Unavailable("sesv2 SendEmail: throttled".into())
        })
    }
}

fn emails_rejected() -> f64 {
    orderflow::metrics::handle()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("orderflow_emails_rejected_total "))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// SES refusing the confirmation (sandbox, unverified sender) does not fail or retry the
/// order: the message is deleted, the order is COMPLETED, the refusal is counted.
#[tokio::test]
async fn a_mail_refused_for_good_does_not_fail_or_retry_the_order() {
    for permanent in [true, false] {
        let mailer = std::sync::Arc::new(RefusingMailer {
            permanent,
            attempts: 0.into(),
        });
        let m = mailer.clone();
        let app = crate::helpers::spawn_app_wrapped(&[], false, move |mut s| {
            s.mailer = m;
            s
        })
        .await;
        let created: Value = app
            .post_order(&order_body("sku-mug", 1))
            .await
            .json()
            .await
            .unwrap();
        let id = OrderId::parse(created["orderId"].as_str().unwrap()).unwrap();
        let settings = crate::helpers::test_settings(app.data_dir.path(), &[]);
        let worker = Worker::new(
            app.services.clone(),
            settings.worker.clone(),
            "Test Shop".into(),
        );
        let before = emails_rejected();
        let got = app
            .services
            .queue
            .receive(1, Duration::from_secs(5))
            .await
            .unwrap();
        let outcome = worker.process(&got[0]).await;
        assert_eq!(mailer.attempts.load(std::sync::atomic::Ordering::SeqCst), 1);
        let order = app.services.store.get_order(&id).await.unwrap().unwrap();
        assert_eq!(order.status, OrderStatus::Completed, "the order stands");
        let depth = app.services.queue.depth().await.unwrap();
        if permanent {
            assert_eq!(outcome, StepOutcome::Completed(id.clone()));
            assert_eq!((depth.visible, depth.in_flight), (0, 0), "message deleted");
            assert!(emails_rejected() - before >= 1.0, "the refusal is counted");
        } else {
            assert!(matches!(outcome, StepOutcome::Retry(_)), "{outcome:?}");
            assert_eq!(depth.in_flight, 1, "a transient failure keeps the message");
        }
        assert_eq!(depth.dead_letters, 0);
    }
}
