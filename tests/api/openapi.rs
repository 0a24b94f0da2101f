//! The OpenAPI document agrees with the real answers: every API route is documented, and
//! good and bad requests on each get a documented status, headers and body shape.

#[path = "../common/contract.rs"]
mod contract;

use crate::helpers::{order_body, spawn_app, spawn_app_with, TestApp, ADMIN_KEY};
use contract::Contract;
use serde_json::{json, Value};

/// Every route the API registers (the HTML pages are not part of the API).
const API_ROUTES: &[(&str, &str)] = &[
    ("get", "/livez"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
    ("get", "/api/products"),
    ("post", "/api/products"),
    ("get", "/api/products/{product_id}"),
    ("patch", "/api/products/{product_id}"),
    ("post", "/api/products/{product_id}/stock"),
    ("get", "/api/products/{product_id}/ledger"),
    ("post", "/api/orders"),
    ("get", "/api/orders"),
    ("get", "/api/orders/{order_id}"),
    ("get", "/api/orders/{order_id}/receipt"),
    ("post", "/api/orders/{order_id}/payment"),
];

async fn contract(app: &TestApp) -> Contract {
    Contract::fetch(&app.client, &app.address).await
}

#[tokio::test]
async fn the_document_lists_exactly_the_api_routes_with_their_headers_and_security() {
    let app = spawn_app_with(&[], false).await;
    let c = contract(&app).await;
    let doc = c.doc();
    let mut listed: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            listed.push((method.clone(), path.clone()));
        }
    }
    let mut expected: Vec<(String, String)> = API_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);

    let post = &doc["paths"]["/api/orders"]["post"];
    let params: Vec<&str> = post["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["Idempotency-Key"]);
    for status in ["201", "400", "409", "413", "415", "422", "429", "503"] {
        assert!(
            post["responses"][status].is_object(),
            "POST /api/orders documents {status}"
        );
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["admin_key"]["name"], "X-API-Key");
    assert_eq!(schemes["order_token"]["scheme"], "bearer");
    assert_eq!(
        doc["paths"]["/api/orders"]["get"]["security"][0]["admin_key"],
        json!([])
    );
}

#[tokio::test]
async fn the_order_request_schema_accepts_what_the_server_accepts_and_rejects_what_it_rejects() {
    let app = spawn_app_with(&[], false).await;
    let c = contract(&app).await;
    let schema = c.request_schema("post", "/api/orders");
    let good = order_body("sku-mug", 2);
    c.validate(&schema, &good)
        .expect("the test's good order matches the documented request");
    let minimal = json!({"customerId": "c", "customerEmail": "a@b.co", "items": [{"productId": "sku-mug", "quantity": 1}], "payment": {"cardNumber": "4242424242424242"}});
    c.validate(&schema, &minimal)
        .expect("optional parts are optional");
    // A shop without orders on invoice documents the card as required; one with them not.
    let mut on_invoice = minimal.clone();
    on_invoice.as_object_mut().unwrap().remove("payment");
    assert!(
        c.validate(&schema, &on_invoice).is_err(),
        "payment is required"
    );
    let invoicing = spawn_app_with(&[("ORDERFLOW__ORDERS__INVOICE_ENABLED", "true")], false).await;
    let ci = contract(&invoicing).await;
    ci.validate(&ci.request_schema("post", "/api/orders"), &on_invoice)
        .expect("a shop taking orders on invoice documents the card as optional");
    // The other names of address fields, and alpha-3 countries, are documented; both names
    // of one field, or an unassigned code, are not.
    let mut aliased = good.clone();
    aliased["shippingAddress"] = json!({"name": "Ann", "street": "1 Main St", "city": "X",
        "state": "IL", "zipCode": "62701", "country": "deu"});
    c.validate(&schema, &aliased)
        .expect("street, state, zipCode and alpha-3 are documented");
    let mut bad_cases: Vec<Value> = Vec::new();
    // Each JSON pointer set to a value the server refuses; the documented shapes of the ids
    // and the e-mail address are the server's.
    for (pointer, value) in [
        ("/shippingAddress/street", json!("2 Elm St")),
        ("/shippingAddress/zipCode", json!("1")),
        ("/shippingAddress/country", json!("ZZZ")),
        ("/totalAmount", json!("1.00")),
        ("/customerEmail", json!("")),
        ("/customerEmail", json!("ann.example.com")),
        ("/customerEmail", json!("ann@example")),
        ("/customerId", json!("has space")),
        ("/items/0/productId", json!("")),
    ] {
        let mut bad = good.clone();
        let (parent, name) = pointer.rsplit_once('/').unwrap();
        bad.pointer_mut(parent).unwrap()[name] = value;
        bad_cases.push(bad);
    }
    let mut both_regions = aliased.clone();
    both_regions["shippingAddress"]["region"] = json!("IL");
    bad_cases.push(both_regions);
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("customerId");
    bad_cases.push(missing);
    let mut unknown = good.clone();
    unknown["coupon"] = json!("FREE");
    bad_cases.push(unknown);
    let mut zero = good.clone();
    zero["items"][0]["quantity"] = json!(0);
    bad_cases.push(zero);
    let mut no_items = good.clone();
    no_items["items"] = json!([]);
    bad_cases.push(no_items);
    // The document and the parser agree on the largest quantity.
    let mut most = good.clone();
    most["items"][0]["quantity"] = json!(orderflow::domain::Quantity::MAX);
    c.validate(&schema, &most)
        .expect("the largest quantity the server takes is documented");
    let mut too_many = good.clone();
    too_many["items"][0]["quantity"] = json!(orderflow::domain::Quantity::MAX + 1);
    bad_cases.push(too_many);
    for bad in bad_cases {
        assert!(
            c.validate(&schema, &bad).is_err(),
            "the schema should reject {bad}"
        );
        let res = app.post_order(&bad).await;
        let checked = c.check("post", "/api/orders", res).await;
        assert_eq!(checked.status, 400, "the server rejects {bad}");
    }
}

#[tokio::test]
async fn order_answers_match_the_document() {
    let app = spawn_app().await;
    let c = contract(&app).await;

    for path in [
        "/livez",
        "/healthz",
        "/readyz",
        "/api/products",
        "/api/openapi.json",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(c.check("get", path, res).await.status, 200, "{path}");
    }

    // 201, then the replay of the same key.
    let body = order_body("sku-mug", 1);
    let res = app.post_order_with_key(&body, "contract-1").await;
    let created = c.check("post", "/api/orders", res).await;
    assert_eq!(created.status, 201);
    let res = app.post_order_with_key(&body, "contract-1").await;
    let replay = c.check("post", "/api/orders", res).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    let created = created.json();
    let (id, token) = (
        created["orderId"].as_str().unwrap().to_owned(),
        created["accessToken"].as_str().unwrap().to_owned(),
    );

    // The error answers of placement.
    let res = app
        .post_order_with_key(&order_body("sku-mug", 2), "contract-1")
        .await;
    assert_eq!(c.check("post", "/api/orders", res).await.status, 422);
    let res = app.post_raw("{not json", Some("application/json")).await;
    assert_eq!(c.check("post", "/api/orders", res).await.status, 400);
    let res = app.post_raw("{}", Some("text/plain")).await;
    assert_eq!(c.check("post", "/api/orders", res).await.status, 415);
    let huge = format!("{{\"customerId\":\"{}\"}}", "x".repeat(70_000));
    let res = app.post_raw(&huge, Some("application/json")).await;
    assert_eq!(c.check("post", "/api/orders", res).await.status, 413);
    let mut stale = order_body("sku-mug", 1);
    stale["items"][0]["price"] = json!("0.01");
    let res = app.post_order(&stale).await;
    assert_eq!(c.check("post", "/api/orders", res).await.status, 409);

    // Reading it: owner, stranger, admin list, receipt.
    let path = format!("/api/orders/{id}");
    let res = app.get_order(&id, &token).await;
    assert_eq!(
        c.check("get", "/api/orders/{order_id}", res).await.status,
        200
    );
    let res = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(
        c.check("get", "/api/orders/{order_id}", res).await.status,
        401
    );
    app.wait_final(&id, &token).await;
    let res = app.get_order(&id, &token).await;
    assert_eq!(
        c.check("get", "/api/orders/{order_id}", res).await.status,
        200
    );
    let res = app
        .client
        .get(app.url(&format!("{path}/receipt")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let receipt = c.check("get", "/api/orders/{order_id}/receipt", res).await;
    assert_eq!(receipt.status, 200);
    assert!(receipt.body.starts_with(b"%PDF"));
    let documented = c.doc()["paths"]["/api/orders/{order_id}/receipt"]["get"]["responses"]
        .as_object()
        .unwrap();
    assert!(
        !documented.keys().any(|s| s.starts_with('3')),
        "the receipt is served, never redirected: {:?}",
        documented.keys().collect::<Vec<_>>()
    );

    let res = app.get_as_admin("/api/orders?limit=5").await;
    assert_eq!(c.check("get", "/api/orders", res).await.status, 200);
    let res = app.get_as_admin("/api/orders?limit=500").await;
    assert_eq!(c.check("get", "/api/orders", res).await.status, 400);
    let res = app.client.get(app.url("/api/orders")).send().await.unwrap();
    assert_eq!(c.check("get", "/api/orders", res).await.status, 401);
    let res = app
        .client
        .get(app.url("/api/orders"))
        .header("X-API-Key", "not-the-key-at-all-000")
        .send()
        .await
        .unwrap();
    assert_eq!(c.check("get", "/api/orders", res).await.status, 403);

    let res = app.get_as_admin("/metrics").await;
    assert_eq!(c.check("get", "/metrics", res).await.status, 200);
    let res = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(c.check("get", "/metrics", res).await.status, 200);
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(c.check("get", "/metrics", res).await.status, 401);
}

#[tokio::test]
async fn receipt_not_ready_and_rate_limit_answers_match_the_document() {
    let app = spawn_app_with(
        &[
            ("ORDERFLOW__RATE_LIMIT__BURST", "1"),
            ("ORDERFLOW__RATE_LIMIT__ORDERS_PER_MINUTE", "1"),
        ],
        false,
    )
    .await;
    let c = contract(&app).await;
    let res = app.post_order(&order_body("sku-mug", 1)).await;
    let created = c.check("post", "/api/orders", res).await;
    assert_eq!(created.status, 201);
    let created = created.json();
    let res = app
        .client
        .get(app.url(&format!(
            "/api/orders/{}/receipt",
            created["orderId"].as_str().unwrap()
        )))
        .bearer_auth(created["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let not_ready = c.check("get", "/api/orders/{order_id}/receipt", res).await;
    assert_eq!(not_ready.status, 409);
    assert_eq!(not_ready.json()["error"]["code"], "RECEIPT_NOT_READY");

    let res = app.post_order(&order_body("sku-mug", 1)).await;
    let limited = c.check("post", "/api/orders", res).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["error"]["code"], "RATE_LIMITED");
}

/// Recording a payment: every answer, right or wrong, is one the document lists, with its
/// schema.
#[tokio::test]
async fn payment_answers_match_the_document() {
    let app = spawn_app_with(&[("ORDERFLOW__ORDERS__INVOICE_ENABLED", "true")], false).await;
    let c = contract(&app).await;
    let s = app.services.clone();
    let product = s.inventory.list_products().await.unwrap().remove(0);
    let mut waiting = crate::conformance::order_for(&[(&product, 1)]);
    waiting.payment = None;
    waiting.status = orderflow::domain::OrderStatus::AwaitingPayment;
    waiting.payment_due = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    s.store.insert_order(&waiting, None).await.unwrap();
    let mut paid = waiting.clone();
    paid.order_id = orderflow::domain::OrderId::generate();
    paid.status = orderflow::domain::OrderStatus::Completed;
    paid.invoice_payment = Some(orderflow::domain::InvoicePayment {
        reference: "r-1".into(),
        recorded_by: "admin console".into(),
        recorded_at: chrono::Utc::now(),
    });
    s.store.insert_order(&paid, None).await.unwrap();
    let card = crate::conformance::order_for(&[(&product, 1)]);
    s.store.insert_order(&card, None).await.unwrap();

    let template = "/api/orders/{order_id}/payment";
    let send = |id: String, body: &'static str, key: Option<&'static str>, ct: &'static str| {
        let mut req = app
            .client
            .post(app.url(&format!("/api/orders/{id}/payment")))
            .header("content-type", ct)
            .body(body);
        if let Some(k) = key {
            req = req.header("X-API-Key", k);
        }
        req.send()
    };
    let key = Some(crate::helpers::ADMIN_KEY);
    let json = "application/json";
    let ok = r#"{"reference":"r-1"}"#;
    for (id, body, key, ct, status) in [
        (waiting.order_id.to_string(), ok, None, json, 401),
        (
            waiting.order_id.to_string(),
            ok,
            Some("wrong-key-0123456789-abcdefghijkl"),
            json,
            403,
        ),
        (
            waiting.order_id.to_string(),
            r#"{"reference":7}"#,
            key,
            json,
            400,
        ),
        (waiting.order_id.to_string(), ok, key, "text/plain", 415),
        ("ord_nope".to_owned(), ok, key, json, 404),
        (card.order_id.to_string(), ok, key, json, 409),
        (paid.order_id.to_string(), ok, key, json, 200),
        (waiting.order_id.to_string(), ok, key, json, 202),
    ] {
        let res = send(id, body, key, ct).await.unwrap();
        assert_eq!(
            c.check("post", template, res).await.status,
            status,
            "{body} {key:?} {ct}"
        );
    }
}

#[tokio::test]
async fn catalog_answers_match_the_document() {
    let app = spawn_app_with(&[], false).await;
    let c = contract(&app).await;
    let send = |method: reqwest::Method,
                path: &str,
                body: Option<&str>,
                key: Option<&str>,
                idem: Option<&str>| {
        let mut req = app.client.request(method, app.url(path));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        if let Some(k) = key {
            req = req.header("X-API-Key", k);
        }
        if let Some(k) = idem {
            req = req.header("Idempotency-Key", k);
        }
        req.send()
    };
    let key = Some(ADMIN_KEY);
    let create = r#"{"productId":"sku-doc","name":"Doc","price":"3.50","stock":2}"#;
    let (post, get, patch) = (
        reqwest::Method::POST,
        reqwest::Method::GET,
        reqwest::Method::PATCH,
    );
    for (body, key, status) in [
        (create, None, 401),
        (r#"{"productId":"sku-doc"}"#, key, 400),
        (create, key, 201),
        (create, key, 200),
        (
            r#"{"productId":"sku-doc","name":"Other","price":"3.50","stock":2}"#,
            key,
            409,
        ),
    ] {
        let res = send(post.clone(), "/api/products", Some(body), key, None)
            .await
            .unwrap();
        assert_eq!(
            c.check("post", "/api/products", res).await.status,
            status,
            "{body}"
        );
    }
    let one = "/api/products/{product_id}";
    for (path, status) in [
        ("/api/products/sku-doc", 200),
        ("/api/products/sku-none", 404),
    ] {
        let res = send(get.clone(), path, None, None, None).await.unwrap();
        assert_eq!(c.check("get", one, res).await.status, status, "{path}");
    }
    for (path, body, status) in [
        ("/api/products/sku-doc", r#"{"price":"4.00"}"#, 200),
        ("/api/products/sku-doc", r#"{"stock":9}"#, 400),
        ("/api/products/sku-none", r#"{"name":"x"}"#, 404),
    ] {
        let res = send(patch.clone(), path, Some(body), key, None)
            .await
            .unwrap();
        assert_eq!(
            c.check("patch", one, res).await.status,
            status,
            "{path} {body}"
        );
    }
    let stock = "/api/products/{product_id}/stock";
    let add = r#"{"kind":"RECEIVED","quantity":3,"reason":"delivery"}"#;
    for (path, body, idem, status) in [
        ("/api/products/sku-doc/stock", add, None, 400),
        ("/api/products/sku-doc/stock", add, Some("d-1"), 201),
        ("/api/products/sku-doc/stock", add, Some("d-1"), 200),
        (
            "/api/products/sku-doc/stock",
            r#"{"kind":"CORRECTED","quantity":-9,"reason":"x"}"#,
            Some("d-2"),
            409,
        ),
        ("/api/products/sku-none/stock", add, Some("d-3"), 404),
    ] {
        let res = send(post.clone(), path, Some(body), key, idem)
            .await
            .unwrap();
        assert_eq!(
            c.check("post", stock, res).await.status,
            status,
            "{body} {idem:?}"
        );
    }
    let ledger = "/api/products/{product_id}/ledger";
    for (path, key, status) in [
        ("/api/products/sku-doc/ledger?limit=1", key, 200),
        ("/api/products/sku-doc/ledger", None, 401),
        ("/api/products/sku-doc/ledger?limit=0", key, 400),
        ("/api/products/sku-none/ledger", key, 404),
    ] {
        let res = send(get.clone(), path, None, key, None).await.unwrap();
        assert_eq!(c.check("get", ledger, res).await.status, status, "{path}");
    }
}

/// Text and prices as the document patterns them and as the server reads them agree, value by
/// value: trimmed white space (Unicode's, not a regex's `\s`), control and invisible
/// characters, the length limit counted after trimming, blank where blank means absent, and
/// prices as strings or JSON numbers.
#[tokio::test]
async fn the_documented_text_and_price_rules_are_the_servers() {
    let app = spawn_app().await;
    let c = contract(&app).await;
    let schema = c.request_schema("post", "/api/products");
    let a100 = "a".repeat(100);
    let texts = [
        "Teapot".to_owned(),
        "  Teapot \n".to_owned(),
        "\u{2003}Tea\u{3000}".to_owned(),
        "Tea\u{a0}pot".to_owned(),
        "Tea\u{0}pot".to_owned(),
        "Tea\npot".to_owned(),
        "Tea\u{85}pot".to_owned(),
        "Tea\u{200b}pot".to_owned(),
        "\u{1c}Teapot".to_owned(),
        "\u{2028}Teapot".to_owned(),
        "Tea\u{e0041}pot".to_owned(),
        "T".to_owned(),
        a100.clone(),
        format!(" {a100}\t"),
        format!("{a100}a"),
        String::new(),
        "   ".to_owned(),
    ];
    let prices = [
        json!("24.00"),
        json!(" 24.5 "),
        json!("24.500"),
        json!("24.505"),
        json!("-1"),
        json!("1e3"),
        json!("999999999999.99"),
        json!("1000000000000"),
        json!(""),
        json!(24.5),
        json!(0.57),
        json!(0.005),
        // Floating-point noise off a whole cent. (Not 57.0 * 0.01: validators disagree on
        // its `multipleOf: 0.01`; schemathesis's refuses it, as the server does.)
        json!(0.1 + 0.2),
        json!(1.000_000_000_000_000_2),
        json!(-1),
        json!(999999999999.99),
        json!(1e13),
    ];
    let mut bodies = Vec::new();
    for t in &texts {
        bodies.push(("name", json!({"name": t, "price": "1", "stock": 1})));
        bodies.push((
            "description",
            json!({"name": "x", "description": t, "price": "1", "stock": 1}),
        ));
    }
    for p in &prices {
        bodies.push(("price", json!({"name": "x", "price": p, "stock": 1})));
    }
    for (i, (field, mut body)) in bodies.into_iter().enumerate() {
        body["productId"] = json!(format!("sku-rule-{i}"));
        let documented = c.validate(&schema, &body).is_ok();
        let res = app
            .client
            .post(app.url("/api/products"))
            .header("X-API-Key", ADMIN_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        let checked = c.check("post", "/api/products", res).await;
        let accepted = checked.status == 201;
        if !accepted {
            assert_eq!(
                (checked.status, checked.json()["error"]["field"].as_str()),
                (400, Some(field)),
                "{body}"
            );
        }
        assert_eq!(
            documented, accepted,
            "{field} of {body}: the document says {documented}, the server {accepted}"
        );
    }
}
