//! Idempotency-Key: one order per key, replays, mismatches, concurrency.

use crate::helpers::{order_body, spawn_app, spawn_app_with, ADMIN_KEY};
use orderflow::ports::PortError;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn twenty_concurrent_identical_posts_make_one_order() {
    let app = std::sync::Arc::new(spawn_app().await);
    let before = app.stock_of("sku-socks").await;
    let body = order_body("sku-socks", 2);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (app, body) = (app.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let res = app.post_order_with_key(&body, "checkout-attempt-1").await;
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }));
    }
    let mut ids = std::collections::HashSet::new();
    let mut token = String::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(
            status, 201,
            "every duplicate gets the original response: {body}"
        );
        ids.insert(body["orderId"].as_str().unwrap().to_owned());
        token = body["accessToken"].as_str().unwrap().to_owned();
    }
    assert_eq!(ids.len(), 1, "exactly one order: {ids:?}");
    let id = ids.into_iter().next().unwrap();
    let done = app.wait_final(&id, &token).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(
        app.stock_of("sku-socks").await,
        before - 2,
        "stock decremented once"
    );
    let listed: Value = app
        .client
        .get(app.url("/api/orders?limit=100"))
        .header("X-API-Key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["orders"].as_array().unwrap().len(), 1);
    assert_eq!(app.services.payments.charges_for(&id).await.unwrap(), 1);
}

#[tokio::test]
async fn a_retry_replays_the_original_response() {
    let app = spawn_app().await;
    let body = order_body("sku-cap", 1);
    let first = app.post_order_with_key(&body, "k-replay").await;
    assert_eq!(first.status(), 201);
    let first_body: Value = first.json().await.unwrap();
    let second = app.post_order_with_key(&body, "k-replay").await;
    assert_eq!(second.status(), 201);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(
        second.headers()["location"].to_str().unwrap(),
        format!("/api/orders/{}", first_body["orderId"].as_str().unwrap())
    );
    let second_body: Value = second.json().await.unwrap();
    assert_eq!(first_body, second_body);
}

/// A retry is answered from the key's record even when the request would no longer be
/// accepted as new (here: the shown price changed since).
#[tokio::test]
async fn a_retry_replays_even_after_the_price_changed() {
    // No catalog cache: the price change reaches the next order at once.
    let app = spawn_app_with(&[("ORDERFLOW__ORDERS__CATALOG_CACHE_MS", "0")], true).await;
    let mut body = order_body("sku-cap", 1);
    let cap = app
        .services
        .inventory
        .list_products()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.product_id.as_str() == "sku-cap")
        .unwrap();
    body["items"][0]["price"] = Value::from(cap.unit_price.to_decimal_string());
    let first = app.post_order_with_key(&body, "k-price").await;
    assert_eq!(first.status(), 201);
    let first_body: Value = first.json().await.unwrap();
    let db = rusqlite::Connection::open(app.data_dir.path().join("store.sqlite3")).unwrap();
    db.execute(
        "UPDATE products SET price_amount = price_amount + 100 WHERE product_id = 'sku-cap'",
        [],
    )
    .unwrap();
    let fresh = app.post_order_with_key(&body, "k-price-new").await;
    assert_eq!(fresh.status(), 409, "a new key sees the new price");
    let retry = app.post_order_with_key(&body, "k-price").await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.json::<Value>().await.unwrap(), first_body);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422() {
    let app = spawn_app().await;
    assert_eq!(
        app.post_order_with_key(&order_body("sku-cap", 1), "k-mismatch")
            .await
            .status(),
        201
    );
    let res = app
        .post_order_with_key(&order_body("sku-cap", 2), "k-mismatch")
        .await;
    assert_eq!(res.status(), 422);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "IDEMPOTENCY_KEY_REUSED");
}

#[tokio::test]
async fn without_a_key_each_post_is_a_new_order() {
    let app = spawn_app().await;
    let a: Value = app
        .post_order(&order_body("sku-cap", 1))
        .await
        .json()
        .await
        .unwrap();
    let b: Value = app
        .post_order(&order_body("sku-cap", 1))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(a["orderId"], b["orderId"]);
}

#[tokio::test]
async fn a_key_still_in_flight_is_409_after_a_short_wait() {
    let app =
        crate::helpers::spawn_app_with(&[("ORDERFLOW__ORDERS__IDEMPOTENCY_WAIT_MS", "200")], false)
            .await;
    let body = order_body("sku-cap", 1);
    // Another request holds the key (same body, so the same fingerprint) and has not finished.
    let data_key = app.services.keys.data_key().await.unwrap();
    let fingerprint = orderflow::place_order::idempotency_fingerprint(&data_key, &body);
    let lease = std::time::Duration::from_secs(30);
    let ttl = std::time::Duration::from_secs(3600);
    app.services
        .store
        .idempotency_begin("k-busy", &fingerprint, "other-request", lease, ttl)
        .await
        .unwrap();
    let res = app.post_order_with_key(&body, "k-busy").await;
    assert_eq!(res.status(), 409);
    assert_eq!(res.headers()["retry-after"], "1");
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "IDEMPOTENCY_IN_FLIGHT");
    let listed: Value = app.get_as_admin("/api/orders").await.json().await.unwrap();
    assert!(
        listed["orders"].as_array().unwrap().is_empty(),
        "no order was created"
    );
    // Once the holder gives up its lease, a retry takes over and places the order.
    app.services
        .store
        .idempotency_release("k-busy", "other-request")
        .await
        .unwrap();
    assert_eq!(app.post_order_with_key(&body, "k-busy").await.status(), 201);
}

/// The order is recorded but its message cannot be sent: 503, and a retry with the same key
/// sends it and answers with the same order, which then completes once.
#[tokio::test]
async fn a_retry_after_a_failed_enqueue_sends_the_message_and_replays_the_order() {
    let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = down.clone();
    let app = crate::helpers::spawn_app_wrapped(&[], true, move |mut s| {
        // Sends fail while `down` is set; everything else passes through.
        let hook: crate::helpers::QueueHook = std::sync::Arc::new(move |op| {
            let down = op == crate::helpers::QueueOp::Send
                && flag.load(std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move {
                if down {
                    return Err(PortError::Unavailable("queue down (test)".into()));
                }
                Ok(())
            })
        });
        s.queue = std::sync::Arc::new(crate::helpers::HookedQueue {
            inner: s.queue.clone(),
            hook,
        });
        s
    })
    .await;
    let body = order_body("sku-cap", 2);
    let stock = app.stock_of("sku-cap").await;
    let res = app.post_order_with_key(&body, "k-enqueue").await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    down.store(false, std::sync::atomic::Ordering::SeqCst);
    let res = app.post_order_with_key(&body, "k-enqueue").await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let listed: Value = app.get_as_admin("/api/orders").await.json().await.unwrap();
    let orders = listed["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "one order: {listed}");
    assert_eq!(orders[0]["orderId"], created["orderId"]);
    let done = app
        .wait_final(
            created["orderId"].as_str().unwrap(),
            created["accessToken"].as_str().unwrap(),
        )
        .await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(app.stock_of("sku-cap").await, stock - 2, "stock taken once");
    // A third try replays without sending again.
    let again = app.post_order_with_key(&body, "k-enqueue").await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(app.services.queue.depth().await.unwrap().visible, 0);
}

/// Every value the embedded backend stored, as text: each column of each row of each table
/// of each database under the data dir.
fn everything_stored(dir: &std::path::Path) -> String {
    let mut dump = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().and_then(|e| e.to_str()) != Some("sqlite3") {
            continue;
        }
        let db = rusqlite::Connection::open(entry.path()).unwrap();
        let tables: Vec<String> = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for t in tables {
            let mut stmt = db.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
            let n = stmt.column_count();
            let mut rows = stmt.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                for i in 0..n {
                    match row.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                            dump.push_str(&String::from_utf8_lossy(b));
                        }
                        other => dump.push_str(&format!("{other:?}")),
                    }
                    dump.push('\n');
                }
            }
        }
    }
    dump
}

/// Security review, high 1 and medium 3: the idempotency record kept neither a plain hash of
/// the body (the card number fell to a brute force of the fingerprint) nor the access token
/// in its stored 201; the replay still gives the client a token that reads the order.
#[tokio::test]
async fn stored_records_keep_no_card_digest_and_no_token_and_the_replay_still_reads() {
    let app = spawn_app().await;
    let body = order_body("sku-cap", 1);
    let res = app.post_order_with_key(&body, "k-secret").await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let token = created["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64, "{created}");

    let stored = everything_stored(app.data_dir.path());
    let plain = orderflow::place_order::sha256_hex(format!("POST /api/orders\n{body}").as_bytes());
    assert!(
        stored.contains("k-secret"),
        "the dump sees the idempotency record"
    );
    assert!(
        !stored.contains(&plain),
        "an unkeyed fingerprint of the body is stored"
    );
    assert!(
        !stored.contains(&token),
        "the access token is stored in clear"
    );
    assert!(!stored.contains("4242424242424242") && !stored.contains("4242 4242 4242 4242"));
    for card in ["4242424242424242", "4242 4242 4242 4242"] {
        let digest = orderflow::place_order::sha256_hex(card.as_bytes());
        assert!(
            !stored.contains(&digest),
            "a digest of the card number is stored"
        );
    }

    let res = app.post_order_with_key(&body, "k-secret").await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let replayed: Value = res.json().await.unwrap();
    assert_eq!(
        replayed, created,
        "the replay is the first answer, token included"
    );
    let id = created["orderId"].as_str().unwrap();
    let res = app
        .client
        .get(app.url(&format!("/api/orders/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// What an earlier request left under `key`: a PENDING `sku-cap` order and the key's completed
/// record with `fingerprint` and a stored 201 carrying `token` (empty: derived on replay).
async fn left_by_an_earlier_request(
    app: &crate::helpers::TestApp,
    key: &str,
    fingerprint: &str,
    token: &str,
) -> orderflow::domain::Order {
    let order =
        crate::conformance::order_for(&[(&crate::conformance::product("sku-cap", 1200, 5), 1)]);
    let stored = orderflow::ports::StoredResponse {
        status: 201,
        body: json!({"orderId": order.order_id.to_string(), "status": "PENDING", "accessToken": token})
            .to_string(),
        location: Some(format!("/api/orders/{}", order.order_id)),
    };
    app.services
        .store
        .insert_order_keyed(
            &order,
            &orderflow::ports::NewKey {
                key,
                fingerprint,
                holder: "earlier-request",
                response: &stored,
                ttl: Duration::from_secs(3600),
            },
        )
        .await
        .unwrap();
    order
}

/// A record written before fingerprints were keyed (plain SHA-256, the token inside the stored
/// 201) is still replayed to a retry of the same request, and still refuses another body.
#[tokio::test]
async fn a_record_from_before_keyed_fingerprints_is_still_replayed() {
    let app = spawn_app().await;
    let body = order_body("sku-cap", 1);
    let plain = orderflow::place_order::sha256_hex(format!("POST /api/orders\n{body}").as_bytes());
    let order = left_by_an_earlier_request(&app, "k-old", &plain, "legacy-token-in-clear").await;
    let res = app.post_order_with_key(&body, "k-old").await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let replayed: Value = res.json().await.unwrap();
    assert_eq!(replayed["accessToken"], "legacy-token-in-clear");
    assert_eq!(replayed["orderId"], order.order_id.to_string());
    let other = order_body("sku-mug", 1);
    assert_eq!(app.post_order_with_key(&other, "k-old").await.status(), 422);
}

/// Security review L-3: the one-write fast path records the key as completed before its
/// message is sent. A request that died in between (or lost its enqueue) left a completed key
/// and a PENDING order without a message; a retry's replay now sends the message again, so the
/// order completes at once instead of waiting for the reconciler (minutes).
#[tokio::test]
async fn a_replay_sends_the_message_of_an_order_still_pending() {
    let app = crate::helpers::spawn_app_with(&[], true).await;
    let body = order_body("sku-cap", 1);
    let key = app.services.keys.data_key().await.unwrap();
    let fingerprint = orderflow::place_order::idempotency_fingerprint(&key, &body);
    // What the crashed request left: the order and its completed key, no message.
    let order = left_by_an_earlier_request(&app, "k-crashed", &fingerprint, "").await;
    let res = app.post_order_with_key(&body, "k-crashed").await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = app
            .services
            .store
            .get_order(&order.order_id)
            .await
            .unwrap()
            .unwrap();
        if now.status.to_string() == "COMPLETED" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replayed order was never processed: {}",
            now.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A retry of an order accepted under an earlier policy (here: on invoice, before invoicing
/// was switched off) gets its replay, not a refusal: the policy applies to new orders only.
#[tokio::test]
async fn a_retry_of_an_order_accepted_under_an_earlier_policy_is_replayed() {
    let app = spawn_app().await;
    let mut body = order_body("sku-cap", 1);
    body.as_object_mut().unwrap().remove("payment");
    assert_eq!(
        app.post_order(&body).await.status(),
        400,
        "invoicing is off now"
    );
    let key = app.services.keys.data_key().await.unwrap();
    let fingerprint = orderflow::place_order::idempotency_fingerprint(&key, &body);
    left_by_an_earlier_request(&app, "k-invoiced", &fingerprint, "").await;
    let res = app.post_order_with_key(&body, "k-invoiced").await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
}
