//! Metrics, rate limits and CORS as an operator and a storefront on another origin see them.
//!
//! Metrics are process-wide and tests in this binary run side by side, so the metric tests
//! compare before/after with "grew by at least": other tests only ever add.

use crate::helpers::{order_body, spawn_app, spawn_app_with, TestApp, ADMIN_KEY};

/// Sum of the samples of `name` whose labels include every `label="value"` in `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((m, r)) => (m, r),
                None => (series, ""),
            };
            (metric == name && labels.iter().all(|lbl| rest.contains(lbl)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    let res = app.get_as_admin("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    res.text().await.unwrap()
}

#[tokio::test]
async fn metrics_change_as_orders_flow() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    let value_before = sample(&before, "orderflow_order_value_minor_units_sum", &[]);
    app.place_and_finish(&order_body("sku-mug", 2)).await;
    app.place_and_finish(&order_body("sku-mug", 1)).await;
    let mut declined = order_body("sku-mug", 1);
    declined["payment"]["cardNumber"] = "4000000000000002".into();
    let (_, done) = app.place_and_finish(&declined).await;
    assert_eq!(done["status"], "FAILED");
    let after = scrape(&app).await;

    let grew =
        |name: &str, labels: &[&str]| sample(&after, name, labels) - sample(&before, name, labels);
    assert!(grew("orderflow_orders_created_total", &["currency=\"USD\""]) >= 3.0);
    assert!(
        grew(
            "orderflow_orders_processed_total",
            &["outcome=\"completed\""]
        ) >= 2.0
    );
    assert!(grew("orderflow_orders_processed_total", &["outcome=\"failed\""]) >= 1.0);
    assert!(
        grew(
            "orderflow_orders_failed_total",
            &["reason=\"PAYMENT_DECLINED\""]
        ) >= 1.0
    );
    assert!(
        grew(
            "orderflow_payments_processed_total",
            &["outcome=\"approved\""]
        ) >= 2.0
    );
    assert!(
        grew(
            "orderflow_payments_processed_total",
            &["outcome=\"declined\""]
        ) >= 1.0
    );
    assert!(
        grew(
            "orderflow_notifications_sent_total",
            &["kind=\"order_event\""]
        ) >= 3.0
    );
    assert!(grew("orderflow_notifications_sent_total", &["kind=\"email\""]) >= 3.0);
    assert!(grew("orderflow_receipt_render_seconds_count", &[]) >= 2.0);
    assert!(
        grew(
            "orderflow_worker_step_duration_seconds_count",
            &["step=\"charge\""]
        ) >= 3.0
    );
    assert!(
        grew(
            "orderflow_http_requests_total",
            &["route=\"/api/orders\"", "method=\"POST\"", "status=\"201\""]
        ) >= 3.0
    );
    // Three mugs at 14.00 each, at least.
    assert!(sample(&after, "orderflow_order_value_minor_units_sum", &[]) - value_before >= 4200.0);
    // Routes are patterns, never raw ids.
    assert!(after.contains("route=\"/api/orders/{order_id}\""));
    assert!(!after.contains("route=\"/api/orders/ord_"));
    for gauge in [
        "orderflow_queue_depth",
        "orderflow_dlq_depth",
        "orderflow_queue_in_flight",
    ] {
        assert!(
            after.lines().any(|l| l.starts_with(gauge)),
            "{gauge} is exported"
        );
    }
}

#[tokio::test]
async fn invented_methods_add_no_metric_series() {
    let app = spawn_app_with(&[], false).await;
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{i}X").as_bytes()).unwrap();
        let res = app
            .client
            .request(method, app.url("/api/products"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    let text = scrape(&app).await;
    assert!(!text.contains("INVENTED"), "no series per invented method");
    assert!(
        sample(
            &text,
            "orderflow_http_requests_total",
            &["method=\"OTHER\"", "route=\"/api/products\""]
        ) >= 50.0
    );
}

#[tokio::test]
async fn metrics_need_the_admin_key_or_move_to_their_own_listener() {
    let app = spawn_app_with(&[], false).await;
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("not-the-admin-key-000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let data = tempfile::tempdir().unwrap();
    let settings = std::sync::Arc::new(crate::helpers::test_settings(
        data.path(),
        &[("ORDERFLOW__METRICS__ADDR", "127.0.0.1:0")],
    ));
    let services = orderflow::ports::Services::from_settings(&settings)
        .await
        .unwrap();
    let separate = orderflow::http::Application::build(settings, services).unwrap();
    let (main_port, metrics_port) = (separate.port(), separate.metrics_port().unwrap());
    let handle = separate.handle();
    tokio::spawn(separate.run_until_stopped());
    let client = reqwest::Client::new();
    let res = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "no key on the private listener");
    assert!(res.text().await.unwrap().contains("orderflow_queue_depth"));
    let res = client
        .get(format!("http://127.0.0.1:{main_port}/metrics"))
        .header("X-API-Key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "not on the public listener then");
    handle.stop(false).await;
}

#[tokio::test]
async fn order_placement_is_limited_per_client_with_429_and_retry_after() {
    let app = spawn_app_with(
        &[
            ("ORDERFLOW__RATE_LIMIT__BURST", "3"),
            ("ORDERFLOW__RATE_LIMIT__ORDERS_PER_MINUTE", "2"),
        ],
        false,
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.post_order(&order_body("sku-mug", 1)).await.status(),
            201
        );
    }
    let res = app.post_order(&order_body("sku-mug", 1)).await;
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "Retry-After {wait}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    // Without a trusted proxy, a forged X-Forwarded-For does not buy a fresh allowance.
    let res = app
        .client
        .post(app.url("/api/orders"))
        .header("X-Forwarded-For", "203.0.113.77")
        .json(&order_body("sku-mug", 1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    // Reads are not limited.
    assert_eq!(
        app.client
            .get(app.url("/api/products"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let app = spawn_app_with(
        &[
            ("ORDERFLOW__RATE_LIMIT__BURST", "1"),
            ("ORDERFLOW__RATE_LIMIT__ORDERS_PER_MINUTE", "1"),
            ("ORDERFLOW__RATE_LIMIT__TRUSTED_PROXY_HOPS", "1"),
        ],
        false,
    )
    .await;
    let post_as = |client_chain: &'static str| {
        app.client
            .post(app.url("/api/orders"))
            .header("X-Forwarded-For", client_chain)
            .json(&order_body("sku-mug", 1))
            .send()
    };
    assert_eq!(post_as("198.51.100.1").await.unwrap().status(), 201);
    assert_eq!(post_as("198.51.100.1").await.unwrap().status(), 429);
    // The client may prepend anything; the ALB's entry (rightmost) decides.
    assert_eq!(
        post_as("198.51.100.2, 198.51.100.1")
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(post_as("198.51.100.2").await.unwrap().status(), 201);
}

#[tokio::test]
async fn rate_limiting_switched_off_lets_a_burst_through() {
    let app = spawn_app_with(
        &[
            ("ORDERFLOW__RATE_LIMIT__ENABLED", "false"),
            ("ORDERFLOW__RATE_LIMIT__BURST", "1"),
        ],
        false,
    )
    .await;
    for _ in 0..5 {
        assert_eq!(
            app.post_order(&order_body("sku-mug", 1)).await.status(),
            201
        );
    }
}

#[tokio::test]
async fn cors_allows_only_configured_origins_with_the_api_headers() {
    let app = spawn_app_with(
        &[(
            "ORDERFLOW__CORS__ALLOWED_ORIGINS",
            "https://shop.example.com",
        )],
        false,
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/orders"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type, idempotency-key, authorization",
            )
            .send()
    };
    let res = preflight("https://shop.example.com").await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "https://shop.example.com");
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for needed in ["idempotency-key", "authorization", "content-type"] {
        assert!(allowed.contains(needed), "{needed} in {allowed}");
    }
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));

    let res = preflight("https://evil.example.net").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    let res = app
        .client
        .post(app.url("/api/orders"))
        .header("Origin", "https://shop.example.com")
        .json(&order_body("sku-mug", 1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("location"), "{exposed}");
}

#[tokio::test]
async fn without_configured_origins_there_is_no_cross_origin_access() {
    let app = spawn_app_with(&[], false).await;
    let res = app
        .client
        .get(app.url("/api/products"))
        .header("Origin", "https://shop.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
}
