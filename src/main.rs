//! The `orderflow` binary: `dev`, `serve`, `worker`, `check-config`.

use clap::{Parser, Subcommand};
use orderflow::app::Services;
use orderflow::config::Settings;
use orderflow::http::Application;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
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

/// Resolves on SIGTERM (systemd stop) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received: shutting down"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C received: shutting down"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(command: Command, settings: Arc<Settings>) -> anyhow::Result<()> {
    let services = Services::from_settings(&settings).await?;
    let (serve, work) = match command {
        Command::Dev => (true, true),
        Command::Serve => (true, false),
        Command::Worker => (false, true),
        Command::CheckConfig => unreachable!("handled before start-up"),
    };
    let stop = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    if serve {
        let app = Application::build(settings.clone(), services.clone())?;
        tracing::info!(backend = ?settings.backend, addr = %settings.http.addr, port = app.port(), "listening: open http://{}", settings.http.addr);
        let handle = app.handle();
        let stop = stop.clone();
        tasks.spawn(async move {
            tokio::select! {
                r = app.run_until_stopped() => r.map_err(anyhow::Error::from),
                _ = stop.cancelled() => {
                    handle.stop(true).await;
                    Ok(())
                }
            }
        });
    }
    if work {
        let worker = Arc::new(Worker::new(
            services.clone(),
            settings.worker.clone(),
            settings.orders.shop_name.clone(),
        ));
        let stop = stop.clone();
        tasks.spawn(async move {
            worker.run_until_stopped(stop).await;
            Ok(())
        });
    }
    let signal_stop = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        signal_stop.cancel();
    });
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
