//! Slow clients (slowloris): a head or a body that trickles in, and idle keep-alive
//! connections, are cut off after their configured time. Raw TCP on loopback, every test
//! bounded by a timeout.

use crate::helpers::{order_body, spawn_app_with, TestApp};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.address.trim_start_matches("http://");
    TcpStream::connect(addr).await.unwrap()
}

/// Writes `bytes` one at a time, `gap` apart, until done or the server closes; meanwhile
/// reads everything the server sends until it closes. Returns what was read and when the
/// connection ended (from the start), or `None` if it was still open after `limit`.
async fn trickle(
    stream: TcpStream,
    head: &[u8],
    bytes: &[u8],
    gap: Duration,
    limit: Duration,
) -> Option<(String, Duration)> {
    let started = Instant::now();
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(head).await.unwrap();
    let bytes = bytes.to_vec();
    let writer = tokio::spawn(async move {
        for b in bytes {
            tokio::time::sleep(gap).await;
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
        }
        // Everything sent: keep the write side open, as a slow client would.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    let read = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    let result = tokio::time::timeout(limit, read).await.ok();
    writer.abort();
    result.map(|text| (text, started.elapsed()))
}

#[tokio::test]
async fn a_request_head_sent_byte_by_byte_is_cut_off_at_the_head_timeout() {
    let app = spawn_app_with(
        &[("ORDERFLOW__HTTP__REQUEST_HEAD_TIMEOUT_MS", "500")],
        false,
    )
    .await;
    let head = b"GET /livez HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    // 200 ms a byte: the whole head would take about 18 s.
    let (text, took) = trickle(
        connect(&app).await,
        b"",
        head,
        Duration::from_millis(200),
        Duration::from_secs(4),
    )
    .await
    .expect("the server still held the connection after 4 s");
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "closed or 408, got {text:?}"
    );
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
}

#[tokio::test]
async fn a_body_that_trickles_gets_408_json_and_the_connection_closes() {
    let app = spawn_app_with(
        &[("ORDERFLOW__HTTP__REQUEST_BODY_TIMEOUT_MS", "800")],
        false,
    )
    .await;
    let body = serde_json::to_vec(&order_body("sku-mug", 1)).unwrap();
    let head = format!(
        "POST /api/orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // The head at once, then the body at 100 ms a byte (tens of seconds in all).
    let (text, took) = trickle(
        connect(&app).await,
        head.as_bytes(),
        &body,
        Duration::from_millis(100),
        Duration::from_secs(5),
    )
    .await
    .expect("the server still held the connection after 5 s");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"REQUEST_TIMEOUT\""), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(took < Duration::from_secs(4), "closed after {took:?}");

    // A body that arrives in time is unaffected.
    let res = app.post_order(&order_body("sku-mug", 1)).await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_keep_alive_secs() {
    let app = spawn_app_with(&[("ORDERFLOW__HTTP__KEEP_ALIVE_SECS", "1")], false).await;
    let request = b"GET /livez HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let (text, took) = trickle(
        connect(&app).await,
        request,
        b"",
        Duration::ZERO,
        Duration::from_secs(4),
    )
    .await
    .expect("the idle connection was still open after 4 s");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        (Duration::from_millis(800)..Duration::from_secs(3)).contains(&took),
        "closed after {took:?}"
    );
}

/// Sends one request on `stream` and reads the answer's status line, if one comes in `wait`.
async fn status_line(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    stream
        .write_all(b"GET /livez HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(wait, stream.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .map(str::to_owned),
        _ => None,
    }
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_until_one_closes() {
    let app = spawn_app_with(&[("ORDERFLOW__HTTP__MAX_CONNECTIONS", "1")], false).await;
    // One HTTP worker per CPU (actix's default), each holding at most one connection.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let run = async {
        let mut held = Vec::new();
        for _ in 0..workers {
            let mut c = connect(&app).await;
            let status = status_line(&mut c, Duration::from_secs(5)).await;
            assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
            held.push(c);
        }
        let mut extra = connect(&app).await;
        assert_eq!(
            status_line(&mut extra, Duration::from_secs(1)).await,
            None,
            "answered beyond the cap"
        );
        drop(held.pop());
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buf))
            .await
            .expect("served once a connection closed")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    };
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("bounded");
}
