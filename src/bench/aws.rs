//! AWS requests per order: the API and the worker in this process on the aws family, against
//! moto's emulator, every SDK client counting its requests. Priced at us-east-1 list prices.

use super::load;
use crate::adapters::aws::{
    bootstrap, services_counted, services_with, BootstrapNames, RequestCounter,
};
use crate::config::{AwsSettings, Backend, Settings};
use crate::domain::{OrderId, OrderStatus};
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
pub struct AwsReport {
    pub orders: usize,
    /// Requests by `Service:Operation`.
    pub requests: BTreeMap<String, u64>,
    pub requests_per_order: f64,
    /// Requests per order other than each order's receipt `S3:PutObject`.
    pub billable_per_order_beyond_receipt: f64,
    /// Dollars per million orders for these requests at the list prices in `PRICES`.
    pub usd_per_million_orders: f64,
    pub usd_per_million_by_service: BTreeMap<String, f64>,
}

/// (operation prefix, USD per million requests, note): us-east-1 list prices, Nov 2026.
/// DynamoDB on demand: $0.625 per million write units, $0.125 per million read units; items
/// here are under 1 KB; a transactional write costs 2 units per item and our transactions
/// write 2 items; reads are strongly consistent (1 unit).
pub const PRICES: &[(&str, f64)] = &[
    ("SQS:", 0.40),
    ("SNS:Publish", 0.50),
    ("SNS:", 0.50),
    ("S3:PutObject", 5.00),
    ("S3:GetObject", 0.40),
    ("S3:HeadObject", 0.40),
    ("S3:", 5.00),
    ("DynamoDB:TransactWriteItems", 4.0 * 0.625),
    ("DynamoDB:PutItem", 0.625),
    ("DynamoDB:UpdateItem", 0.625),
    ("DynamoDB:DeleteItem", 0.625),
    ("DynamoDB:GetItem", 0.125),
    ("DynamoDB:Query", 0.125),
    ("DynamoDB:Scan", 0.125),
    ("DynamoDB:BatchGetItem", 0.125),
    ("DynamoDB:", 0.625),
    ("SESv2:", 100.0),
];

fn price(api: &str) -> f64 {
    PRICES
        .iter()
        .find(|(prefix, _)| api.starts_with(prefix))
        .map_or(0.0, |(_, p)| *p)
}

impl AwsReport {
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "AWS requests for {} orders (moto):", self.orders);
        let _ = writeln!(
            s,
            "{:<36} {:>9} {:>10} {:>12}",
            "service:operation", "requests", "per order", "$ per M orders"
        );
        for (api, n) in &self.requests {
            let per = *n as f64 / self.orders as f64;
            let _ = writeln!(s, "{api:<36} {n:>9} {per:>10.2} {:>12.2}", per * price(api));
        }
        let _ = writeln!(
            s,
            "{:<36} {:>9} {:>10.2} {:>12.2}",
            "total",
            self.requests.values().sum::<u64>(),
            self.requests_per_order,
            self.usd_per_million_orders
        );
        s
    }
}

pub async fn run(orders: usize, moto_server: Option<&Path>) -> anyhow::Result<AwsReport> {
    let moto = Moto::start(moto_server).await?;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .load()
        .await;
    let base = AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.endpoint.clone()),
        ..AwsSettings::default()
    };
    let names = BootstrapNames {
        prefix: "bench".into(),
        max_receive_count: 5,
        visibility_timeout_secs: 30,
    };
    let aws = bootstrap(&sdk, &base, &names)
        .await
        .context("bootstrap on moto")?;
    let empty = tempfile_path("bench-aws.toml")?;
    let mut settings = Settings::load_from(
        Some(&empty),
        vec![
            ("ORDERFLOW__HTTP__ADDR".into(), "127.0.0.1:0".into()),
            ("ORDERFLOW__RATE_LIMIT__ENABLED".into(), "false".into()),
            ("ORDERFLOW__WORKER__RECEIVE_WAIT_SECS".into(), "20".into()),
        ],
    )?;
    let _ = std::fs::remove_file(&empty);
    settings.backend = Backend::Aws;
    settings.aws = aws.clone();
    let settings = Arc::new(settings);
    let observer = services_with(&sdk, &aws);
    let mut products = crate::catalog::load(None)?;
    for p in &mut products {
        p.stock = 1_000_000_000;
    }
    observer.inventory.seed_products(&products).await?;

    let counter = RequestCounter::default();
    let services = services_counted(&sdk, &aws, Some(counter.clone()));
    let shutdown = crate::startup::Shutdown::new();
    let started = crate::startup::start(
        settings.clone(),
        services.clone(),
        crate::startup::Roles::DEV,
        shutdown.clone(),
    )
    .await?;
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], started.port.context("serving")?).into();
    let running = tokio::spawn(started.wait());

    // Orders arrive as traffic does: several at once, each with its Idempotency-Key.
    let make = super::order_maker("aws");
    let per_conn = orders.div_ceil(8);
    let tasks: Vec<_> = (0..8)
        .map(|c| {
            let make = make.clone();
            tokio::spawn(async move {
                let mut conn = load::Conn::connect(addr).await?;
                let mut ids = Vec::new();
                for k in 0..per_conn {
                    let n = (c * per_conn + k) as u64;
                    if n as usize >= orders {
                        break;
                    }
                    let r = make(n);
                    let headers: Vec<(&str, &str)> =
                        r.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let a = conn.send(r.method, &r.path, &headers, &r.body).await?;
                    anyhow::ensure!(
                        a.status == 201,
                        "order answered {}: {}",
                        a.status,
                        String::from_utf8_lossy(&a.body)
                    );
                    let v: serde_json::Value = serde_json::from_slice(&a.body)?;
                    ids.push(OrderId::parse(v["orderId"].as_str().context("orderId")?)?);
                }
                anyhow::Ok(ids)
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await??);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in &ids {
        loop {
            let o = observer.store.get_order(id).await?;
            if o.as_ref()
                .is_some_and(|o| o.status == OrderStatus::Completed)
            {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "order {id} not COMPLETED on moto after 120 s (status {:?})",
                o.map(|o| o.status)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    shutdown.now();
    running.await??;

    let requests = counter.snapshot();
    let n = orders as f64;
    let total: u64 = requests.values().sum();
    let mut by_service: BTreeMap<String, f64> = BTreeMap::new();
    for (api, count) in &requests {
        let service = api.split(':').next().unwrap_or(api).to_owned();
        *by_service.entry(service).or_default() += *count as f64 / n * price(api);
    }
    Ok(AwsReport {
        orders,
        requests_per_order: total as f64 / n,
        billable_per_order_beyond_receipt: (total as f64 - n) / n,
        usd_per_million_orders: by_service.values().sum(),
        usd_per_million_by_service: by_service,
        requests,
    })
}

fn tempfile_path(name: &str) -> anyhow::Result<PathBuf> {
    let p = std::env::temp_dir().join(format!("{}-{name}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&p, "")?;
    Ok(p)
}

/// moto's server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    async fn start(given: Option<&Path>) -> anyhow::Result<Moto> {
        let server = given
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("MOTO_SERVER").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from(".venv-moto/bin/moto_server")).filter(|p| p.is_file()))
            .unwrap_or_else(|| PathBuf::from("moto_server"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (install moto: scripts/test.sh does, or `pip install 'moto[server]'`)",
                    server.display()
                )
            })?;
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        loop {
            if let Ok(mut c) = load::Conn::connect(([127, 0, 0, 1], port).into()).await {
                if c.send("GET", "/moto-api/", &[], b"")
                    .await
                    .is_ok_and(|a| a.status == 200)
                {
                    return Ok(moto);
                }
            }
            if let Some(status) = moto.child.try_wait()? {
                anyhow::bail!("{} exited with {status}", server.display());
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not start in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
