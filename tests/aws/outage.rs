//! A dead dependency: every AWS endpoint accepts connections and never answers. Bounded
//! timeouts and retries must turn that into a quick 503 with `Retry-After` and a failing
//! `/readyz`, never a hung request. Needs no emulator.

use orderflow::adapters::aws::{sdk_config, services_with};
use orderflow::config::{AwsSettings, Settings};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A TCP endpoint that accepts and then says nothing, holding the sockets open.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_dead_backend_answers_503_quickly_and_fails_readiness() {
    let endpoint = black_hole().await;
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::NamedTempFile::new().unwrap();
    let vars: Vec<(String, String)> = [
        ("ORDERFLOW__BACKEND", "aws"),
        ("ORDERFLOW__HTTP__ADDR", "127.0.0.1:0"),
        (
            "ORDERFLOW__EMBEDDED__DATA_DIR",
            data.path().to_str().unwrap(),
        ),
        ("ORDERFLOW__AWS__ENDPOINT_URL", endpoint.as_str()),
        ("ORDERFLOW__AWS__REGION", "us-east-1"),
        (
            "ORDERFLOW__AWS__QUEUE_URL",
            &format!("{endpoint}/123456789012/orders"),
        ),
        (
            "ORDERFLOW__AWS__DLQ_URL",
            &format!("{endpoint}/123456789012/orders-dlq"),
        ),
        ("ORDERFLOW__AWS__ORDERS_TABLE", "orders"),
        ("ORDERFLOW__AWS__PRODUCTS_TABLE", "products"),
        ("ORDERFLOW__AWS__STATE_TABLE", "state"),
        ("ORDERFLOW__AWS__RECEIPTS_BUCKET", "receipts"),
        (
            "ORDERFLOW__AWS__EVENTS_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:events",
        ),
        (
            "ORDERFLOW__AWS__ALARMS_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:alarms",
        ),
        ("ORDERFLOW__AWS__ATTEMPT_TIMEOUT_MS", "300"),
        ("ORDERFLOW__AWS__OPERATION_TIMEOUT_MS", "1000"),
        ("ORDERFLOW__AWS__MAX_ATTEMPTS", "2"),
        (
            "ORDERFLOW__AUTH__ADMIN_API_KEYS",
            "test-admin-key-0123456789-abcdefghij",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let settings = Settings::load_from(Some(empty.path()), vars).expect("valid settings");
    let aws: &AwsSettings = &settings.aws;
    let sdk = sdk_config(aws)
        .await
        .into_builder()
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "outage"),
        ))
        .build();
    // Not `Services::from_settings`: seeding the catalog would itself fail against the hole.
    let services = services_with(&sdk, aws);
    let app = orderflow::http::Application::build(Arc::new(settings), services).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();

    let started = Instant::now();
    let res = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let text = res.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["checks"]["store"], "fail", "{body}");
    assert_eq!(body["checks"]["queue"], "fail", "{body}");
    assert!(
        !text.contains("dynamodb") && !text.contains("sqs") && !text.contains("timed out"),
        "no backend error text in the answer: {text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let res = client
        .post(format!("{base}/api/orders"))
        .json(&serde_json::json!({
            "customerId": "cust-1",
            "customerEmail": "ann@example.com",
            "items": [{"productId": "sku-mug", "quantity": 1}],
            "shippingAddress": {"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield",
                                "postalCode": "12345", "country": "US"},
            "payment": {"cardNumber": "4242 4242 4242 4242"}
        }))
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        res.status(),
        503,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert!(elapsed < Duration::from_secs(5), "answered in {elapsed:?}");
    assert_eq!(res.headers()["retry-after"], "1");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE", "{body}");

    // Liveness does not depend on the backends: the instance is not replaced for an AWS outage.
    for path in ["/livez", "/healthz"] {
        let started = Instant::now();
        let res = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{path} waits for nothing"
        );
    }
    handle.stop(false).await;
}
