//! Request economy: how many AWS requests one order costs, by API, counted by an SDK
//! interceptor on every client while orders flow through the API and the worker on the
//! emulator. Run with `--nocapture` to see the table (docs/benchmarks.md quotes it).

use crate::conformance::eventually;
use crate::moto::moto;
use orderflow::adapters::aws::{
    bootstrap, services_counted, services_with, BootstrapNames, RequestCounter,
};
use orderflow::config::{Backend, Settings};
use orderflow::domain::{OrderId, OrderStatus};
use orderflow::startup::{self, Roles, Shutdown};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const ORDERS: usize = 20;

#[tokio::test]
async fn requests_per_order_by_api() {
    let Some(m) = moto().await else { return };
    let sdk = m.sdk().await;
    let names = BootstrapNames {
        prefix: format!("ec{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
        max_receive_count: 5,
        visibility_timeout_secs: 30,
    };
    let aws = bootstrap(&sdk, &m.base_settings(), &names).await.unwrap();
    let empty = tempfile::NamedTempFile::new().unwrap();
    let mut settings = Settings::load_from(
        Some(empty.path()),
        vec![
            ("ORDERFLOW__HTTP__ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            (
                "ORDERFLOW__WORKER__RECEIVE_WAIT_SECS".to_owned(),
                "1".to_owned(),
            ),
        ],
    )
    .unwrap();
    settings.backend = Backend::Aws;
    settings.aws = aws.clone();
    let settings = Arc::new(settings);
    let observer = services_with(&sdk, &aws);
    observer
        .inventory
        .seed_products(&orderflow::catalog::load(None).unwrap())
        .await
        .unwrap();

    let counter = RequestCounter::default();
    let services = services_counted(&sdk, &aws, Some(counter.clone()));
    let shutdown = Shutdown::new();
    let started = startup::start(
        settings.clone(),
        services.clone(),
        Roles::DEV,
        shutdown.clone(),
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", started.port.unwrap());
    let running = tokio::spawn(started.wait());

    // Orders arrive as real traffic does: many at once.
    let http = reqwest::Client::new();
    let placed = futures_util::future::join_all((0..ORDERS).map(|i| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let res = http
                .post(format!("{base}/api/orders"))
                .header("Idempotency-Key", format!("economy-{i}"))
                .json(&json!({
                    "customerId": "economy", "customerEmail": "e@example.com",
                    "items": [{"productId": "sku-beans", "quantity": 1}, {"productId": "sku-mug", "quantity": 1}],
                    "payment": {"cardNumber": "4242424242424242"}
                }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            let body: Value = res.json().await.unwrap();
            OrderId::parse(body["orderId"].as_str().unwrap()).unwrap()
        }
    }))
    .await;
    let ids = placed;
    for id in &ids {
        eventually(Duration::from_secs(60), "orders complete", || async {
            observer
                .store
                .get_order(id)
                .await
                .unwrap()
                .is_some_and(|o| o.status == OrderStatus::Completed)
        })
        .await;
    }
    shutdown.now();
    running.await.unwrap().unwrap();

    let counts = counter.snapshot();
    let total: u64 = counts.values().sum();
    println!(
        "\nAWS requests for {ORDERS} orders placed at once (2 lines each, Idempotency-Key, card):"
    );
    println!(
        "{:<40} {:>8} {:>10}",
        "service:operation", "requests", "per order"
    );
    for (api, n) in &counts {
        println!("{api:<40} {n:>8} {:>10.2}", *n as f64 / ORDERS as f64);
    }
    println!(
        "{:<40} {total:>8} {:>10.2}",
        "total",
        total as f64 / ORDERS as f64
    );
    let get = |k: &str| counts.get(k).copied().unwrap_or(0);
    assert!(
        get("SQS:SendMessageBatch") + get("SQS:SendMessage") <= ORDERS as u64,
        "at most one send request per order"
    );
    assert!(
        get("SQS:DeleteMessageBatch") <= ORDERS as u64,
        "at most one delete request per order"
    );
    let events = get("SNS:Publish") + get("SNS:PublishBatch");
    assert!(
        (ORDERS as u64).div_ceil(10) <= events && events <= ORDERS as u64,
        "at most one event request per order, batches of at most 10: {events}"
    );
    assert!(
        get("DynamoDB:Scan") <= 3,
        "the catalog is read once per 5 s, not per order"
    );
    assert_eq!(
        get("DynamoDB:UpdateItem"),
        0,
        "a new key costs no extra write"
    );
    assert_eq!(
        get("S3:HeadObject"),
        0,
        "a worker that took the stock renders without looking for an earlier receipt"
    );
    assert!(
        get("S3:PutObject") >= ORDERS as u64,
        "one receipt per order (plus archive batches)"
    );
    // Concurrent reservations of the same products may conflict and be retried.
    assert!(
        get("DynamoDB:TransactWriteItems") >= 2 * ORDERS as u64,
        "order+key, and the reservation"
    );
    assert_eq!(
        get("S3:GetObject"),
        0,
        "no receipt download when e-mail is off"
    );
}

/// `orderflow bench --quick --aws`: the AWS phase runs on its own emulator, and what it
/// counted is what its orders cost: every durable step of each order (docs/benchmarks.md, "AWS
/// requests per order") at least once per order, on every client, and no more sends than
/// orders. A report that missed a client, counted fewer orders than it claims, or divided by
/// the wrong number fails; the arithmetic from these counts to the per-order figures is the
/// bench's own and is not restated here.
#[test]
fn the_bench_reports_aws_requests_per_order() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    if rt.block_on(moto()).is_none() {
        return;
    }
    let server = crate::moto::find_server().expect("moto_server was found above");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(["bench", "--quick", "--aws", "6", "--moto-server"])
        .arg(&server)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let aws = &r["aws"];
    assert_eq!(aws["orders"], 6);
    let requests = aws["requests"].as_object().unwrap();
    let events: u64 = ["SNS:Publish", "SNS:PublishBatch"]
        .iter()
        .filter_map(|k| requests.get(*k).and_then(|v| v.as_u64()))
        .sum();
    assert!((1..=6).contains(&events), "events for 6 orders: {aws}");
    let get = |k: &str| requests.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    // (operation, requests each order needs at least): customer e-mail is off in the bench.
    let steps = [
        // PENDING→PROCESSING, PROCESSING→COMPLETED, the charge ledger, the event marker.
        ("DynamoDB:PutItem", 4),
        // The worker loads the order.
        ("DynamoDB:GetItem", 1),
        // The reservation reads the stock levels (and ledger positions) it moves from.
        ("DynamoDB:BatchGetItem", 1),
        // The order with its idempotency record; the stock reservation.
        ("DynamoDB:TransactWriteItems", 2),
        // The receipt.
        ("S3:PutObject", 1),
    ];
    for (api, per_order) in steps {
        assert!(
            get(api) >= 6 * per_order,
            "{api}: at least {per_order} for each of 6 orders: {aws}"
        );
    }
    let sends = get("SQS:SendMessage") + get("SQS:SendMessageBatch");
    assert!(
        (1..=6).contains(&sends),
        "one enqueue per order at most: {aws}"
    );
    let deletes = get("SQS:DeleteMessage") + get("SQS:DeleteMessageBatch");
    assert!(
        (1..=6).contains(&deletes),
        "one acknowledgement per order at most: {aws}"
    );
    assert!(get("SQS:ReceiveMessage") >= 1, "{aws}");
    // The headline figure covers at least the steps above (4 + 1 + 1 + 2 + 1 per order).
    let per_order = aws["requests_per_order"].as_f64().unwrap();
    assert!(per_order >= 9.0, "requests per order: {aws}");
    assert!(
        aws["billable_per_order_beyond_receipt"].as_f64().unwrap() >= 7.0,
        "{aws}"
    );
    assert!(aws["usd_per_million_orders"].as_f64().unwrap() > 0.0);
}
