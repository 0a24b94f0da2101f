//! A smoke run of `orderflow bench --quick`: every phase runs and reports figures that add
//! up and agree with clocks outside the bench. Not a timed assertion: speed targets live in
//! docs/benchmarks.md.

use serde_json::Value;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_orderflow");

#[test]
fn the_quick_bench_runs_every_phase_and_loses_no_order() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let started = std::time::Instant::now();
    let out = Command::new(BIN)
        .args(["bench", "--quick", "--json"])
        .arg(&json)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let ran_ms = started.elapsed().as_secs_f64() * 1000.0;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for heading in [
        "intake POST /api/orders",
        "trivial GET /healthz",
        "e2e accept → COMPLETED",
        "receipt PDFs",
        "start to ready",
        "target",
    ] {
        assert!(
            stdout.contains(heading),
            "`{heading}` in the table:\n{stdout}"
        );
    }
    let r: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(r["machine"]["cpus"].as_u64().unwrap() >= 1);
    assert!(r["intake"]["requests"].as_u64().unwrap() > 0, "{r}");
    assert!(r["trivial"]["requests"].as_u64().unwrap() > 0, "{r}");
    assert!(r["intake_ratio"].as_f64().unwrap() > 0.0);
    let e2e = &r["end_to_end"];
    let accepted = e2e["accepted"].as_u64().unwrap();
    assert!(accepted > 0, "{e2e}");
    assert_eq!(
        e2e["completed"].as_u64().unwrap(),
        accepted,
        "every accepted order completes once: {e2e}"
    );
    assert_eq!(e2e["failed"], 0, "{e2e}");
    // The latencies come from the orders' own timelines; these clocks are the bench's and
    // ours. An order takes some time, and none took longer than the phase that placed it and
    // waited for it, nor than the whole run (latencies in the wrong unit, or measured from
    // the wrong start, fail here; p50 <= p99 <= max holds by sorting and proves nothing).
    let (p50, max) = (
        e2e["p50_ms"].as_f64().unwrap(),
        e2e["max_ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0, "{e2e}");
    let phase_ms =
        (r["options"]["e2e_secs"].as_f64().unwrap() + e2e["drain_secs"].as_f64().unwrap() + 1.0)
            * 1000.0;
    assert!(
        max <= phase_ms,
        "no order outlasts the e2e phase ({phase_ms} ms): {e2e}"
    );
    assert!(
        max <= ran_ms,
        "no order outlasts the bench run ({ran_ms} ms): {e2e}"
    );
    assert!(r["receipts"]["per_sec_one_core"].as_f64().unwrap() > 0.0);
    assert!(r["receipts"]["bytes"].as_u64().unwrap() > 500);
    assert!(r["start_to_ready_ms"].as_f64().unwrap() > 0.0);
    if cfg!(target_os = "linux") {
        let m = &r["memory"];
        assert!(m["idle_rss_mb"].as_f64().unwrap() > 1.0, "{m}");
        assert!(
            m["peak_rss_mb"].as_f64().unwrap() >= m["idle_rss_mb"].as_f64().unwrap(),
            "{m}"
        );
    }
    assert!(r["targets"].as_array().unwrap().len() >= 8);
    assert!(r.get("aws").is_none(), "no AWS phase without --aws");
}

#[test]
fn bench_rejects_nonsense_options() {
    let out = Command::new(BIN)
        .args(["bench", "--connections", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connections"));
}
