//! The real binary: CLI, config errors, and crash-restart durability (SIGKILL).

use crate::helpers::{order_body, ADMIN_KEY};
use serde_json::Value;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_orderflow");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An empty config file, so a machine's /etc/orderflow/orderflow.toml never leaks into a test.
fn empty_config() -> tempfile::NamedTempFile {
    tempfile::NamedTempFile::new().unwrap()
}

fn start(mode: &str, data_dir: &std::path::Path, port: u16, log: &std::path::Path) -> Child {
    start_with(mode, data_dir, port, log, &[])
}

fn start_with(
    mode: &str,
    data_dir: &std::path::Path,
    port: u16,
    log: &std::path::Path,
    extra: &[(&str, &str)],
) -> Child {
    let config = data_dir.with_extension("toml");
    std::fs::write(&config, "").unwrap();
    Command::new(BIN)
        .arg(mode)
        // These tests are about the process's life, and burst from one address.
        .env("ORDERFLOW__RATE_LIMIT__ENABLED", "false")
        .envs(extra.iter().copied())
        .env("ORDERFLOW__HTTP__ADDR", format!("127.0.0.1:{port}"))
        .env("ORDERFLOW__EMBEDDED__DATA_DIR", data_dir)
        .env(
            "ORDERFLOW__HTTP__STATIC_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/static"),
        )
        .env("ORDERFLOW__AUTH__ADMIN_API_KEYS", ADMIN_KEY)
        .env("ORDERFLOW__WORKER__RECEIVE_WAIT_SECS", "1")
        .env("ORDERFLOW__LOG__FORMAT", "json")
        .env("ORDERFLOW_CONFIG", &config)
        .env_remove("RUST_LOG")
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("orderflow starts")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("orderflow did not become ready at {base}");
}

#[tokio::test]
async fn an_order_accepted_before_sigkill_completes_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let client = reqwest::Client::new();

    // 1. `serve` only: the order is accepted and queued, nobody processes it.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = start("serve", &data, port, &dir.path().join("serve.log"));
    wait_ready(&client, &base).await;
    let res = client
        .post(format!("{base}/api/orders"))
        .header("X-Request-Id", "req-crash-test-1")
        .json(&order_body("sku-poster", 2))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(
        request_id, "req-crash-test-1",
        "the client's id is not taken"
    );
    let created: Value = res.json().await.unwrap();
    let id = created["orderId"].as_str().unwrap().to_owned();
    let token = created["accessToken"].as_str().unwrap().to_owned();
    serve.kill().unwrap(); // SIGKILL: no shutdown path runs
    serve.wait().unwrap();

    // 2. `dev` on the same data dir picks the order up and completes it.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let dev_log = dir.path().join("dev.log");
    let mut dev = start("dev", &data, port, &dev_log);
    wait_ready(&client, &base).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let done = loop {
        let o: Value = client
            .get(format!("{base}/api/orders/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if o["status"] == "COMPLETED" || o["status"] == "FAILED" {
            break o;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "order never finished: {o}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["status"], "COMPLETED");
    let products: Value = client
        .get(format!("{base}/api/products"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let poster = products["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["productId"] == "sku-poster")
        .unwrap()
        .clone();
    let listed: Value = client
        .get(format!("{base}/api/orders"))
        .header("X-API-Key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // 3. SIGTERM: a graceful stop exits 0.
    let pid = dev.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = dev.wait().unwrap();
    assert!(status.success(), "dev exits 0 on SIGTERM: {status}");

    assert_eq!(poster["stock"], 20 - 2, "stock taken once");
    assert_eq!(
        listed["orders"].as_array().unwrap().len(),
        1,
        "nothing doubled"
    );
    let mut log = String::new();
    std::fs::File::open(&dev_log)
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let worker_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&id) && l.contains("order status changed"))
        .collect();
    assert!(!worker_lines.is_empty(), "worker logged the order:\n{log}");
    assert!(
        worker_lines.iter().all(|l| l.contains(&request_id)),
        "worker lines carry the request id:\n{log}"
    );
    let mut serve_log = String::new();
    std::fs::File::open(dir.path().join("serve.log"))
        .unwrap()
        .read_to_string(&mut serve_log)
        .unwrap();
    assert!(
        log.contains("customer e-mail written"),
        "the e-mail was sent (and logged):\n{log}"
    );
    // Secrets, and the customer's e-mail address (personal data).
    for secret in [
        "4242424242424242",
        "4242 4242 4242 4242",
        token.as_str(),
        ADMIN_KEY,
        "ann@example.com",
    ] {
        assert!(
            !log.contains(secret) && !serve_log.contains(secret),
            "{secret} reached the log"
        );
    }
}

#[test]
fn help_lists_the_commands() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["dev", "serve", "worker", "check-config"] {
        assert!(text.contains(cmd), "{text}");
    }
}

#[test]
fn check_config_prints_redacted_settings_and_rejects_bad_values() {
    let config = empty_config();
    let ok = Command::new(BIN)
        .arg("check-config")
        .env("ORDERFLOW_CONFIG", config.path())
        .env(
            "ORDERFLOW__AUTH__ADMIN_API_KEYS",
            "super-secret-admin-key-1-abcdefghijk",
        )
        .output()
        .unwrap();
    assert!(ok.status.success());
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains("\"addr\": \"127.0.0.1:8080\""), "{out}");
    assert!(
        !out.contains("super-secret-admin-key-1-abcdefghijk"),
        "secret redacted: {out}"
    );

    let bad = Command::new(BIN)
        .arg("check-config")
        .env("ORDERFLOW_CONFIG", config.path())
        .env("ORDERFLOW__WORKER__MAX_RECEIVE_COUNT", "0")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("worker.max_receive_count"));

    // Weak admin keys: too short (20 characters), or 32 × 'a'.
    for key in ["k3y-4bcd-efgh-ijklmn".to_owned(), "a".repeat(32)] {
        let weak = Command::new(BIN)
            .arg("check-config")
            .env("ORDERFLOW_CONFIG", config.path())
            .env("ORDERFLOW__AUTH__ADMIN_API_KEYS", &key)
            .output()
            .unwrap();
        assert_eq!(weak.status.code(), Some(2), "{key}");
        let err = String::from_utf8_lossy(&weak.stderr);
        assert!(err.contains("auth.admin_api_keys"), "{key}: {err}");
        assert!(err.contains("openssl rand -base64 32"), "{key}: {err}");
    }
}

#[tokio::test]
async fn dlq_list_and_redrive_on_the_embedded_backend() {
    use orderflow::ports::OrderQueue;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let queue = orderflow::adapters::embedded::EmbeddedQueue::open(
        &data.join("queue.sqlite3"),
        Duration::from_secs(30),
        5,
    )
    .unwrap();
    let order = orderflow::domain::OrderId::generate();
    queue
        .send(&format!("{{\"orderId\":\"{order}\"}}"))
        .await
        .unwrap();
    let got = queue.receive(1, Duration::from_secs(1)).await.unwrap();
    queue
        .dead_letter(&got[0], "no order with this id")
        .await
        .unwrap();
    let config = empty_config();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("ORDERFLOW_CONFIG", config.path())
            .env("ORDERFLOW__EMBEDDED__DATA_DIR", &data)
            .env("ORDERFLOW__LOG__LEVEL", "warn")
            .output()
            .unwrap()
    };
    let list = run(&["dlq", "list"]);
    assert!(list.status.success());
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains(order.as_str()) && text.contains("no order with this id"),
        "{text}"
    );
    let dry = run(&["dlq", "redrive", "--dry-run"]);
    assert!(dry.status.success());
    assert_eq!(
        queue.depth().await.unwrap().dead_letters,
        1,
        "a dry run moves nothing"
    );
    let redrive = run(&["dlq", "redrive"]);
    assert!(
        redrive.status.success(),
        "{}",
        String::from_utf8_lossy(&redrive.stderr)
    );
    assert!(String::from_utf8_lossy(&redrive.stderr).contains("moved 1 message"));
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.dead_letters, depth.visible), (0, 1));
}

#[test]
fn bootstrap_refuses_without_an_endpoint() {
    let config = empty_config();
    let out = Command::new(BIN)
        .args(["bootstrap", "--write-config", "/tmp/never-written.toml"])
        .env("ORDERFLOW_CONFIG", config.path())
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("endpoint"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sigterm(child: &Child) {
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

#[tokio::test]
async fn on_sigterm_serve_fails_readyz_first_and_keeps_serving_while_draining() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut serve = start_with(
        "serve",
        &dir.path().join("data"),
        port,
        &dir.path().join("serve.log"),
        &[("ORDERFLOW__HTTP__DRAIN_SECS", "2")],
    );
    wait_ready(&client, &base).await;
    sigterm(&serve);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = client.get(format!("{base}/readyz")).send().await.unwrap();
        if r.status() == 503 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz never failed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let res = client
        .post(format!("{base}/api/orders"))
        .json(&order_body("sku-mug", 1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "still serving while draining");
    let status = tokio::task::spawn_blocking(move || serve.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "exits 0 after the drain: {status}");
}

/// A SIGTERM in the middle of a burst: every acknowledged order completes exactly once after
/// a restart, and clients retrying the rest with their Idempotency-Key get one order each.
#[tokio::test]
async fn a_sigterm_during_a_burst_loses_none_and_doubles_none() {
    const N: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let dev = start("dev", &data, port, &dir.path().join("dev1.log"));
    wait_ready(&client, &base).await;
    let burst: Vec<_> = (0..N)
        .map(|i| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5 * i as u64)).await;
                let res = client
                    .post(format!("{base}/api/orders"))
                    .header("Idempotency-Key", format!("burst-{i}"))
                    .json(&order_body("sku-beans", 1))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == 201 => Some(
                        r.json::<Value>().await.unwrap()["orderId"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                    ),
                    _ => None,
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(80)).await;
    sigterm(&dev);
    let mut acknowledged = std::collections::HashMap::new();
    for (i, t) in burst.into_iter().enumerate() {
        if let Some(id) = t.await.unwrap() {
            acknowledged.insert(i, id);
        }
    }
    let mut dev = dev;
    let status = tokio::task::spawn_blocking(move || dev.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "graceful exit: {status}");
    assert!(
        !acknowledged.is_empty(),
        "some orders were accepted before the signal"
    );

    // Restart; clients whose request failed retry with the same key.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut dev = start("dev", &data, port, &dir.path().join("dev2.log"));
    wait_ready(&client, &base).await;
    for i in 0..N {
        let res = client
            .post(format!("{base}/api/orders"))
            .header("Idempotency-Key", format!("burst-{i}"))
            .json(&order_body("sku-beans", 1))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let id = res.json::<Value>().await.unwrap()["orderId"]
            .as_str()
            .unwrap()
            .to_owned();
        if let Some(first) = acknowledged.get(&i) {
            assert_eq!(&id, first, "a retry returns the acknowledged order");
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let listed = loop {
        let page: Value = client
            .get(format!("{base}/api/orders?limit=100"))
            .header("X-API-Key", ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let orders = page["orders"].as_array().unwrap().clone();
        if orders.iter().all(|o| o["status"] == "COMPLETED") {
            break orders;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all orders completed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        listed.len(),
        N,
        "one order per key: none lost, none doubled"
    );
    let products: Value = client
        .get(format!("{base}/api/products"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let beans = products["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["productId"] == "sku-beans")
        .unwrap()
        .clone();
    assert_eq!(beans["stock"], 100 - N as u64, "stock taken once per order");
    sigterm(&dev);
    let status = tokio::task::spawn_blocking(move || dev.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
}

/// `worker` does not seed the catalog (only `serve`/`dev` do): a worker started on an empty
/// store leaves it empty.
#[tokio::test]
async fn the_worker_does_not_seed_the_catalog() {
    use orderflow::ports::Inventory;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("worker.log");
    let mut worker = start("worker", &data, free_port(), &log);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("worker started")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sigterm(&worker);
    let status = tokio::task::spawn_blocking(move || worker.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    let store =
        orderflow::adapters::embedded::EmbeddedStore::open(&data.join("store.sqlite3")).unwrap();
    assert!(
        store.list_products().await.unwrap().is_empty(),
        "the worker wrote products"
    );
}

/// `ORDERFLOW__BACKEND=aws` in the environment (as on an instance) does not stop
/// `bootstrap` at the config check: it gets as far as calling the endpoint.
#[test]
fn bootstrap_is_not_refused_for_the_names_it_is_about_to_create() {
    let config = empty_config();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new(BIN)
        .args(["bootstrap", "--write-config", "/tmp/never-written.toml"])
        .args(["--endpoint-url", &closed])
        .env("ORDERFLOW_CONFIG", config.path())
        .env("ORDERFLOW__BACKEND", "aws")
        .env("ORDERFLOW__AWS__MAX_ATTEMPTS", "1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(2), "not a config error: {stderr}");
    assert!(!stderr.contains("aws.queue_url"), "{stderr}");
    assert!(
        stderr.contains("creating the dead-letter queue"),
        "{stderr}"
    );
}

fn signal(child: &Child, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

/// A client that opens a fresh connection per request, so no idle keep-alive connection of
/// the test's own holds the server's shutdown up.
fn one_shot_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn exit_within(mut child: Child, limit: Duration) -> (std::process::ExitStatus, Duration) {
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    })
    .await
    .unwrap()
}

/// SIGINT (what the lifecycle watcher sends once the load balancer has drained the
/// instance) stops `serve` without a second drain window; SIGTERM still waits it out.
#[tokio::test]
async fn sigint_stops_serve_without_the_drain_and_sigterm_still_drains() {
    let client = one_shot_client();
    let dir = tempfile::tempdir().unwrap();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let serve = start_with(
        "serve",
        &dir.path().join("a"),
        port,
        &dir.path().join("a.log"),
        &[("ORDERFLOW__HTTP__DRAIN_SECS", "30")],
    );
    wait_ready(&client, &base).await;
    signal(&serve, "-INT");
    let (status, took) = exit_within(serve, Duration::from_secs(25)).await;
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_secs(8),
        "SIGINT took {took:?} with a 30 s drain"
    );

    // SIGINT during a SIGTERM drain cuts it short.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let serve = start_with(
        "serve",
        &dir.path().join("b"),
        port,
        &dir.path().join("b.log"),
        &[("ORDERFLOW__HTTP__DRAIN_SECS", "30")],
    );
    wait_ready(&client, &base).await;
    signal(&serve, "-TERM");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        != 503
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz never failed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(&serve, "-INT");
    let (status, took) = exit_within(serve, Duration::from_secs(25)).await;
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_secs(8),
        "SIGINT mid-drain took {took:?}"
    );

    // SIGTERM alone waits the whole drain.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let serve = start_with(
        "serve",
        &dir.path().join("c"),
        port,
        &dir.path().join("c.log"),
        &[("ORDERFLOW__HTTP__DRAIN_SECS", "3")],
    );
    wait_ready(&client, &base).await;
    signal(&serve, "-TERM");
    let (status, took) = exit_within(serve, Duration::from_secs(20)).await;
    assert!(status.success(), "{status}");
    assert!(
        took >= Duration::from_secs(3),
        "SIGTERM skipped the drain: {took:?}"
    );
}
