//! An order's whole life: accepted → COMPLETED with a PDF receipt, or FAILED with a reason.

use crate::helpers::{order_body, pdf_text, spawn_app};
use orderflow::domain::OrderId;
use serde_json::{json, Value};

#[tokio::test]
async fn an_order_completes_with_a_pdf_receipt() {
    let app = spawn_app().await;
    let before = app.stock_of("sku-mug").await;
    let mut body = order_body("sku-mug", 2);
    body["items"][0]["price"] = json!("14.00");
    let res = app.post_order(&body).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = res.json().await.unwrap();
    let id = created["orderId"].as_str().unwrap();
    let token = created["accessToken"].as_str().unwrap();
    assert_eq!(location, format!("/api/orders/{id}"));
    assert_eq!(created["status"], "PENDING");
    assert_eq!(
        created["total"]["amount"], 2800,
        "priced from the catalog: 2 × 14.00"
    );

    let done = app.wait_final(id, token).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["failureReason"], Value::Null);
    let timeline: Vec<&str> = done["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(timeline, ["PENDING", "PROCESSING", "COMPLETED"]);
    assert_eq!(done["payment"]["last4"], "4242");
    assert!(
        !done.to_string().contains("4242424242424242"),
        "the card number is never stored"
    );
    assert_eq!(app.stock_of("sku-mug").await, before - 2);

    let receipt_url = done["receiptUrl"].as_str().unwrap();
    let res = app
        .client
        .get(app.url(receipt_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let pdf = res.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    if let Some(text) = pdf_text(&pdf) {
        assert!(text.contains(id), "receipt text names the order: {text}");
        assert!(text.contains("Stoneware Mug"), "{text}");
        assert!(text.contains("28.00 USD"), "{text}");
    }

    let eml = std::fs::read_to_string(
        app.data_dir
            .path()
            .join(format!("mail/{id}-confirmation.eml")),
    )
    .unwrap();
    assert!(eml.contains("To: ann@example.com\r\n"), "{eml}");
    assert!(
        eml.contains(&format!("filename=\"receipt-{id}.pdf\"")),
        "the receipt is attached"
    );
    let attached = eml
        .split(&format!("filename=\"receipt-{id}.pdf\""))
        .nth(1)
        .and_then(|rest| rest.split("\r\n\r\n").nth(1))
        .and_then(|body| body.split("\r\n--").next())
        .expect("an attachment body");
    let attached = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        attached.replace("\r\n", ""),
    )
    .unwrap();
    assert_eq!(attached, pdf, "the attachment is the stored receipt");

    let order_id = OrderId::parse(id).unwrap();
    assert_eq!(app.services.payments.charges_for(id).await.unwrap(), 1);
    let events = app.services.notifier.recent_events(10).await.unwrap();
    let mine: Vec<_> = events
        .iter()
        .filter(|e| e.order_id == order_id.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].event_type.as_str(), "OrderCompleted");
    assert_eq!(mine[0].customer_email, "ann@example.com");
    assert_eq!(
        mine[0].receipt_key.as_deref(),
        Some(format!("receipts/{id}.pdf").as_str())
    );
}

#[tokio::test]
async fn an_order_over_stock_fails_and_takes_no_stock() {
    let app = spawn_app().await;
    let limited = app.stock_of("sku-limited").await;
    let mug = app.stock_of("sku-mug").await;
    let mut body = order_body("sku-mug", 1);
    body["items"] = json!([{"productId": "sku-mug", "quantity": 1}, {"productId": "sku-limited", "quantity": limited + 1}]);
    let (created, done) = app.place_and_finish(&body).await;
    assert_eq!(done["status"], "FAILED");
    assert_eq!(done["failureReason"], "OUT_OF_STOCK");
    assert_eq!(app.stock_of("sku-limited").await, limited);
    assert_eq!(
        app.stock_of("sku-mug").await,
        mug,
        "all or nothing: the mug line took nothing either"
    );
    let id = created["orderId"].as_str().unwrap();
    assert_eq!(
        app.services.payments.charges_for(id).await.unwrap(),
        0,
        "no charge"
    );
    let res = app
        .client
        .get(app.url(&format!("/api/orders/{id}/receipt")))
        .bearer_auth(created["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let events = app.services.notifier.recent_events(10).await.unwrap();
    assert!(events.iter().any(|e| e.order_id == id
        && e.event_type.as_str() == "OrderFailed"
        && e.failure_reason.as_deref() == Some("OUT_OF_STOCK")));
}

#[tokio::test]
async fn a_declined_card_fails_and_restores_stock() {
    let app = spawn_app().await;
    let before = app.stock_of("sku-pen").await;
    let mut body = order_body("sku-pen", 3);
    body["payment"] = json!({"cardNumber": "4000000000000002"});
    let (created, done) = app.place_and_finish(&body).await;
    assert_eq!(done["status"], "FAILED");
    assert_eq!(done["failureReason"], "PAYMENT_DECLINED");
    assert_eq!(
        app.stock_of("sku-pen").await,
        before,
        "the reservation was released"
    );
    assert_eq!(
        app.services
            .payments
            .charges_for(created["orderId"].as_str().unwrap())
            .await
            .unwrap(),
        0
    );
    let id = created["orderId"].as_str().unwrap();
    let eml = read_when_written(&app.data_dir.path().join(format!("mail/{id}-failure.eml"))).await;
    assert!(eml.contains("could not complete order"), "{eml}");
}

fn without_card(product: &str, quantity: u32, customer: &str) -> Value {
    let mut body = order_body(product, quantity);
    body.as_object_mut().unwrap().remove("payment");
    body.as_object_mut().unwrap().remove("shippingAddress");
    body["customerId"] = json!(customer);
    body
}

/// Security review H-2: by default an order without a card is refused (400 naming the card
/// field) before it takes stock or sends mail; nothing is recorded.
#[tokio::test]
async fn by_default_an_order_without_a_card_is_refused() {
    let app = spawn_app().await;
    let stock = app.stock_of("sku-tote").await;
    let res = app.post_order(&without_card("sku-tote", 1, "cust-1")).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "PAYMENT_REQUIRED", "{err}");
    assert_eq!(err["error"]["field"], "payment.cardNumber");
    let listed: Value = app.get_as_admin("/api/orders").await.json().await.unwrap();
    assert!(listed["orders"].as_array().unwrap().is_empty());
    assert_eq!(app.stock_of("sku-tote").await, stock);
}

/// With invoicing on for approved customers: one of them orders without a card and the
/// order holds its stock awaiting payment; anyone else, or an invoice order above the unit
/// cap, is refused.
#[tokio::test]
async fn invoice_orders_for_approved_customers_within_the_cap() {
    let app = crate::helpers::spawn_app_with(
        &[
            ("ORDERFLOW__ORDERS__INVOICE_ENABLED", "true"),
            ("ORDERFLOW__ORDERS__INVOICE_CUSTOMERS", "acme-ltd,globex"),
            ("ORDERFLOW__ORDERS__INVOICE_MAX_UNITS", "3"),
        ],
        true,
    )
    .await;
    let (_, done) = app
        .place_and_finish(&without_card("sku-tote", 3, "globex"))
        .await;
    assert_eq!(done["status"], "AWAITING_PAYMENT");
    assert_eq!(done["payment"], Value::Null, "{done}");

    let res = app
        .post_order(&without_card("sku-tote", 1, "someone-else"))
        .await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "PAYMENT_REQUIRED");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("approved customers"),
        "{err}"
    );

    let res = app
        .post_order(&without_card("sku-tote", 4, "acme-ltd"))
        .await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "INVOICE_LIMIT");
    assert_eq!(err["error"]["field"], "items");

    // A card order is not an invoice order: no cap, no list.
    let mut by_card = order_body("sku-tote", 4);
    by_card["customerId"] = json!("someone-else");
    assert_eq!(app.post_order(&by_card).await.status(), 201);
}

#[tokio::test]
async fn a_stale_price_is_refused_with_price_changed() {
    let app = spawn_app().await;
    let mut body = order_body("sku-mug", 1);
    body["items"][0]["price"] = json!(13.5);
    let res = app.post_order(&body).await;
    assert_eq!(res.status(), 409);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "PRICE_CHANGED");
    assert_eq!(err["error"]["field"], "items[0].price");
    assert!(err["error"]["message"].as_str().unwrap().contains("14.00"));
    body["items"][0]["price"] = json!(14);
    assert_eq!(
        app.post_order(&body).await.status(),
        201,
        "a matching price (as a number) is accepted"
    );
}

/// The receipt route answers the stored PDF's bytes itself (the storefront fetches it and
/// makes a blob: no redirect to another origin), inline, with its file name, never cached
/// by a shared cache.
#[tokio::test]
async fn the_receipt_route_serves_the_stored_pdf_bytes() {
    let app = spawn_app().await;
    let (created, done) = app.place_and_finish(&order_body("sku-mug", 1)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let id = created["orderId"].as_str().unwrap();
    let res = app
        .client
        .get(app.url(&format!("/api/orders/{id}/receipt")))
        .bearer_auth(created["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(
        headers["content-disposition"],
        format!("inline; filename=\"receipt-{id}.pdf\"").as_str()
    );
    assert_eq!(headers["cache-control"], "private, no-store");
    assert!(!headers.contains_key("location"), "not a redirect");
    let pdf = res.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let stored = app
        .services
        .receipts
        .get(&format!("receipts/{id}.pdf"))
        .await
        .unwrap();
    assert_eq!(pdf.as_ref(), stored.as_slice(), "the stored bytes");
}

/// A COMPLETED order whose receipt is no longer stored (expired, deleted) answers a JSON 404
/// saying so: no 500, and no 503 that would have the client retry for nothing.
#[tokio::test]
async fn a_completed_order_without_its_stored_receipt_answers_404() {
    let app = spawn_app().await;
    let (created, done) = app.place_and_finish(&order_body("sku-mug", 1)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let id = created["orderId"].as_str().unwrap();
    std::fs::remove_file(app.data_dir.path().join(format!("receipts/{id}.pdf"))).unwrap();
    let res = app
        .client
        .get(app.url(&format!("/api/orders/{id}/receipt")))
        .bearer_auth(created["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("receipt is no longer stored"),
        "{body}"
    );
}

async fn record_payment(
    app: &crate::helpers::TestApp,
    id: &str,
    body: &Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(&format!("/api/orders/{id}/payment")))
        .json(body);
    if let Some(k) = key {
        req = req.header("X-API-Key", k);
    }
    req.send().await.unwrap()
}

/// The file's text once it exists (the worker writes it just after the status it follows).
async fn read_when_written(path: &std::path::Path) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn invoicing(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![("ORDERFLOW__ORDERS__INVOICE_ENABLED", "true")];
    env.extend_from_slice(extra);
    env
}

/// Security review H-2: an order on invoice takes its stock and waits AWAITING_PAYMENT (an
/// e-mail asks for the payment, no receipt yet); the operator records the payment and the
/// worker completes it with a receipt saying so. Recording is admin-only, checked and
/// idempotent.
#[tokio::test]
async fn an_order_on_invoice_holds_its_stock_until_the_payment_is_recorded() {
    let app = crate::helpers::spawn_app_with(&invoicing(&[]), true).await;
    let before = app.stock_of("sku-tote").await;
    let (created, held) = app
        .place_and_finish(&without_card("sku-tote", 2, "globex"))
        .await;
    let id = created["orderId"].as_str().unwrap();
    let token = created["accessToken"].as_str().unwrap();
    assert_eq!(held["status"], "AWAITING_PAYMENT", "{held}");
    let due = chrono::DateTime::parse_from_rfc3339(held["paymentDue"].as_str().unwrap()).unwrap();
    let hours = (due.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!(
        (71..=72).contains(&hours),
        "held for the default 72 h: {hours}"
    );
    assert!(
        held.get("receiptUrl").is_none(),
        "nothing paid, no receipt: {held}"
    );
    assert_eq!(
        app.stock_of("sku-tote").await,
        before - 2,
        "the stock is held"
    );
    let mail = app.data_dir.path().join("mail");
    let invoice = read_when_written(&mail.join(format!("{id}-invoice.eml"))).await;
    assert!(invoice.contains("please pay for order"), "{invoice}");
    assert!(!mail.join(format!("{id}-confirmation.eml")).exists());

    // Admin only, a reference required, nothing else accepted.
    let paid = json!({"reference": "transfer 0042"});
    assert_eq!(record_payment(&app, id, &paid, None).await.status(), 401);
    assert_eq!(
        record_payment(&app, id, &paid, Some("not-the-key-0123456789abcdefghij"))
            .await
            .status(),
        403
    );
    for (bad, field) in [
        (json!({}), "reference"),
        (json!({"reference": ""}), "reference"),
        (json!({"reference": "x".repeat(201)}), "reference"),
        (json!({"reference": "r", "amount": 1}), "amount"),
    ] {
        let res = record_payment(&app, id, &bad, Some(crate::helpers::ADMIN_KEY)).await;
        assert_eq!(res.status(), 400, "{bad}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["field"], field, "{err}");
    }
    let res = record_payment(
        &app,
        &OrderId::generate().to_string(),
        &paid,
        Some(crate::helpers::ADMIN_KEY),
    )
    .await;
    assert_eq!(res.status(), 404);

    let res = record_payment(&app, id, &paid, Some(crate::helpers::ADMIN_KEY)).await;
    assert_eq!(res.status(), 202);
    let done = app.wait_status(id, token, &["COMPLETED", "FAILED"]).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["invoicePayment"]["reference"], "transfer 0042");
    assert!(done.get("paymentDue").is_none());
    let statuses: Vec<&str> = done["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["PENDING", "PROCESSING", "AWAITING_PAYMENT", "COMPLETED"]
    );
    assert_eq!(
        app.stock_of("sku-tote").await,
        before - 2,
        "a paid order keeps its stock"
    );
    // The e-mail goes out right after the status write.
    let confirmation = read_when_written(&mail.join(format!("{id}-confirmation.eml"))).await;
    assert!(
        confirmation.contains("application/pdf"),
        "the receipt is attached now"
    );
    let pdf = app
        .client
        .get(app.url(&format!("/api/orders/{id}/receipt")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    if let Some(text) = pdf_text(&pdf) {
        assert!(text.contains("Paid on invoice: transfer 0042"), "{text}");
    }

    // The same payment again is a duplicate; another one is refused: the order is paid.
    assert_eq!(
        record_payment(&app, id, &paid, Some(crate::helpers::ADMIN_KEY))
            .await
            .status(),
        200
    );
    assert_eq!(
        record_payment(&app, id, &paid, Some(crate::helpers::ADMIN_KEY))
            .await
            .status(),
        200
    );
    let res = record_payment(
        &app,
        id,
        &json!({"reference": "another"}),
        Some(crate::helpers::ADMIN_KEY),
    )
    .await;
    assert_eq!(res.status(), 409);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "PAYMENT_ALREADY_RECORDED", "{err}");
    // A card order never waits for a payment.
    let (card, _) = app.place_and_finish(&order_body("sku-tote", 1)).await;
    let res = record_payment(
        &app,
        card["orderId"].as_str().unwrap(),
        &paid,
        Some(crate::helpers::ADMIN_KEY),
    )
    .await;
    assert_eq!(res.status(), 409);
}

/// Security review H-2: an unpaid hold runs out. The reconciler's pass hands the lapsed order
/// to the worker, which makes it FAILED `PAYMENT_OVERDUE`, gives the stock back once, tells
/// the customer, and stops counting its units against the caps.
#[tokio::test]
async fn an_unpaid_hold_runs_out_and_gives_the_stock_back() {
    let app = crate::helpers::spawn_app_with(
        &invoicing(&[
            ("ORDERFLOW__ORDERS__INVOICE_HOLD_SECS", "1"),
            ("ORDERFLOW__ORDERS__INVOICE_MAX_UNITS", "4"),
            ("ORDERFLOW__ORDERS__INVOICE_UNITS_PER_CUSTOMER", "4"),
            ("ORDERFLOW__WORKER__RECONCILE_SECS", "1"),
        ]),
        true,
    )
    .await;
    let before = app.stock_of("sku-tote").await;
    let (created, held) = app
        .place_and_finish(&without_card("sku-tote", 3, "globex"))
        .await;
    let id = created["orderId"].as_str().unwrap();
    let token = created["accessToken"].as_str().unwrap();
    assert_eq!(held["status"], "AWAITING_PAYMENT");
    assert_eq!(app.stock_of("sku-tote").await, before - 3);
    // The customer's cap is taken while the order is unpaid.
    let res = app.post_order(&without_card("sku-tote", 2, "globex")).await;
    assert_eq!(res.status(), 409);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "INVOICE_LIMIT", "{err}");
    // An order on invoice that fails (out of stock) stops counting at once.
    let (_, failed) = app
        .place_and_finish(&without_card("sku-limited", 4, "initech"))
        .await;
    assert_eq!(failed["failureReason"], "OUT_OF_STOCK", "{failed}");
    let (fits_created, fits) = app
        .place_and_finish(&without_card("sku-mug", 4, "initech"))
        .await;
    assert_eq!(fits["status"], "AWAITING_PAYMENT", "{fits}");

    // The reconciler the worker runs (every second here) hands both lapsed holds, globex's
    // and initech's, to the worker.
    let done = app.wait_status(id, token, &["FAILED", "COMPLETED"]).await;
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["failureReason"], "PAYMENT_OVERDUE");
    let fits_done = app
        .wait_status(
            fits_created["orderId"].as_str().unwrap(),
            fits_created["accessToken"].as_str().unwrap(),
            &["FAILED", "COMPLETED"],
        )
        .await;
    assert_eq!(fits_done["failureReason"], "PAYMENT_OVERDUE", "{fits_done}");
    assert_eq!(app.stock_of("sku-tote").await, before, "the stock is back");
    let failure =
        read_when_written(&app.data_dir.path().join(format!("mail/{id}-failure.eml"))).await;
    assert!(failure.contains("could not complete order"), "{failure}");
    let waiting = app
        .services
        .store
        .list_orders(
            Some(orderflow::domain::OrderStatus::AwaitingPayment),
            10,
            None,
        )
        .await
        .unwrap();
    assert!(waiting.orders.is_empty(), "nothing lapsed is left");
    // Too late to pay: the shop has to take the money back, so it is refused.
    let res = record_payment(
        &app,
        id,
        &json!({"reference": "late"}),
        Some(crate::helpers::ADMIN_KEY),
    )
    .await;
    assert_eq!(res.status(), 409);
    // The customer may order on invoice again: the lapsed order no longer counts.
    let (_, next) = app
        .place_and_finish(&without_card("sku-tote", 3, "globex"))
        .await;
    assert_eq!(next["status"], "AWAITING_PAYMENT");
    // A second pass over a redelivered message does not give the stock back twice.
    let settings = crate::helpers::test_settings(app.data_dir.path(), &invoicing(&[]));
    let worker = orderflow::worker::Worker::from_settings(app.services.clone(), &settings);
    let redelivered =
        orderflow::ports::OrderMessage::order(&OrderId::parse(id).unwrap(), None).to_body();
    let stock = app.stock_of("sku-tote").await;
    let outcome = worker
        .process(&orderflow::ports::Delivery {
            message_id: "m".into(),
            receipt_handle: "gone".into(),
            body: redelivered,
            receive_count: 2,
        })
        .await;
    assert!(
        matches!(outcome, orderflow::worker::StepOutcome::Failed(_, _)),
        "{outcome:?}"
    );
    assert_eq!(app.stock_of("sku-tote").await, stock);
}

/// Security review H-2: unpaid orders on invoice may hold only so many units per customer id,
/// per e-mail address (whatever its case) and per client network; a retry of an order already
/// counted is still replayed, and a card order is never capped.
#[tokio::test]
async fn unpaid_orders_on_invoice_are_capped_per_customer_email_and_network() {
    let app = crate::helpers::spawn_app_with(
        &invoicing(&[
            ("ORDERFLOW__ORDERS__INVOICE_MAX_UNITS", "4"),
            ("ORDERFLOW__ORDERS__INVOICE_UNITS_PER_CUSTOMER", "4"),
            ("ORDERFLOW__ORDERS__INVOICE_UNITS_PER_EMAIL", "6"),
            ("ORDERFLOW__ORDERS__INVOICE_UNITS_PER_CLIENT", "8"),
        ]),
        false,
    )
    .await;
    let by = |customer: &str, email: &str, units: u32| {
        let mut b = without_card("sku-tote", units, customer);
        b["customerEmail"] = json!(email);
        b
    };
    let limited = |res: reqwest::Response| async move {
        assert_eq!(res.status(), 409);
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["code"], "INVOICE_LIMIT", "{err}");
        assert_eq!(err["error"]["field"], "items");
    };
    let first = app
        .post_order_with_key(&by("a", "ann@example.com", 3), "k-first")
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    limited(app.post_order(&by("a", "other@example.com", 2)).await).await; // customer: 3 + 2 > 4
    assert_eq!(
        app.post_order(&by("b", "ANN@example.com", 3))
            .await
            .status(),
        201
    ); // e-mail: 6
    limited(app.post_order(&by("c", "Ann@Example.com", 1)).await).await; // e-mail: 6 + 1 > 6
    assert_eq!(
        app.post_order(&by("d", "dan@example.com", 2))
            .await
            .status(),
        201
    ); // client: 8
    limited(app.post_order(&by("e", "eve@example.com", 1)).await).await; // client: 8 + 1 > 8
                                                                         // A retry of the first order is replayed, though the caps are full now.
    let again = app
        .post_order_with_key(&by("a", "ann@example.com", 3), "k-first")
        .await;
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["orderId"], first["orderId"]);
    let mut by_card = order_body("sku-tote", 5);
    by_card["customerId"] = json!("e");
    assert_eq!(app.post_order(&by_card).await.status(), 201);
    // Refused orders took nothing: three orders on invoice recorded, one by card, and the
    // hold records count exactly the three.
    let listed: Value = app.get_as_admin("/api/orders").await.json().await.unwrap();
    assert_eq!(listed["orders"].as_array().unwrap().len(), 4, "{listed}");
    let key = app.services.keys.data_key().await.unwrap();
    let caps = orderflow::holds::HoldCaps {
        per_customer: 4,
        per_email: 6,
        per_client: 8,
    };
    let records = orderflow::holds::hold_keys(
        &key,
        caps,
        &orderflow::domain::CustomerId::parse("a").unwrap(),
        &orderflow::domain::Email::parse("ann@example.com").unwrap(),
        Some("127.0.0.1".parse().unwrap()),
    );
    let mut held = Vec::new();
    for r in &records {
        held.push(
            orderflow::holds::held_units(app.services.records.as_ref(), &r.name)
                .await
                .unwrap(),
        );
    }
    assert_eq!(held, [3, 6, 8], "customer a, ann's address, this client");
}

/// Two different payments recorded for one order before the worker applies either (two
/// operators, a double submit): the first is taken, the second refused, so the receipt and
/// the order can only ever name the first; the same one again is harmless.
#[tokio::test]
async fn of_two_payments_recorded_for_one_order_only_the_first_is_taken() {
    let app = crate::helpers::spawn_app_with(&invoicing(&[]), false).await;
    let s = app.services.clone();
    let product = s.inventory.list_products().await.unwrap().remove(0);
    let mut order = crate::conformance::order_for(&[(&product, 1)]);
    order.payment = None;
    order.status = orderflow::domain::OrderStatus::AwaitingPayment;
    order.payment_due = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    s.store.insert_order(&order, None).await.unwrap();
    let id = order.order_id.to_string();
    let key = Some(crate::helpers::ADMIN_KEY);
    let first = json!({"reference": "transfer A"});
    assert_eq!(record_payment(&app, &id, &first, key).await.status(), 202);
    let res = record_payment(&app, &id, &json!({"reference": "transfer B"}), key).await;
    assert_eq!(res.status(), 409);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "PAYMENT_ALREADY_RECORDED", "{err}");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("transfer A"));
    assert_eq!(record_payment(&app, &id, &first, key).await.status(), 202);
    let queued = s
        .queue
        .receive(10, std::time::Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(queued.len(), 2, "the first payment, sent twice");
    let mut sent = Vec::new();
    for d in &queued {
        let m: orderflow::ports::OrderMessage = serde_json::from_str(&d.body).unwrap();
        sent.push(m.payment.unwrap());
    }
    assert_eq!(
        sent[0], sent[1],
        "the same payment both times (its time included)"
    );
    assert_eq!(sent[0].reference, "transfer A");
    assert!(sent[0].recorded_by.starts_with("api key "), "{:?}", sent[0]);
}
