//! `orderflow bench`: starts Orderflow on the embedded default as a separate process (so its
//! memory is its own) and measures, in one run, intake against a trivial endpoint, end-to-end
//! processing, receipt rendering, memory and start-up; with `--aws`, the AWS requests each
//! order costs on moto's emulator. Prints a table and writes JSON. docs/benchmarks.md has the
//! method and the figures. Durability and exactly-once effects stay on: this runs the product
//! as shipped, only the per-client rate limit is switched off.

mod aws;
pub mod cli;
pub mod load;

use anyhow::Context;
use load::{MakeRequest, Pace, Phase, Request};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN_KEY: &str = "bench-admin-key-0123456789-abcdefghij";

/// What to run, and for how long.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `orderflow` binary to start.
    pub binary: PathBuf,
    pub connections: usize,
    pub intake_secs: f64,
    pub e2e_secs: f64,
    /// Orders per second offered in the end-to-end phase.
    pub e2e_rate: f64,
    /// `worker.concurrency` of the `orderflow dev` under end-to-end load.
    pub worker_concurrency: usize,
    pub render_secs: f64,
    /// Also measure AWS requests per order on moto's emulator, with this many orders.
    pub aws_orders: Option<usize>,
    /// `moto_server` to start (else `$MOTO_SERVER`, `.venv-moto/bin/moto_server`, PATH).
    pub moto_server: Option<PathBuf>,
}

impl Options {
    /// A run of a few seconds that exercises every phase (the test suite's smoke run).
    pub fn quick(binary: PathBuf) -> Options {
        Options {
            binary,
            connections: 4,
            intake_secs: 0.5,
            e2e_secs: 1.0,
            e2e_rate: 100.0,
            worker_concurrency: 64,
            render_secs: 0.2,
            aws_orders: None,
            moto_server: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub options: OptionsView,
    /// Process start to the first 200 from `/readyz` (`orderflow dev`, fresh data dir), ms.
    pub start_to_ready_ms: f64,
    pub intake: Throughput,
    /// `GET /healthz` measured the same way against the same process: the framework's ceiling.
    pub trivial: Throughput,
    /// intake / trivial.
    pub intake_ratio: f64,
    pub end_to_end: EndToEnd,
    pub receipts: Receipts,
    pub memory: Memory,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<aws::AwsReport>,
    pub targets: Vec<Target>,
}

#[derive(Debug, Serialize)]
pub struct OptionsView {
    pub connections: usize,
    pub intake_secs: f64,
    pub e2e_secs: f64,
    pub e2e_rate: f64,
    pub worker_concurrency: usize,
    pub render_secs: f64,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_mb: u64,
    pub os: String,
    pub orderflow_version: &'static str,
    /// `release` or `debug` (debug figures are not comparable).
    pub build: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Throughput {
    pub requests: u64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Answers with another status than the expected one, by status.
    pub other_statuses: std::collections::BTreeMap<u16, u64>,
    pub transport_errors: u64,
}

#[derive(Debug, Serialize)]
pub struct EndToEnd {
    pub offered_per_sec: f64,
    pub accepted: u64,
    pub completed: u64,
    pub failed: u64,
    /// Completed orders over the time from the first acceptance to the last completion.
    pub sustained_per_sec: f64,
    /// Accepted (createdAt) to COMPLETED, from the orders' own timelines.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Time after the last POST until nothing was PENDING or PROCESSING.
    pub drain_secs: f64,
    pub post: Throughput,
}

#[derive(Debug, Serialize)]
pub struct Receipts {
    pub lines: usize,
    pub bytes: usize,
    pub per_sec_one_core: f64,
    pub per_sec_all_cores: f64,
    pub threads: usize,
}

#[derive(Debug, Serialize)]
pub struct Memory {
    /// `orderflow dev` after start-up, before any load.
    pub idle_rss_mb: f64,
    /// Peak RSS (VmHWM) of `orderflow dev` over the end-to-end phase.
    pub peak_rss_mb: f64,
    /// Peak RSS of `orderflow serve` over the intake phase.
    pub serve_peak_rss_mb: f64,
}

#[derive(Debug, Serialize)]
pub struct Target {
    pub what: &'static str,
    pub target: String,
    pub measured: String,
    pub met: bool,
}

/// Runs every phase. Progress goes to stderr.
pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    let machine = machine();
    let work = std::env::temp_dir().join(format!("orderflow-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&work)?;
    let _cleanup = RemoveOnDrop(work.clone());
    let catalog = work.join("catalog.json");
    std::fs::write(&catalog, bench_catalog()?)?;

    eprintln!("bench: intake and trivial endpoint on `orderflow serve`");
    let serve = Server::start(opts, "serve", &work.join("serve"), &catalog).await?;
    // Closed-loop load after an uncounted warm-up (connections, caches, SQLite pages).
    let warm = (opts.intake_secs / 5.0).clamp(0.1, 2.0);
    let closed = |expect: u16, make: MakeRequest| async move {
        let run = |d| {
            load::run(
                serve.addr,
                opts.connections,
                secs(d),
                Pace::Closed,
                expect,
                make.clone(),
            )
        };
        run(warm).await;
        run(opts.intake_secs).await
    };
    let intake = closed(201, order_maker("intake")).await;
    let healthz: MakeRequest = Arc::new(|_| Request {
        method: "GET",
        path: "/healthz".into(),
        headers: vec![],
        body: vec![],
    });
    let trivial = closed(200, healthz).await;
    let serve_peak = serve.rss_kb("VmHWM");
    drop(serve);
    let intake = throughput(intake);
    let trivial = throughput(trivial);

    eprintln!("bench: end to end on `orderflow dev`");
    let dev = Server::start(opts, "dev", &work.join("dev"), &catalog).await?;
    let start_to_ready_ms = ms(dev.start_to_ready);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = dev.rss_kb("VmRSS");
    let end_to_end = end_to_end(opts, &dev).await?;
    let peak_rss = dev.rss_kb("VmHWM");
    drop(dev);

    eprintln!("bench: receipt rendering in-process");
    let receipts = receipts(opts.render_secs)?;

    let aws = match opts.aws_orders {
        Some(n) => {
            eprintln!("bench: AWS requests per order on moto ({n} orders)");
            Some(aws::run(n, opts.moto_server.as_deref()).await?)
        }
        None => None,
    };

    let mut report = Report {
        machine,
        options: OptionsView {
            connections: opts.connections,
            intake_secs: opts.intake_secs,
            e2e_secs: opts.e2e_secs,
            e2e_rate: opts.e2e_rate,
            worker_concurrency: opts.worker_concurrency,
            render_secs: opts.render_secs,
        },
        start_to_ready_ms,
        intake_ratio: intake.per_sec / trivial.per_sec.max(1e-9),
        intake,
        trivial,
        end_to_end,
        receipts,
        memory: Memory {
            idle_rss_mb: idle_rss as f64 / 1024.0,
            peak_rss_mb: peak_rss as f64 / 1024.0,
            serve_peak_rss_mb: serve_peak as f64 / 1024.0,
        },
        aws,
        targets: vec![],
    };
    report.targets = targets(&report);
    Ok(report)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn throughput(p: Phase) -> Throughput {
    let mut l = p.latencies_us.clone();
    l.sort_unstable();
    let q = |x| load::quantile(&l, x) as f64 / 1000.0;
    Throughput {
        requests: p.ok(),
        per_sec: p.per_sec(),
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        max_ms: q(1.0),
        other_statuses: p
            .statuses
            .iter()
            .filter(|(s, _)| !matches!(**s, 200 | 201))
            .map(|(s, n)| (*s, *n))
            .collect(),
        transport_errors: p.errors,
    }
}

/// Orders of one line, each with its own Idempotency-Key, as the storefront sends them.
fn order_maker(run: &'static str) -> MakeRequest {
    let products = ["sku-mug", "sku-tee", "sku-beans"];
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    Arc::new(move |n| Request {
        method: "POST",
        path: "/api/orders".into(),
        headers: vec![("Idempotency-Key", format!("{run}-{nonce}-{n}"))],
        body: serde_json::to_vec(&serde_json::json!({
            "customerId": format!("bench-{}", n % 1000),
            "customerEmail": "bench@example.com",
            "items": [{"productId": products[(n % 3) as usize], "quantity": 1}],
            "shippingAddress": {"name": "Ann Lee", "line1": "1 Main St", "city": "Springfield",
                                "postalCode": "12345", "country": "US"},
            "payment": {"cardNumber": "4242 4242 4242 4242"}
        }))
        .expect("json"),
    })
}

/// The built-in catalog with stock that a run cannot exhaust.
fn bench_catalog() -> anyhow::Result<String> {
    let mut doc: serde_json::Value = serde_json::from_str(crate::catalog::BUILT_IN)?;
    for p in doc["products"].as_array_mut().context("catalog products")? {
        p["stock"] = 1_000_000_000.into();
    }
    Ok(serde_json::to_string(&doc)?)
}

async fn end_to_end(opts: &Options, dev: &Server) -> anyhow::Result<EndToEnd> {
    let post = load::run(
        dev.addr,
        opts.connections,
        secs(opts.e2e_secs),
        Pace::Open(opts.e2e_rate),
        201,
        order_maker("e2e"),
    )
    .await;
    let posted_at = Instant::now();
    let accepted = post.ok();
    let mut admin = load::Conn::connect(dev.addr).await?;
    let auth = [("X-API-Key", ADMIN_KEY)];
    // Wait until nothing is PENDING or PROCESSING (bounded).
    let limit = Duration::from_secs_f64(opts.e2e_secs * 4.0 + 60.0);
    loop {
        let mut busy = false;
        for status in ["PENDING", "PROCESSING"] {
            let a = admin
                .send(
                    "GET",
                    &format!("/api/orders?status={status}&limit=1"),
                    &auth,
                    b"",
                )
                .await?;
            anyhow::ensure!(a.status == 200, "listing orders answered {}", a.status);
            let page: serde_json::Value = serde_json::from_slice(&a.body)?;
            busy |= page["orders"].as_array().is_some_and(|o| !o.is_empty());
        }
        if !busy {
            break;
        }
        anyhow::ensure!(
            posted_at.elapsed() < limit,
            "orders still unfinished after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain_secs = posted_at.elapsed().as_secs_f64();
    let parse = |s: &serde_json::Value| {
        s.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.timestamp_millis())
    };
    let mut latencies = Vec::new();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    each_order(&mut admin, "COMPLETED", |o| {
        let created = parse(&o["createdAt"]).context("createdAt")?;
        let done = o["timeline"]
            .as_array()
            .and_then(|t| t.iter().find(|e| e["status"] == "COMPLETED"))
            .and_then(|e| parse(&e["at"]))
            .context("a COMPLETED timeline entry")?;
        latencies.push(((done - created).max(0) as u64) * 1000);
        first = first.min(created);
        last = last.max(done);
        Ok(())
    })
    .await?;
    let mut failed = 0u64;
    each_order(&mut admin, "FAILED", |_| {
        failed += 1;
        Ok(())
    })
    .await?;
    latencies.sort_unstable();
    let q = |x| load::quantile(&latencies, x) as f64 / 1000.0;
    let completed = latencies.len() as u64;
    let span = ((last - first).max(1)) as f64 / 1000.0;
    Ok(EndToEnd {
        offered_per_sec: opts.e2e_rate,
        accepted,
        completed,
        failed,
        sustained_per_sec: if completed == 0 {
            0.0
        } else {
            completed as f64 / span
        },
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        max_ms: q(1.0),
        drain_secs,
        post: throughput(post),
    })
}

/// Calls `f` with every order in `status`, page by page through the admin API.
async fn each_order(
    admin: &mut load::Conn,
    status: &str,
    mut f: impl FnMut(&serde_json::Value) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut cursor = String::new();
    loop {
        let a = admin
            .send(
                "GET",
                &format!("/api/orders?status={status}&limit=100&cursor={cursor}"),
                &[("X-API-Key", ADMIN_KEY)],
                b"",
            )
            .await?;
        anyhow::ensure!(a.status == 200, "listing orders answered {}", a.status);
        let page: serde_json::Value = serde_json::from_slice(&a.body)?;
        for o in page["orders"].as_array().into_iter().flatten() {
            f(o)?;
        }
        match page["nextCursor"].as_str() {
            Some(c) if !c.is_empty() => cursor = c.to_owned(),
            _ => return Ok(()),
        }
    }
}

fn receipts(seconds: f64) -> anyhow::Result<Receipts> {
    let receipt = crate::domain::receipt::Receipt {
        title: "Orderflow Shop - Receipt".into(),
        header: vec![
            "Order: ord_0192b1c2d3e4f5a6b7c8d9e0f1a2b3c4".into(),
            "Customer: Ann Lee <ann@example.com>".into(),
            "Date: 2026-11-24 10:00 UTC".into(),
        ],
        rows: (1..=5)
            .map(|i| {
                (
                    format!("Product number {i}"),
                    format!("{i} x 14.00 USD"),
                    format!("{}.00 USD", 14 * i),
                )
            })
            .collect(),
        total: "Total: 210.00 USD".into(),
        footer: vec!["Thank you for your order.".into()],
    };
    let bytes = crate::receipt_pdf::render(&receipt)?.len();
    let spin = |d: Duration| {
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < d {
            let pdf = crate::receipt_pdf::render(&receipt).expect("renders");
            std::hint::black_box(pdf);
            n += 1;
        }
        n as f64 / started.elapsed().as_secs_f64()
    };
    spin(secs(seconds / 4.0)); // warm-up
    let one = spin(secs(seconds));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let all: f64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| spin(secs(seconds))))
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("render thread"))
            .sum()
    });
    Ok(Receipts {
        lines: 5,
        bytes,
        per_sec_one_core: one,
        per_sec_all_cores: all,
        threads,
    })
}

fn targets(r: &Report) -> Vec<Target> {
    let t = |what, target: String, measured: String, met| Target {
        what,
        target,
        measured,
        met,
    };
    let mut v = vec![
        t(
            "intake",
            "≥ 10000 orders/s".into(),
            format!("{:.0}/s", r.intake.per_sec),
            r.intake.per_sec >= 10_000.0,
        ),
        t(
            "intake vs trivial endpoint",
            "≥ 30%".into(),
            format!("{:.1}%", r.intake_ratio * 100.0),
            r.intake_ratio >= 0.30,
        ),
        t(
            "end to end sustained",
            "≥ 2000 orders/s".into(),
            format!("{:.0}/s", r.end_to_end.sustained_per_sec),
            r.end_to_end.sustained_per_sec >= 2000.0,
        ),
        t(
            "end to end p99 accept→COMPLETED",
            "< 250 ms".into(),
            format!("{:.0} ms", r.end_to_end.p99_ms),
            r.end_to_end.completed > 0 && r.end_to_end.p99_ms < 250.0,
        ),
        t(
            "receipts per core",
            "≥ 10000 PDFs/s".into(),
            format!("{:.0}/s", r.receipts.per_sec_one_core),
            r.receipts.per_sec_one_core >= 10_000.0,
        ),
        t(
            "RSS idle",
            "≤ 25 MB".into(),
            format!("{:.1} MB", r.memory.idle_rss_mb),
            r.memory.idle_rss_mb <= 25.0,
        ),
        t(
            "RSS under load",
            "≤ 80 MB".into(),
            format!("{:.1} MB", r.memory.peak_rss_mb),
            r.memory.peak_rss_mb <= 80.0,
        ),
        t(
            "start to ready",
            "≤ 150 ms".into(),
            format!("{:.0} ms", r.start_to_ready_ms),
            r.start_to_ready_ms <= 150.0,
        ),
    ];
    if let Some(a) = &r.aws {
        v.push(t(
            "AWS requests per order beyond the receipt PUT",
            "≤ 1.3".into(),
            format!("{:.2}", a.billable_per_order_beyond_receipt),
            a.billable_per_order_beyond_receipt <= 1.3,
        ));
    }
    v
}

impl Report {
    /// The human-readable table.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let m = &self.machine;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "machine: {} CPUs ({}), {} MB RAM, {}; orderflow {} ({} build)",
            m.cpus, m.cpu_model, m.memory_mb, m.os, m.orderflow_version, m.build
        );
        let _ = writeln!(
            s,
            "\n{:<34} {:>12} {:>9} {:>9} {:>9}",
            "phase", "per second", "p50 ms", "p99 ms", "max ms"
        );
        let row = |s: &mut String, name: &str, t: &Throughput| {
            let _ = writeln!(
                s,
                "{name:<34} {:>12.0} {:>9.2} {:>9.2} {:>9.2}{}",
                t.per_sec,
                t.p50_ms,
                t.p99_ms,
                t.max_ms,
                if t.other_statuses.is_empty() && t.transport_errors == 0 {
                    String::new()
                } else {
                    format!(
                        "  other: {:?}, errors {}",
                        t.other_statuses, t.transport_errors
                    )
                }
            );
        };
        row(&mut s, "intake POST /api/orders", &self.intake);
        row(&mut s, "trivial GET /healthz", &self.trivial);
        let _ = writeln!(
            s,
            "{:<34} {:>11.1}%",
            "intake / trivial",
            self.intake_ratio * 100.0
        );
        let e = &self.end_to_end;
        row(
            &mut s,
            &format!("e2e POST at {:.0}/s offered", e.offered_per_sec),
            &e.post,
        );
        let _ = writeln!(
            s,
            "{:<34} {:>12.0} {:>9.1} {:>9.1} {:>9.1}  ({} completed, {} failed, drained {:.1} s after the last POST)",
            "e2e accept → COMPLETED", e.sustained_per_sec, e.p50_ms, e.p99_ms, e.max_ms, e.completed, e.failed, e.drain_secs
        );
        let r = &self.receipts;
        let _ = writeln!(
            s,
            "{:<34} {:>12.0}  (all {} threads: {:.0}/s; {} bytes)",
            "receipt PDFs (5 lines), one core",
            r.per_sec_one_core,
            r.threads,
            r.per_sec_all_cores,
            r.bytes
        );
        let _ = writeln!(
            s,
            "\nstart to ready {:.0} ms; RSS idle {:.1} MB, peak {:.1} MB (dev under e2e load), serve peak {:.1} MB",
            self.start_to_ready_ms, self.memory.idle_rss_mb, self.memory.peak_rss_mb, self.memory.serve_peak_rss_mb
        );
        if let Some(a) = &self.aws {
            s.push('\n');
            s.push_str(&a.table());
        }
        let _ = writeln!(
            s,
            "\n{:<46} {:>16} {:>14}  met",
            "target", "wanted", "measured"
        );
        for t in &self.targets {
            let _ = writeln!(
                s,
                "{:<46} {:>16} {:>14}  {}",
                t.what,
                t.target,
                t.measured,
                if t.met { "yes" } else { "NO" }
            );
        }
        s
    }
}

/// An `orderflow` process on a fresh embedded data dir.
struct Server {
    child: Child,
    addr: SocketAddr,
    start_to_ready: Duration,
}

impl Server {
    async fn start(
        opts: &Options,
        mode: &str,
        data: &Path,
        catalog: &Path,
    ) -> anyhow::Result<Server> {
        std::fs::create_dir_all(data)?;
        let config = data.join("orderflow.toml");
        std::fs::write(&config, "")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = std::fs::File::create(data.join("orderflow.log"))?;
        let started = Instant::now();
        let child = Command::new(&opts.binary)
            .arg(mode)
            .env("ORDERFLOW_CONFIG", &config)
            .env("ORDERFLOW__HTTP__ADDR", addr.to_string())
            .env("ORDERFLOW__EMBEDDED__DATA_DIR", data)
            .env("ORDERFLOW__CATALOG__FILE", catalog)
            .env("ORDERFLOW__RATE_LIMIT__ENABLED", "false")
            .env("ORDERFLOW__AUTH__ADMIN_API_KEYS", ADMIN_KEY)
            .env("ORDERFLOW__LOG__FORMAT", "json")
            .env("ORDERFLOW__LOG__LEVEL", "warn")
            .env(
                "ORDERFLOW__WORKER__CONCURRENCY",
                opts.worker_concurrency.to_string(),
            )
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", opts.binary.display()))?;
        let mut server = Server {
            child,
            addr,
            start_to_ready: Duration::ZERO,
        };
        loop {
            if let Ok(mut c) = load::Conn::connect(addr).await {
                if let Ok(a) = c.send("GET", "/readyz", &[], b"").await {
                    if a.status == 200 {
                        break;
                    }
                }
            }
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!(
                    "orderflow {mode} exited with {status}; see {}",
                    data.join("orderflow.log").display()
                );
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "orderflow {mode} not ready after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.start_to_ready = started.elapsed();
        Ok(server)
    }

    /// A `/proc/PID/status` figure in kB (`VmRSS`, `VmHWM`); 0 where there is no /proc.
    fn rss_kb(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct RemoveOnDrop(PathBuf);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(
            || std::env::consts::ARCH.to_owned(),
            |(_, m)| m.trim().to_owned(),
        );
    let memory_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024);
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model,
        memory_mb,
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        orderflow_version: env!("CARGO_PKG_VERSION"),
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    }
}
