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
    let eml = std::fs::read_to_string(app.data_dir.path().join(format!("mail/{id}-failure.eml")))
        .unwrap();
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
/// order completes; anyone else, or an invoice order above the unit cap, is refused.
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
    assert_eq!(done["status"], "COMPLETED");
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
