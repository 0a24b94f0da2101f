//! Logging: `tracing` to stdout (JSON or pretty) and, with `log.dir`, to daily-rolling files
//! through `tracing-appender`'s non-blocking writer.

use crate::config::{LogFormat, LogSettings};
use std::io::IsTerminal;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

/// Keep this alive until exit: dropping it flushes the log file writer.
pub struct TelemetryGuard {
    _file: Option<WorkerGuard>,
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `log.level`.
pub fn init(settings: &LogSettings) -> anyhow::Result<TelemetryGuard> {
    let filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let stdout = if json {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        fmt::layer().compact().boxed()
    };
    let (file_layer, guard) = match &settings.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("log.dir {}: {e}", dir.display()))?;
            let appender = tracing_appender::rolling::daily(dir, "orderflow.log");
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_ansi(false)
                .with_writer(writer)
                .with_filter(filter());
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(stdout.with_filter(filter()))
        .with(file_layer)
        .try_init()
        .map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))?;
    Ok(TelemetryGuard { _file: guard })
}
