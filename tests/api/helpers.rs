//! Test harness: starts Orderflow (server + worker) in-process on port 0 with a fresh data dir.

use orderflow::config::Settings;
use orderflow::ports::Services;
use orderflow::startup::{self, Roles, Shutdown};
use serde_json::{json, Value};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tempfile::TempDir;

pub const ADMIN_KEY: &str = "test-admin-key-0123456789-abcdefghij";

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_test_writer()
            .try_init();
    }
});

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub services: Services,
    pub data_dir: TempDir,
    shutdown: Shutdown,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.now();
    }
}

/// Settings for a test: port 0, a temp data dir, short timeouts. `env` adds overrides.
pub fn test_settings(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Settings {
    let mut vars: Vec<(String, String)> = vec![
        ("ORDERFLOW__HTTP__ADDR".into(), "127.0.0.1:0".into()),
        (
            "ORDERFLOW__EMBEDDED__DATA_DIR".into(),
            data_dir.display().to_string(),
        ),
        (
            "ORDERFLOW__HTTP__STATIC_DIR".into(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/static").into(),
        ),
        ("ORDERFLOW__AUTH__ADMIN_API_KEYS".into(), ADMIN_KEY.into()),
        (
            "ORDERFLOW__WORKER__VISIBILITY_TIMEOUT_SECS".into(),
            "5".into(),
        ),
        ("ORDERFLOW__WORKER__RECEIVE_WAIT_SECS".into(), "1".into()),
    ];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let empty = tempfile::NamedTempFile::new().unwrap();
    Settings::load_from(Some(empty.path()), vars).expect("test settings are valid")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[], true).await
}

/// Starts the API (and the worker when `worker`) on a fresh data dir.
pub async fn spawn_app_with(env: &[(&str, &str)], worker: bool) -> TestApp {
    spawn_app_wrapped(env, worker, |s| s).await
}

/// `spawn_app_with`, the embedded services passed through `wrap` first (to inject faults).
pub async fn spawn_app_wrapped(
    env: &[(&str, &str)],
    worker: bool,
    wrap: impl FnOnce(Services) -> Services,
) -> TestApp {
    LazyLock::force(&TRACING);
    let data_dir = tempfile::tempdir().unwrap();
    let settings = Arc::new(test_settings(data_dir.path(), env));
    let services = wrap(
        Services::from_settings(&settings)
            .await
            .expect("services start"),
    );
    let roles = Roles {
        serve: true,
        work: worker,
    };
    let shutdown = Shutdown::new();
    let started = startup::start(settings, services.clone(), roles, shutdown.clone())
        .await
        .expect("orderflow starts");
    let address = format!("http://127.0.0.1:{}", started.port.expect("serving"));
    tokio::spawn(started.wait());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        address,
        client,
        services,
        data_dir,
        shutdown,
    }
}

pub fn order_body(product: &str, quantity: u32) -> Value {
    json!({
        "customerId": "cust-1",
        "customerEmail": "ann@example.com",
        "items": [{"productId": product, "quantity": quantity}],
        "shippingAddress": {"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"},
        "payment": {"cardNumber": "4242 4242 4242 4242"}
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_order(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/orders"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_order_with_key(&self, body: &Value, key: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/orders"))
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_raw(&self, body: &str, content_type: Option<&str>) -> reqwest::Response {
        let mut r = self
            .client
            .post(self.url("/api/orders"))
            .body(body.to_owned());
        if let Some(ct) = content_type {
            r = r.header("Content-Type", ct);
        }
        r.send().await.unwrap()
    }

    pub async fn get_order(&self, order_id: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/api/orders/{order_id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_as_admin(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("X-API-Key", ADMIN_KEY)
            .send()
            .await
            .unwrap()
    }

    /// Polls the order until the worker is done with it: COMPLETED or FAILED, or (on
    /// invoice) AWAITING_PAYMENT.
    pub async fn wait_final(&self, order_id: &str, token: &str) -> Value {
        self.wait_status(
            order_id,
            token,
            &["COMPLETED", "FAILED", "AWAITING_PAYMENT"],
        )
        .await
    }

    /// Polls the order until its status is one of `statuses`.
    pub async fn wait_status(&self, order_id: &str, token: &str, statuses: &[&str]) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let body: Value = self.get_order(order_id, token).await.json().await.unwrap();
            let status = body["status"].as_str().unwrap_or_default().to_owned();
            if statuses.contains(&status.as_str()) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "order {order_id} stuck in {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stock_of(&self, product: &str) -> u64 {
        let body: Value = self
            .client
            .get(self.url("/api/products"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["productId"] == product)
            .unwrap()["stock"]
            .as_u64()
            .unwrap()
    }

    /// Places an order and waits for its final state; returns (created body, final body).
    pub async fn place_and_finish(&self, body: &Value) -> (Value, Value) {
        let res = self.post_order(body).await;
        assert_eq!(res.status(), 201);
        let created: Value = res.json().await.unwrap();
        let done = self
            .wait_final(
                created["orderId"].as_str().unwrap(),
                created["accessToken"].as_str().unwrap(),
            )
            .await;
        (created, done)
    }
}

/// Text of a PDF via poppler's `pdftotext`. `None` when it is not installed outside CI
/// (the README's test command installs it; in CI its absence fails the test).
pub fn pdf_text(pdf: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pdf");
    std::fs::write(&path, pdf).unwrap();
    match std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "pdftotext failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("pdftotext (poppler-utils) is missing in CI")
        }
        Err(_) => {
            eprintln!("warning: pdftotext not installed; run the README test command to install poppler-utils");
            None
        }
    }
}

/// The queue operations a [`HookedQueue`] hook sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOp {
    Send,
    Depth,
    Other,
}

/// A hook run before each queue operation: an error answers for the operation.
pub type QueueHook = Arc<
    dyn Fn(QueueOp) -> futures_util::future::BoxFuture<'static, orderflow::ports::PortResult<()>>
        + Send
        + Sync,
>;

/// The app's queue behind a hook that can fail or slow down an operation (the outage tests).
pub struct HookedQueue {
    pub inner: Arc<dyn orderflow::ports::OrderQueue>,
    pub hook: QueueHook,
}

#[async_trait::async_trait]
impl orderflow::ports::OrderQueue for HookedQueue {
    async fn send(&self, body: &str) -> orderflow::ports::PortResult<String> {
        (self.hook)(QueueOp::Send).await?;
        self.inner.send(body).await
    }
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> orderflow::ports::PortResult<Vec<orderflow::ports::Delivery>> {
        (self.hook)(QueueOp::Other).await?;
        self.inner.receive(max, wait).await
    }
    async fn delete(&self, receipt_handle: &str) -> orderflow::ports::PortResult<()> {
        (self.hook)(QueueOp::Other).await?;
        self.inner.delete(receipt_handle).await
    }
    async fn extend_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> orderflow::ports::PortResult<()> {
        (self.hook)(QueueOp::Other).await?;
        self.inner.extend_visibility(receipt_handle, timeout).await
    }
    async fn dead_letter(
        &self,
        delivery: &orderflow::ports::Delivery,
        reason: &str,
    ) -> orderflow::ports::PortResult<()> {
        (self.hook)(QueueOp::Other).await?;
        self.inner.dead_letter(delivery, reason).await
    }
    async fn redrive(&self, max: usize) -> orderflow::ports::PortResult<usize> {
        (self.hook)(QueueOp::Other).await?;
        self.inner.redrive(max).await
    }
    async fn peek_dead_letters(
        &self,
        max: usize,
    ) -> orderflow::ports::PortResult<Vec<orderflow::ports::DeadLetter>> {
        (self.hook)(QueueOp::Other).await?;
        self.inner.peek_dead_letters(max).await
    }
    async fn depth(&self) -> orderflow::ports::PortResult<orderflow::ports::QueueDepth> {
        (self.hook)(QueueOp::Depth).await?;
        self.inner.depth().await
    }
}
