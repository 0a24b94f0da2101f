//! A small HTTP/1.1 load generator over keep-alive connections: each connection sends one
//! request, reads the whole answer, then sends the next. No client library, so what is
//! measured is the server, not a client's pooling or buffering.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One keep-alive connection.
pub struct Conn {
    stream: BufReader<TcpStream>,
    addr: SocketAddr,
}

/// An answer: status and body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream: BufReader::with_capacity(16 * 1024, stream),
            addr,
        })
    }

    /// Sends `method path` with `headers` and `body` (JSON when not empty), reads the answer.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Answer> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.get_mut().write_all(&bytes).await?;
        self.read_answer().await
    }

    async fn read_answer(&mut self) -> std::io::Result<Answer> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let (mut length, mut chunked) = (0usize, false);
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim(), v.trim());
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.parse().map_err(|_| bad("bad content-length"))?;
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = v.eq_ignore_ascii_case("chunked");
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16).map_err(|_| bad("chunk size"))?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok(Answer { status, body })
    }
}

/// What a load phase saw.
#[derive(Debug, Default)]
pub struct Phase {
    /// Answers by status.
    pub statuses: std::collections::BTreeMap<u16, u64>,
    /// Latency of every answer with the expected status, in microseconds.
    pub latencies_us: Vec<u64>,
    /// Transport errors (reconnected after each).
    pub errors: u64,
    pub elapsed: Duration,
}

impl Phase {
    pub fn ok(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    pub fn per_sec(&self) -> f64 {
        self.ok() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn merge(&mut self, other: Phase) {
        for (s, n) in other.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
    }
}

/// The request the `n`th call sends: method, path, headers, body.
pub type MakeRequest = Arc<dyn Fn(u64) -> Request + Send + Sync>;

pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// How requests are paced.
#[derive(Clone, Copy)]
pub enum Pace {
    /// Each connection sends its next request as soon as the last is answered.
    Closed,
    /// Requests are due at a fixed total rate (per second), spread over the connections;
    /// a connection that falls behind sends at once, and latency counts from the due time.
    Open(f64),
}

/// Runs `conns` connections against `addr` for `duration`, counting `expect` answers.
pub async fn run(
    addr: SocketAddr,
    conns: usize,
    duration: Duration,
    pace: Pace,
    expect: u16,
    make: MakeRequest,
) -> Phase {
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..conns)
        .map(|c| {
            let (make, counter) = (make.clone(), counter.clone());
            tokio::spawn(async move {
                let mut phase = Phase::default();
                let mut conn = None;
                let mut k = 0u64;
                loop {
                    let due = match pace {
                        Pace::Closed => Instant::now(),
                        Pace::Open(rate) => {
                            let slot = (k * conns as u64 + c as u64) as f64 / rate;
                            started + Duration::from_secs_f64(slot)
                        }
                    };
                    if due >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                    k += 1;
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let req = make(n);
                    if conn.is_none() {
                        match Conn::connect(addr).await {
                            Ok(c) => conn = Some(c),
                            Err(_) => {
                                phase.errors += 1;
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        }
                    }
                    let headers: Vec<(&str, &str)> =
                        req.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let sent = conn
                        .as_mut()
                        .expect("connected")
                        .send(req.method, &req.path, &headers, &req.body)
                        .await;
                    match sent {
                        Ok(answer) => {
                            *phase.statuses.entry(answer.status).or_default() += 1;
                            if answer.status == expect {
                                phase.latencies_us.push(due.elapsed().as_micros() as u64);
                            }
                        }
                        Err(_) => {
                            phase.errors += 1;
                            conn = None;
                        }
                    }
                }
                phase
            })
        })
        .collect();
    let mut total = Phase::default();
    for t in tasks {
        if let Ok(p) = t.await {
            total.merge(p);
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// The `q` quantile (0..=1) of `sorted`, or 0 when empty.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 51);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[tokio::test]
    async fn reads_fixed_length_and_chunked_answers_on_one_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut seen = 0;
            let answers: [&[u8]; 2] = [
                b"HTTP/1.1 201 Created\r\ncontent-length: 5\r\n\r\nhello",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            ];
            for a in answers {
                // Wait for one whole request (these carry no body).
                loop {
                    let n = s.read(&mut buf[seen..]).await.unwrap();
                    seen += n;
                    if buf[..seen].windows(4).any(|w| w == b"\r\n\r\n") {
                        seen = 0;
                        break;
                    }
                }
                s.write_all(a).await.unwrap();
            }
        });
        let mut c = Conn::connect(addr).await.unwrap();
        let a = c.send("GET", "/a", &[], b"").await.unwrap();
        assert_eq!((a.status, a.body.as_slice()), (201, &b"hello"[..]));
        let b = c.send("GET", "/b", &[("X-Test", "1")], b"").await.unwrap();
        assert_eq!((b.status, b.body.as_slice()), (200, &b"abcde"[..]));
    }
}
