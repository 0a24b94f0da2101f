//! Server-rendered pages, the admin console's session and CSRF, and cache headers.

use crate::helpers::{order_body, spawn_app_with, TestApp, ADMIN_KEY};
use serde_json::Value;

/// `GET /orders/{id}?token=…`: the 303 to the clean URL and the order cookies it sets.
async fn open_link(app: &TestApp, id: &str, token: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/orders/{id}?token={token}")))
        .send()
        .await
        .unwrap()
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_order_link_is_exchanged_for_a_cookie_and_the_page_carries_no_token() {
    let app = spawn_app_with(&[], true).await;
    let created: Value = app
        .post_order(&order_body("sku-mug", 2))
        .await
        .json()
        .await
        .unwrap();
    let id = created["orderId"].as_str().unwrap();
    let token = created["accessToken"].as_str().unwrap();
    app.wait_final(id, token).await;

    let link = open_link(&app, id, token).await;
    assert_eq!(link.status(), 303);
    assert_eq!(
        link.headers()["location"],
        format!("/orders/{id}"),
        "the clean URL"
    );
    assert_eq!(link.headers()["cache-control"], "no-store");
    assert_eq!(link.headers()["referrer-policy"], "no-referrer");
    let sets = set_cookies(&link);
    let paths: Vec<String> = sets
        .iter()
        .map(|c| {
            c.split(';')
                .map(str::trim)
                .find_map(|a| a.strip_prefix("Path="))
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        paths,
        [format!("/orders/{id}"), format!("/api/orders/{id}/receipt")],
        "scoped to this order's page and receipt: {sets:?}"
    );
    for c in &sets {
        assert!(c.starts_with("orderflow_order=v1."), "{c}");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax"), "{c}");
        assert!(c.contains("Max-Age=3600"), "{c}");
        assert!(!c.contains(token), "the cookie is not the token: {c}");
    }
    let cookie = cookie_of(&link);

    let page = get_with_cookie(&app, &format!("/orders/{id}"), &cookie).await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(id)
            && html.contains("COMPLETED")
            && html.contains("Stoneware Mug")
            && html.contains("28.00 USD"),
        "{html}"
    );
    assert!(!html.contains("<script"), "no JavaScript on the page");
    assert!(!html.contains(token), "the token is not on the page");
    let at = html
        .find("Download the PDF receipt")
        .expect("a receipt link");
    let href = html[..at]
        .rsplit("href=\"")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        href,
        format!("/api/orders/{id}/receipt"),
        "no token= in the link"
    );
    let receipt = get_with_cookie(&app, &href, &cookie).await;
    assert_eq!(receipt.status(), 200, "the cookie opens the receipt");
    assert_eq!(receipt.headers()["content-type"], "application/pdf");

    let anon = app
        .client
        .get(app.url(&format!("/orders/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 404);
    let wrong = open_link(&app, id, "nope").await;
    assert_eq!(wrong.status(), 404);
    assert!(wrong.headers().get("set-cookie").is_none(), "no cookie");
    assert_eq!(wrong.headers()["referrer-policy"], "no-referrer");
}

#[tokio::test]
async fn an_order_cookie_opens_only_its_order_and_not_once_tampered_or_expired() {
    let app = spawn_app_with(&[("ORDERFLOW__ORDERS__LINK_COOKIE_SECS", "2")], false).await;
    let mut orders = Vec::new();
    for _ in 0..2 {
        let c: Value = app
            .post_order(&order_body("sku-mug", 1))
            .await
            .json()
            .await
            .unwrap();
        orders.push((
            c["orderId"].as_str().unwrap().to_owned(),
            c["accessToken"].as_str().unwrap().to_owned(),
        ));
    }
    let ((a, a_token), (b, _)) = (&orders[0], &orders[1]);
    let link = open_link(&app, a, a_token).await;
    assert_eq!(link.status(), 303);
    assert!(set_cookies(&link)[0].contains("Max-Age=2"));
    let cookie = cookie_of(&link);
    // Valid for at least one more second (the expiry is whole seconds, two ahead).
    let page_a = get_with_cookie(&app, &format!("/orders/{a}"), &cookie).await;
    assert_eq!(page_a.status(), 200, "the cookie opens its order");
    // Order B's page is "not found" to A's cookie; the API says 401, as to anyone without
    // B's credential.
    for (path, status) in [
        (format!("/orders/{b}"), 404),
        (format!("/api/orders/{b}/receipt"), 401),
    ] {
        let other = get_with_cookie(&app, &path, &cookie).await;
        assert_eq!(other.status(), status, "order A's cookie on {path}");
    }
    let (name_and_expiry, sig) = cookie.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    let tampered = format!("{name_and_expiry}.{flipped}{}", &sig[1..]);
    let expires: i64 = name_and_expiry.rsplit_once('.').unwrap().1.parse().unwrap();
    let extended = cookie.replacen(&expires.to_string(), &(expires + 3600).to_string(), 1);
    for forged in [tampered, extended] {
        let res = get_with_cookie(&app, &format!("/orders/{a}"), &forged).await;
        assert_eq!(res.status(), 404, "{forged}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = get_with_cookie(&app, &format!("/orders/{a}"), &cookie).await;
    assert_eq!(expired.status(), 404, "the cookie has expired");
}

fn cookie_of(res: &reqwest::Response) -> String {
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

fn csrf_in(html: &str) -> String {
    let at =
        html.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_admin_console_needs_a_key_and_protects_its_forms() {
    let app = spawn_app_with(&[], false).await;
    let created: Value = app
        .post_order(&order_body("sku-mug", 1))
        .await
        .json()
        .await
        .unwrap();
    let id = created["orderId"].as_str().unwrap();

    let login = app
        .client
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        login.contains("Admin sign-in") && !login.contains(id),
        "signed out: only the form"
    );
    let wrong = app
        .client
        .post(app.url("/admin/login"))
        .form(&[("api_key", "not-the-key-at-all")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("That key is not valid"));

    let ok = app
        .client
        .post(app.url("/admin/login"))
        .form(&[("api_key", ADMIN_KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let set = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = cookie_of(&ok);

    let console = app
        .client
        .get(app.url("/admin"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(console.contains(id), "the console lists the new order");
    assert!(console.contains("id=\"dlq-depth\">0<"), "{console}");
    let tampered = format!("{cookie}0");
    let refused = app
        .client
        .get(app.url("/admin"))
        .header("Cookie", &tampered)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        refused.contains("Admin sign-in"),
        "a tampered cookie is no session"
    );

    // A poison message in the DLQ, redriven from the console: only with the CSRF token.
    app.services.queue.send("poison").await.unwrap();
    let got = app
        .services
        .queue
        .receive(1, std::time::Duration::from_secs(1))
        .await
        .unwrap();
    app.services
        .queue
        .dead_letter(&got[0], "undecodable")
        .await
        .unwrap();
    let no_token = app
        .client
        .post(app.url("/admin/dlq/redrive"))
        .header("Cookie", &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 403);
    assert_eq!(app.services.queue.depth().await.unwrap().dead_letters, 1);
    let csrf = csrf_in(&console);
    let redrive = app
        .client
        .post(app.url("/admin/dlq/redrive"))
        .header("Cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(redrive.status(), 303);
    assert_eq!(redrive.headers()["location"], "/admin?redriven=1");
    assert_eq!(app.services.queue.depth().await.unwrap().dead_letters, 0);

    // The console session reads order details and receipts without the shopper's token.
    let detail = app
        .client
        .get(app.url(&format!("/admin/orders/{id}")))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(detail.status(), 200);
    let without = app
        .client
        .get(app.url(&format!("/admin/orders/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        without.status(),
        303,
        "signed out: back to the sign-in form"
    );
}

#[tokio::test]
async fn versioned_assets_are_cached_for_long_and_html_is_not() {
    let app = spawn_app_with(&[], false).await;
    let index = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let html = index.text().await.unwrap();
    let at = html
        .find("/static/app.js?v=")
        .expect("versioned script URL");
    let url: String = html[at..].split('"').next().unwrap().to_owned();
    let versioned = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(versioned.status(), 200);
    assert_eq!(
        versioned.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let plain = app
        .client
        .get(app.url("/static/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.headers()["cache-control"], "no-cache");
    // Only the current version of a file that exists is immutable: not an old or invented
    // version (an old instance during a deploy would pin stale content for a year), not a 404.
    let v = url.rsplit_once("?v=").unwrap().1;
    for (path, status) in [
        ("/static/app.js?v=000000000000".to_owned(), 200),
        (format!("/static/style.css?v={v}"), 200),
        (format!("/static/missing.js?v={v}"), 404),
        ("/static/missing.js?v=1".to_owned(), 404),
    ] {
        let res = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        assert_eq!(res.headers()["cache-control"], "no-cache", "{path}");
    }
    let csp = app.client.get(app.url("/")).send().await.unwrap().headers()
        ["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
}

/// Signs in with the given extra headers; the `Set-Cookie` of the answer.
async fn sign_in_cookie(app: &crate::helpers::TestApp, headers: &[(&str, &str)]) -> String {
    let mut r = app
        .client
        .post(app.url("/admin/login"))
        .form(&[("api_key", ADMIN_KEY)]);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let res = r.send().await.unwrap();
    assert_eq!(res.status(), 303);
    res.headers()["set-cookie"].to_str().unwrap().to_owned()
}

fn is_secure(set_cookie: &str) -> bool {
    set_cookie
        .split(';')
        .any(|a| a.trim().eq_ignore_ascii_case("secure"))
}

/// Behind the ALB (one trusted hop) on plain HTTP, the session cookie is not `Secure`, so the
/// browser keeps it and the admin can sign in; on HTTPS it is. Without a trusted proxy a
/// client's `X-Forwarded-Proto` changes nothing.
#[tokio::test]
async fn the_session_cookie_follows_the_scheme_the_browser_used() {
    const ALB: &str = "orderflow-123456.us-east-1.elb.amazonaws.com";
    let behind_alb =
        spawn_app_with(&[("ORDERFLOW__RATE_LIMIT__TRUSTED_PROXY_HOPS", "1")], false).await;
    let plain = sign_in_cookie(
        &behind_alb,
        &[
            ("Host", ALB),
            ("X-Forwarded-Proto", "http"),
            ("X-Forwarded-For", "203.0.113.9"),
        ],
    )
    .await;
    assert!(!is_secure(&plain), "plain HTTP through the ALB: {plain}");
    let tls = sign_in_cookie(
        &behind_alb,
        &[
            ("Host", ALB),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-For", "203.0.113.9"),
        ],
    )
    .await;
    assert!(is_secure(&tls), "HTTPS at the ALB: {tls}");
    // A client claiming http in front of the ALB's https does not downgrade.
    let spoofed = sign_in_cookie(
        &behind_alb,
        &[("Host", ALB), ("X-Forwarded-Proto", "http, https")],
    )
    .await;
    assert!(is_secure(&spoofed), "{spoofed}");
    // The cookie works: the console opens with it.
    let cookie = plain.split(';').next().unwrap().to_owned();
    let console = behind_alb
        .client
        .get(behind_alb.url("/admin"))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!console.contains("Admin sign-in"), "signed in");

    let direct = spawn_app_with(&[], false).await;
    let spoofed = sign_in_cookie(&direct, &[("Host", ALB), ("X-Forwarded-Proto", "http")]).await;
    assert!(
        is_secure(&spoofed),
        "hops = 0: the header is ignored: {spoofed}"
    );
    let upgraded = sign_in_cookie(&direct, &[("X-Forwarded-Proto", "https")]).await;
    assert!(
        !is_secure(&upgraded),
        "loopback plain HTTP stays usable: {upgraded}"
    );
    let local = sign_in_cookie(&direct, &[]).await;
    assert!(!is_secure(&local), "{local}");
}

/// Security review M-6: behind the ALB, answers to requests that came over HTTPS carry
/// `Strict-Transport-Security`; plain HTTP (the default stack, local development) and a
/// client's own `X-Forwarded-Proto` without a trusted proxy never do; 0 switches it off.
#[tokio::test]
async fn hsts_is_sent_over_https_only() {
    let get = |app: &crate::helpers::TestApp, path: &'static str, proto: Option<&'static str>| {
        let mut r = app
            .client
            .get(app.url(path))
            .header("X-Forwarded-For", "203.0.113.9");
        if let Some(p) = proto {
            r = r.header("X-Forwarded-Proto", p);
        }
        async move { r.send().await.unwrap() }
    };
    let hsts = |r: &reqwest::Response| {
        r.headers()
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let behind_alb =
        spawn_app_with(&[("ORDERFLOW__RATE_LIMIT__TRUSTED_PROXY_HOPS", "1")], false).await;
    for path in ["/", "/api/products", "/no-such-page"] {
        let tls = get(&behind_alb, path, Some("https")).await;
        assert_eq!(hsts(&tls).as_deref(), Some("max-age=31536000"), "{path}");
        assert_eq!(
            hsts(&get(&behind_alb, path, Some("http")).await),
            None,
            "{path}"
        );
        assert_eq!(hsts(&get(&behind_alb, path, None).await), None, "{path}");
    }
    let direct = spawn_app_with(&[], false).await;
    assert_eq!(
        hsts(&get(&direct, "/", Some("https")).await),
        None,
        "untrusted header"
    );
    let off = spawn_app_with(
        &[
            ("ORDERFLOW__RATE_LIMIT__TRUSTED_PROXY_HOPS", "1"),
            ("ORDERFLOW__HTTP__HSTS_MAX_AGE_SECS", "0"),
        ],
        false,
    )
    .await;
    assert_eq!(
        hsts(&get(&off, "/", Some("https")).await),
        None,
        "switched off"
    );
}
