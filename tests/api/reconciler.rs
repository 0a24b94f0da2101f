//! The stuck-order reconciler: an order recorded but never enqueued completes exactly once.

use crate::helpers::{spawn_app_with, test_settings};
use orderflow::domain::OrderStatus;
use orderflow::reconciler::Reconciler;
use orderflow::worker::{StepOutcome, Worker};
use std::time::Duration;

#[tokio::test]
async fn an_order_recorded_but_never_enqueued_is_completed_once() {
    let app = spawn_app_with(&[], false).await;
    let s = app.services.clone();
    // The crash between the two writes: the order is recorded, no message is sent.
    let product = s
        .inventory
        .list_products()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.product_id.as_str() == "sku-tote")
        .unwrap();
    let before = product.stock;
    let order = crate::conformance::order_for(&[(&product, 2)]);
    s.store.insert_order(&order, None).await.unwrap();
    assert_eq!(s.queue.depth().await.unwrap().visible, 0);

    let r = Reconciler::new(
        s.clone(),
        Duration::from_millis(1),
        Duration::from_millis(500),
    );
    assert_eq!(
        r.run_once().await.unwrap(),
        0,
        "a young PENDING order is not stuck"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(r.run_once().await.unwrap(), 1, "re-enqueued");
    assert_eq!(
        r.run_once().await.unwrap(),
        0,
        "not again while its message may be on the way"
    );
    let stored = s.store.get_order(&order.order_id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.requeued), (OrderStatus::Pending, 1));

    let settings = test_settings(app.data_dir.path(), &[]);
    let worker = Worker::new(s.clone(), settings.worker.clone(), "Shop".into());
    let got = s.queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        worker.process(&got[0]).await,
        StepOutcome::Completed(order.order_id.clone())
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        r.run_once().await.unwrap(),
        0,
        "a finished order is left alone"
    );
    assert_eq!(
        s.payments
            .charges_for(order.order_id.as_str())
            .await
            .unwrap(),
        1
    );
    let after = s
        .inventory
        .list_products()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.product_id.as_str() == "sku-tote")
        .unwrap();
    assert_eq!(after.stock, before - 2, "stock taken once");
}

#[tokio::test]
async fn one_reconciler_at_a_time() {
    let app = spawn_app_with(&[], false).await;
    let a = Reconciler::new(
        app.services.clone(),
        Duration::from_secs(60),
        Duration::from_secs(300),
    );
    let b = Reconciler::new(
        app.services.clone(),
        Duration::from_secs(60),
        Duration::from_secs(300),
    );
    assert!(a.acquire_lease().await.unwrap());
    assert!(!b.acquire_lease().await.unwrap(), "the lease is held");
    assert!(a.acquire_lease().await.unwrap(), "the holder renews it");
    assert_eq!(b.run_once().await.unwrap(), 0);
    let short = Reconciler::new(
        app.services.clone(),
        Duration::from_millis(50),
        Duration::from_secs(300),
    );
    let other = Reconciler::new(
        app.services.clone(),
        Duration::from_millis(50),
        Duration::from_secs(300),
    );
    // The first lease (2 × 60 s) still runs: neither short-lived one gets it.
    assert!(!short.acquire_lease().await.unwrap() && !other.acquire_lease().await.unwrap());
}

/// Orders awaiting payment are all looked at: the list is newest first and the overdue ones
/// are the oldest, so a pass capped at 1000 would never reach one behind 1000 younger ones.
#[tokio::test]
async fn an_overdue_order_behind_a_thousand_younger_ones_is_still_handed_to_the_worker() {
    let app = spawn_app_with(&[], false).await;
    let s = app.services.clone();
    let product = s.inventory.list_products().await.unwrap().remove(0);
    let awaiting = |due: chrono::DateTime<chrono::Utc>| {
        let mut o = crate::conformance::order_for(&[(&product, 1)]);
        o.payment = None;
        o.status = OrderStatus::AwaitingPayment;
        o.payment_due = Some(due);
        o
    };
    let overdue = awaiting(chrono::Utc::now() - chrono::Duration::minutes(1));
    s.store.insert_order(&overdue, None).await.unwrap();
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let mut inserts = Vec::new();
    for _ in 0..1050 {
        let (s, o) = (s.clone(), awaiting(later));
        inserts.push(tokio::spawn(
            async move { s.store.insert_order(&o, None).await },
        ));
    }
    for i in inserts {
        i.await.unwrap().unwrap();
    }
    let r = Reconciler::new(s.clone(), Duration::from_millis(1), Duration::from_secs(60));
    assert_eq!(
        r.run_once().await.unwrap(),
        1,
        "the overdue one, and only it"
    );
    let got = s.queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(got[0].body.contains(overdue.order_id.as_str()));
    assert_eq!(
        r.run_once().await.unwrap(),
        0,
        "not again while its message may be on the way"
    );
}
