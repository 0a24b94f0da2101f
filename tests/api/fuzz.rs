//! The contract under a fuzzer: schemathesis (PyPI) generates thousands of requests from the
//! served OpenAPI document, valid and invalid, and runs all its checks on the answers (no
//! 5xx; every status, header, content type and body documented; schema-violating requests
//! refused and schema-valid ones accepted; authentication enforced; `Allow` on 405). The
//! exceptions, each with its reason, are in `tests/fuzz/schemathesis.toml`.
//!
//! `scripts/test.sh` installs schemathesis into `.venv-schemathesis` and runs this test on
//! its own; without schemathesis it is skipped with a warning, except with `CI=true`, where
//! that is a failure.

use crate::helpers::{spawn_app_with, ADMIN_KEY};
use std::path::PathBuf;
use std::time::Duration;

fn schemathesis() -> Option<PathBuf> {
    let installed = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.venv-schemathesis/bin/schemathesis"
    ));
    let found = std::env::var_os("SCHEMATHESIS")
        .map(PathBuf::from)
        .or_else(|| installed.is_file().then_some(installed));
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "schemathesis is not installed: CI must fuzz the API (scripts/test.sh installs it)"
            );
        }
        eprintln!("warning: schemathesis is not installed: SKIPPED: fuzzing the API");
    }
    found
}

/// Ignored by a plain `cargo test`: it keeps both cores busy for minutes, which would skew
/// the timing of the tests beside it. `scripts/test.sh` runs it on its own:
/// `cargo test --test api -- --ignored --nocapture fuzz::`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes of fuzzing; scripts/test.sh runs it on its own"]
async fn schemathesis_finds_nothing_against_the_served_document() {
    let Some(st) = schemathesis() else { return };
    // The fuzzer sends wrong admin keys by the thousand (to check that they are refused) and
    // orders as fast as it can: without wider limits it would mostly meet 429s.
    let app = spawn_app_with(
        &[
            ("ORDERFLOW__AUTH__MAX_FAILURES", "100"),
            ("ORDERFLOW__AUTH__FAILURE_WINDOW_SECS", "1"),
            ("ORDERFLOW__AUTH__BLOCK_SECS", "1"),
            ("ORDERFLOW__AUTH__GLOBAL_FAILURES_PER_MINUTE", "1000000"),
            ("ORDERFLOW__RATE_LIMIT__ENABLED", "false"),
        ],
        true,
    )
    .await;
    let seeded = app.services.inventory.list_products().await.unwrap().len();
    let workdir = tempfile::tempdir().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz/schemathesis.toml");
    let mut run = tokio::process::Command::new(&st);
    run.current_dir(workdir.path())
        .args(["--config-file", config, "run"])
        .arg(app.url("/api/openapi.json"))
        .args([
            "--checks",
            "all",
            "--max-examples",
            "75",
            "--seed",
            "20261202",
        ])
        .env("ORDERFLOW_FUZZ_ADMIN_KEY", ADMIN_KEY)
        .args(["--request-timeout", "10", "--no-color"])
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(900), run.output())
        .await
        .expect("schemathesis finishes within 15 minutes")
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&out.stdout);
    let summary: String = report
        .lines()
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        out.status.success(),
        "schemathesis found something:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("generated") && !report.contains("Failed Health Check"),
        "{report}"
    );
    eprintln!("schemathesis: {summary}");
    // It fuzzed with the admin key too, not only without: it created products.
    let products = app.services.inventory.list_products().await.unwrap().len();
    assert!(
        products > seeded,
        "the fuzzer created no product ({products} listed): did the admin key reach it?"
    );
}
