//! The `orderflow` binary: `dev`, `serve`, `worker`, `check-config`.

use clap::{Parser, Subcommand};
use futures_util::FutureExt;
use orderflow::config::Settings;
use orderflow::dlq::DlqMonitor;
use orderflow::http::Application;
use orderflow::ports::Services;
use orderflow::worker::Worker;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "orderflow",
    version,
    about = "E-commerce order processing: storefront, order API and queue worker"
)]
struct Cli {
    /// TOML config file (default: /etc/orderflow/orderflow.toml when it exists).
    /// Environment variables ORDERFLOW__SECTION__KEY override it.
    #[arg(long, global = true, value_name = "PATH", env = "ORDERFLOW_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Storefront + API + worker in one process on the configured backend (local development).
    Dev,
    /// Storefront and order API only.
    Serve,
    /// Queue worker only.
    Worker,
    /// Load and validate the config, print the effective config (secrets redacted).
    CheckConfig,
    /// Inspect and redrive the dead-letter queue.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Create every AWS resource Orderflow uses on an emulator (or sandbox) endpoint, seed the
    /// catalog, and write a config file `serve` and `worker` accept. Real AWS: use Terraform.
    Bootstrap {
        /// Where to write the resulting config (TOML).
        #[arg(long, value_name = "FILE")]
        write_config: PathBuf,
        /// The AWS endpoint (else aws.endpoint_url, else AWS_ENDPOINT_URL). Required.
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,
        /// Region for the resources (else aws.region, else us-east-1).
        #[arg(long)]
        region: Option<String>,
        /// Resource name prefix.
        #[arg(long, default_value = "orderflow")]
        prefix: String,
    },
    /// Measure intake, end-to-end throughput and latency, receipt rendering, memory and
    /// start-up on the embedded default (and with --aws, AWS requests per order on moto).
    /// Build with --release for figures worth comparing. See docs/benchmarks.md.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
struct BenchArgs {
    /// A run of a few seconds through every phase (a smoke test, not a measurement).
    #[arg(long)]
    quick: bool,
    /// Keep-alive client connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds of intake and of trivial-endpoint load.
    #[arg(long, default_value_t = 10.0)]
    intake_secs: f64,
    /// Seconds of end-to-end load.
    #[arg(long, default_value_t = 60.0)]
    e2e_secs: f64,
    /// Orders per second offered in the end-to-end phase.
    #[arg(long, default_value_t = 2000.0)]
    e2e_rate: f64,
    /// worker.concurrency of the service under end-to-end load (orders in flight at once).
    #[arg(long, default_value_t = 64)]
    worker_concurrency: usize,
    /// Seconds of receipt rendering (one core, then all).
    #[arg(long, default_value_t = 3.0)]
    render_secs: f64,
    /// Also count AWS requests for this many orders on moto's emulator.
    #[arg(long, value_name = "ORDERS", num_args = 0..=1, default_missing_value = "200")]
    aws: Option<usize>,
    /// The moto_server executable (default: $MOTO_SERVER, .venv-moto/bin/moto_server, PATH).
    #[arg(long, value_name = "PATH")]
    moto_server: Option<PathBuf>,
    /// Also write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let binary = std::env::current_exe().context("locating the orderflow binary")?;
    let mut opts = orderflow::bench::Options {
        binary: binary.clone(),
        connections: args.connections,
        intake_secs: args.intake_secs,
        e2e_secs: args.e2e_secs,
        e2e_rate: args.e2e_rate,
        worker_concurrency: args.worker_concurrency,
        render_secs: args.render_secs,
        aws_orders: args.aws,
        moto_server: args.moto_server,
    };
    if args.quick {
        opts = orderflow::bench::Options {
            aws_orders: args.aws.map(|n| n.min(10)),
            moto_server: opts.moto_server,
            ..orderflow::bench::Options::quick(binary)
        };
    }
    anyhow::ensure!(opts.connections >= 1, "--connections must be at least 1");
    anyhow::ensure!(
        opts.intake_secs > 0.0
            && opts.e2e_secs > 0.0
            && opts.render_secs > 0.0
            && opts.e2e_rate > 0.0,
        "durations and the rate must be positive"
    );
    if cfg!(debug_assertions) && !args.quick {
        eprintln!("warning: a debug build; use `cargo run --release -- bench` for real figures");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(orderflow::bench::run(&opts))?;
    println!("{}", report.table());
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(())
}

#[derive(Subcommand)]
enum DlqAction {
    /// List dead-lettered messages: message id, order id, receive count, reason.
    List {
        #[arg(long, default_value_t = 50)]
        max: usize,
    },
    /// Move dead-lettered messages back to the order queue.
    Redrive {
        #[arg(long, default_value_t = 1000)]
        max: usize,
        /// Only show what would move.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Bench(args) = cli.command {
        return match bench(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("orderflow bench: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    // Bootstrap creates the AWS resources: it must not insist on their names being set.
    let loaded = match cli.command {
        Command::Bootstrap { .. } => Settings::load_for_bootstrap(cli.config.as_deref()),
        _ => Settings::load(cli.config.as_deref()),
    };
    let settings = match loaded {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("orderflow: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::CheckConfig = cli.command {
        println!("{}", settings.redacted_json());
        eprintln!("orderflow: configuration is valid");
        return ExitCode::SUCCESS;
    }
    let _guard = match orderflow::telemetry::init(&settings.log) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("orderflow: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("orderflow: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "orderflow stopped with an error");
            eprintln!("orderflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Turns the stop signals into the two tokens, for the life of the process:
/// - SIGTERM (`systemctl stop`): cancels `stop`. `serve` first drains (`/readyz` fails and
///   requests are still served for `http.drain_secs`), then stops.
/// - SIGINT (Ctrl-C; `systemctl kill -s SIGINT`, what the lifecycle hook's watcher sends
///   after the load balancer has already drained the instance): cancels `stop` and `fast`.
///   `serve` skips the drain window (or cuts one in progress short): it stops accepting at
///   once and lets in-flight requests finish. The worker stops the same way either way.
async fn watch_signals(stop: CancellationToken, fast: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => loop {
                tokio::select! {
                    _ = term.recv() => {
                        tracing::info!("SIGTERM received: shutting down (with the drain)");
                        stop.cancel();
                    }
                    _ = int.recv() => {
                        tracing::info!("SIGINT received: shutting down without the drain");
                        fast.cancel();
                        stop.cancel();
                    }
                }
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                fast.cancel();
                stop.cancel();
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        fast.cancel();
        stop.cancel();
    }
}

async fn dlq(services: &Services, action: DlqAction) -> anyhow::Result<()> {
    match action {
        DlqAction::List { max } => {
            let dead = orderflow::dlq::list(services, max).await?;
            println!("{}", orderflow::dlq::LIST_HEADER);
            for d in &dead {
                println!("{}", orderflow::dlq::describe(d));
            }
            eprintln!("{} message(s) in the dead-letter queue", dead.len());
        }
        DlqAction::Redrive { max, dry_run: true } => {
            let dead = orderflow::dlq::list(services, max).await?;
            for d in &dead {
                println!("{}", orderflow::dlq::describe(d));
            }
            eprintln!(
                "dry run: {} message(s) would move back to the order queue",
                dead.len()
            );
        }
        DlqAction::Redrive {
            max,
            dry_run: false,
        } => {
            let moved = services.queue.redrive(max).await?;
            eprintln!("moved {moved} message(s) back to the order queue");
        }
    }
    Ok(())
}

/// `orderflow bootstrap`: only against an explicit endpoint (an emulator or sandbox).
async fn bootstrap(
    settings: &Settings,
    write_config: &std::path::Path,
    endpoint_url: Option<String>,
    region: Option<String>,
    prefix: String,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let endpoint = endpoint_url
        .or_else(|| settings.aws.endpoint_url.clone())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .context("bootstrap needs an endpoint URL (--endpoint-url, aws.endpoint_url or AWS_ENDPOINT_URL); in real AWS, Terraform creates the resources")?;
    let mut base = settings.aws.clone();
    base.endpoint_url = Some(endpoint);
    base.region = region.or(base.region).or_else(|| Some("us-east-1".into()));
    let sdk = orderflow::adapters::aws::sdk_config(&base).await;
    let names = orderflow::adapters::aws::BootstrapNames {
        prefix,
        max_receive_count: settings.worker.max_receive_count,
        visibility_timeout_secs: settings.worker.visibility_timeout_secs,
    };
    let aws = orderflow::adapters::aws::bootstrap(&sdk, &base, &names).await?;
    let mut written = settings.clone();
    written.backend = orderflow::config::Backend::Aws;
    written.aws = aws;
    written.validate()?;
    let services = Services::from_settings(&written)
        .await
        .context("seeding the catalog")?;
    drop(services);
    let doc = toml::to_string_pretty(&orderflow::config::BootstrapConfig::from(&written))?;
    std::fs::write(
        write_config,
        format!("# Written by `orderflow bootstrap`.\n{doc}"),
    )
    .with_context(|| format!("writing {}", write_config.display()))?;
    eprintln!(
        "resources ready; config written to {}",
        write_config.display()
    );
    Ok(())
}

async fn run(command: Command, settings: Arc<Settings>) -> anyhow::Result<()> {
    if let Command::Bootstrap {
        write_config,
        endpoint_url,
        region,
        prefix,
    } = command
    {
        return bootstrap(&settings, &write_config, endpoint_url, region, prefix).await;
    }
    // Only the storefront seeds the catalog: the worker and the operator commands do not
    // write products at every start.
    let services = match command {
        Command::Dev | Command::Serve => Services::from_settings(&settings).await?,
        _ => Services::open(&settings).await?,
    };
    let (serve, work) = match command {
        Command::Dev => (true, true),
        Command::Serve => (true, false),
        Command::Worker => (false, true),
        Command::CheckConfig => unreachable!("handled before start-up"),
        Command::Dlq { action } => return dlq(&services, action).await,
        Command::Bootstrap { .. } | Command::Bench(_) => unreachable!("handled before start-up"),
    };
    let stop = CancellationToken::new();
    // Set by SIGINT: stop without the drain window.
    let fast = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    if serve {
        let app = Application::build(settings.clone(), services.clone())?;
        tracing::info!(backend = ?settings.backend, addr = %settings.http.addr, port = app.port(), "listening: open http://{}", settings.http.addr);
        let handle = app.handle();
        let draining = app.draining();
        let drain = std::time::Duration::from_secs(settings.http.drain_secs);
        let stop = stop.clone();
        let fast = fast.clone();
        tasks.spawn(async move {
            // The server runs as its own task: `handle.stop` needs it polled to take effect.
            let mut server = tokio::spawn(app.run_until_stopped());
            let finished = |r: Result<std::io::Result<()>, tokio::task::JoinError>| match r {
                Ok(r) => r.map_err(anyhow::Error::from),
                Err(e) => Err(anyhow::anyhow!("http server task: {e}")),
            };
            tokio::select! {
                r = &mut server => return finished(r),
                _ = stop.cancelled() => {}
            }
            // Fail /readyz first and keep serving while the load balancer drains us; unless
            // SIGINT said the load balancer is done with us already.
            draining.store(true, std::sync::atomic::Ordering::SeqCst);
            if !drain.is_zero() && !fast.is_cancelled() {
                tracing::info!(
                    drain_secs = drain.as_secs(),
                    "draining: /readyz fails, still serving"
                );
                tokio::select! {
                    r = &mut server => return finished(r),
                    _ = tokio::time::sleep(drain) => {}
                    _ = fast.cancelled() => tracing::info!("SIGINT: the drain is cut short"),
                }
            }
            // Stop accepting; requests in flight get up to the shutdown timeout to finish.
            handle.stop(true).await;
            finished(server.await)
        });
    }
    if work {
        let monitor = Arc::new(DlqMonitor::new(
            services.clone(),
            std::time::Duration::from_secs(settings.worker.dlq_poll_secs),
        ));
        let worker = Arc::new(
            Worker::from_settings(services.clone(), &settings)
                .with_dlq_signal(monitor.growth_signal()),
        );
        tasks.spawn(monitor.run_until_stopped(stop.clone()).map(Ok));
        let reconciler = Arc::new(orderflow::reconciler::Reconciler::new(
            services.clone(),
            std::time::Duration::from_secs(settings.worker.reconcile_secs),
            std::time::Duration::from_secs(settings.worker.stuck_after_secs),
        ));
        tasks.spawn(reconciler.run_until_stopped(stop.clone()).map(Ok));
        if let (false, Some(addr)) = (serve, &settings.metrics.worker_addr) {
            let (port, server) = orderflow::http::metrics_server(addr, services.queue.clone())?;
            tracing::info!(%addr, port, "worker metrics on /metrics");
            let handle = server.handle();
            let server = tokio::spawn(server);
            let stop = stop.clone();
            tasks.spawn(async move {
                stop.cancelled().await;
                handle.stop(false).await;
                let _ = server.await;
                Ok(())
            });
        }
        let stop = stop.clone();
        tasks.spawn(async move {
            worker.run_until_stopped(stop).await;
            Ok(())
        });
    }
    tokio::spawn(watch_signals(stop.clone(), fast.clone()));
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        // Whatever ends first (signal, or a part failing) stops the rest.
        stop.cancel();
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(e) => result = Err(anyhow::anyhow!("task panicked: {e}")),
        }
    }
    tracing::info!("stopped");
    result
}
