//! The catalog for operators: create, change and retire products, adjust stock through the
//! ledger; and what shoppers see of it.

use crate::helpers::{order_body, spawn_app, TestApp, ADMIN_KEY};
use serde_json::{json, Value};

impl TestApp {
    async fn admin_send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut r = self
            .client
            .request(method, self.url(path))
            .header("X-API-Key", ADMIN_KEY)
            .json(body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.send().await.unwrap()
    }

    async fn adjust(&self, product: &str, key: &str, body: Value) -> reqwest::Response {
        self.admin_send(
            reqwest::Method::POST,
            &format!("/api/products/{product}/stock"),
            Some(key),
            &body,
        )
        .await
    }

    async fn ledger(&self, product: &str) -> Value {
        let res = self
            .get_as_admin(&format!("/api/products/{product}/ledger"))
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }
}

fn teapot(stock: u32) -> Value {
    json!({"productId": "sku-teapot", "name": "Teapot", "description": "1 l, cast iron",
           "price": "24.00", "stock": stock})
}

async fn error_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json::<Value>().await.unwrap()["error"].clone())
}

#[tokio::test]
async fn an_operator_creates_a_product_once_and_shoppers_see_it() {
    let app = spawn_app().await;
    let post = reqwest::Method::POST;
    let res = app
        .admin_send(post.clone(), "/api/products", None, &teapot(3))
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["location"], "/api/products/sku-teapot");
    let created: Value = res.json().await.unwrap();
    assert_eq!(
        (created["stock"].as_u64(), created["active"].as_bool()),
        (Some(3), Some(true))
    );
    assert_eq!(created["unitPrice"]["amount"], 2400);

    let again = app
        .admin_send(post.clone(), "/api/products", None, &teapot(3))
        .await;
    assert_eq!(
        again.status(),
        200,
        "a retry of the same create is answered as the first"
    );
    let (status, e) = error_of(
        app.admin_send(post.clone(), "/api/products", None, &teapot(4))
            .await,
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("PRODUCT_EXISTS")),
        "another opening stock is another product"
    );
    let mut other = teapot(3);
    other["price"] = json!(30);
    let (status, e) = error_of(
        app.admin_send(post.clone(), "/api/products", None, &other)
            .await,
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str(), e["field"].as_str()),
        (409, Some("PRODUCT_EXISTS"), Some("productId"))
    );

    assert_eq!(app.stock_of("sku-teapot").await, 3, "listed for shoppers");
    let got: Value = app
        .client
        .get(app.url("/api/products/sku-teapot"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["name"], "Teapot");
    assert_eq!(
        app.client
            .get(app.url("/api/products/sku-none"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Without the key, nothing.
    let res = app
        .client
        .post(app.url("/api/products"))
        .json(&teapot(1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .get(app.url("/api/products/sku-teapot/ledger"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let ledger = app.ledger("sku-teapot").await;
    assert_eq!(
        (ledger["opening"].as_u64(), ledger["stock"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(ledger["movements"], json!([]));
}

#[tokio::test]
async fn bad_product_requests_name_their_field() {
    let app = spawn_app().await;
    let post = reqwest::Method::POST;
    for (body, field) in [
        (
            json!({"productId": "bad id", "name": "x", "price": "1", "stock": 1}),
            "productId",
        ),
        (
            json!({"productId": "sku-x", "name": " ", "price": "1", "stock": 1}),
            "name",
        ),
        (
            json!({"productId": "sku-x", "name": "x", "price": "-1", "stock": 1}),
            "price",
        ),
        (
            json!({"productId": "sku-x", "name": "x", "price": "1.999", "stock": 1}),
            "price",
        ),
        (
            json!({"productId": "sku-x", "name": "x", "price": "1", "stock": -1}),
            "stock",
        ),
        (
            json!({"productId": "sku-x", "name": "x", "price": "1", "stock": 1.5}),
            "stock",
        ),
        (
            json!({"productId": "sku-x", "name": "x", "price": "1", "stock": 1, "colour": "red"}),
            "colour",
        ),
        (
            json!({"productId": "sku-x", "name": "x", "price": "1", "stock": 1, "currency": "XX"}),
            "currency",
        ),
        (json!({"name": "x", "price": "1", "stock": 1}), "productId"),
    ] {
        let (status, e) = error_of(
            app.admin_send(post.clone(), "/api/products", None, &body)
                .await,
        )
        .await;
        assert_eq!(
            (status, e["field"].as_str()),
            (400, Some(field)),
            "{body}: {e}"
        );
    }
    app.admin_send(post.clone(), "/api/products", None, &teapot(2))
        .await;
    let patch = reqwest::Method::PATCH;
    for (body, field) in [
        (json!({"stock": 5}), "stock"),
        (json!({"price": "abc"}), "price"),
        (json!({"active": "no"}), "active"),
        (json!({"name": ""}), "name"),
    ] {
        let (status, e) = error_of(
            app.admin_send(patch.clone(), "/api/products/sku-teapot", None, &body)
                .await,
        )
        .await;
        assert_eq!(
            (status, e["field"].as_str()),
            (400, Some(field)),
            "{body}: {e}"
        );
    }
    let res = app
        .admin_send(
            patch.clone(),
            "/api/products/sku-none",
            None,
            &json!({"name": "x"}),
        )
        .await;
    assert_eq!(res.status(), 404);

    let good = json!({"kind": "RECEIVED", "quantity": 2, "reason": "delivery"});
    let res = app
        .admin_send(post.clone(), "/api/products/sku-teapot/stock", None, &good)
        .await;
    let (status, e) = error_of(res).await;
    assert_eq!(
        (status, e["code"].as_str(), e["field"].as_str()),
        (400, Some("MISSING_HEADER"), Some("Idempotency-Key"))
    );
    for (body, field) in [
        (
            json!({"kind": "STOLEN", "quantity": 2, "reason": "x"}),
            "kind",
        ),
        (
            json!({"kind": "RESERVED", "quantity": 2, "reason": "x"}),
            "kind",
        ),
        (
            json!({"kind": "RECEIVED", "quantity": 0, "reason": "x"}),
            "quantity",
        ),
        (
            json!({"kind": "RECEIVED", "quantity": -2, "reason": "x"}),
            "quantity",
        ),
        (json!({"kind": "CORRECTED", "quantity": 2}), "reason"),
        (
            json!({"kind": "CORRECTED", "quantity": "2", "reason": "x"}),
            "quantity",
        ),
    ] {
        let (status, e) = error_of(app.adjust("sku-teapot", "k-bad", body.clone()).await).await;
        assert_eq!(
            (status, e["field"].as_str()),
            (400, Some(field)),
            "{body}: {e}"
        );
    }
    let (status, e) = error_of(
        app.adjust(
            "sku-teapot",
            "k-1",
            json!({"kind": "CORRECTED", "quantity": -3, "reason": "stocktake"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("INSUFFICIENT_STOCK"))
    );
    assert_eq!(
        app.adjust("sku-none", "k-2", good.clone()).await.status(),
        404
    );
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=", "limit"),
        ("limit=x", "limit"),
        ("before=0", "before"),
        ("before=-1", "before"),
        ("before=1&before=2", "before"),
        ("colour=red", "colour"),
    ] {
        let (status, e) = error_of(
            app.get_as_admin(&format!("/api/products/sku-teapot/ledger?{q}"))
                .await,
        )
        .await;
        assert_eq!(
            (status, e["field"].as_str()),
            (400, Some(field)),
            "{q}: {e}"
        );
    }
    assert_eq!(
        app.ledger("sku-teapot").await["movements"],
        json!([]),
        "nothing refused was booked"
    );
}

#[tokio::test]
async fn a_sold_out_product_is_restocked_once_per_key_and_sells_again() {
    let app = spawn_app().await;
    app.admin_send(reqwest::Method::POST, "/api/products", None, &teapot(0))
        .await;
    let (_, failed) = app.place_and_finish(&order_body("sku-teapot", 1)).await;
    assert_eq!(failed["status"], "FAILED", "sold out: {failed}");

    let received = json!({"kind": "RECEIVED", "quantity": 5, "reason": "delivery note 4411"});
    let res = app
        .adjust("sku-teapot", "goods-in-4411", received.clone())
        .await;
    assert_eq!(res.status(), 201);
    let first: Value = res.json().await.unwrap();
    assert_eq!(
        (
            first["seq"].as_u64(),
            first["delta"].as_i64(),
            first["levelAfter"].as_u64()
        ),
        (Some(1), Some(5), Some(5))
    );
    assert!(
        first["by"].as_str().unwrap().starts_with("api key "),
        "{first}"
    );
    let res = app
        .adjust("sku-teapot", "goods-in-4411", received.clone())
        .await;
    assert_eq!(res.status(), 200, "a retry books nothing");
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(res.json::<Value>().await.unwrap(), first);
    let (status, e) = error_of(
        app.adjust(
            "sku-teapot",
            "goods-in-4411",
            json!({"kind": "RECEIVED", "quantity": 6, "reason": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("IDEMPOTENCY_KEY_REUSED"))
    );
    assert_eq!(app.stock_of("sku-teapot").await, 5);
    let retry = app
        .admin_send(reqwest::Method::POST, "/api/products", None, &teapot(0))
        .await;
    assert_eq!(
        retry.status(),
        200,
        "a late retry of the create is still a retry, though the stock moved"
    );
    assert_eq!(retry.json::<Value>().await.unwrap()["stock"], 5);

    let (created, done) = app.place_and_finish(&order_body("sku-teapot", 2)).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(app.stock_of("sku-teapot").await, 3);
    let ledger = app.ledger("sku-teapot").await;
    let entries: Vec<(String, i64, u64)> = ledger["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap().to_owned(),
                m["delta"].as_i64().unwrap(),
                m["levelAfter"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("RESERVED".to_owned(), -2, 3),
            ("RECEIVED".to_owned(), 5, 5)
        ],
        "newest first"
    );
    assert_eq!(ledger["movements"][0]["orderId"], created["orderId"]);
    assert_eq!(
        (ledger["opening"].as_u64(), ledger["stock"].as_u64()),
        (Some(0), Some(3))
    );
}

#[tokio::test]
async fn a_price_change_leaves_accepted_orders_alone_and_a_retired_product_is_not_sold() {
    let app = spawn_app().await;
    app.admin_send(reqwest::Method::POST, "/api/products", None, &teapot(10))
        .await;
    let (before, done) = app.place_and_finish(&order_body("sku-teapot", 1)).await;
    assert_eq!(done["status"], "COMPLETED");

    let patch = reqwest::Method::PATCH;
    let res = app
        .admin_send(
            patch.clone(),
            "/api/products/sku-teapot",
            None,
            &json!({"price": 26, "description": "1.2 l"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(
        (
            changed["unitPrice"]["amount"].as_i64(),
            changed["stock"].as_u64(),
            changed["name"].as_str()
        ),
        (Some(2600), Some(9), Some("Teapot"))
    );

    let accepted: Value = app
        .get_order(
            before["orderId"].as_str().unwrap(),
            before["accessToken"].as_str().unwrap(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        accepted["total"]["amount"], done["total"]["amount"],
        "an accepted order keeps its price"
    );
    assert_eq!(accepted["items"][0]["unitPrice"]["amount"], 2400);

    let mut stale = order_body("sku-teapot", 1);
    stale["items"][0]["price"] = json!("24.00");
    let (status, e) = error_of(app.post_order(&stale).await).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("PRICE_CHANGED")),
        "{e}"
    );
    let (_, now) = app.place_and_finish(&order_body("sku-teapot", 1)).await;
    assert_eq!(now["items"][0]["unitPrice"]["amount"], 2600);

    let res = app
        .admin_send(
            patch.clone(),
            "/api/products/sku-teapot",
            None,
            &json!({"active": false}),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["active"], false);
    let listed: Value = app
        .client
        .get(app.url("/api/products"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed["products"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["productId"] != "sku-teapot"),
        "retired: not listed"
    );
    let (status, e) = error_of(app.post_order(&order_body("sku-teapot", 1)).await).await;
    assert_eq!(
        (status, e["code"].as_str(), e["field"].as_str()),
        (400, Some("PRODUCT_RETIRED"), Some("items[0].productId"))
    );
    app.admin_send(
        patch,
        "/api/products/sku-teapot",
        None,
        &json!({"active": true}),
    )
    .await;
    assert_eq!(
        app.post_order(&order_body("sku-teapot", 1)).await.status(),
        201,
        "back on sale"
    );
}
