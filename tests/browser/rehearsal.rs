//! The deploy rehearsal's browser journey. `scripts/rehearse-deploy.sh` runs it (with
//! `--ignored`) against its own stack: HAProxy standing in for the ALB in front of two
//! instances booted under systemd, reached by the ALB's DNS name from the Terraform outputs
//! (Chromium maps that name to the LB), so the app sees what it sees on AWS: a public
//! `Host`, plain HTTP, `X-Forwarded-For` and `X-Forwarded-Proto` from the LB.
//!
//! Environment (all set by the rehearsal): `REHEARSAL_URL` (`http://<ALB DNS name>`),
//! `REHEARSAL_RESOLVE` (`<ALB DNS name>=<ip:port of the LB>`), `REHEARSAL_ADMIN_KEY`,
//! `REHEARSAL_DLQ_ORDER` (an order whose message the rehearsal put in the dead-letter queue).

use super::*;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test is run by scripts/rehearse-deploy.sh")
    })
}

fn try_pdf(dir: &Path) -> Option<Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "pdf"))
        .map(|p| std::fs::read(p).unwrap())
}

#[tokio::test]
#[ignore = "needs the deploy rehearsal's stack: run by scripts/rehearse-deploy.sh"]
async fn journey_through_the_load_balancer() {
    let url = env("REHEARSAL_URL");
    let (host, target) = env("REHEARSAL_RESOLVE")
        .split_once('=')
        .map(|(h, t)| (h.to_owned(), t.to_owned()))
        .expect("REHEARSAL_RESOLVE is host=ip:port");
    let admin_key = env("REHEARSAL_ADMIN_KEY");
    let dlq_order = env("REHEARSAL_DLQ_ORDER");
    let downloads = tempfile::tempdir().unwrap();
    let rules = format!("--host-resolver-rules=MAP {host} {target}");
    let c = browser_with(downloads.path(), &[rules])
        .await
        .expect("the rehearsal needs chromium and chromedriver");
    with_screenshot_on_failure(&c, "rehearsal_journey", async {
        // The shopper: an order placed in the storefront completes; its receipt downloads.
        c.goto(&format!("{url}/")).await.unwrap();
        c.wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("[data-testid=add-sku-mug]"))
            .await
            .unwrap();
        click(&c, "[data-testid=add-sku-mug]").await;
        fill_checkout(&c, "ann@example.com", "4242 4242 4242 4242").await;
        click(&c, "#place-order").await;
        wait_text(&c, "#status-value", Duration::from_secs(90), |t| {
            t == "COMPLETED"
        })
        .await;
        let order_id = text_of(&c, "#order-id").await;
        assert!(order_id.starts_with("ord_"), "order id shown: {order_id:?}");
        // The receipt as the storefront's button fetches it (same origin, the order's token
        // from the storefront's own storage). Whether Chrome then saves the file is its own
        // policy: on a plain-HTTP page (the rehearsal's LB, like the default stack without
        // certificate_arn, has no TLS listener) it was seen to hold it as an insecure download.
        let got = c
            .execute_async(
                r#"const [id, done] = arguments;
                const saved = JSON.parse(localStorage.getItem('orderflow.orders')).find((o) => o.orderId === id);
                fetch(`/api/orders/${id}/receipt`, { headers: { Authorization: `Bearer ${saved.accessToken}` } })
                  .then(async (r) => {
                    const b = new Uint8Array(await r.arrayBuffer());
                    done({ status: r.status, type: r.headers.get('content-type'),
                           head: String.fromCharCode(...b.slice(0, 5)), len: b.length });
                  })
                  .catch((e) => done({ error: String(e) }));"#,
                vec![serde_json::json!(order_id)],
            )
            .await
            .unwrap();
        assert_eq!(got["status"], 200, "the receipt through the LB: {got}");
        assert_eq!(got["type"], "application/pdf", "{got}");
        assert_eq!(got["head"], "%PDF-", "{got}");
        click(&c, "#receipt-link").await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let message = text_of(&c, "#order-message").await;
        assert!(!message.contains("Could not download"), "the storefront's download failed: {message}");
        if let Some(pdf) = try_pdf(downloads.path()) {
            assert!(pdf.starts_with(b"%PDF-"), "a PDF was downloaded");
        }

        // The operator: signs in over the LB's plain-HTTP listener (the session cookie must
        // survive it, on whichever instance answers next), sees the order, redrives the DLQ.
        c.goto(&format!("{url}/admin")).await.unwrap();
        fill(&c, "#api-key", &admin_key).await;
        click(&c, "#login-submit").await;
        let table = wait_text(&c, "#admin-orders", Duration::from_secs(15), |t| {
            !t.is_empty()
        })
        .await;
        assert!(
            table.contains(&order_id),
            "the new order {order_id} is listed: {table}"
        );
        assert!(
            table.contains(&dlq_order),
            "the dead-lettered order {dlq_order} is listed: {table}"
        );
        let depth = text_of(&c, "#dlq-depth").await;
        assert_eq!(
            depth, "1",
            "the dead-letter queue holds the rehearsal's message"
        );
        click(&c, "#redrive").await;
        let notice = wait_text(&c, "#admin-notice", Duration::from_secs(15), |t| {
            !t.is_empty()
        })
        .await;
        assert!(notice.contains("Moved 1 message"), "{notice}");
        assert_eq!(text_of(&c, "#dlq-depth").await, "0");
        // Several page loads, so both instances have served the signed-in session.
        for _ in 0..4 {
            c.goto(&format!("{url}/admin/orders/{order_id}"))
                .await
                .unwrap();
            wait_text(&c, "#page-status", Duration::from_secs(10), |t| {
                t == "COMPLETED"
            })
            .await;
        }
    })
    .await;
    c.close().await.unwrap();
}
