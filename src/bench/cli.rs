//! The `orderflow bench` command line: its arguments and what the command does with them.

use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run of a few seconds through every phase (a smoke test, not a measurement).
    #[arg(long)]
    pub quick: bool,
    /// Keep-alive client connections.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Seconds of intake and of trivial-endpoint load.
    #[arg(long, default_value_t = 10.0)]
    pub intake_secs: f64,
    /// Seconds of end-to-end load.
    #[arg(long, default_value_t = 60.0)]
    pub e2e_secs: f64,
    /// Orders per second offered in the end-to-end phase.
    #[arg(long, default_value_t = 2000.0)]
    pub e2e_rate: f64,
    /// worker.concurrency of the service under end-to-end load (orders in flight at once).
    #[arg(long, default_value_t = 64)]
    pub worker_concurrency: usize,
    /// Seconds of receipt rendering (one core, then all).
    #[arg(long, default_value_t = 3.0)]
    pub render_secs: f64,
    /// Also count AWS requests for this many orders on moto's emulator.
    #[arg(long, value_name = "ORDERS", num_args = 0..=1, default_missing_value = "200")]
    pub aws: Option<usize>,
    /// The moto_server executable (default: $MOTO_SERVER, .venv-moto/bin/moto_server, PATH).
    #[arg(long, value_name = "PATH")]
    pub moto_server: Option<PathBuf>,
    /// Also write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn main(args: Args) -> anyhow::Result<()> {
    let binary = std::env::current_exe().context("locating the orderflow binary")?;
    let mut opts = super::Options {
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
        opts = super::Options {
            aws_orders: args.aws.map(|n| n.min(10)),
            moto_server: opts.moto_server,
            ..super::Options::quick(binary)
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
    let report = runtime.block_on(super::run(&opts))?;
    println!("{}", report.table());
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(())
}
