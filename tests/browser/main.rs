//! Browser tests: the storefront and the admin console driven in headless Chromium through
//! chromedriver (Debian's `chromium` and `chromium-driver`; `scripts/test.sh` installs them).
//! Without chromedriver the tests are skipped with a warning, except with `CI=true`, where
//! that fails. A failing test saves a screenshot under `target/browser-failures/`; the
//! storefront and admin screenshots the README shows are written to `target/screenshots/`.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use helpers::{spawn_app, TestApp, ADMIN_KEY};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::OnceCell;

mod rehearsal;

struct Driver {
    url: String,
    _child: Mutex<Child>,
}

static DRIVER: OnceCell<Option<Driver>> = OnceCell::const_new();

fn target_dir(sub: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(sub);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn driver() -> Option<&'static Driver> {
    DRIVER
        .get_or_init(|| async {
            let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
            if !Path::new(&bin).exists() || !Path::new("/usr/bin/chromium").exists() {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("chromium/chromedriver missing: CI must run the browser tests (scripts/test.sh installs them)");
                }
                eprintln!("warning: chromium or chromedriver not installed; skipping browser tests");
                return None;
            }
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            // Not waited on: chromedriver exits with its parent's stdin (see below) or is killed at exit.
            #[allow(clippy::zombie_processes)]
            let child = Command::new("sh")
                .arg("-c")
                .arg(r#""$0" --port="$1" >/dev/null 2>&1 & pid=$!; read _; kill $pid"#)
                .arg(&bin)
                .arg(port.to_string())
                .stdin(Stdio::piped())
                .spawn()
                .expect("starting chromedriver");
            let url = format!("http://127.0.0.1:{port}");
            let http = reqwest::Client::new();
            for _ in 0..100 {
                if http.get(format!("{url}/status")).send().await.is_ok_and(|r| r.status().is_success()) {
                    return Some(Driver { url, _child: Mutex::new(child) });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("chromedriver did not start");
        })
        .await
        .as_ref()
}

async fn browser(downloads: &Path) -> Option<Client> {
    browser_with(downloads, &[]).await
}

/// A Chromium session with extra command-line switches (e.g. `--host-resolver-rules`).
async fn browser_with(downloads: &Path, extra: &[String]) -> Option<Client> {
    let d = driver().await?;
    let profile = tempfile::tempdir().unwrap().keep();
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--window-size=1280,1000",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.extend(extra.iter().cloned());
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": args,
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false
            }
        }
    });
    let mut b = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    b.capabilities(caps.as_object().unwrap().clone());
    Some(b.connect(&d.url).await.expect("a Chromium session"))
}

/// Runs `body`; on a panic saves a screenshot named after the test, then re-panics.
async fn with_screenshot_on_failure<F>(c: &Client, name: &str, body: F)
where
    F: std::future::Future<Output = ()>,
{
    if let Err(panic) = std::panic::AssertUnwindSafe(body).catch_unwind().await {
        if let Ok(png) = c.screenshot().await {
            let path = target_dir("browser-failures").join(format!("{name}.png"));
            let _ = std::fs::write(&path, png);
            eprintln!("screenshot of the failure: {}", path.display());
        }
        let _ = c.clone().close().await;
        std::panic::resume_unwind(panic);
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits until the element's text satisfies `ok`.
async fn wait_text(c: &Client, css: &str, within: Duration, ok: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let t = text_of(c, css).await;
        if ok(&t) {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} never matched; last text {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Scrolls the element to the middle of the viewport (instantly), then clicks it.
async fn click(c: &Client, css: &str) {
    let e = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap();
    c.execute(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});",
        vec![serde_json::to_value(&e).unwrap()],
    )
    .await
    .unwrap();
    e.click().await.unwrap();
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn open_store(c: &Client, app: &TestApp) {
    c.goto(&app.address).await.unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("[data-testid=add-sku-mug]"))
        .await
        .unwrap();
}

async fn fill_checkout(c: &Client, email: &str, card: &str) {
    fill(c, "#name", "Ann Lee").await;
    fill(c, "#email", email).await;
    fill(c, "#line1", "1 Main St").await;
    fill(c, "#city", "Springfield").await;
    fill(c, "#postalCode", "12345").await;
    fill(c, "#country", "US").await;
    fill(c, "#card", card).await;
}

async fn orders_in_store(app: &TestApp) -> usize {
    app.services
        .store
        .list_orders(None, 100, None)
        .await
        .unwrap()
        .orders
        .len()
}

#[tokio::test]
async fn an_order_placed_in_the_browser_completes_and_its_receipt_downloads() {
    let downloads = tempfile::tempdir().unwrap();
    let Some(c) = browser(downloads.path()).await else {
        return;
    };
    let app = spawn_app().await;
    with_screenshot_on_failure(&c, "order_completes", async {
        open_store(&c, &app).await;
        click(&c, "[data-testid=add-sku-mug]").await;
        click(&c, "[data-testid=add-sku-tee]").await;
        fill_checkout(&c, "ann@example.com", "4242 4242 4242 4242").await;
        click(&c, "#place-order").await;
        wait_text(&c, "#status-value", Duration::from_secs(30), |t| {
            t == "COMPLETED"
        })
        .await;
        c.execute("window.scrollTo({top: 0, behavior: 'instant'});", vec![])
            .await
            .unwrap();
        let png = c.screenshot().await.unwrap();
        std::fs::write(target_dir("screenshots").join("storefront.png"), png).unwrap();

        click(&c, "#receipt-link").await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let pdf = loop {
            let found = std::fs::read_dir(downloads.path())
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "pdf"));
            if let Some(p) = found {
                break std::fs::read(p).unwrap();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the receipt was not downloaded"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(pdf.starts_with(b"%PDF-"), "a PDF was downloaded");
        assert_eq!(orders_in_store(&app).await, 1);
    })
    .await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn an_order_over_stock_shows_the_failure_in_words() {
    let downloads = tempfile::tempdir().unwrap();
    let Some(c) = browser(downloads.path()).await else {
        return;
    };
    let app = spawn_app().await;
    with_screenshot_on_failure(&c, "over_stock", async {
        open_store(&c, &app).await;
        // Only three were made: put five in the cart, as a shopper clicking on would.
        for _ in 0..5 {
            click(&c, "[data-testid=add-sku-limited]").await;
        }
        wait_text(&c, "#cart-count", Duration::from_secs(5), |t| t == "5").await;
        fill_checkout(&c, "ann@example.com", "4242424242424242").await;
        click(&c, "#place-order").await;
        wait_text(&c, "#status-value", Duration::from_secs(30), |t| {
            t == "FAILED"
        })
        .await;
        let reason = text_of(&c, "#failure-reason").await;
        assert!(reason.to_lowercase().contains("out of stock"), "{reason}");
    })
    .await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_double_clicked_submit_places_one_order() {
    let downloads = tempfile::tempdir().unwrap();
    let Some(c) = browser(downloads.path()).await else {
        return;
    };
    let app = spawn_app().await;
    with_screenshot_on_failure(&c, "double_click", async {
        open_store(&c, &app).await;
        click(&c, "[data-testid=add-sku-mug]").await;
        fill_checkout(&c, "ann@example.com", "4242424242424242").await;
        c.execute(
            "const b = document.getElementById('place-order'); b.click(); b.click(); b.click();",
            vec![],
        )
        .await
        .unwrap();
        wait_text(&c, "#status-value", Duration::from_secs(30), |t| {
            t == "COMPLETED"
        })
        .await;
        assert_eq!(orders_in_store(&app).await, 1, "three clicks, one order");
    })
    .await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn invalid_fields_show_their_messages_beside_them() {
    let downloads = tempfile::tempdir().unwrap();
    let Some(c) = browser(downloads.path()).await else {
        return;
    };
    let app = spawn_app().await;
    with_screenshot_on_failure(&c, "invalid_fields", async {
        open_store(&c, &app).await;
        click(&c, "[data-testid=add-sku-mug]").await;
        fill_checkout(&c, "ann.example.com", "4242424242424241").await;
        click(&c, "#place-order").await;
        let msg = wait_text(&c, "#error-email", Duration::from_secs(10), |t| {
            !t.is_empty()
        })
        .await;
        assert!(msg.contains("e-mail"), "{msg}");
        let invalid = c
            .find(Locator::Css("#email"))
            .await
            .unwrap()
            .attr("aria-invalid")
            .await
            .unwrap();
        assert_eq!(invalid.as_deref(), Some("true"));
        fill(&c, "#email", "ann@example.com").await;
        click(&c, "#place-order").await;
        let card = wait_text(&c, "#error-card", Duration::from_secs(10), |t| {
            !t.is_empty()
        })
        .await;
        assert!(card.contains("card"), "{card}");
        assert_eq!(orders_in_store(&app).await, 0, "nothing was ordered");
    })
    .await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn the_admin_console_rejects_a_wrong_key_and_lists_the_new_order() {
    let downloads = tempfile::tempdir().unwrap();
    let Some(c) = browser(downloads.path()).await else {
        return;
    };
    let app = spawn_app().await;
    let (created, _) = app
        .place_and_finish(&helpers::order_body("sku-cap", 1))
        .await;
    let id = created["orderId"].as_str().unwrap().to_owned();
    with_screenshot_on_failure(&c, "admin", async {
        c.goto(&app.url("/admin")).await.unwrap();
        fill(&c, "#api-key", "definitely-not-the-key").await;
        click(&c, "#login-submit").await;
        let err = wait_text(&c, "#login-error", Duration::from_secs(10), |t| {
            !t.is_empty()
        })
        .await;
        assert!(err.contains("not valid"), "{err}");
        fill(&c, "#api-key", ADMIN_KEY).await;
        click(&c, "#login-submit").await;
        let table = wait_text(&c, "#admin-orders", Duration::from_secs(10), |t| {
            !t.is_empty()
        })
        .await;
        assert!(table.contains(&id), "{table}");
        assert_eq!(text_of(&c, "#count-COMPLETED").await, "1");
        let png = c.screenshot().await.unwrap();
        std::fs::write(target_dir("screenshots").join("admin.png"), png).unwrap();
        click(&c, &format!("a[href='/admin/orders/{id}']")).await;
        wait_text(&c, "#page-status", Duration::from_secs(10), |t| {
            t == "COMPLETED"
        })
        .await;
    })
    .await;
    c.close().await.unwrap();
}

/// An operator records the payment of an order on invoice on its console page (a plain form
/// with its CSRF token): the worker completes the order and the page shows it with its receipt.
#[tokio::test]
async fn an_operator_records_an_invoice_payment_in_the_console() {
    let downloads = tempfile::tempdir().unwrap();
    let Some(c) = browser(downloads.path()).await else {
        return;
    };
    let app =
        helpers::spawn_app_with(&[("ORDERFLOW__ORDERS__INVOICE_ENABLED", "true")], true).await;
    let mut body = helpers::order_body("sku-cap", 1);
    body.as_object_mut().unwrap().remove("payment");
    let (created, held) = app.place_and_finish(&body).await;
    assert_eq!(held["status"], "AWAITING_PAYMENT");
    let id = created["orderId"].as_str().unwrap().to_owned();
    with_screenshot_on_failure(&c, "admin-invoice", async {
        c.goto(&app.url("/admin")).await.unwrap();
        fill(&c, "#api-key", ADMIN_KEY).await;
        click(&c, "#login-submit").await;
        wait_text(&c, "#admin-orders", Duration::from_secs(10), |t| {
            t.contains(&id)
        })
        .await;
        c.goto(&app.url(&format!("/admin/orders/{id}")))
            .await
            .unwrap();
        let due = wait_text(&c, "#page-payment-due", Duration::from_secs(10), |t| {
            !t.is_empty()
        })
        .await;
        assert!(due.contains("held until"), "{due}");
        fill(&c, "#payment-reference", "transfer 0042").await;
        click(&c, "#record-payment button").await;
        // The worker completes it in a moment; the page does not refresh by itself.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            c.goto(&app.url(&format!("/admin/orders/{id}")))
                .await
                .unwrap();
            if text_of(&c, "#page-status").await == "COMPLETED" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the paid order never completed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let links = c.find_all(Locator::Css("a.button")).await.unwrap();
        assert_eq!(links.len(), 1, "the receipt link is shown");
        assert!(c
            .find_all(Locator::Css("#record-payment"))
            .await
            .unwrap()
            .is_empty());
    })
    .await;
    c.close().await.unwrap();
}
