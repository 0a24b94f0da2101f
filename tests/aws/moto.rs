//! Starts moto's AWS emulator (`moto_server`, from PyPI) on a free loopback port, once per
//! test binary. The server runs under a small shell that kills it when this process's end
//! of a pipe closes, so it never outlives the tests.
//!
//! Found as `$MOTO_SERVER`, else `.venv-moto/bin/moto_server` (what `scripts/test.sh`
//! installs), else `moto_server` on PATH. Missing: the tests are skipped with a warning,
//! except with `CI=true`, where that is a failure.
//!
//! When moto was installed into a virtualenv (the `python` beside `moto_server`), the server
//! is the rehearsal's launcher, `scripts/rehearsal/moto_server.py`: the same moto, with
//! DynamoDB served one request at a time. moto evaluates a conditional write and applies it
//! without a lock, so two concurrent conditional writes can both win there; the send-once
//! leases and the other exact-count tests need DynamoDB's atomicity.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use orderflow::config::AwsSettings;
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::OnceCell;

pub struct Moto {
    pub endpoint: String,
    /// Closing this (at process exit) stops the server.
    _lifeline: Mutex<ChildStdin>,
}

static MOTO: OnceCell<Option<Moto>> = OnceCell::const_new();

pub fn find_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-moto/bin/moto_server");
    if venv.exists() {
        return Some(venv);
    }
    let on_path = Command::new("sh")
        .args(["-c", "command -v moto_server"])
        .output()
        .ok()?;
    on_path
        .status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&on_path.stdout).trim()))
}

/// The shared emulator, or `None` (outside CI) when it is not installed.
pub async fn moto() -> Option<&'static Moto> {
    MOTO.get_or_init(|| async {
        let Some(server) = find_server() else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("moto_server is not installed: CI must run the AWS tests (scripts/test.sh installs it)");
            }
            eprintln!("warning: moto_server not found; skipping the AWS-family tests (scripts/test.sh installs it)");
            return None;
        };
        assert!(
            server.is_file(),
            "moto_server at {} does not exist (MOTO_SERVER, or run scripts/test.sh to install it)",
            server.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::env::temp_dir().join(format!("orderflow-moto-{port}.log"));
        let python = server.with_file_name("python");
        let launcher = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/rehearsal/moto_server.py");
        let command: Vec<std::ffi::OsString> = if python.is_file() {
            vec![python.into(), launcher.into(), "--host".into(), "127.0.0.1".into(), "--port".into()]
        } else {
            vec![server.clone().into(), "-H".into(), "127.0.0.1".into(), "-p".into()]
        };
        // Not waited on: the shell ends, and takes moto with it, when our process exits.
        #[allow(clippy::zombie_processes)]
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"log="$1"; shift; "$@" >"$log" 2>&1 & pid=$!; read _; kill $pid"#)
            .arg("sh")
            .arg(&log)
            .args(&command)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .spawn()
            .expect("starting moto_server");
        let lifeline = child.stdin.take().unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{endpoint}/moto-api/")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "moto_server did not start; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(Moto { endpoint, _lifeline: Mutex::new(lifeline) })
    })
    .await
    .as_ref()
}

impl Moto {
    pub fn base_settings(&self) -> AwsSettings {
        AwsSettings {
            region: Some("us-east-1".into()),
            endpoint_url: Some(self.endpoint.clone()),
            ..AwsSettings::default()
        }
    }

    /// SDK config for the emulator: dummy credentials, fixed region.
    pub async fn sdk(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "moto",
            ))
            .load()
            .await
    }
}
