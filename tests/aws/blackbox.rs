//! `orderflow serve` and `orderflow worker` as two processes against the emulator, set up
//! by `orderflow bootstrap`: the whole flow, the DLQ alarm and a redrive, and an order on
//! invoice paid and one whose hold runs out.

use crate::conformance::eventually;
use crate::moto::moto;
use crate::subscribe;
use orderflow::adapters::aws::services_with;
use orderflow::config::Settings;
use orderflow::domain::{OrderId, OrderStatus};
use orderflow::ports::OrderMessage;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_orderflow");
const ADMIN_KEY: &str = "blackbox-admin-key-0123456789-abcdefghij";

/// Kills the child when the test ends, pass or fail.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn orderflow(args: &[&str], env: &[(&str, String)], log: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("ORDERFLOW__LOG__FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Everything delivered to a subscription queue so far (SNS JSON envelopes).
pub(crate) async fn drain(sdk: &aws_config::SdkConfig, url: &str) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let msgs = got.messages.unwrap_or_default();
        if msgs.is_empty() {
            return out;
        }
        for m in msgs {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// Drains `url` into `into` until `done` holds (at most 20 s).
async fn collect_until(
    sdk: &aws_config::SdkConfig,
    url: &str,
    into: &mut Vec<Value>,
    done: impl Fn(&[Value]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done(into) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out; got {into:?}"
        );
        into.extend(drain(sdk, url).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn serve_and_worker_processes_run_the_whole_flow_on_aws() {
    let Some(m) = moto().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("bb{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let config = dir.path().join("aws.toml");
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let short = [
        ("ORDERFLOW__WORKER__VISIBILITY_TIMEOUT_SECS", "2".to_owned()),
        ("ORDERFLOW__WORKER__MAX_RECEIVE_COUNT", "2".to_owned()),
        ("ORDERFLOW__AWS__EMAIL_FROM", "shop@example.com".to_owned()),
    ];
    let status = orderflow(
        &[
            "--config",
            empty.to_str().unwrap(),
            "bootstrap",
            "--endpoint-url",
            &m.endpoint,
            "--prefix",
            &prefix,
            "--write-config",
            config.to_str().unwrap(),
        ],
        &short,
        &dir.path().join("bootstrap.log"),
    )
    .status()
    .unwrap();
    assert!(status.success(), "bootstrap failed");
    let settings =
        Settings::load_from(Some(&config), Vec::new()).expect("bootstrap wrote a valid config");
    let sdk = m.sdk().await;
    let services = services_with(&sdk, &settings.aws);
    let events = subscribe(
        &sdk,
        &settings.aws.events_topic_arn,
        &format!("{prefix}-events-sub"),
    )
    .await;
    let alarms = subscribe(
        &sdk,
        &settings.aws.alarms_topic_arn,
        &format!("{prefix}-alarms-sub"),
    )
    .await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config.to_str().unwrap();
    let _serve = Running(
        orderflow(
            &["--config", cfg, "serve"],
            &[
                ("ORDERFLOW__HTTP__ADDR", format!("127.0.0.1:{port}")),
                (
                    "ORDERFLOW__HTTP__STATIC_DIR",
                    concat!(env!("CARGO_MANIFEST_DIR"), "/static").to_owned(),
                ),
                ("ORDERFLOW__ORDERS__INVOICE_ENABLED", "true".to_owned()),
                ("ORDERFLOW__AUTH__ADMIN_API_KEYS", ADMIN_KEY.to_owned()),
            ],
            &dir.path().join("serve.log"),
        )
        .spawn()
        .unwrap(),
    );
    let _worker = Running(
        orderflow(
            &["--config", cfg, "worker"],
            &[
                ("ORDERFLOW__WORKER__DLQ_POLL_SECS", "1".to_owned()),
                ("ORDERFLOW__WORKER__RECEIVE_WAIT_SECS", "1".to_owned()),
                ("ORDERFLOW__WORKER__RECONCILE_SECS", "1".to_owned()),
                ("ORDERFLOW__ORDERS__INVOICE_HOLD_SECS", "8".to_owned()),
            ],
            &dir.path().join("worker.log"),
        )
        .spawn()
        .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    eventually(Duration::from_secs(20), "serve is ready", || async {
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;

    // 1. An order completes: receipt in S3, COMPLETED in DynamoDB, event on SNS.
    let res = http
        .post(format!("{base}/api/orders"))
        .json(&json!({"customerId": "bb", "customerEmail": "bb@example.com", "items": [{"productId": "sku-mug", "quantity": 1}], "payment": {"cardNumber": "4242424242424242"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let id = OrderId::parse(created["orderId"].as_str().unwrap()).unwrap();
    eventually(Duration::from_secs(30), "the order completes", || async {
        services
            .store
            .get_order(&id)
            .await
            .unwrap()
            .is_some_and(|o| o.status == OrderStatus::Completed)
    })
    .await;
    let head = orderflow::adapters::aws::s3_client(&sdk, &settings.aws)
        .head_object()
        .bucket(&settings.aws.receipts_bucket)
        .key(format!("receipts/{id}.pdf"))
        .send()
        .await;
    assert!(head.is_ok(), "the receipt object exists");
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(&settings.aws.orders_table)
        .key(
            "orderId",
            aws_sdk_dynamodb::types::AttributeValue::S(id.to_string()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["status"].as_s().unwrap(), "COMPLETED");
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let marker = aws_sdk_dynamodb::types::AttributeValue::S(format!("mail#{id}:confirmation"));
    eventually(
        Duration::from_secs(20),
        "SES accepted the confirmation e-mail",
        || async {
            let got = dynamo
                .get_item()
                .table_name(&settings.aws.state_table)
                .key("pk", marker.clone())
                .send()
                .await
                .unwrap();
            got.item.is_some()
        },
    )
    .await;
    let receipt = http
        .get(format!("{base}/api/orders/{id}/receipt"))
        .bearer_auth(created["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    // The storefront fetches this with its bearer token and makes a blob of it: the bytes
    // must come from this origin, not from a redirect to S3 (followed cross-origin, no CORS).
    assert_eq!(receipt.status(), 200, "the API serves the receipt itself");
    assert_eq!(receipt.headers()["content-type"], "application/pdf");
    assert_eq!(
        receipt.headers()["content-disposition"],
        format!("inline; filename=\"receipt-{id}.pdf\"").as_str()
    );
    assert_eq!(receipt.headers()["cache-control"], "private, no-store");
    assert!(!receipt.headers().contains_key("location"));
    let pdf = receipt.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    let stored = orderflow::adapters::aws::s3_client(&sdk, &settings.aws)
        .get_object()
        .bucket(&settings.aws.receipts_bucket)
        .key(format!("receipts/{id}.pdf"))
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(pdf, stored, "the bytes of the S3 object");
    let mut delivered = Vec::new();
    for _ in 0..50 {
        delivered.extend(drain(&sdk, &events).await);
        if !delivered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(
        delivered[0]["MessageAttributes"]["eventType"]["Value"],
        "OrderCompleted"
    );
    let s3 = orderflow::adapters::aws::s3_client(&sdk, &settings.aws);
    let mut archived = String::new();
    for _ in 0..100 {
        let listed = s3
            .list_objects_v2()
            .bucket(&settings.aws.receipts_bucket)
            .prefix("events/")
            .send()
            .await
            .unwrap();
        for obj in listed.contents() {
            let key = obj.key().unwrap();
            assert!(key.ends_with(".jsonl"), "{key}");
            let body = s3
                .get_object()
                .bucket(&settings.aws.receipts_bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            archived.push_str(
                std::str::from_utf8(&body.body.collect().await.unwrap().into_bytes()).unwrap(),
            );
        }
        if archived.contains(id.as_str()) {
            break;
        }
        archived.clear();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        archived.contains(id.as_str()) && archived.contains("OrderCompleted"),
        "event archived as JSON lines: {archived}"
    );

    // 2. A message naming an order that does not exist (yet) is poison: DLQ, one alarm.
    let ghost = OrderId::generate();
    let body = serde_json::to_string(&OrderMessage {
        order_id: ghost.to_string(),
        request_id: None,
        payment: None,
    })
    .unwrap();
    services.queue.send(&body).await.unwrap();
    eventually(
        Duration::from_secs(20),
        "the message is in the DLQ",
        || async { services.queue.depth().await.unwrap().dead_letters == 1 },
    )
    .await;
    let mut alarm_msgs = Vec::new();
    collect_until(&sdk, &alarms, &mut alarm_msgs, |a| !a.is_empty()).await;
    tokio::time::sleep(Duration::from_secs(3)).await; // three more polls of the DLQ
    alarm_msgs.extend(drain(&sdk, &alarms).await);
    assert_eq!(
        alarm_msgs.len(),
        1,
        "one alarm per episode, not one per poll: {alarm_msgs:?}"
    );
    assert!(
        alarm_msgs[0]["Subject"]
            .as_str()
            .unwrap()
            .contains("dead-letter"),
        "{}",
        alarm_msgs[0]
    );

    let list = orderflow(
        &["--config", cfg, "dlq", "list"],
        &[],
        &dir.path().join("list.log"),
    )
    .stdout(Stdio::piped())
    .output()
    .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success());
    assert!(
        listed.contains(ghost.as_str()) && listed.contains("no order"),
        "{listed}"
    );

    // 3. Fix the cause (the order now exists), redrive: it is processed, and the DLQ recovers.
    let mut fixed = crate::conformance::order_for(&[(
        &services.inventory.list_products().await.unwrap()[0],
        1,
    )]);
    fixed.order_id = ghost.clone();
    services.store.insert_order(&fixed, None).await.unwrap();
    let redrive = orderflow(
        &["--config", cfg, "dlq", "redrive"],
        &[],
        &dir.path().join("redrive.log"),
    )
    .status()
    .unwrap();
    assert!(redrive.success());
    eventually(
        Duration::from_secs(30),
        "the redriven order completes",
        || async {
            services
                .store
                .get_order(&ghost)
                .await
                .unwrap()
                .is_some_and(|o| o.status == OrderStatus::Completed)
        },
    )
    .await;
    collect_until(&sdk, &alarms, &mut alarm_msgs, |a| {
        a.iter().any(|m| {
            m["Subject"]
                .as_str()
                .unwrap_or_default()
                .contains("empty again")
        })
    })
    .await;

    // 4. On invoice: the order holds its stock AWAITING_PAYMENT (event on SNS); the payment
    //    an operator records completes it; an unpaid one lapses and gives its stock back.
    let stock = || async {
        services
            .inventory
            .list_products()
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.product_id.as_str() == "sku-mug")
            .unwrap()
            .stock
    };
    let on_invoice = json!({"customerId": "bb-invoice", "customerEmail": "ap@example.com", "items": [{"productId": "sku-mug", "quantity": 2}]});
    let place = || async {
        let res = http
            .post(format!("{base}/api/orders"))
            .json(&on_invoice)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let created: Value = res.json().await.unwrap();
        OrderId::parse(created["orderId"].as_str().unwrap()).unwrap()
    };
    let status_of = |id: OrderId| {
        let store = services.store.clone();
        async move { store.get_order(&id).await.unwrap().unwrap() }
    };
    let paid = place().await;
    eventually(
        Duration::from_secs(30),
        "the order on invoice waits for its payment",
        || async { status_of(paid.clone()).await.status == OrderStatus::AwaitingPayment },
    )
    .await;
    let res = http
        .post(format!("{base}/api/orders/{paid}/payment"))
        .header("X-API-Key", ADMIN_KEY)
        .json(&json!({"reference": "transfer 7"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    eventually(
        Duration::from_secs(30),
        "the paid order completes",
        || async { status_of(paid.clone()).await.status == OrderStatus::Completed },
    )
    .await;
    let done = status_of(paid.clone()).await;
    assert_eq!(done.invoice_payment.unwrap().reference, "transfer 7");
    let events_seen = {
        let mut seen = Vec::new();
        collect_until(&sdk, &events, &mut seen, |got| {
            got.iter()
                .filter(|m| {
                    m["Message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains(paid.as_str())
                })
                .count()
                >= 2
        })
        .await;
        seen
    };
    let types: Vec<&str> = events_seen
        .iter()
        .filter(|m| {
            m["Message"]
                .as_str()
                .unwrap_or_default()
                .contains(paid.as_str())
        })
        .map(|m| {
            m["MessageAttributes"]["eventType"]["Value"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        types,
        ["OrderAwaitingPayment", "OrderCompleted"],
        "{events_seen:?}"
    );

    let before = stock().await;
    let lapsed = place().await;
    eventually(
        Duration::from_secs(60),
        "the unpaid hold runs out",
        || async {
            status_of(lapsed.clone()).await.failure_reason
                == Some(orderflow::domain::FailureReason::PaymentOverdue)
        },
    )
    .await;
    eventually(Duration::from_secs(20), "its stock is back", || async {
        stock().await == before
    })
    .await;
}
