//! The conformance suite: plain async functions over the port traits that every adapter
//! family runs (embedded in `tests/conformance.rs`; aws against an AWS-protocol emulator in
//! `tests/aws/main.rs`), both through the one list in `conformance_suite!`.
//! Each function takes fresh, empty adapters and panics on a broken contract. Where a port's
//! effect leaves the process (the notifier, the mailer), a probe reads what was delivered
//! from outside the adapter, so an adapter cannot pass by vouching for itself.
//!
//! It lives with the tests, not in the library, so the production binary does not carry
//! it: each test crate mounts it as its `conformance` module (`#[path]`), and uses what
//! it needs of it.
#![allow(dead_code)]

use chrono::Utc;
use orderflow::domain::{
    Adjustment, Currency, CustomerId, Email, FailureReason, Money, MovementKind, NewOrder, Order,
    OrderId, OrderStatus, PricedLine, Product, ProductChanges, ProductId, Quantity, StockMovement,
};
use orderflow::ports::{
    Adjusted, Alarm, ChargeOutcome, ChargeRequest, Coordination, EventType, IdempotencyBegin,
    Inventory, KeyRing, NewKey, Notifier, OrderEvent, OrderQueue, OrderStore, PaymentGateway,
    PortError, ReceiptStore, Reservation, StoredResponse,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A queue under test and the settings it was created with.
pub struct QueueFixture {
    pub queue: Arc<dyn OrderQueue>,
    pub visibility: Duration,
    pub max_receive_count: u32,
}

/// One adapter family's fresh, empty adapters, for `conformance_suite!`,
/// with the probes that see what its notifier and mailer delivered.
pub struct Adapters {
    pub queue: QueueFixture,
    pub store: Arc<dyn OrderStore>,
    pub inventory: Arc<dyn Inventory>,
    pub records: Arc<dyn Coordination>,
    pub receipts: Arc<dyn ReceiptStore>,
    pub notifier: Arc<dyn Notifier>,
    pub deliveries: Box<dyn DeliveryProbe>,
    pub mail: MailFixture,
    pub payments: Arc<dyn PaymentGateway>,
    /// What must live as long as the adapters (the embedded family's temporary data dir).
    pub keep: Box<dyn std::any::Any + Send + Sync>,
}

/// Every conformance function as a `#[tokio::test]` on fresh adapters from `$fresh`, an
/// `async fn() -> Option<Adapters>` (`None` skips the test: the emulator is not installed).
/// Both families' test binaries invoke this one list, so a function added to it runs on
/// both, and one cannot be registered for a single family by mistake.
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:path) => {
        $crate::conformance_suite! { @tests $fresh, |a|
            queue_send_receive_delete(&a.queue);
            queue_visibility_timeout_redelivers(&a.queue);
            queue_dead_letters_after_max_receives(&a.queue);
            queue_extend_visibility(&a.queue);
            queue_explicit_dead_letter_and_redrive(&a.queue);
            queue_long_poll_wakes_on_send(&a.queue);
            queue_batches(&a.queue);
            store_orders_and_conditional_updates(a.store.as_ref());
            store_concurrent_transitions_have_one_winner(a.store.clone());
            store_lists_orders_newest_first(a.store.as_ref());
            inventory_reservations_are_atomic_and_idempotent(a.inventory.as_ref());
            inventory_catalog_and_ledger(a.inventory.as_ref());
            inventory_ledger_holds_under_concurrent_writers(a.inventory.clone());
            store_keyed_insert(a.store.clone());
            store_idempotency_records(a.store.clone());
            records_compare_and_set(a.records.clone());
            records_invoice_holds_never_exceed_their_cap(a.records.clone());
            receipts_roundtrip(a.receipts.as_ref());
            notifier_delivers_each_event_and_alarm_once(a.notifier.as_ref(), a.deliveries.as_ref());
            mailer_sends_each_key_once(&a.mail);
            payments_charge_once_per_key(a.payments.as_ref());
        }
    };
    (@tests $fresh:path, |$a:ident| $($function:ident($($arg:expr),*);)*) => {$(
        #[tokio::test]
        async fn $function() {
            let Some($a) = $fresh().await else { return };
            $crate::conformance::$function($($arg),*).await;
        }
    )*};
}

/// Polls `check` until it returns true or `within` passes (for approximate counts).
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub fn product(id: &str, cents: i64, stock: u32) -> Product {
    Product {
        product_id: ProductId::parse(id).expect("valid product id"),
        name: format!("Product {id}"),
        description: "conformance".into(),
        unit_price: Money::new(cents, Currency::USD),
        stock,
        active: true,
    }
}

pub fn order_for(products: &[(&Product, u32)]) -> Order {
    Order::place(
        NewOrder {
            order_id: OrderId::generate(),
            customer_id: CustomerId::parse("conformance").unwrap(),
            customer_email: Email::parse("conformance@example.com").unwrap(),
            lines: products
                .iter()
                .map(|(p, q)| PricedLine {
                    product: p,
                    quantity: Quantity::parse(i64::from(*q)).unwrap(),
                })
                .collect(),
            shipping_address: None,
            // Paid by card: an order on invoice would wait AWAITING_PAYMENT after processing.
            payment: Some(orderflow::domain::PaymentMethod {
                token: "tok_sim_conformance".into(),
                brand: "Visa".into(),
                last4: "4242".into(),
            }),
            access_token_sha256: "0".repeat(64),
            request_id: None,
        },
        Utc::now(),
    )
    .expect("valid order")
}

// ---------------------------------------------------------------- queue

/// Sent messages are received once each with count 1, and deleted ones never come back.
pub async fn queue_send_receive_delete(f: &QueueFixture) {
    let q = &f.queue;
    let id = q.send("hello").await.unwrap();
    let got = q.receive(10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(got.len(), 1, "one message sent, one received");
    assert_eq!(got[0].message_id, id);
    assert_eq!(got[0].body, "hello");
    assert_eq!(got[0].receive_count, 1);
    q.delete(&got[0].receipt_handle).await.unwrap();
    q.delete(&got[0].receipt_handle)
        .await
        .expect("deleting twice is not an error");
    let again = q
        .receive(10, f.visibility + Duration::from_millis(500))
        .await
        .unwrap();
    assert!(
        again.is_empty(),
        "a deleted message is never redelivered: {again:?}"
    );
}

/// A received message is invisible until its visibility timeout, then comes back with a
/// higher receive count and a new receipt handle.
pub async fn queue_visibility_timeout_redelivers(f: &QueueFixture) {
    let q = &f.queue;
    q.send("redeliver-me").await.unwrap();
    let first = q.receive(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.len(), 1);
    let hidden = q.receive(10, Duration::ZERO).await.unwrap();
    assert!(hidden.is_empty(), "in-flight messages are invisible");
    let second = q
        .receive(1, f.visibility + Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "redelivered after the visibility timeout");
    assert_eq!(second[0].message_id, first[0].message_id);
    assert_eq!(second[0].receive_count, 2);
    assert_ne!(second[0].receipt_handle, first[0].receipt_handle);
    q.delete(&second[0].receipt_handle).await.unwrap();
}

/// After `max_receive_count` receives without a delete the message moves to the DLQ; a
/// redrive brings it back with a fresh count.
pub async fn queue_dead_letters_after_max_receives(f: &QueueFixture) {
    let q = &f.queue;
    let id = q.send("poison-by-retries").await.unwrap();
    for n in 1..=f.max_receive_count {
        let got = q
            .receive(1, f.visibility + Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "receive #{n}");
        assert_eq!(got[0].receive_count, n);
    }
    let after = q
        .receive(1, f.visibility + Duration::from_millis(1500))
        .await
        .unwrap();
    assert!(after.is_empty(), "no receive beyond the maximum: {after:?}");
    eventually(
        Duration::from_secs(10),
        "the message is in the DLQ",
        || async { q.depth().await.unwrap().dead_letters == 1 },
    )
    .await;
    let dead = q.peek_dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].message_id, id,
        "the message keeps its id in the DLQ"
    );
    assert_eq!(dead[0].body, "poison-by-retries");
    assert_eq!(
        dead[0].reason, None,
        "moved by the queue, not with a reason"
    );
    assert_eq!(q.redrive(10).await.unwrap(), 1);
    let back = q.receive(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(back.len(), 1, "redriven message is received again");
    assert_eq!(back[0].body, "poison-by-retries");
    assert_eq!(back[0].receive_count, 1, "redrive resets the receive count");
    q.delete(&back[0].receipt_handle).await.unwrap();
}

/// Extending visibility keeps a message hidden past the original timeout; a stale handle
/// cannot be extended.
pub async fn queue_extend_visibility(f: &QueueFixture) {
    let q = &f.queue;
    q.send("slow").await.unwrap();
    let got = q.receive(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(got.len(), 1);
    q.extend_visibility(
        &got[0].receipt_handle,
        f.visibility * 3 + Duration::from_secs(2),
    )
    .await
    .unwrap();
    let hidden = q
        .receive(1, f.visibility + Duration::from_millis(500))
        .await
        .unwrap();
    assert!(hidden.is_empty(), "extended message stays invisible");
    q.delete(&got[0].receipt_handle).await.unwrap();
    assert!(
        q.extend_visibility(&got[0].receipt_handle, f.visibility)
            .await
            .is_err(),
        "extending a deleted message's visibility fails"
    );
}

/// A poison message goes to the DLQ at once, without burning receives.
pub async fn queue_explicit_dead_letter_and_redrive(f: &QueueFixture) {
    let q = &f.queue;
    q.send("not-json").await.unwrap();
    let got = q.receive(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(got.len(), 1);
    q.dead_letter(&got[0], "undecodable").await.unwrap();
    eventually(
        Duration::from_secs(10),
        "DLQ holds one, main holds none",
        || async {
            let d = q.depth().await.unwrap();
            d.dead_letters == 1 && d.visible == 0 && d.in_flight == 0
        },
    )
    .await;
    let dead = q.peek_dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason.as_deref(), Some("undecodable"));
    assert_eq!(
        q.peek_dead_letters(10).await.unwrap().len(),
        1,
        "peeking changes nothing"
    );
    let none = q
        .receive(1, f.visibility + Duration::from_millis(500))
        .await
        .unwrap();
    assert!(
        none.is_empty(),
        "a dead-lettered message is not redelivered from the main queue"
    );
    assert_eq!(q.redrive(10).await.unwrap(), 1);
    let back = q.receive(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(back.len(), 1);
    q.delete(&back[0].receipt_handle).await.unwrap();
}

/// A long-polling receive returns as soon as a message arrives.
pub async fn queue_long_poll_wakes_on_send(f: &QueueFixture) {
    let q = f.queue.clone();
    let waiter = tokio::spawn(async move { q.receive(1, Duration::from_secs(15)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    f.queue.send("wake").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("receive returned before its full wait")
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1);
    f.queue.delete(&got[0].receipt_handle).await.unwrap();
}

/// Batches: at most 10 per receive, every message delivered, none twice while in flight.
pub async fn queue_batches(f: &QueueFixture) {
    let q = &f.queue;
    for i in 0..15 {
        q.send(&format!("m{i}")).await.unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < 15 && tokio::time::Instant::now() < deadline {
        let got = q.receive(10, Duration::from_secs(1)).await.unwrap();
        assert!(got.len() <= 10);
        for d in got {
            assert!(
                seen.insert(d.body.clone()),
                "{} delivered twice while in flight",
                d.body
            );
            q.delete(&d.receipt_handle).await.unwrap();
        }
    }
    assert_eq!(seen.len(), 15);
}

// ---------------------------------------------------------------- order store

/// Orders round-trip; inserts are create-only; updates are conditional on the status.
pub async fn store_orders_and_conditional_updates(s: &dyn OrderStore) {
    let p = product(&unique("p"), 1999, 10);
    let order = order_for(&[(&p, 2)]);
    s.insert_order(&order, None).await.unwrap();
    assert!(matches!(
        s.insert_order(&order, None).await,
        Err(PortError::AlreadyExists(_))
    ));
    assert_eq!(
        s.get_order(&order.order_id).await.unwrap().as_ref(),
        Some(&order)
    );
    assert_eq!(s.get_order(&OrderId::generate()).await.unwrap(), None);

    let mut processing = order.clone();
    processing
        .transition(OrderStatus::Processing, None, Utc::now())
        .unwrap();
    assert!(matches!(
        s.update_order(&processing, OrderStatus::Processing).await,
        Err(PortError::Precondition(_))
    ));
    s.update_order(&processing, OrderStatus::Pending)
        .await
        .unwrap();
    assert!(
        matches!(
            s.update_order(&processing, OrderStatus::Pending).await,
            Err(PortError::Precondition(_))
        ),
        "the same transition cannot be applied twice"
    );
    let stored = s.get_order(&order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Processing);
    assert_eq!(stored.timeline.len(), 2);
    let ghost = order_for(&[(&p, 1)]);
    assert!(matches!(
        s.update_order(&ghost, OrderStatus::Pending).await,
        Err(PortError::NotFound(_))
    ));
}

/// Of many concurrent PENDING → PROCESSING writes exactly one wins.
pub async fn store_concurrent_transitions_have_one_winner(s: Arc<dyn OrderStore>) {
    let p = product(&unique("p"), 100, 10);
    let order = order_for(&[(&p, 1)]);
    s.insert_order(&order, None).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (s, mut o) = (s.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            o.transition(OrderStatus::Processing, None, Utc::now())
                .unwrap();
            s.update_order(&o, OrderStatus::Pending).await.is_ok()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
}

/// Newest first, filtered by status, paged by an opaque cursor.
pub async fn store_lists_orders_newest_first(s: &dyn OrderStore) {
    let p = product(&unique("p"), 100, 100);
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut o = order_for(&[(&p, 1)]);
        // Distinct creation times, a millisecond apart at least.
        tokio::time::sleep(Duration::from_millis(3)).await;
        s.insert_order(&o, None).await.unwrap();
        if i % 2 == 0 {
            o.transition(OrderStatus::Processing, None, Utc::now())
                .unwrap();
            s.update_order(&o, OrderStatus::Pending).await.unwrap();
            o.transition(
                OrderStatus::Failed,
                Some(FailureReason::OutOfStock),
                Utc::now(),
            )
            .unwrap();
            s.update_order(&o, OrderStatus::Processing).await.unwrap();
        }
        ids.push(o.order_id.clone());
    }
    ids.reverse();
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = s.list_orders(None, 2, cursor.as_deref()).await.unwrap();
        assert!(page.orders.len() <= 2);
        listed.extend(page.orders.iter().map(|o| o.order_id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(listed, ids, "all orders, newest first, across pages");
    let failed = s
        .list_orders(Some(OrderStatus::Failed), 10, None)
        .await
        .unwrap();
    let want: Vec<_> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(
        failed
            .orders
            .iter()
            .map(|o| o.order_id.clone())
            .collect::<Vec<_>>(),
        want
    );
    assert!(failed
        .orders
        .iter()
        .all(|o| o.status == OrderStatus::Failed));
    let counts = s.count_by_status().await.unwrap();
    assert_eq!(
        counts,
        vec![
            (OrderStatus::Pending, 2),
            (OrderStatus::Processing, 0),
            (OrderStatus::AwaitingPayment, 0),
            (OrderStatus::Completed, 0),
            (OrderStatus::Failed, 3)
        ]
    );
    assert!(matches!(
        s.list_orders(None, 2, Some("not-a-cursor")).await,
        Err(PortError::Precondition(_))
    ));
}

/// Reservations are all-or-nothing, at most once per order, released at most once.
pub async fn inventory_reservations_are_atomic_and_idempotent(s: &dyn Inventory) {
    let a = product(&unique("a"), 100, 5);
    let b = product(&unique("b"), 100, 1);
    s.seed_products(&[a.clone(), b.clone()]).await.unwrap();
    let stock = |id: ProductId| async move {
        s.list_products()
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.product_id == id)
            .unwrap()
            .stock
    };
    let greedy = order_for(&[(&a, 2), (&b, 2)]);
    assert_eq!(
        s.reserve_stock(&greedy.order_id, &greedy.stock_lines())
            .await
            .unwrap(),
        Reservation::Insufficient {
            product_id: b.product_id.clone()
        }
    );
    assert_eq!(
        (
            stock(a.product_id.clone()).await,
            stock(b.product_id.clone()).await
        ),
        (5, 1),
        "nothing taken"
    );

    let fits = order_for(&[(&a, 2), (&b, 1)]);
    assert_eq!(
        s.reserve_stock(&fits.order_id, &fits.stock_lines())
            .await
            .unwrap(),
        Reservation::Reserved
    );
    assert_eq!(
        (
            stock(a.product_id.clone()).await,
            stock(b.product_id.clone()).await
        ),
        (3, 0)
    );
    assert_eq!(
        s.reserve_stock(&fits.order_id, &fits.stock_lines())
            .await
            .unwrap(),
        Reservation::AlreadyReserved
    );
    assert_eq!(
        (
            stock(a.product_id.clone()).await,
            stock(b.product_id.clone()).await
        ),
        (3, 0),
        "a retry takes nothing"
    );
    assert!(s.release_stock(&fits.order_id).await.unwrap());
    assert!(
        !s.release_stock(&fits.order_id).await.unwrap(),
        "released once only"
    );
    assert_eq!(
        (
            stock(a.product_id.clone()).await,
            stock(b.product_id.clone()).await
        ),
        (5, 1)
    );
    assert_eq!(
        s.reserve_stock(&fits.order_id, &fits.stock_lines())
            .await
            .unwrap(),
        Reservation::Released
    );
    assert_eq!(
        (
            stock(a.product_id.clone()).await,
            stock(b.product_id.clone()).await
        ),
        (5, 1)
    );
    assert!(!s.release_stock(&OrderId::generate()).await.unwrap());

    // Seeding again leaves existing products and their stock alone.
    s.reserve_stock(&greedy.order_id, &[(a.product_id.clone(), 1)])
        .await
        .unwrap();
    assert_eq!(s.seed_products(std::slice::from_ref(&a)).await.unwrap(), 0);
    assert_eq!(stock(a.product_id.clone()).await, 4);
}

/// The one-write fast path for a new key: order and completed key record together, once;
/// a taken key or order id writes nothing; an expired record is replaced; concurrent twins
/// leave exactly one order.
/// Checks a product's whole ledger: numbered 1..=n without gaps, each level the one before
/// plus its delta, from the opening level to the stock now; returns it oldest first.
pub async fn whole_ledger(s: &dyn Inventory, id: &ProductId) -> Vec<StockMovement> {
    let mut all = Vec::new();
    let mut before = None;
    let (opening, stock) = loop {
        let page = s
            .stock_ledger(id, before, 7)
            .await
            .unwrap()
            .expect("the product exists");
        assert!(page.movements.len() <= 7, "a page holds at most its limit");
        all.extend(page.movements);
        match page.next_before {
            Some(b) => before = Some(b),
            None => break (page.opening, page.stock),
        }
    };
    all.reverse();
    let mut level = i64::from(opening);
    for (i, m) in all.iter().enumerate() {
        assert_eq!(
            m.seq,
            i as u64 + 1,
            "the ledger is numbered without gaps: {all:?}"
        );
        level += m.delta;
        assert_eq!(
            i64::from(m.level_after),
            level,
            "entry {} levels up from the one before",
            m.seq
        );
    }
    assert_eq!(level, i64::from(stock), "stock = opening + the ledger");
    let listed = s.get_product(id).await.unwrap().unwrap().stock;
    assert_eq!(
        i64::from(listed),
        level,
        "the product's stock is the ledger's"
    );
    all
}

/// `call`'s answer once it is not a transient error (a bounded number of tries): under
/// contention a stock change may answer "unavailable" having changed nothing, and its
/// caller (the worker's redelivery, an operator's retry) tries again.
async fn persist<T, F, Fut>(mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, PortError>>,
{
    for _ in 0..30 {
        match call().await {
            Err(e) if e.is_transient() => tokio::time::sleep(Duration::from_millis(30)).await,
            other => return other.unwrap(),
        }
    }
    panic!("still unavailable after 30 tries")
}

fn adjustment(key: &str, kind: MovementKind, delta: i64) -> Adjustment {
    Adjustment {
        key: key.into(),
        kind,
        delta,
        by: "ops@example.com".into(),
        reason: format!("{kind:?} {delta}"),
    }
}

/// Products are created, changed and retired without touching stock; stock changes only
/// through the ledger, manual adjustments at most once per key, never below zero.
pub async fn inventory_catalog_and_ledger(s: &dyn Inventory) {
    let p = product(&unique("cat"), 1250, 4);
    assert!(s.create_product(&p).await.unwrap(), "a new id is created");
    assert!(
        !s.create_product(&product(p.product_id.as_str(), 1, 99))
            .await
            .unwrap(),
        "a taken id is not"
    );
    assert_eq!(s.get_product(&p.product_id).await.unwrap(), Some(p.clone()));
    let nobody = ProductId::parse(&unique("nobody")).unwrap();
    assert_eq!(s.get_product(&nobody).await.unwrap(), None);
    assert!(
        s.list_products().await.unwrap().contains(&p),
        "a created product is listed"
    );

    let changes = ProductChanges {
        name: Some("Renamed mug".into()),
        unit_price: Some(Money::new(1400, Currency::USD)),
        ..Default::default()
    };
    let changed = s
        .update_product(&p.product_id, &changes)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            changed.name.as_str(),
            changed.unit_price.amount,
            changed.stock
        ),
        ("Renamed mug", 1400, 4)
    );
    assert_eq!(changed.description, p.description, "fields not named stay");
    let retire = ProductChanges {
        active: Some(false),
        ..Default::default()
    };
    let retired = s
        .update_product(&p.product_id, &retire)
        .await
        .unwrap()
        .unwrap();
    assert!(!retired.active && retired.name == "Renamed mug");
    assert_eq!(
        s.get_product(&p.product_id).await.unwrap(),
        Some(retired.clone())
    );
    assert_eq!(s.update_product(&nobody, &retire).await.unwrap(), None);
    let back = ProductChanges {
        active: Some(true),
        ..Default::default()
    };
    assert!(
        s.update_product(&p.product_id, &back)
            .await
            .unwrap()
            .unwrap()
            .active
    );

    let empty = s
        .stock_ledger(&p.product_id, None, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            empty.opening,
            empty.stock,
            empty.movements.len(),
            empty.next_before
        ),
        (4, 4, 0, None)
    );
    assert_eq!(s.stock_ledger(&nobody, None, 10).await.unwrap(), None);

    let received = adjustment("goods-in-1", MovementKind::Received, 6);
    let Adjusted::Applied(first) = s.adjust_stock(&p.product_id, &received).await.unwrap() else {
        panic!("a new adjustment applies")
    };
    assert_eq!(
        (first.seq, first.delta, first.level_after, first.kind),
        (1, 6, 10, MovementKind::Received)
    );
    assert_eq!(
        (first.by.as_str(), first.order_id.as_ref()),
        ("ops@example.com", None)
    );
    assert_eq!(
        s.adjust_stock(&p.product_id, &received).await.unwrap(),
        Adjusted::AlreadyApplied(first.clone()),
        "the same key again changes nothing and names the first"
    );
    assert_eq!(
        s.adjust_stock(
            &p.product_id,
            &adjustment("too-many", MovementKind::Corrected, -11)
        )
        .await
        .unwrap(),
        Adjusted::Insufficient { stock: 10 }
    );
    // Past MAX_LEVEL is refused, and so is the same again: a refused key is not taken.
    let past_max = i64::from(orderflow::domain::stock::MAX_LEVEL) - 9;
    for attempt in 1..=2 {
        assert_eq!(
            s.adjust_stock(
                &p.product_id,
                &adjustment("far-too-many", MovementKind::Received, past_max)
            )
            .await
            .unwrap(),
            Adjusted::TooMuch { stock: 10 },
            "attempt {attempt}"
        );
    }
    assert_eq!(
        s.adjust_stock(&nobody, &adjustment("x", MovementKind::Received, 1))
            .await
            .unwrap(),
        Adjusted::NotFound
    );
    let order = order_for(&[(&p, 3)]);
    let lines = vec![(p.product_id.clone(), 3)];
    assert_eq!(
        s.reserve_stock(&order.order_id, &lines).await.unwrap(),
        Reservation::Reserved
    );
    assert!(matches!(
        s.adjust_stock(
            &p.product_id,
            &adjustment("fix", MovementKind::Corrected, -2)
        )
        .await
        .unwrap(),
        Adjusted::Applied(StockMovement { level_after: 5, .. })
    ));
    assert!(s.release_stock(&order.order_id).await.unwrap());
    assert!(
        !s.release_stock(&order.order_id).await.unwrap(),
        "released once"
    );

    let ledger = whole_ledger(s, &p.product_id).await;
    let kinds: Vec<_> = ledger.iter().map(|m| (m.kind, m.delta)).collect();
    assert_eq!(
        kinds,
        [
            (MovementKind::Received, 6),
            (MovementKind::Reserved, -3),
            (MovementKind::Corrected, -2),
            (MovementKind::Released, 3),
        ]
    );
    assert_eq!(
        ledger[1].order_id.as_ref(),
        Some(&order.order_id),
        "a reservation names its order"
    );
    assert_eq!(ledger[1].by, "order");
    assert_eq!(ledger[3].order_id.as_ref(), Some(&order.order_id));
    assert_eq!(
        s.get_product(&p.product_id).await.unwrap().unwrap().stock,
        8
    );
    let newest = s
        .stock_ledger(&p.product_id, None, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        newest.movements.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [4, 3],
        "newest first"
    );
    let older = s
        .stock_ledger(&p.product_id, newest.next_before, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        older.movements.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(older.next_before, None);

    let Adjusted::Applied(taken) = s
        .adjust_stock(
            &p.product_id,
            &adjustment("far-too-many", MovementKind::Received, 1),
        )
        .await
        .unwrap()
    else {
        panic!("a key refused before books the next adjustment sent with it")
    };
    assert_eq!((taken.seq, taken.level_after), (5, 9));
}

/// Orders reserving and releasing, and operators adjusting (some sending the same request
/// twice), all at once on one product: no update is lost, none is counted twice, the stock
/// never goes below zero and always equals the opening level plus its ledger.
pub async fn inventory_ledger_holds_under_concurrent_writers(s: Arc<dyn Inventory>) {
    let p = product(&unique("busy"), 500, 12);
    let other = product(&unique("busy2"), 500, 40);
    assert!(s.create_product(&p).await.unwrap() && s.create_product(&other).await.unwrap());
    let mut tasks = Vec::new();
    for w in 0..6 {
        let (s, p, other) = (s.clone(), p.clone(), other.clone());
        tasks.push(tokio::spawn(async move {
            let mut reserved = 0i64;
            for i in 0..4 {
                let order = order_for(&[(&p, 1), (&other, 1)]);
                let lines = vec![(p.product_id.clone(), 1), (other.product_id.clone(), 1)];
                match persist(|| s.reserve_stock(&order.order_id, &lines)).await {
                    Reservation::Reserved => {
                        if (w + i) % 3 == 0 {
                            assert!(persist(|| s.release_stock(&order.order_id)).await);
                        } else {
                            reserved += 1;
                        }
                    }
                    Reservation::Insufficient { .. } => {}
                    other => panic!("a fresh order reserved {other:?}"),
                }
            }
            (reserved, 0i64, 0i64)
        }));
    }
    for w in 0..3 {
        let (s, p) = (s.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            let (mut added, mut applied_keys) = (0i64, 0i64);
            for i in 0..3 {
                let (kind, delta) = if i == 1 {
                    (MovementKind::Corrected, -1)
                } else {
                    (MovementKind::Received, 2)
                };
                let a = adjustment(&format!("op{w}-{i}"), kind, delta);
                // Each request sent twice at once, as a double-click or a retry would.
                let (x, y) = tokio::join!(
                    persist(|| s.adjust_stock(&p.product_id, &a)),
                    persist(|| s.adjust_stock(&p.product_id, &a))
                );
                let outcomes = [x, y];
                let applied = outcomes
                    .iter()
                    .filter(|o| matches!(o, Adjusted::Applied(_)))
                    .count();
                let again = outcomes
                    .iter()
                    .filter(|o| matches!(o, Adjusted::AlreadyApplied(_)))
                    .count();
                match (applied, again) {
                    (1, 1) => {
                        added += delta;
                        applied_keys += 1;
                    }
                    (0, 2) => panic!("a new key applied by nobody: {outcomes:?}"),
                    _ if outcomes
                        .iter()
                        .all(|o| matches!(o, Adjusted::Insufficient { .. })) => {}
                    _ => panic!("one key applied other than once: {outcomes:?}"),
                }
            }
            (0i64, added, applied_keys)
        }));
    }
    let (mut reserved, mut added, mut applied_keys) = (0, 0, 0);
    for t in tasks {
        let (r, a, k) = t.await.unwrap();
        reserved += r;
        added += a;
        applied_keys += k;
    }
    let ledger = whole_ledger(s.as_ref(), &p.product_id).await;
    let stock = s.get_product(&p.product_id).await.unwrap().unwrap().stock;
    assert_eq!(
        i64::from(stock),
        12 + added - reserved,
        "every applied change counted once"
    );
    let manual = ledger.iter().filter(|m| m.kind.is_manual()).count() as i64;
    assert_eq!(manual, applied_keys, "one entry per applied key");
    let held = ledger
        .iter()
        .filter(|m| m.kind == MovementKind::Reserved)
        .count() as i64
        - ledger
            .iter()
            .filter(|m| m.kind == MovementKind::Released)
            .count() as i64;
    assert_eq!(held, reserved, "each reservation and release is one entry");
    let other_ledger = whole_ledger(s.as_ref(), &other.product_id).await;
    assert_eq!(
        other_ledger.len() as i64,
        ledger.iter().filter(|m| m.order_id.is_some()).count() as i64,
        "a two-line reservation moves both products or neither"
    );
}

pub async fn store_keyed_insert(s: Arc<dyn OrderStore>) {
    let p = product(&unique("p"), 100, 10);
    let resp = StoredResponse {
        status: 201,
        body: "{\"orderId\":\"k\"}".into(),
        location: Some("/k".into()),
    };
    let key = unique("fast");
    let new_key = NewKey {
        key: &key,
        fingerprint: "fp1",
        holder: "h-fast",
        response: &resp,
        ttl: Duration::from_secs(3600),
    };
    let order = order_for(&[(&p, 1)]);
    s.insert_order_keyed(&order, &new_key).await.unwrap();
    assert_eq!(
        s.get_order(&order.order_id).await.unwrap(),
        Some(order.clone())
    );
    let lease = Duration::from_secs(30);
    assert_eq!(
        s.idempotency_begin(&key, "fp1", "h-next", lease, new_key.ttl)
            .await
            .unwrap(),
        IdempotencyBegin::Completed(resp.clone()),
        "the record is complete at once"
    );
    assert_eq!(
        s.idempotency_begin(&key, "fp2", "h-next", lease, new_key.ttl)
            .await
            .unwrap(),
        IdempotencyBegin::Mismatch
    );
    let twin = order_for(&[(&p, 1)]);
    assert!(matches!(
        s.insert_order_keyed(&twin, &new_key).await,
        Err(PortError::AlreadyExists(_))
    ));
    assert_eq!(
        s.get_order(&twin.order_id).await.unwrap(),
        None,
        "nothing written"
    );

    // An order id that exists: the key is not claimed either.
    let other = unique("fast");
    let other_key = NewKey {
        key: &other,
        ..new_key
    };
    assert!(matches!(
        s.insert_order_keyed(&order, &other_key).await,
        Err(PortError::AlreadyExists(_))
    ));
    assert_eq!(
        s.idempotency_begin(&other, "fp1", "h-next", lease, new_key.ttl)
            .await
            .unwrap(),
        IdempotencyBegin::Started,
        "the failed insert left no record"
    );

    // Reopened by its writer (the message could not be sent): a retry resumes with the order.
    s.idempotency_release(&key, "h-fast").await.unwrap();
    match s
        .idempotency_begin(&key, "fp1", "h-next", lease, new_key.ttl)
        .await
        .unwrap()
    {
        IdempotencyBegin::Resumed(r) => {
            assert_eq!(r.order_id.as_ref(), Some(&order.order_id));
            assert_eq!(r.response.as_ref(), Some(&resp));
        }
        other => panic!("expected Resumed, got {other:?}"),
    }

    // An expired record counts as absent.
    let brief = unique("brief");
    let brief_key = NewKey {
        key: &brief,
        ttl: Duration::from_millis(1),
        ..new_key
    };
    s.insert_order_keyed(&order_for(&[(&p, 1)]), &brief_key)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = order_for(&[(&p, 1)]);
    s.insert_order_keyed(&again, &brief_key).await.unwrap();
    assert!(s.get_order(&again.order_id).await.unwrap().is_some());

    // Concurrent twins: exactly one order is written.
    let racy = unique("racy");
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (s, racy, resp, o) = (s.clone(), racy.clone(), resp.clone(), order_for(&[(&p, 1)]));
        tasks.push(tokio::spawn(async move {
            let k = NewKey {
                key: &racy,
                fingerprint: "f",
                holder: "h-racy",
                response: &resp,
                ttl: Duration::from_secs(60),
            };
            match s.insert_order_keyed(&o, &k).await {
                Ok(()) => Some(o.order_id),
                Err(PortError::AlreadyExists(_)) => None,
                Err(e) => panic!("{e}"),
            }
        }));
    }
    let mut written = Vec::new();
    for t in tasks {
        written.extend(t.await.unwrap());
    }
    assert_eq!(written.len(), 1, "one winner: {written:?}");
}

/// Idempotency records: one holder at a time, replay when complete, mismatch detected,
/// resume after the lease runs out.
pub async fn store_idempotency_records(s: Arc<dyn OrderStore>) {
    let ttl = Duration::from_secs(3600);
    let lease = Duration::from_secs(30);
    let key = unique("key");
    assert_eq!(
        s.idempotency_begin(&key, "fp1", "h1", lease, ttl)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    assert_eq!(
        s.idempotency_begin(&key, "fp1", "h-next", lease, ttl)
            .await
            .unwrap(),
        IdempotencyBegin::InFlight
    );
    assert_eq!(
        s.idempotency_begin(&key, "fp2", "h-next", lease, ttl)
            .await
            .unwrap(),
        IdempotencyBegin::Mismatch
    );

    let p = product(&unique("p"), 100, 10);
    let order = order_for(&[(&p, 1)]);
    let resp = StoredResponse {
        status: 201,
        body: "{\"orderId\":\"x\"}".into(),
        location: Some("/x".into()),
    };
    s.insert_order(&order, Some((&key, &resp))).await.unwrap();
    let twin = order_for(&[(&p, 1)]);
    assert!(
        matches!(
            s.insert_order(&twin, Some((&key, &resp))).await,
            Err(PortError::AlreadyExists(_))
        ),
        "one order per key"
    );
    assert_eq!(
        s.get_order(&twin.order_id).await.unwrap(),
        None,
        "the losing insert left nothing"
    );

    s.idempotency_release(&key, "h1").await.unwrap();
    match s
        .idempotency_begin(&key, "fp1", "h2", lease, ttl)
        .await
        .unwrap()
    {
        IdempotencyBegin::Resumed(rec) => {
            assert_eq!(rec.order_id.as_ref(), Some(&order.order_id));
            assert_eq!(rec.response.as_ref(), Some(&resp));
            assert!(!rec.completed);
        }
        other => panic!("expected Resumed, got {other:?}"),
    }
    s.idempotency_complete(&key, "h2", &resp).await.unwrap();
    assert_eq!(
        s.idempotency_begin(&key, "fp1", "h-next", lease, ttl)
            .await
            .unwrap(),
        IdempotencyBegin::Completed(resp.clone())
    );
    assert_eq!(
        s.idempotency_begin(&key, "fp2", "h-next", lease, ttl)
            .await
            .unwrap(),
        IdempotencyBegin::Mismatch
    );

    // A lease that runs out lets the next request take over.
    let short = unique("short");
    assert_eq!(
        s.idempotency_begin(&short, "f", "h-old", Duration::from_millis(200), ttl)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        matches!(s.idempotency_begin(&short, "f", "h-new", lease, ttl).await.unwrap(), IdempotencyBegin::Resumed(r) if r.order_id.is_none())
    );
    // The request whose lease ran out cannot strip the new holder's lease, nor finish the
    // record in its place (security review L-2).
    s.idempotency_release(&short, "h-old").await.unwrap();
    assert_eq!(
        s.idempotency_begin(&short, "f", "h-third", lease, ttl)
            .await
            .unwrap(),
        IdempotencyBegin::InFlight,
        "the new holder's lease stands"
    );
    assert!(matches!(
        s.idempotency_complete(&short, "h-old", &resp).await,
        Err(PortError::Precondition(_))
    ));
    s.idempotency_complete(&short, "h-new", &resp)
        .await
        .unwrap();
    assert_eq!(
        s.idempotency_begin(&short, "f", "h-third", lease, ttl)
            .await
            .unwrap(),
        IdempotencyBegin::Completed(resp.clone())
    );
    s.idempotency_release(&short, "h-old").await.unwrap();
    assert_eq!(
        s.idempotency_begin(&short, "f", "h-third", lease, ttl)
            .await
            .unwrap(),
        IdempotencyBegin::Completed(resp.clone()),
        "nor reopen a finished record"
    );

    // Concurrent first requests: exactly one starts.
    let racy = unique("racy");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (s, k) = (s.clone(), racy.clone());
        tasks.push(tokio::spawn(async move {
            s.idempotency_begin(&k, "f", "h-next", lease, ttl)
                .await
                .unwrap()
        }));
    }
    let mut started = 0;
    for t in tasks {
        if t.await.unwrap() == IdempotencyBegin::Started {
            started += 1;
        }
    }
    assert_eq!(started, 1);
}

/// Coordination records: compare-and-set on a version; of racing writers exactly one wins.
pub async fn records_compare_and_set(s: Arc<dyn Coordination>) {
    let name = unique("rec");
    assert_eq!(s.get_record(&name).await.unwrap(), None);
    assert!(s.cas_record(&name, None, "open:1").await.unwrap());
    assert!(
        !s.cas_record(&name, None, "open:1").await.unwrap(),
        "create-only when absent"
    );
    assert_eq!(
        s.get_record(&name).await.unwrap(),
        Some(("open:1".to_owned(), 1))
    );
    assert!(
        !s.cas_record(&name, Some(7), "x").await.unwrap(),
        "wrong version"
    );
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (s, name) = (s.clone(), name.clone());
        tasks.push(tokio::spawn(async move {
            s.cas_record(&name, Some(1), &format!("closed:{i}"))
                .await
                .unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1, "exactly one writer wins a version");
    assert_eq!(s.get_record(&name).await.unwrap().unwrap().1, 2);
}

/// Invoice holds (`orderflow::holds`, on the coordination records): of many orders racing for one
/// cap, exactly as many units as the cap allows are held, never more; taking and releasing
/// are idempotent; an order refused by its second key holds nothing on its first; an entry
/// past its time no longer counts.
pub async fn records_invoice_holds_never_exceed_their_cap(s: Arc<dyn Coordination>) {
    use orderflow::holds::{held_units, release, take, HoldKey, Taken};
    let shared = HoldKey {
        name: unique("hold#customer#"),
        cap: 10,
    };
    let until = Utc::now() + chrono::Duration::hours(1);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (s, keys) = (s.clone(), vec![shared.clone()]);
        tasks.push(tokio::spawn(async move {
            let id = OrderId::generate().to_string();
            let taken = take(s.as_ref(), &keys, &id, 3, until).await.unwrap();
            (id, taken)
        }));
    }
    let mut held = Vec::new();
    for t in tasks {
        let (id, taken) = t.await.unwrap();
        if let Taken::Held { added } = taken {
            assert_eq!(added, std::slice::from_ref(&shared.name));
            held.push(id);
        }
    }
    assert_eq!(
        held.len(),
        3,
        "3 orders of 3 units fit a cap of 10, the others are refused"
    );
    assert_eq!(held_units(s.as_ref(), &shared.name).await.unwrap(), 9);
    let keys = [shared.clone()];
    assert_eq!(
        take(s.as_ref(), &keys, &held[0], 3, until).await.unwrap(),
        Taken::Held { added: vec![] },
        "an entry already counted is not counted twice (nor reported as added)"
    );
    assert_eq!(held_units(s.as_ref(), &shared.name).await.unwrap(), 9);

    // Refused by its second key: nothing stays held on the first.
    let roomy = HoldKey {
        name: unique("hold#email#"),
        cap: 100,
    };
    let late = OrderId::generate().to_string();
    let both = [roomy.clone(), shared.clone()];
    assert_eq!(
        take(s.as_ref(), &both, &late, 2, until).await.unwrap(),
        Taken::OverCap(shared.clone())
    );
    assert_eq!(held_units(s.as_ref(), &roomy.name).await.unwrap(), 0);

    // Released (twice: idempotent), the room is back.
    let names = orderflow::holds::names(&keys);
    release(s.as_ref(), &names, &held[0]).await.unwrap();
    release(s.as_ref(), &names, &held[0]).await.unwrap();
    assert_eq!(held_units(s.as_ref(), &shared.name).await.unwrap(), 6);
    assert_eq!(
        take(s.as_ref(), &both, &late, 2, until).await.unwrap(),
        Taken::Held {
            added: orderflow::holds::names(&both)
        }
    );
    assert_eq!(held_units(s.as_ref(), &roomy.name).await.unwrap(), 2);

    // An entry past its time stops counting by itself.
    let lapsing = HoldKey {
        name: unique("hold#client#"),
        cap: 5,
    };
    let past = Utc::now() - chrono::Duration::seconds(1);
    let lapsed = [lapsing.clone()];
    assert!(matches!(
        take(s.as_ref(), &lapsed, "lapsing", 5, past).await.unwrap(),
        Taken::Held { .. }
    ));
    assert_eq!(held_units(s.as_ref(), &lapsing.name).await.unwrap(), 0);
    assert!(
        matches!(
            take(s.as_ref(), &lapsed, "fresh", 5, until).await.unwrap(),
            Taken::Held { .. }
        ),
        "the lapsed entry left room for a full cap"
    );
}

// ---------------------------------------------------------------- receipts, notifier, payments

pub async fn receipts_roundtrip(r: &dyn ReceiptStore) {
    let key = format!("receipts/{}.pdf", OrderId::generate());
    assert!(!r.exists(&key).await.unwrap());
    assert!(
        matches!(r.get(&key).await, Err(PortError::NotFound(_))),
        "get of an absent receipt is NotFound"
    );
    r.put(&key, b"%PDF-1.3 first".to_vec()).await.unwrap();
    r.put(&key, b"%PDF-1.3 same".to_vec()).await.unwrap();
    assert!(r.exists(&key).await.unwrap());
    assert_eq!(r.get(&key).await.unwrap(), b"%PDF-1.3 same", "the last put");
    // The API serves what `get` returns: byte for byte, binary, receipt-sized (~2 KB).
    let key = format!("receipts/{}.pdf", OrderId::generate());
    let pdf: Vec<u8> = b"%PDF-1.3\n%\xe2\xe3\xcf\xd3\n"
        .iter()
        .copied()
        .chain((0..2048u32).map(|i| (i.wrapping_mul(151) % 256) as u8))
        .collect();
    r.put(&key, pdf.clone()).await.unwrap();
    assert_eq!(r.get(&key).await.unwrap(), pdf, "get returns the bytes put");
    assert!(r.put("../escape.pdf", vec![1]).await.is_err());
    assert!(
        matches!(
            r.get("../escape.pdf").await,
            Err(PortError::Precondition(_))
        ),
        "get refuses a key outside receipts/"
    );
}

/// An order event as a subscriber received it: `id` tells deliveries apart (a row, a
/// message), so a second delivery that replaced the first still counts as a second.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveredEvent {
    pub id: String,
    /// The type it was delivered under (aws: the `eventType` message attribute; embedded:
    /// the row's kind), which subscribers filter on without reading the body.
    pub event_type: String,
    pub event: OrderEvent,
}

/// An alarm as an operator received it (`id` as in [`DeliveredEvent`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveredAlarm {
    pub id: String,
    pub alarm: Alarm,
}

/// What a notifier delivered, seen from outside the adapter: embedded, the rows it wrote to
/// its database file; aws, SQS queues subscribed to the events and the alarms topics. The
/// adapter's own `recent_*` would let a notifier vouch for itself.
#[async_trait::async_trait]
pub trait DeliveryProbe: Send + Sync {
    /// Every event delivered since the probe was made, oldest first.
    async fn events(&self) -> Vec<DeliveredEvent>;
    /// Every alarm delivered since the probe was made, oldest first.
    async fn alarms(&self) -> Vec<DeliveredAlarm>;
    /// The adapter lists what it published (`recent_events`, `recent_alarms`); when false,
    /// the contract says both lists are empty.
    fn keeps_history(&self) -> bool;
}

/// A completed order's event for a fresh order id.
pub fn sample_event() -> OrderEvent {
    let order_id = OrderId::generate().to_string();
    OrderEvent {
        event_id: format!("{order_id}:OrderCompleted"),
        event_type: EventType::OrderCompleted,
        order_id: order_id.clone(),
        customer_id: "c".into(),
        customer_email: "c@example.com".into(),
        status: "COMPLETED".into(),
        failure_reason: None,
        total: Money::new(100, Currency::USD),
        receipt_key: Some(format!("receipts/{order_id}.pdf")),
        occurred_at: Utc::now(),
    }
}

/// A failed order's event for a fresh order id.
fn failed_event() -> OrderEvent {
    let order_id = OrderId::generate().to_string();
    OrderEvent {
        event_id: format!("{order_id}:OrderFailed"),
        event_type: EventType::OrderFailed,
        order_id,
        customer_id: "c".into(),
        customer_email: "c@example.com".into(),
        status: "FAILED".into(),
        failure_reason: Some(FailureReason::OutOfStock.as_str().to_owned()),
        total: Money::new(250, Currency::USD),
        receipt_key: None,
        occurred_at: Utc::now(),
    }
}

/// Each event and alarm reaches its subscribers once, as sent, under its own type, however
/// often it is published or raised again; the adapter's own record (where it keeps one)
/// agrees.
pub async fn notifier_delivers_each_event_and_alarm_once(
    n: &dyn Notifier,
    probe: &dyn DeliveryProbe,
) {
    let completed = sample_event();
    let failed = failed_event();
    let alarm = Alarm {
        alarm_id: unique("alarm"),
        subject: "DLQ".into(),
        message: "1 message".into(),
        raised_at: Utc::now(),
    };
    // The worker's first publish skips the duplicate check; later ones must still drop it.
    n.publish_new(&completed).await.unwrap();
    n.publish(&failed).await.unwrap();
    n.raise_alarm(&alarm).await.unwrap();

    let events = probe.events().await;
    for sent in [&completed, &failed] {
        let got: Vec<_> = events
            .iter()
            .filter(|d| d.event.event_id == sent.event_id)
            .collect();
        assert_eq!(got.len(), 1, "{} delivered once: {events:?}", sent.event_id);
        assert_eq!(&got[0].event, sent, "delivered as sent");
        assert_eq!(got[0].event_type, sent.event_type.as_str());
        assert_eq!(got[0].event.order_id, sent.order_id);
    }
    assert_eq!(events.len(), 2, "nothing else delivered: {events:?}");
    let alarms = probe.alarms().await;
    assert_eq!(alarms.len(), 1, "the alarm delivered once: {alarms:?}");
    assert_eq!(alarms[0].alarm, alarm, "delivered as raised");

    // Sent again (a retried worker step, the DLQ monitor's next look): nothing new arrives,
    // and what arrived is not replaced.
    n.publish(&completed).await.unwrap();
    n.publish(&completed).await.unwrap();
    n.publish(&failed).await.unwrap();
    n.raise_alarm(&alarm).await.unwrap();
    assert_eq!(probe.events().await, events, "no event delivered twice");
    assert_eq!(probe.alarms().await, alarms, "no alarm delivered twice");

    let recent_events = n.recent_events(50).await.unwrap();
    let recent_alarms = n.recent_alarms(50).await.unwrap();
    if probe.keeps_history() {
        assert_eq!(
            recent_events,
            [failed, completed],
            "each once, newest first"
        );
        assert_eq!(recent_alarms, [alarm]);
    } else {
        assert_eq!(
            recent_events,
            [],
            "a notifier without a record lists nothing"
        );
        assert_eq!(recent_alarms, []);
    }
}

// ---------------------------------------------------------------- mailer

/// An e-mail as a mailer delivered it: `id` as in [`DeliveredEvent`]; its recipients as the
/// backend addressed it (SES: the envelope; embedded: the `To:` header) and its MIME text.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMail {
    pub id: String,
    pub recipients: Vec<String>,
    pub mime: String,
}

/// What a mailer sent, seen from outside the adapter: embedded, the `.eml` files in the
/// data dir; aws, the e-mails the emulator's SES accepted.
#[async_trait::async_trait]
pub trait MailProbe: Send + Sync {
    /// Every e-mail sent since the probe was made from the fixture's sender.
    async fn sent(&self) -> Vec<SentMail>;
}

/// A mailer under test, the sender it may send from (SES: a verified identity) and what
/// sees its mail.
pub struct MailFixture {
    pub mailer: Arc<dyn orderflow::ports::Mailer>,
    pub from: String,
    pub probe: Box<dyn MailProbe>,
}

/// The value of header `name` in a MIME entity's header block.
fn mime_header<'a>(entity: &'a str, name: &str) -> Option<&'a str> {
    let head = entity.split("\r\n\r\n").next()?;
    head.split("\r\n").find_map(|l| {
        let (k, v) = l.split_once(": ")?;
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

/// The parts of a multipart MIME message: (header block and body) each.
fn mime_parts(mime: &str) -> Vec<(&str, &str)> {
    let Some(boundary) = mime_header(mime, "Content-Type")
        .and_then(|v| v.split_once("boundary=\""))
        .and_then(|(_, b)| b.split_once('"'))
        .map(|(b, _)| b)
    else {
        return Vec::new();
    };
    let delimiter = format!("--{boundary}");
    mime.split(delimiter.as_str())
        .skip(1)
        .filter(|p| !p.starts_with("--"))
        .filter_map(|p| p.trim_start_matches("\r\n").split_once("\r\n\r\n"))
        .collect()
}

fn base64_body(body: &str) -> Vec<u8> {
    use base64::Engine;
    let joined: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(joined)
        .expect("a base64 body")
}

/// Each message (by key) is sent once however often it is sent, to its recipient alone,
/// with its sender, subject and text, and with its attachment exactly when it has one.
pub async fn mailer_sends_each_key_once(f: &MailFixture) {
    let order = OrderId::generate();
    let pdf: Vec<u8> = b"%PDF-1.3\n%\xe2\xe3\xcf\xd3\n"
        .iter()
        .copied()
        .chain((0..300u32).map(|i| (i.wrapping_mul(151) % 256) as u8))
        .collect();
    let recipient = |kind: &str| {
        format!(
            "{kind}-{}@example.com",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    };
    let confirmation = orderflow::domain::mail::MailMessage {
        key: format!("{order}:confirmation"),
        from: f.from.clone(),
        to: recipient("confirmation"),
        subject: format!("Shop: your order {order} is confirmed"),
        text: "Thank you for your order.\n".into(),
        attachment: Some((format!("receipt-{order}.pdf"), pdf.clone())),
    };
    let failure = orderflow::domain::mail::MailMessage {
        key: format!("{}:failure", OrderId::generate()),
        from: f.from.clone(),
        to: recipient("failure"),
        subject: "Shop: we could not complete your order".into(),
        text: "We are sorry.\n".into(),
        attachment: None,
    };
    f.mailer.send(&confirmation).await.unwrap();
    f.mailer.send(&failure).await.unwrap();

    let sent = f.probe.sent().await;
    assert_eq!(sent.len(), 2, "one e-mail per message: {sent:?}");
    for m in [&confirmation, &failure] {
        let got: Vec<_> = sent
            .iter()
            .filter(|s| s.recipients.contains(&m.to))
            .collect();
        assert_eq!(got.len(), 1, "{} sent once: {sent:?}", m.key);
        let mail = got[0];
        assert_eq!(
            mail.recipients,
            std::slice::from_ref(&m.to),
            "to its recipient alone"
        );
        assert_eq!(mime_header(&mail.mime, "To"), Some(m.to.as_str()));
        assert_eq!(mime_header(&mail.mime, "From"), Some(m.from.as_str()));
        assert_eq!(mime_header(&mail.mime, "Subject"), Some(m.subject.as_str()));
        let parts = mime_parts(&mail.mime);
        let text = parts
            .iter()
            .find(|(h, _)| {
                mime_header(h, "Content-Type").is_some_and(|v| v.starts_with("text/plain"))
            })
            .unwrap_or_else(|| panic!("a text part: {}", mail.mime));
        assert_eq!(base64_body(text.1), m.text.as_bytes());
        let attachments: Vec<_> = parts
            .iter()
            .filter(|(h, _)| {
                mime_header(h, "Content-Disposition").is_some_and(|v| v.starts_with("attachment"))
            })
            .collect();
        match &m.attachment {
            Some((name, bytes)) => {
                assert_eq!(attachments.len(), 1, "the attachment: {}", mail.mime);
                let (head, body) = attachments[0];
                assert_eq!(
                    mime_header(head, "Content-Disposition"),
                    Some(format!("attachment; filename=\"{name}\"").as_str())
                );
                assert_eq!(&base64_body(body), bytes, "the attachment's bytes");
            }
            None => assert!(attachments.is_empty(), "no attachment: {}", mail.mime),
        }
    }

    // Sent again (a redelivered queue message): nothing new goes out, nothing is replaced.
    f.mailer.send(&confirmation).await.unwrap();
    f.mailer.send(&confirmation).await.unwrap();
    f.mailer.send(&failure).await.unwrap();
    assert_eq!(f.probe.sent().await, sent, "no e-mail sent twice");
}

/// Processes sharing a backend (`first`, `second`: the port opened twice on it) hold the same
/// data key, every time they are asked; `elsewhere` (another backend) holds another.
pub async fn keys_agree_across_processes(
    first: &dyn KeyRing,
    second: &dyn KeyRing,
    elsewhere: &dyn KeyRing,
) {
    let a = first.data_key().await.unwrap();
    assert_eq!(first.data_key().await.unwrap(), a, "stable");
    assert_eq!(
        second.data_key().await.unwrap(),
        a,
        "the same in every process"
    );
    assert_ne!(
        elsewhere.data_key().await.unwrap(),
        a,
        "another deployment, another key"
    );
}

pub async fn payments_charge_once_per_key(p: &dyn PaymentGateway) {
    let ok = p
        .tokenize(&orderflow::domain::CardNumber::parse("4242424242424242").unwrap())
        .await
        .unwrap();
    assert_eq!(ok.last4, "4242");
    assert!(
        !ok.token.contains("4242424242424242"),
        "the token does not reveal the card"
    );
    let req = ChargeRequest {
        idempotency_key: unique("ord"),
        amount: Money::new(500, Currency::USD),
        payment_token: Some(ok.token),
    };
    let first = p.charge(&req).await.unwrap();
    assert!(matches!(first, ChargeOutcome::Approved { .. }));
    assert_eq!(
        p.charge(&req).await.unwrap(),
        first,
        "a retry replays the first outcome"
    );
    assert_eq!(p.charges_for(&req.idempotency_key).await.unwrap(), 1);

    let bad = p
        .tokenize(&orderflow::domain::CardNumber::parse("4000000000000002").unwrap())
        .await
        .unwrap();
    let req = ChargeRequest {
        idempotency_key: unique("ord"),
        amount: Money::new(500, Currency::USD),
        payment_token: Some(bad.token),
    };
    assert!(matches!(
        p.charge(&req).await.unwrap(),
        ChargeOutcome::Declined { .. }
    ));
    assert!(matches!(
        p.charge(&req).await.unwrap(),
        ChargeOutcome::Declined { .. }
    ));
    assert_eq!(p.charges_for(&req.idempotency_key).await.unwrap(), 0);

    let invoice = ChargeRequest {
        idempotency_key: unique("ord"),
        amount: Money::new(1, Currency::USD),
        payment_token: None,
    };
    assert!(matches!(
        p.charge(&invoice).await.unwrap(),
        ChargeOutcome::Approved { .. }
    ));
}
