//! Who may read what: access tokens, admin keys, 404 for everyone else.

use crate::helpers::{order_body, spawn_app_with, ADMIN_KEY};
use serde_json::Value;

#[tokio::test]
async fn an_order_is_404_without_its_token() {
    let app = spawn_app_with(&[], false).await;
    let created: Value = app
        .post_order(&order_body("sku-mug", 1))
        .await
        .json()
        .await
        .unwrap();
    let id = created["orderId"].as_str().unwrap();
    let token = created["accessToken"].as_str().unwrap();

    assert_eq!(app.get_order(id, token).await.status(), 200);
    let anon = app
        .client
        .get(app.url(&format!("/api/orders/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 404);
    let anon_body = anon.text().await.unwrap();
    assert_eq!(app.get_order(id, "wrong-token").await.status(), 404);
    let other: Value = app
        .post_order(&order_body("sku-mug", 1))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.get_order(id, other["accessToken"].as_str().unwrap())
            .await
            .status(),
        404,
        "another order's token"
    );
    assert_eq!(
        app.get_as_admin(&format!("/api/orders/{id}"))
            .await
            .status(),
        200
    );
    let wrong_admin = app
        .client
        .get(app.url(&format!("/api/orders/{id}")))
        .header("X-API-Key", "not-the-admin-key-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_admin.status(), 404);
    let missing = orderflow::domain::OrderId::generate();
    assert_eq!(
        app.get_as_admin(&format!("/api/orders/{missing}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get_as_admin("/api/orders/not-an-id").await.status(),
        404
    );
    let receipt = app
        .client
        .get(app.url(&format!("/api/orders/{id}/receipt")))
        .send()
        .await
        .unwrap();
    assert_eq!(receipt.status(), 404, "receipts follow the same rule");
    // A token in a URL lands in access logs, history and Referer: the API takes it only in
    // `Authorization`. `?token=` is no credential, so the answer is the 404 of a wrong token
    // (not a 401 that would tell the order exists).
    for path in [
        format!("/api/orders/{id}?token={token}"),
        format!("/api/orders/{id}/receipt?token={token}"),
    ] {
        let by_query = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(by_query.status(), 404, "{path}");
        assert_eq!(
            by_query.text().await.unwrap(),
            anon_body,
            "{path}: the same answer as without any token"
        );
    }
    let by_header = app.get_order(id, token).await;
    assert_eq!(by_header.status(), 200);
    assert_eq!(
        by_header.headers()["referrer-policy"],
        "no-referrer",
        "order answers send no Referer onward"
    );
}

#[tokio::test]
async fn listing_needs_an_admin_key_and_pages_newest_first() {
    let app = spawn_app_with(&[], false).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let c: Value = app
            .post_order(&order_body("sku-mug", 1))
            .await
            .json()
            .await
            .unwrap();
        ids.push(c["orderId"].as_str().unwrap().to_owned());
    }
    ids.reverse();
    let anon = app.client.get(app.url("/api/orders")).send().await.unwrap();
    assert_eq!(anon.status(), 401);
    assert_eq!(
        anon.json::<Value>().await.unwrap()["error"]["code"],
        "UNAUTHORIZED"
    );
    let wrong = app
        .client
        .get(app.url("/api/orders"))
        .header("X-API-Key", "wrong-key-wrong-key")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);

    let mut seen = Vec::new();
    let mut path = "/api/orders?limit=2".to_owned();
    loop {
        let page: Value = app.get_as_admin(&path).await.json().await.unwrap();
        let orders = page["orders"].as_array().unwrap();
        assert!(orders.len() <= 2);
        seen.extend(
            orders
                .iter()
                .map(|o| o["orderId"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(c) => path = format!("/api/orders?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let pending: Value = app
        .get_as_admin("/api/orders?status=PENDING")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["orders"].as_array().unwrap().len(), 5);
    let done: Value = app
        .get_as_admin("/api/orders?status=COMPLETED")
        .await
        .json()
        .await
        .unwrap();
    assert!(done["orders"].as_array().unwrap().is_empty());

    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("status=DONE", "status"),
        ("cursor=zzz", "cursor"),
    ] {
        let res = app.get_as_admin(&format!("/api/orders?{q}")).await;
        assert_eq!(res.status(), 400, "{q}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"]["field"],
            field,
            "{q}"
        );
    }
    assert_eq!(app.get_as_admin("/api/orders?bogus=1").await.status(), 400);
    let _ = ADMIN_KEY;
}

#[tokio::test]
async fn health_products_storefront_and_request_ids() {
    let app = spawn_app_with(&[], false).await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let products: Value = app
        .client
        .get(app.url("/api/products"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = products["products"].as_array().unwrap();
    assert!(list.len() >= 12);
    let mug = list.iter().find(|p| p["productId"] == "sku-mug").unwrap();
    assert_eq!(mug["unitPrice"]["amount"], 1400);
    assert_eq!(mug["unitPrice"]["currency"], "USD");
    assert_eq!(mug["unitPrice"]["decimal"], "14.00");

    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.headers().contains_key("content-security-policy"));
    assert!(page.text().await.unwrap().contains("/static/app.js"));
    assert_eq!(
        app.client
            .get(app.url("/static/app.js"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Security review L-12: a client's X-Request-Id (or, without a trusted proxy, its
    // X-Amzn-Trace-Id) is not taken as the request id; behind the ALB its trace id is.
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-Id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "req-abc-123");
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("X-Amzn-Trace-Id", "Root=1-abc-def")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "Root=1-abc-def");
    let behind_alb = crate::helpers::spawn_app_with(
        &[("ORDERFLOW__RATE_LIMIT__TRUSTED_PROXY_HOPS", "1")],
        false,
    )
    .await;
    let res = behind_alb
        .client
        .get(behind_alb.url("/healthz"))
        .header("X-Amzn-Trace-Id", "Root=1-abc-def")
        .header("X-Request-Id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "Root=1-abc-def");
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(
        !res.headers()["x-request-id"].is_empty(),
        "generated when absent"
    );
}
