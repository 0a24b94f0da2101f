//! Who may read what: access tokens, admin keys, 401 for everyone else; and the throttle on
//! wrong admin keys.

use crate::helpers::{order_body, spawn_app_with, TestApp, ADMIN_KEY};
use serde_json::Value;
use std::time::Duration;

/// Small throttle settings: 3 wrong keys, then a 1 s block; two clients told apart by the
/// `X-Forwarded-For` entry a (simulated) ALB appends.
const THROTTLE: &[(&str, &str)] = &[
    ("ORDERFLOW__AUTH__MAX_FAILURES", "3"),
    ("ORDERFLOW__AUTH__BLOCK_SECS", "1"),
    ("ORDERFLOW__AUTH__MAX_BLOCK_SECS", "1"),
    ("ORDERFLOW__RATE_LIMIT__TRUSTED_PROXY_HOPS", "1"),
];
const CLIENT_A: &str = "203.0.113.10";
const CLIENT_B: &str = "203.0.113.20";
const WRONG_KEY: &str = "wrong-admin-key-0123456789-abcdefghij";

/// How one surface presents a key, and what it answers to a right one.
#[derive(Clone, Copy)]
enum Surface {
    Login,
    ApiKey,
    MetricsBearer,
}

async fn present(app: &TestApp, surface: Surface, client: &str, key: &str) -> reqwest::Response {
    let r = match surface {
        Surface::Login => app
            .client
            .post(app.url("/admin/login"))
            .form(&[("api_key", key)]),
        Surface::ApiKey => app
            .client
            .get(app.url("/api/orders"))
            .header("X-API-Key", key),
        Surface::MetricsBearer => app.client.get(app.url("/metrics")).bearer_auth(key),
    };
    r.header("X-Forwarded-For", client).send().await.unwrap()
}

fn accepted(surface: Surface) -> u16 {
    match surface {
        Surface::Login => 303,
        Surface::ApiKey | Surface::MetricsBearer => 200,
    }
}

fn refused(surface: Surface) -> u16 {
    match surface {
        Surface::Login => 401,
        Surface::ApiKey | Surface::MetricsBearer => 403,
    }
}

/// N wrong keys from A block A: even the right key is then refused with 429 (unchecked),
/// while B is unaffected; the block ends after its time.
async fn a_client_is_blocked_after_wrong_keys(surface: Surface) {
    let app = spawn_app_with(THROTTLE, false).await;
    for i in 0..3 {
        let res = present(&app, surface, CLIENT_A, WRONG_KEY).await;
        assert_eq!(res.status(), refused(surface), "wrong key {i}");
    }
    let blocked = present(&app, surface, CLIENT_A, ADMIN_KEY).await;
    assert_eq!(blocked.status(), 429, "the right key during the block");
    assert_eq!(blocked.headers()["retry-after"], "1");
    assert!(blocked.headers().get("set-cookie").is_none());
    let body = blocked.text().await.unwrap();
    match surface {
        Surface::Login => assert!(
            body.contains("Too many failed sign-ins from your address"),
            "{body}"
        ),
        _ => {
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"]["code"], "TOO_MANY_AUTH_FAILURES", "{body}");
        }
    }
    // Another client: not blocked, and its success does not unblock A.
    let other = present(&app, surface, CLIENT_B, ADMIN_KEY).await;
    assert_eq!(other.status(), accepted(surface), "client B");
    assert_eq!(
        present(&app, surface, CLIENT_A, ADMIN_KEY).await.status(),
        429,
        "still blocked after B's success"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = present(&app, surface, CLIENT_A, ADMIN_KEY).await;
    assert_eq!(after.status(), accepted(surface), "the block has ended");
}

#[tokio::test]
async fn wrong_sign_ins_block_the_client_not_others() {
    a_client_is_blocked_after_wrong_keys(Surface::Login).await;
}

#[tokio::test]
async fn wrong_api_keys_block_the_client_not_others() {
    a_client_is_blocked_after_wrong_keys(Surface::ApiKey).await;
}

#[tokio::test]
async fn wrong_metrics_bearers_block_the_client_not_others() {
    a_client_is_blocked_after_wrong_keys(Surface::MetricsBearer).await;
}

#[tokio::test]
async fn wrong_keys_on_one_surface_block_the_others_and_order_reads_too() {
    let app = spawn_app_with(THROTTLE, false).await;
    let created: Value = app
        .post_order(&order_body("sku-mug", 1))
        .await
        .json()
        .await
        .unwrap();
    let id = created["orderId"].as_str().unwrap();
    // A wrong X-API-Key on an order read counts too (the answer is the 401 of any reader
    // without the right credential).
    let read = |key: &'static str| {
        app.client
            .get(app.url(&format!("/api/orders/{id}")))
            .header("X-API-Key", key)
            .header("X-Forwarded-For", CLIENT_A)
            .send()
    };
    assert_eq!(read(WRONG_KEY).await.unwrap().status(), 401);
    assert_eq!(
        present(&app, Surface::Login, CLIENT_A, WRONG_KEY)
            .await
            .status(),
        401
    );
    assert_eq!(
        present(&app, Surface::MetricsBearer, CLIENT_A, WRONG_KEY)
            .await
            .status(),
        403
    );
    assert_eq!(read(ADMIN_KEY).await.unwrap().status(), 429);
    assert_eq!(
        present(&app, Surface::ApiKey, CLIENT_A, ADMIN_KEY)
            .await
            .status(),
        429
    );
    let metrics = present(&app, Surface::MetricsBearer, CLIENT_B, ADMIN_KEY).await;
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    for surface in ["login", "api_key", "metrics"] {
        assert!(
            text.contains(&format!(
                "orderflow_auth_failures_total{{surface=\"{surface}\"}}"
            )),
            "{surface}: {text}"
        );
    }
}

#[tokio::test]
async fn the_global_ceiling_slows_a_guesser_spread_over_many_addresses() {
    let app = spawn_app_with(
        &[
            ("ORDERFLOW__AUTH__GLOBAL_FAILURES_PER_MINUTE", "3"),
            ("ORDERFLOW__RATE_LIMIT__TRUSTED_PROXY_HOPS", "1"),
        ],
        false,
    )
    .await;
    for i in 0..3 {
        let client = format!("198.51.100.{i}");
        let res = present(&app, Surface::ApiKey, &client, WRONG_KEY).await;
        assert_eq!(res.status(), 403, "{client}: one wrong key each");
    }
    let res = present(&app, Surface::ApiKey, "198.51.100.99", ADMIN_KEY).await;
    assert_eq!(
        res.status(),
        429,
        "a fresh address, beyond the global ceiling"
    );
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
}

#[tokio::test]
async fn an_order_is_401_without_its_token_whether_or_not_it_exists() {
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
    assert_eq!(anon.status(), 401);
    let anon_body = anon.text().await.unwrap();
    let wrong = app.get_order(id, "wrong-token").await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.text().await.unwrap(), anon_body);
    let missing = orderflow::domain::OrderId::generate();
    let unknown = app.get_order(&missing.to_string(), "any-token").await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(
        unknown.text().await.unwrap(),
        anon_body,
        "an order that does not exist gets the same answer: no oracle"
    );
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
        401,
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
    assert_eq!(wrong_admin.status(), 401);
    assert_eq!(
        app.get_as_admin(&format!("/api/orders/{missing}"))
            .await
            .status(),
        404,
        "an operator learns that an order does not exist"
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
    assert_eq!(receipt.status(), 401, "receipts follow the same rule");
    // A token in a URL lands in access logs, history and Referer: the API takes it only in
    // `Authorization`. `?token=` is no credential, so the answer is the 401 of no token.
    for path in [
        format!("/api/orders/{id}?token={token}"),
        format!("/api/orders/{id}/receipt?token={token}"),
    ] {
        let by_query = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(by_query.status(), 401, "{path}");
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
        ("limit=", "limit"),
        ("status=DONE", "status"),
        ("cursor=zzz", "cursor"),
        ("limit=+5", "limit"),
        ("limit=5&limit=6", "limit"),
        ("bogus=1", "bogus"),
    ] {
        let res = app.get_as_admin(&format!("/api/orders?{q}")).await;
        assert_eq!(res.status(), 400, "{q}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"]["field"],
            field,
            "{q}"
        );
    }
    let res = app.get_as_admin("/api/orders?bogus=1").await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "UNKNOWN_FIELD"
    );
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
