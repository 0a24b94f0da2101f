//! Logging: `tracing` to stdout (JSON or pretty) and, with `log.dir`, to daily-rolling files
//! (`orderflow.log.YYYY-MM-DD`, at most `log.max_files` of them) through `tracing-appender`'s
//! non-blocking writer.

use crate::config::{LogFormat, LogSettings};
use std::io::IsTerminal;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

/// Keep this alive until exit: dropping it flushes the log file writer.
pub struct TelemetryGuard {
    _file: Option<WorkerGuard>,
}

/// The daily-rolling file writer in `dir`: `orderflow.log.YYYY-MM-DD`, keeping `max_files`
/// files (today's included). tracing-appender deletes the oldest beyond that when it opens
/// the directory and at every rotation.
pub fn file_appender(
    dir: &std::path::Path,
    max_files: usize,
) -> anyhow::Result<tracing_appender::rolling::RollingFileAppender> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("log.dir {}: {e}", dir.display()))?;
    tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("orderflow.log")
        .max_log_files(max_files.max(1))
        .build(dir)
        .map_err(|e| anyhow::anyhow!("log.dir {}: {e}", dir.display()))
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
            let appender = file_appender(dir, settings.max_files)?;
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

#[cfg(test)]
mod tests {
    #[test]
    fn old_daily_files_beyond_the_limit_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        // Ten days of files, oldest first (created in that order), and one file of another name.
        for day in 1..=10 {
            let name = format!("orderflow.log.2026-11-{day:02}");
            std::fs::write(dir.path().join(name), b"{}\n").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::fs::write(dir.path().join("other.txt"), b"keep me").unwrap();
        let appender = super::file_appender(dir.path(), 3).unwrap();
        drop(appender);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let logs: Vec<&String> = names
            .iter()
            .filter(|n| n.starts_with("orderflow.log"))
            .collect();
        assert_eq!(logs.len(), 3, "{names:?}");
        let today = chrono::Utc::now()
            .format("orderflow.log.%Y-%m-%d")
            .to_string();
        assert!(names.contains(&today), "today's file: {names:?}");
        assert!(
            names.contains(&"orderflow.log.2026-11-10".to_owned()),
            "{names:?}"
        );
        assert!(
            names.contains(&"orderflow.log.2026-11-09".to_owned()),
            "{names:?}"
        );
        assert!(
            names.contains(&"other.txt".to_owned()),
            "other files are left alone"
        );
    }
}
