//! The `orderflow` binary: `dev`, `serve`, `worker`, `check-config`.

use clap::{Parser, Subcommand};
use orderflow::config::Settings;
use orderflow::ports::Services;
use orderflow::startup::{self, Roles, Shutdown};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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
        action: orderflow::dlq::DlqAction,
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
    #[cfg(feature = "bench")]
    Bench(orderflow::bench::cli::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(feature = "bench")]
    if let Command::Bench(args) = cli.command {
        return match orderflow::bench::cli::main(args) {
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

async fn run(command: Command, settings: Arc<Settings>) -> anyhow::Result<()> {
    let roles = match command {
        Command::Dev => Roles::DEV,
        Command::Serve => Roles::SERVE,
        Command::Worker => Roles::WORKER,
        Command::Dlq { action } => {
            return orderflow::dlq::command(&Services::open(&settings).await?, action).await
        }
        Command::Bootstrap {
            write_config,
            endpoint_url,
            region,
            prefix,
        } => {
            return orderflow::app::bootstrap(
                &settings,
                &write_config,
                endpoint_url,
                region,
                prefix,
            )
            .await
        }
        Command::CheckConfig => unreachable!("handled before start-up"),
        #[cfg(feature = "bench")]
        Command::Bench(_) => unreachable!("handled before start-up"),
    };
    let services = Services::for_roles(&settings, roles).await?;
    let shutdown = Shutdown::new();
    tokio::spawn(shutdown.clone().on_signals());
    startup::run(settings, services, roles, shutdown).await
}
