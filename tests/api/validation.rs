//! Bad input gets a clear 4xx naming the field, never a 5xx.

use crate::helpers::{order_body, spawn_app_with};
use serde_json::{json, Value};

fn with(mut body: Value, f: impl FnOnce(&mut Value)) -> Value {
    f(&mut body);
    body
}

#[tokio::test]
async fn each_bad_input_gets_its_4xx_and_names_the_field() {
    // Dozens of attempts from one address: rejected attempts count toward the limit too.
    let app = spawn_app_with(&[("ORDERFLOW__RATE_LIMIT__ENABLED", "false")], false).await;
    let good = order_body("sku-mug", 1);
    let many: Vec<Value> = (0..50)
        .map(|i| json!({"productId": format!("p{i}"), "quantity": 1}))
        .collect();
    let cases: Vec<(&str, Value, u16, Option<&str>)> = vec![
        (
            "total is the server's",
            with(good.clone(), |b| b["total"] = json!(1)),
            400,
            Some("total"),
        ),
        (
            "status is the server's",
            with(good.clone(), |b| b["status"] = json!("COMPLETED")),
            400,
            Some("status"),
        ),
        (
            "unknown field",
            with(good.clone(), |b| b["coupon"] = json!("X")),
            400,
            Some("coupon"),
        ),
        (
            "missing customerId",
            with(good.clone(), |b| {
                b.as_object_mut().unwrap().remove("customerId");
            }),
            400,
            Some("customerId"),
        ),
        (
            "missing email",
            with(good.clone(), |b| {
                b.as_object_mut().unwrap().remove("customerEmail");
            }),
            400,
            Some("customerEmail"),
        ),
        (
            "bad email",
            with(good.clone(), |b| {
                b["customerEmail"] = json!("ann.example.com")
            }),
            400,
            Some("customerEmail"),
        ),
        (
            "email not a string",
            with(good.clone(), |b| b["customerEmail"] = json!(5)),
            400,
            Some("customerEmail"),
        ),
        (
            "no items",
            with(good.clone(), |b| b["items"] = json!([])),
            400,
            Some("items"),
        ),
        (
            "items not a list",
            with(good.clone(), |b| b["items"] = json!({})),
            400,
            Some("items"),
        ),
        (
            "too many lines",
            with(good.clone(), |b| b["items"] = json!(many)),
            400,
            Some("items"),
        ),
        (
            "unknown product",
            with(good.clone(), |b| {
                b["items"][0]["productId"] = json!("sku-nope")
            }),
            400,
            Some("items[0].productId"),
        ),
        (
            "bad product id",
            with(good.clone(), |b| b["items"][0]["productId"] = json!("../x")),
            400,
            Some("items[0].productId"),
        ),
        (
            "quantity 0",
            with(good.clone(), |b| b["items"][0]["quantity"] = json!(0)),
            400,
            Some("items[0].quantity"),
        ),
        (
            "quantity 101",
            with(good.clone(), |b| b["items"][0]["quantity"] = json!(101)),
            400,
            Some("items[0].quantity"),
        ),
        (
            "quantity negative",
            with(good.clone(), |b| b["items"][0]["quantity"] = json!(-3)),
            400,
            Some("items[0].quantity"),
        ),
        (
            "quantity fraction",
            with(good.clone(), |b| b["items"][0]["quantity"] = json!(1.5)),
            400,
            Some("items[0].quantity"),
        ),
        (
            "quantity string",
            with(good.clone(), |b| b["items"][0]["quantity"] = json!("2")),
            400,
            Some("items[0].quantity"),
        ),
        (
            "quantity huge",
            with(good.clone(), |b| b["items"][0]["quantity"] = json!(1e300)),
            400,
            Some("items[0].quantity"),
        ),
        (
            "price malformed",
            with(good.clone(), |b| b["items"][0]["price"] = json!("cheap")),
            400,
            Some("items[0].price"),
        ),
        (
            "line total is the server's",
            with(good.clone(), |b| b["items"][0]["lineTotal"] = json!(1)),
            400,
            Some("items[0].lineTotal"),
        ),
        (
            "duplicate product line",
            with(
                good.clone(),
                |b| b["items"] = json!([{"productId":"sku-mug","quantity":1},{"productId":"sku-mug","quantity":1}]),
            ),
            400,
            Some("items[1].productId"),
        ),
        (
            "bad card",
            with(good.clone(), |b| b["payment"]["cardNumber"] = json!("1234")),
            400,
            Some("payment.cardNumber"),
        ),
        (
            "card fails checksum",
            with(good.clone(), |b| {
                b["payment"]["cardNumber"] = json!("4242424242424241")
            }),
            400,
            Some("payment.cardNumber"),
        ),
        (
            "cvc not accepted",
            with(good.clone(), |b| b["payment"]["cvc"] = json!("123")),
            400,
            Some("payment.cvc"),
        ),
        (
            "country",
            with(good.clone(), |b| {
                b["shippingAddress"]["country"] = json!("United States")
            }),
            400,
            Some("shippingAddress.country"),
        ),
        (
            "empty city",
            with(good.clone(), |b| b["shippingAddress"]["city"] = json!("  ")),
            400,
            Some("shippingAddress.city"),
        ),
        (
            "address not an object",
            with(good.clone(), |b| b["shippingAddress"] = json!("1 Main St")),
            400,
            Some("shippingAddress"),
        ),
        (
            "bidi override in the name",
            with(good.clone(), |b| {
                b["shippingAddress"]["name"] = json!("Ann \u{202E}eeL")
            }),
            400,
            Some("shippingAddress.name"),
        ),
        (
            "zero-width space in the street",
            with(good.clone(), |b| {
                b["shippingAddress"]["line1"] = json!("1 Main\u{200B} St")
            }),
            400,
            Some("shippingAddress.line1"),
        ),
        (
            "line separator in the city",
            with(good.clone(), |b| {
                b["shippingAddress"]["city"] = json!("Spring\u{2028}field")
            }),
            400,
            Some("shippingAddress.city"),
        ),
        ("body not an object", json!([1, 2]), 400, None),
    ];
    for (name, body, status, field) in cases {
        let res = app.post_order(&body).await;
        let got = res.status().as_u16();
        let err: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(got, status, "{name}: {err}");
        assert!(
            err["error"]["code"].is_string() && err["error"]["message"].is_string(),
            "{name}: {err}"
        );
        if let Some(f) = field {
            assert_eq!(err["error"]["field"], f, "{name}: {err}");
        }
    }
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_bodies() {
    let app = spawn_app_with(&[], false).await;
    let cases: Vec<(&str, String, Option<&str>, u16, &str)> = vec![
        (
            "malformed JSON",
            "{\"customerId\": ".into(),
            Some("application/json"),
            400,
            "MALFORMED_JSON",
        ),
        (
            "empty body",
            String::new(),
            Some("application/json"),
            400,
            "MALFORMED_JSON",
        ),
        (
            "not UTF-8 JSON",
            "\u{0}\u{1}".into(),
            Some("application/json"),
            400,
            "MALFORMED_JSON",
        ),
        (
            "text/plain",
            order_body("sku-mug", 1).to_string(),
            Some("text/plain"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "no content type",
            order_body("sku-mug", 1).to_string(),
            None,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "form encoded",
            "a=b".into(),
            Some("application/x-www-form-urlencoded"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "oversized",
            format!("{{\"customerId\":\"{}\"}}", "x".repeat(70 * 1024)),
            Some("application/json"),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ];
    for (name, body, ct, status, code) in cases {
        let res = app.post_raw(&body, ct).await;
        assert_eq!(res.status().as_u16(), status, "{name}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["code"], code, "{name}: {err}");
    }
    // A key sent twice: a proxy may read the first, serde_json would keep the last.
    let body = order_body("sku-mug", 1).to_string();
    for (twice, field) in [
        (
            body.replacen('{', "{\"customerEmail\":\"eve@example.com\",", 1),
            "customerEmail",
        ),
        (
            body.replacen("\"name\":", "\"name\":\"Eve\",\"name\":", 1),
            "shippingAddress.name",
        ),
    ] {
        let res = app.post_raw(&twice, Some("application/json")).await;
        assert_eq!(res.status(), 400, "{twice}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["code"], "DUPLICATE_KEY", "{err}");
        assert_eq!(err["error"]["field"], field, "{err}");
    }
    let ok = app
        .post_raw(
            &order_body("sku-mug", 1).to_string(),
            Some("application/json; charset=utf-8"),
        )
        .await;
    assert_eq!(ok.status(), 201, "a charset parameter is fine");
}

#[tokio::test]
async fn a_bad_idempotency_key_is_400() {
    let app = spawn_app_with(&[], false).await;
    let res = app
        .post_order_with_key(&order_body("sku-mug", 1), &"k".repeat(256))
        .await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["field"], "Idempotency-Key");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app_with(&[], false).await;
    let res = app.client.get(app.url("/api/nope")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "NOT_FOUND"
    );
    // Every API resource answers another method with 405, `Allow` (RFC 9110) naming the
    // methods the document gives it, and JSON.
    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 10, "the document lists the API");
    for (template, ops) in paths {
        let path = template
            .replace("{order_id}", "ord_x")
            .replace("{product_id}", "sku-x");
        let mut documented: Vec<String> = ops
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        documented.sort();
        let res = app
            .client
            .request(reqwest::Method::DELETE, app.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "DELETE {path}");
        let mut allow: Vec<String> = res.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        allow.sort();
        assert_eq!(allow, documented, "Allow of {path}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"]["code"],
            "METHOD_NOT_ALLOWED"
        );
    }
    let res = app
        .client
        .request(reqwest::Method::TRACE, app.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status().as_u16(), &res.headers()["allow"]),
        (405, &"GET".parse::<reqwest::header::HeaderValue>().unwrap())
    );
}

/// Clients written for the common serverless order APIs work unchanged: `street`, `state`,
/// `zipCode`, alpha-3 countries, `price` as a number or a string, and `totalAmount` and
/// `createdAt` in the answers.
#[tokio::test]
async fn clients_of_the_common_order_apis_work_unchanged() {
    let app = spawn_app_with(&[("ORDERFLOW__RATE_LIMIT__ENABLED", "false")], false).await;
    let aliased = with(order_body("sku-mug", 2), |b| {
        b["shippingAddress"] = json!({"name": "Ann Lee", "street": "1 Main St", "city": "Springfield",
            "state": "IL", "zipCode": "62701", "country": "usa"});
        b["items"][0]["price"] = json!(14);
    });
    let res = app.post_order(&aliased).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["totalAmount"], "28.00", "{created}");
    assert_eq!(created["totalAmount"], created["total"]["decimal"]);
    let at = created["createdAt"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(at).expect("createdAt is RFC 3339");
    let id = created["orderId"].as_str().unwrap();
    let token = created["accessToken"].as_str().unwrap();
    let order: Value = app.get_order(id, token).await.json().await.unwrap();
    assert_eq!(
        order["shippingAddress"],
        json!({"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield",
            "region": "IL", "postalCode": "62701", "country": "US"}),
        "the order shows today's names and the alpha-2 code"
    );
    assert_eq!(order["totalAmount"], "28.00");
    assert_eq!(order["createdAt"], at);

    // Alpha-3 in any case, and a price as a decimal string, are accepted too.
    for (country, stored, price) in [("DEU", "DE", json!("14.00")), ("gbr", "GB", json!(14.0))] {
        let body = with(order_body("sku-mug", 1), |b| {
            b["shippingAddress"]["country"] = json!(country);
            b["items"][0]["price"] = price;
        });
        let res = app.post_order(&body).await;
        assert_eq!(res.status(), 201, "{country}");
        let created: Value = res.json().await.unwrap();
        let (id, token) = (
            created["orderId"].as_str().unwrap(),
            created["accessToken"].as_str().unwrap(),
        );
        let order: Value = app.get_order(id, token).await.json().await.unwrap();
        assert_eq!(order["shippingAddress"]["country"], stored);
    }

    // Both names of one field, unknown codes, and the server's totals are refused by name.
    let refused: Vec<(Value, &str, &str)> = vec![
        (
            with(order_body("sku-mug", 1), |b| {
                b["shippingAddress"]["street"] = json!("2 Elm St")
            }),
            "CONFLICTING_FIELDS",
            "shippingAddress.street",
        ),
        (
            with(order_body("sku-mug", 1), |b| {
                b["shippingAddress"]["zipCode"] = json!("1")
            }),
            "CONFLICTING_FIELDS",
            "shippingAddress.zipCode",
        ),
        (
            with(order_body("sku-mug", 1), |b| {
                b["shippingAddress"]["region"] = json!("IL");
                b["shippingAddress"]["state"] = json!("IL");
            }),
            "CONFLICTING_FIELDS",
            "shippingAddress.state",
        ),
        (
            with(order_body("sku-mug", 1), |b| {
                b["shippingAddress"]
                    .as_object_mut()
                    .unwrap()
                    .remove("line1");
            }),
            "MISSING_FIELD",
            "shippingAddress.line1",
        ),
        (
            with(order_body("sku-mug", 1), |b| {
                let address = b["shippingAddress"].as_object_mut().unwrap();
                address.remove("line1");
                address.insert("street".into(), json!(" "));
            }),
            "VALIDATION_ERROR",
            "shippingAddress.street",
        ),
        (
            with(order_body("sku-mug", 1), |b| {
                b["shippingAddress"]["country"] = json!("ZZZ")
            }),
            "VALIDATION_ERROR",
            "shippingAddress.country",
        ),
        (
            with(order_body("sku-mug", 1), |b| {
                b["shippingAddress"]["country"] = json!("XX")
            }),
            "VALIDATION_ERROR",
            "shippingAddress.country",
        ),
        (
            with(order_body("sku-mug", 1), |b| {
                b["totalAmount"] = json!("28.00")
            }),
            "READ_ONLY_FIELD",
            "totalAmount",
        ),
        (
            with(order_body("sku-mug", 1), |b| {
                b["shippingAddress"]["zip"] = json!("1")
            }),
            "UNKNOWN_FIELD",
            "shippingAddress.zip",
        ),
    ];
    for (body, code, field) in refused {
        let res = app.post_order(&body).await;
        assert_eq!(res.status(), 400, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(
            (
                err["error"]["code"].as_str(),
                err["error"]["field"].as_str()
            ),
            (Some(code), Some(field)),
            "{err}"
        );
    }
}
