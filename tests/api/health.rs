//! Liveness and readiness as the load balancer and the auto-scaling group see them.

use crate::helpers::{spawn_app_wrapped, HookedQueue, QueueHook, QueueOp};
use orderflow::ports::PortError;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a real SQS error carries: never to be shown to whoever probes `/readyz`.
const BACKEND_TEXT: &str =
    "AWS.SimpleQueueService.NonExistentQueue arn:aws:sqs:us-east-1:123456789012:secret-queue";

#[tokio::test]
async fn readiness_is_cached_single_flight_and_says_which_check_failed_without_detail() {
    let down = Arc::new(AtomicBool::new(true));
    let depth_calls = Arc::new(AtomicUsize::new(0));
    let (d, c) = (down.clone(), depth_calls.clone());
    let app = spawn_app_wrapped(&[], false, move |mut s| {
        // `depth` fails while `down` is set, counting the calls, slow enough that
        // concurrent probes overlap with the check.
        let hook: QueueHook = Arc::new(move |op| {
            let (down, calls) = (d.clone(), c.clone());
            Box::pin(async move {
                if op != QueueOp::Depth {
                    return Ok(());
                }
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                if down.load(Ordering::SeqCst) {
                    return Err(PortError::Unavailable(BACKEND_TEXT.into()));
                }
                Ok(())
            })
        });
        s.queue = Arc::new(HookedQueue {
            inner: s.queue.clone(),
            hook,
        });
        s
    })
    .await;

    // Twenty probes at once while the queue is down: one check, twenty 503s.
    let probes: Vec<_> = (0..20)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/readyz"));
            tokio::spawn(async move { client.get(url).send().await.unwrap() })
        })
        .collect();
    for p in probes {
        let res = p.await.unwrap();
        assert_eq!(res.status(), 503);
        let text = res.text().await.unwrap();
        assert!(
            !text.contains("SimpleQueueService") && !text.contains("arn:"),
            "{text}"
        );
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["status"], "unavailable", "{body}");
        assert_eq!(body["checks"]["queue"], "fail", "{body}");
        assert_eq!(body["checks"]["store"], "ok", "{body}");
        assert!(body.get("error").is_none(), "{body}");
    }
    assert_eq!(
        depth_calls.load(Ordering::SeqCst),
        1,
        "one check for 20 probes"
    );

    // Liveness never looks at the backends.
    for path in ["/livez", "/healthz"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");
    }
    assert_eq!(depth_calls.load(Ordering::SeqCst), 1);

    // The queue is back; the failed result stands until it is 5 s old, then one new check.
    down.store(false, Ordering::SeqCst);
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503, "still the cached result");
    assert_eq!(depth_calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(orderflow::http::READY_CACHE + Duration::from_millis(200)).await;
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["queue"], "ok");
    assert_eq!(depth_calls.load(Ordering::SeqCst), 2);
}
