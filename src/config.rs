//! Settings: built-in defaults → a TOML file (`--config PATH`, else
//! `/etc/orderflow/orderflow.toml` when it exists) → `ORDERFLOW__SECTION__KEY` environment
//! variables. Unknown keys and bad values stop start-up with an error naming the key.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The longest `orders.idempotency_ttl_secs`: 7 days. Far from overflowing the stores'
/// millisecond expiry arithmetic, and longer than any client's retry window.
pub const MAX_IDEMPOTENCY_TTL_SECS: u64 = 7 * 24 * 3600;

/// The longest `orders.link_cookie_secs`: 1 day. The cookie only bridges a `?token=` link to
/// the page it opens; the link itself opens the order again.
pub const MAX_LINK_COOKIE_SECS: u64 = 24 * 3600;

/// Where the packaged config lives on an instance.
pub const SYSTEM_CONFIG: &str = "/etc/orderflow/orderflow.toml";

/// A secret string: deserialises normally, but prints and serialises as `***`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Backend {
    Embedded,
    Aws,
}

impl TryFrom<String> for Backend {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "embedded" => Ok(Backend::Embedded),
            "aws" => Ok(Backend::Aws),
            _ => Err(format!("`backend` must be `embedded` or `aws`, not `{s}`")),
        }
    }
}

impl TryFrom<String> for LogFormat {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "auto" => Ok(LogFormat::Auto),
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            _ => Err(format!(
                "`log.format` must be `auto`, `json` or `pretty`, not `{s}`"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum LogFormat {
    /// Pretty when stdout is a terminal, JSON otherwise (under systemd).
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default = "default_backend")]
    pub backend: Backend,
    #[serde(default)]
    pub embedded: EmbeddedSettings,
    #[serde(default)]
    pub aws: AwsSettings,
    #[serde(default)]
    pub worker: WorkerSettings,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub catalog: CatalogSettings,
    #[serde(default)]
    pub orders: OrderSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub rate_limit: RateLimitSettings,
    #[serde(default)]
    pub cors: CorsSettings,
}

fn default_backend() -> Backend {
    Backend::Embedded
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Listen address, `host:port`. Port 0 picks a free port (tests).
    pub addr: String,
    /// Directory with the storefront's static files.
    pub static_dir: PathBuf,
    /// Largest request body accepted (bytes); larger gets 413.
    pub max_body_bytes: usize,
    /// On SIGTERM, `/readyz` fails at once and requests are still served for this long, so
    /// the load balancer stops sending traffic first (match the ALB deregistration delay).
    pub drain_secs: u64,
    /// Time for the head (request line and headers) of a connection's first request; a
    /// client that has not sent it all by then gets 408 and the connection is closed.
    pub request_head_timeout_ms: u64,
    /// Time for a request's body, counted from the end of its head; a body that has not
    /// arrived by then gets 408 `REQUEST_TIMEOUT` and the connection is closed.
    pub request_body_timeout_ms: u64,
    /// An idle keep-alive connection is closed after this long. Longer than the load
    /// balancer's idle timeout (the ALB's is 60 s), so the ALB, not the app, closes idle
    /// connections: otherwise it may reuse one the app is closing and answer 502.
    pub keep_alive_secs: u64,
    /// Time a closing connection gets to finish its shutdown before it is dropped.
    pub client_disconnect_timeout_ms: u64,
    /// Open connections per HTTP worker (one worker per CPU); beyond it new connections wait
    /// in the listen backlog until one closes. Keep the total under the open-file limit.
    pub max_connections: usize,
    /// `Strict-Transport-Security: max-age=…` on answers to requests that came over HTTPS
    /// (the trusted proxy's `X-Forwarded-Proto`); 0: never sent.
    pub hsts_max_age_secs: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            addr: "127.0.0.1:8080".into(),
            static_dir: PathBuf::from("static"),
            max_body_bytes: 64 * 1024,
            drain_secs: 0,
            request_head_timeout_ms: 5_000,
            request_body_timeout_ms: 30_000,
            keep_alive_secs: 75,
            client_disconnect_timeout_ms: 1_000,
            max_connections: 256,
            hsts_max_age_secs: 31_536_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedSettings {
    pub data_dir: PathBuf,
    /// Sender written into the `.eml` files under `{data_dir}/mail/`.
    pub email_from: String,
}

impl Default for EmbeddedSettings {
    fn default() -> Self {
        EmbeddedSettings {
            data_dir: PathBuf::from("./data"),
            email_from: "orders@localhost.localdomain".into(),
        }
    }
}

/// Resource names for `backend = "aws"`. Terraform (or `orderflow bootstrap` against an
/// emulator) creates the resources; nothing here defaults to an emulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsSettings {
    /// Region; else the SDK's default chain (AWS_REGION, profile, instance metadata).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// An alternative endpoint (an emulator); `AWS_ENDPOINT_URL` is honoured too. S3 then
    /// uses path-style addressing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    pub queue_url: String,
    pub dlq_url: String,
    /// Orders, with the `by-status` and `by-time` indexes.
    pub orders_table: String,
    /// Products and stock.
    pub products_table: String,
    /// Idempotency records, reservations, charges, event markers, leases (with a TTL).
    pub state_table: String,
    pub receipts_bucket: String,
    pub events_topic_arn: String,
    pub alarms_topic_arn: String,
    /// Sender of customer e-mail through SES (a verified identity). Unset: no e-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_from: Option<String>,
    /// The KMS key that generates and unwraps the data key (idempotency fingerprints, order
    /// tokens; kept wrapped in the state table). Needed until the first start created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Time allowed to open a connection to an AWS endpoint.
    pub connect_timeout_ms: u64,
    /// Time allowed for one attempt of one AWS call (SQS long polls get their wait on top).
    pub attempt_timeout_ms: u64,
    /// Time allowed for one AWS call with all its retries.
    pub operation_timeout_ms: u64,
    /// Attempts per AWS call (the first included); retries back off exponentially with jitter.
    pub max_attempts: u32,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            region: None,
            endpoint_url: None,
            queue_url: String::new(),
            dlq_url: String::new(),
            orders_table: String::new(),
            products_table: String::new(),
            state_table: String::new(),
            receipts_bucket: String::new(),
            events_topic_arn: String::new(),
            alarms_topic_arn: String::new(),
            email_from: None,
            kms_key_id: None,
            connect_timeout_ms: 1000,
            attempt_timeout_ms: 2000,
            operation_timeout_ms: 5000,
            max_attempts: 3,
        }
    }
}

impl AwsSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_resources()?;
        self.validate_connection()
    }

    /// The resource names `serve`, `worker` and `dlq` need (what `bootstrap` creates).
    fn validate_resources(&self) -> Result<(), ConfigError> {
        let required: [(&'static str, &str); 8] = [
            ("aws.queue_url", &self.queue_url),
            ("aws.dlq_url", &self.dlq_url),
            ("aws.orders_table", &self.orders_table),
            ("aws.products_table", &self.products_table),
            ("aws.state_table", &self.state_table),
            ("aws.receipts_bucket", &self.receipts_bucket),
            ("aws.events_topic_arn", &self.events_topic_arn),
            ("aws.alarms_topic_arn", &self.alarms_topic_arn),
        ];
        for (key, value) in required {
            if value.trim().is_empty() {
                return Err(invalid(key, "must be set when backend = \"aws\""));
            }
        }
        for (key, value) in [
            ("aws.queue_url", &self.queue_url),
            ("aws.dlq_url", &self.dlq_url),
        ] {
            if !value.starts_with("https://") && !value.starts_with("http://") {
                return Err(invalid(
                    key,
                    "must be a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
                ));
            }
        }
        for (key, value) in [
            ("aws.events_topic_arn", &self.events_topic_arn),
            ("aws.alarms_topic_arn", &self.alarms_topic_arn),
        ] {
            if !value.starts_with("arn:") {
                return Err(invalid(key, "must be an SNS topic ARN (arn:aws:sns:…)"));
            }
        }
        Ok(())
    }

    /// Region, endpoint and sender: what `bootstrap` needs too.
    fn validate_connection(&self) -> Result<(), ConfigError> {
        if let Some(region) = &self.region {
            if region.trim().is_empty() {
                return Err(invalid("aws.region", "must not be empty when set"));
            }
        }
        if let Some(url) = &self.endpoint_url {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(invalid("aws.endpoint_url", "must be an http(s) URL"));
            }
        }
        if let Some(from) = &self.email_from {
            crate::domain::Email::parse(from)
                .map_err(|e| invalid("aws.email_from", format!("{e}")))?;
        }
        if let Some(key) = &self.kms_key_id {
            if key.trim().is_empty() || key.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "aws.kms_key_id",
                    "must be a KMS key id, ARN or alias (arn:aws:kms:…, alias/…)",
                ));
            }
        }
        Ok(())
    }

    /// Timeouts and retries: checked whatever the backend (`bootstrap` and `dlq` use them too).
    fn validate_limits(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("aws.connect_timeout_ms", self.connect_timeout_ms),
            ("aws.attempt_timeout_ms", self.attempt_timeout_ms),
            ("aws.operation_timeout_ms", self.operation_timeout_ms),
        ] {
            if !(50..=120_000).contains(&value) {
                return Err(invalid(key, "must be between 50 and 120000"));
            }
        }
        if self.operation_timeout_ms < self.attempt_timeout_ms {
            return Err(invalid(
                "aws.operation_timeout_ms",
                "must be at least aws.attempt_timeout_ms",
            ));
        }
        if !(1..=10).contains(&self.max_attempts) {
            return Err(invalid("aws.max_attempts", "must be between 1 and 10"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    /// Receives before a message moves to the dead-letter queue.
    pub max_receive_count: u32,
    /// How long a received message stays invisible; the worker extends it while it works.
    pub visibility_timeout_secs: u64,
    /// Orders processed at the same time by one worker.
    pub concurrency: usize,
    /// Long-poll wait of one receive.
    pub receive_wait_secs: u64,
    /// How often the worker checks the dead-letter queue for the alarm.
    pub dlq_poll_secs: u64,
    /// How often the stuck-order reconciler runs (one instance at a time).
    pub reconcile_secs: u64,
    /// A PENDING order older than this is re-enqueued by the reconciler.
    pub stuck_after_secs: u64,
    /// Receipts rendered at the same time (CPU-bound; default: the number of cores).
    pub max_concurrent_renders: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            max_receive_count: 5,
            visibility_timeout_secs: 30,
            concurrency: 64,
            receive_wait_secs: 20,
            dlq_poll_secs: 30,
            reconcile_secs: 60,
            stuck_after_secs: 300,
            max_concurrent_renders: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        }
    }
}

/// The shortest admin key accepted (`openssl rand -base64 32` gives 44 characters).
pub const MIN_ADMIN_KEY_LEN: usize = 32;
/// The fewest distinct characters an admin key may have: refuses `aaaa…`, `abab…` and the like.
pub const MIN_ADMIN_KEY_DISTINCT: usize = 10;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Keys accepted in `X-API-Key` for admin endpoints. Empty: admin endpoints are closed.
    pub admin_api_keys: Vec<Secret>,
    /// Failed admin authentications (sign-in form, `X-API-Key`, `/metrics` bearer) one
    /// client may make within `failure_window_secs` before it is blocked.
    pub max_failures: u32,
    /// The window in which a client's failures count; a client quiet this long is forgotten.
    pub failure_window_secs: u64,
    /// The first block; each further block of the same client doubles it, up to `max_block_secs`.
    pub block_secs: u64,
    pub max_block_secs: u64,
    /// Failures per minute from all clients together; beyond it every admin authentication
    /// is refused until the minute ends (a guesser spread over many addresses is slowed too).
    pub global_failures_per_minute: u32,
    /// Clients tracked at once (memory bound); further failing clients count only globally.
    pub max_tracked_clients: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            admin_api_keys: Vec::new(),
            max_failures: 5,
            failure_window_secs: 300,
            block_secs: 60,
            max_block_secs: 900,
            global_failures_per_minute: 100,
            max_tracked_clients: 10_000,
        }
    }
}

impl AuthSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let how = "make one with `openssl rand -base64 32`";
        for k in &self.admin_api_keys {
            let k = k.expose().trim();
            // Never the key itself in the message: it may be a real one, nearly right.
            if k.chars().count() < MIN_ADMIN_KEY_LEN {
                return Err(invalid(
                    "auth.admin_api_keys",
                    format!("every key must be at least {MIN_ADMIN_KEY_LEN} characters; {how}"),
                ));
            }
            let distinct: std::collections::HashSet<char> = k.chars().collect();
            if distinct.len() < MIN_ADMIN_KEY_DISTINCT {
                return Err(invalid(
                    "auth.admin_api_keys",
                    format!(
                        "a key has fewer than {MIN_ADMIN_KEY_DISTINCT} distinct characters (too easy to guess); {how}"
                    ),
                ));
            }
        }
        if !(1..=100).contains(&self.max_failures) {
            return Err(invalid("auth.max_failures", "must be between 1 and 100"));
        }
        if !(1..=86_400).contains(&self.failure_window_secs) {
            return Err(invalid(
                "auth.failure_window_secs",
                "must be between 1 and 86400",
            ));
        }
        if !(1..=3600).contains(&self.block_secs) {
            return Err(invalid("auth.block_secs", "must be between 1 and 3600"));
        }
        if !(self.block_secs..=86_400).contains(&self.max_block_secs) {
            return Err(invalid(
                "auth.max_block_secs",
                "must be between auth.block_secs and 86400",
            ));
        }
        if !(1..=1_000_000).contains(&self.global_failures_per_minute) {
            return Err(invalid(
                "auth.global_failures_per_minute",
                "must be between 1 and 1000000",
            ));
        }
        if !(100..=1_000_000).contains(&self.max_tracked_clients) {
            return Err(invalid(
                "auth.max_tracked_clients",
                "must be between 100 and 1000000",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// Also write daily-rolling files here when set (`orderflow.log.YYYY-MM-DD`).
    pub dir: Option<PathBuf>,
    /// A `tracing` filter such as `info` or `orderflow=debug,info`; `RUST_LOG` overrides.
    pub level: String,
    /// Daily files kept in `dir`, today's included; older ones are deleted at start-up and
    /// at each day's rotation.
    pub max_files: usize,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Auto,
            dir: None,
            level: "info".into(),
            max_files: 7,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogSettings {
    /// A products JSON file to seed from instead of the built-in catalog.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrderSettings {
    /// How long an Idempotency-Key is remembered.
    pub idempotency_ttl_secs: u64,
    /// How long a duplicate request waits for the original (same Idempotency-Key) to
    /// finish before it is answered 409 `IDEMPOTENCY_IN_FLIGHT`.
    pub idempotency_wait_ms: u64,
    /// Printed on receipts.
    pub shop_name: String,
    /// Whether an order without a card (pay on invoice) is accepted at all. Off: every order
    /// needs a card, so nobody can take stock (or make the shop e-mail an address) for free.
    pub invoice_enabled: bool,
    /// With `invoice_enabled`: the customer ids that may order on invoice (empty: anyone).
    /// A customer id is what the client sends, not a verified identity: hand these out like
    /// account numbers, and keep `invoice_max_units` low when the list is empty.
    pub invoice_customers: Vec<String>,
    /// The most units (all lines together) one invoice order may hold.
    pub invoice_max_units: u32,
    /// How long an order on invoice holds its stock unpaid: past it, the order becomes
    /// FAILED `PAYMENT_OVERDUE` and the stock goes back.
    pub invoice_hold_secs: u64,
    /// The most units unpaid orders on invoice may hold at once for one customer id, …
    pub invoice_units_per_customer: u32,
    /// … for one e-mail address (compared without case), …
    pub invoice_units_per_email: u32,
    /// … and from one client address (an IPv4 address or an IPv6 /64).
    pub invoice_units_per_client: u32,
    /// How long the API prices orders from one read of the catalog. Products and prices
    /// change only when a start-up seeds new products, so a few seconds of staleness cost
    /// nothing, and every order saves a read of the whole catalog (a DynamoDB Scan on AWS).
    /// 0: read it for every order.
    pub catalog_cache_ms: u64,
    /// How long the cookie lasts that `GET /orders/{id}?token=…` exchanges the token for
    /// (the order page and its receipt link then work without the token in the URL).
    pub link_cookie_secs: u64,
}

impl Default for OrderSettings {
    fn default() -> Self {
        OrderSettings {
            idempotency_ttl_secs: 24 * 3600,
            idempotency_wait_ms: 5000,
            shop_name: "Orderflow Shop".into(),
            invoice_enabled: false,
            invoice_customers: Vec::new(),
            invoice_max_units: 10,
            invoice_hold_secs: 3 * 24 * 3600,
            invoice_units_per_customer: 20,
            invoice_units_per_email: 20,
            invoice_units_per_client: 40,
            catalog_cache_ms: 5000,
            link_cookie_secs: 3600,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// A separate listener for `GET /metrics` of `serve`/`dev` (no key needed there). Unset:
    /// `/metrics` is on the main listener and needs an admin key.
    pub addr: Option<String>,
    /// The listener for `GET /metrics` of `worker` (which has no other HTTP listener).
    /// Unset: the worker's metrics are not exported.
    pub worker_addr: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// Limit order placement per client IP (429 with Retry-After beyond it).
    pub enabled: bool,
    /// Sustained orders per minute from one client IP.
    pub orders_per_minute: u32,
    /// Orders one client IP may place at once before the sustained rate applies.
    pub burst: u32,
    /// Proxies in front of Orderflow that append to `X-Forwarded-For` (1 behind the ALB).
    /// 0: the TCP peer is the client and `X-Forwarded-For` is ignored.
    pub trusted_proxy_hops: usize,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            orders_per_minute: 60,
            burst: 20,
            trusted_proxy_hops: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsSettings {
    /// Origins (`https://shop.example.com`) whose pages may call the API, each listed;
    /// `*` is refused. Empty: no cross-origin access.
    pub allowed_origins: Vec<String>,
    /// How long browsers may cache a preflight answer.
    pub max_age_secs: u32,
}

impl Default for CorsSettings {
    fn default() -> Self {
        CorsSettings {
            allowed_origins: Vec::new(),
            max_age_secs: 600,
        }
    }
}

/// What `orderflow bootstrap` writes: the backend, the resource names and the worker
/// settings the queue was created with. No secrets.
#[derive(Serialize)]
pub struct BootstrapConfig<'a> {
    backend: Backend,
    aws: &'a AwsSettings,
    worker: &'a WorkerSettings,
}

impl<'a> From<&'a Settings> for BootstrapConfig<'a> {
    fn from(s: &'a Settings) -> Self {
        BootstrapConfig {
            backend: s.backend,
            aws: &s.aws,
            worker: &s.worker,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: `{key}` {problem}")]
    Invalid { key: &'static str, problem: String },
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
}

/// `scheme://host[:port]` with nothing after.
fn valid_origin(o: &str) -> bool {
    let Some((scheme, rest)) = o.split_once("://") else {
        return false;
    };
    let host = rest.rsplit_once(':').map_or(
        rest,
        |(h, port)| {
            if port.parse::<u16>().is_ok() {
                h
            } else {
                ""
            }
        },
    );
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

fn invalid(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: problem.into(),
    }
}

impl Settings {
    /// Loads settings from the given file (or the system file if present) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let settings = Self::read(file, env)?;
        settings.validate()?;
        Ok(settings)
    }

    /// File and environment merged and parsed (unknown keys refused), not yet validated.
    fn read(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut builder = config::Config::builder();
        match file {
            Some(f) if !f.exists() => return Err(ConfigError::Missing(f.to_owned())),
            Some(f) => {
                builder = builder.add_source(config::File::from(f).format(config::FileFormat::Toml))
            }
            None if Path::new(SYSTEM_CONFIG).exists() => {
                builder = builder.add_source(
                    config::File::with_name(SYSTEM_CONFIG).format(config::FileFormat::Toml),
                )
            }
            None => {}
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("ORDERFLOW__"))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("ORDERFLOW")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("auth.admin_api_keys")
                .with_list_parse_key("cors.allowed_origins")
                .with_list_parse_key("orders.invoice_customers")
                .try_parsing(true)
                .source(Some(env)),
        );
        Ok(builder.build()?.try_deserialize()?)
    }

    /// As [`Settings::load`] for `orderflow bootstrap`, which creates the AWS resources and
    /// writes their names: with `backend = "aws"` only the region, endpoint and sender are
    /// checked, not the resource names it is about to create.
    pub fn load_for_bootstrap(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_for_bootstrap_from(file, std::env::vars())
    }

    /// As [`Settings::load_for_bootstrap`], with the environment given explicitly (tests).
    pub fn load_for_bootstrap_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let settings = Self::read(file, env)?;
        settings.validate_except_aws_resources()?;
        settings.aws.validate_connection()?;
        Ok(settings)
    }

    /// Checks ranges and shapes the types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_except_aws_resources()?;
        if self.backend == Backend::Aws {
            self.aws.validate()?;
        }
        Ok(())
    }

    fn validate_except_aws_resources(&self) -> Result<(), ConfigError> {
        self.http.addr.parse::<SocketAddr>().map_err(|e| {
            invalid(
                "http.addr",
                format!("must be host:port such as 127.0.0.1:8080 ({e})"),
            )
        })?;
        if !(1024..=16 * 1024 * 1024).contains(&self.http.max_body_bytes) {
            return Err(invalid(
                "http.max_body_bytes",
                "must be between 1024 and 16777216",
            ));
        }
        if self.http.drain_secs > 300 {
            return Err(invalid("http.drain_secs", "must be at most 300"));
        }
        for (key, value) in [
            (
                "http.request_head_timeout_ms",
                self.http.request_head_timeout_ms,
            ),
            (
                "http.request_body_timeout_ms",
                self.http.request_body_timeout_ms,
            ),
            (
                "http.client_disconnect_timeout_ms",
                self.http.client_disconnect_timeout_ms,
            ),
        ] {
            if !(100..=300_000).contains(&value) {
                return Err(invalid(
                    key,
                    format!("must be between 100 and 300000, not {value}"),
                ));
            }
        }
        if !(1..=3600).contains(&self.http.keep_alive_secs) {
            return Err(invalid(
                "http.keep_alive_secs",
                format!(
                    "must be between 1 and 3600 (behind a load balancer: above its idle timeout), not {}",
                    self.http.keep_alive_secs
                ),
            ));
        }
        if !(1..=100_000).contains(&self.http.max_connections) {
            return Err(invalid(
                "http.max_connections",
                format!(
                    "must be between 1 and 100000, not {}",
                    self.http.max_connections
                ),
            ));
        }
        if self.http.hsts_max_age_secs > 2 * 31_536_000 {
            return Err(invalid(
                "http.hsts_max_age_secs",
                "must be at most 63072000 (two years); 0 switches HSTS off",
            ));
        }
        if self.embedded.data_dir.as_os_str().is_empty() {
            return Err(invalid("embedded.data_dir", "must not be empty"));
        }
        crate::domain::Email::parse(&self.embedded.email_from)
            .map_err(|e| invalid("embedded.email_from", format!("{e}")))?;
        let w = &self.worker;
        if !(1..=1000).contains(&w.max_receive_count) {
            return Err(invalid(
                "worker.max_receive_count",
                format!("must be between 1 and 1000, not {}", w.max_receive_count),
            ));
        }
        if !(1..=43_200).contains(&w.visibility_timeout_secs) {
            return Err(invalid(
                "worker.visibility_timeout_secs",
                format!(
                    "must be between 1 and 43200 (SQS's limit), not {}",
                    w.visibility_timeout_secs
                ),
            ));
        }
        if !(1..=256).contains(&w.concurrency) {
            return Err(invalid(
                "worker.concurrency",
                format!("must be between 1 and 256, not {}", w.concurrency),
            ));
        }
        if !(1..=3600).contains(&w.reconcile_secs) {
            return Err(invalid(
                "worker.reconcile_secs",
                "must be between 1 and 3600",
            ));
        }
        if w.stuck_after_secs < w.visibility_timeout_secs {
            return Err(invalid(
                "worker.stuck_after_secs",
                "must be at least worker.visibility_timeout_secs (an order being worked on is not stuck)",
            ));
        }
        if !(1..=30).contains(&w.dlq_poll_secs) {
            return Err(invalid("worker.dlq_poll_secs", "must be between 1 and 30"));
        }
        if w.receive_wait_secs > 20 {
            return Err(invalid(
                "worker.receive_wait_secs",
                "must be at most 20 (SQS's long-poll limit)",
            ));
        }
        self.auth.validate()?;
        if !(60..=MAX_IDEMPOTENCY_TTL_SECS).contains(&self.orders.idempotency_ttl_secs) {
            return Err(invalid(
                "orders.idempotency_ttl_secs",
                format!(
                    "must be between 60 and {MAX_IDEMPOTENCY_TTL_SECS} (7 days), not {}",
                    self.orders.idempotency_ttl_secs
                ),
            ));
        }
        if !(1..=MAX_LINK_COOKIE_SECS).contains(&self.orders.link_cookie_secs) {
            return Err(invalid(
                "orders.link_cookie_secs",
                format!(
                    "must be between 1 and {MAX_LINK_COOKIE_SECS} (1 day), not {}",
                    self.orders.link_cookie_secs
                ),
            ));
        }
        if self.orders.idempotency_wait_ms > 60_000 {
            return Err(invalid(
                "orders.idempotency_wait_ms",
                "must be at most 60000",
            ));
        }
        if !(1..=256).contains(&w.max_concurrent_renders) {
            return Err(invalid(
                "worker.max_concurrent_renders",
                "must be between 1 and 256",
            ));
        }
        for (key, addr) in [
            ("metrics.addr", &self.metrics.addr),
            ("metrics.worker_addr", &self.metrics.worker_addr),
        ] {
            if let Some(a) = addr {
                a.parse::<SocketAddr>().map_err(|e| {
                    invalid(
                        key,
                        format!("must be host:port such as 127.0.0.1:9100 ({e})"),
                    )
                })?;
            }
        }
        let r = &self.rate_limit;
        if !(1..=1_000_000).contains(&r.orders_per_minute) {
            return Err(invalid(
                "rate_limit.orders_per_minute",
                "must be between 1 and 1000000",
            ));
        }
        if !(1..=100_000).contains(&r.burst) {
            return Err(invalid("rate_limit.burst", "must be between 1 and 100000"));
        }
        if r.trusted_proxy_hops > 5 {
            return Err(invalid(
                "rate_limit.trusted_proxy_hops",
                "must be at most 5",
            ));
        }
        for origin in &self.cors.allowed_origins {
            if origin.trim() == "*" {
                return Err(invalid(
                    "cors.allowed_origins",
                    "must list each origin (https://shop.example.com); `*` would let any site's pages call the API",
                ));
            }
            if !valid_origin(origin) {
                return Err(invalid(
                    "cors.allowed_origins",
                    format!("`{origin}` is not an origin such as https://shop.example.com (scheme and host, no path)"),
                ));
            }
        }
        if !(1..=crate::holds::MAX_CAP).contains(&self.orders.invoice_max_units) {
            return Err(invalid(
                "orders.invoice_max_units",
                format!("must be between 1 and {}", crate::holds::MAX_CAP),
            ));
        }
        if self.orders.catalog_cache_ms > 3_600_000 {
            return Err(invalid(
                "orders.catalog_cache_ms",
                "must be at most 3600000 (an hour): a price change must reach new orders",
            ));
        }
        if !(1..=31 * 24 * 3600).contains(&self.orders.invoice_hold_secs) {
            return Err(invalid(
                "orders.invoice_hold_secs",
                "must be between 1 second and 31 days (2678400)",
            ));
        }
        for (name, cap) in [
            (
                "orders.invoice_units_per_customer",
                self.orders.invoice_units_per_customer,
            ),
            (
                "orders.invoice_units_per_email",
                self.orders.invoice_units_per_email,
            ),
            (
                "orders.invoice_units_per_client",
                self.orders.invoice_units_per_client,
            ),
        ] {
            if !(1..=crate::holds::MAX_CAP).contains(&cap) {
                return Err(invalid(
                    name,
                    format!("must be between 1 and {}", crate::holds::MAX_CAP),
                ));
            }
            if cap < self.orders.invoice_max_units {
                return Err(invalid(
                    name,
                    format!(
                        "must be at least orders.invoice_max_units ({}): a smaller cap refuses every order on invoice above it",
                        self.orders.invoice_max_units
                    ),
                ));
            }
        }
        for c in &self.orders.invoice_customers {
            crate::domain::CustomerId::parse(c).map_err(|e| {
                invalid(
                    "orders.invoice_customers",
                    format!("{c:?} is not a customer id: {e}"),
                )
            })?;
        }
        if self.orders.shop_name.trim().is_empty() {
            return Err(invalid("orders.shop_name", "must not be empty"));
        }
        // It goes into the e-mail Subject header: a CR or LF would start a header of its own.
        if let Some(c) = self.orders.shop_name.chars().find(|c| c.is_control()) {
            return Err(invalid(
                "orders.shop_name",
                format!(
                    "must not contain control characters such as CR or LF (found U+{:04X}): it goes into the e-mail Subject header",
                    c as u32
                ),
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(invalid(
                "log.level",
                format!(
                    "`{}` is not a tracing filter such as `info`",
                    self.log.level
                ),
            ));
        }
        if !(1..=366).contains(&self.log.max_files) {
            return Err(invalid("log.max_files", "must be between 1 and 366"));
        }
        self.aws.validate_limits()
    }

    /// The effective settings as pretty JSON, secrets shown as `***`.
    pub fn redacted_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("<unprintable: {e}>"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let empty = tempfile::NamedTempFile::new().unwrap();
        Settings::load_from(Some(empty.path()), env(pairs))
    }

    #[test]
    fn defaults() {
        let s = load(&[]).unwrap();
        assert_eq!(s.http.addr, "127.0.0.1:8080");
        assert_eq!(s.backend, Backend::Embedded);
        assert_eq!(s.embedded.data_dir, PathBuf::from("./data"));
        assert_eq!(s.worker.max_receive_count, 5);
        assert!(s.auth.admin_api_keys.is_empty());
        // Above the ALB's 60 s idle timeout, so the ALB never reuses a connection the app
        // is closing (a 502 for the request it sent on it).
        assert_eq!(s.http.keep_alive_secs, 75);
        assert_eq!(s.http.request_head_timeout_ms, 5_000);
        assert_eq!(s.http.request_body_timeout_ms, 30_000);
    }

    #[test]
    fn invoice_caps_fit_a_record_and_never_refuse_an_order_the_per_order_cap_allows() {
        let s = load(&[]).unwrap();
        assert_eq!(s.orders.invoice_hold_secs, 72 * 3600);
        for bad in [
            vec![("ORDERFLOW__ORDERS__INVOICE_UNITS_PER_CLIENT", "2001")],
            vec![("ORDERFLOW__ORDERS__INVOICE_UNITS_PER_EMAIL", "0")],
            vec![
                ("ORDERFLOW__ORDERS__INVOICE_MAX_UNITS", "30"),
                ("ORDERFLOW__ORDERS__INVOICE_UNITS_PER_EMAIL", "30"),
                ("ORDERFLOW__ORDERS__INVOICE_UNITS_PER_CLIENT", "30"),
                // The one at fault comes last.
                ("ORDERFLOW__ORDERS__INVOICE_UNITS_PER_CUSTOMER", "25"),
            ],
            vec![("ORDERFLOW__ORDERS__INVOICE_HOLD_SECS", "0")],
            vec![("ORDERFLOW__ORDERS__INVOICE_HOLD_SECS", "2678401")],
        ] {
            let err = load(&bad).unwrap_err().to_string();
            let key = bad.last().unwrap().0.trim_start_matches("ORDERFLOW__");
            let key = key.to_ascii_lowercase().replacen("__", ".", 1);
            assert!(err.contains(&key), "{bad:?}: {err}");
        }
    }

    #[test]
    fn env_overrides_file_and_lists_split_on_commas() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(
            &mut f,
            b"[http]\naddr = \"0.0.0.0:9000\"\n[worker]\nconcurrency = 3\n",
        )
        .unwrap();
        let s = Settings::load_from(
            Some(f.path()),
            env(&[
                ("ORDERFLOW__WORKER__CONCURRENCY", "4"),
                (
                    "ORDERFLOW__AUTH__ADMIN_API_KEYS",
                    "0123456789abcdef0123456789abcdef,fedcba9876543210fedcba9876543210",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(s.http.addr, "0.0.0.0:9000");
        assert_eq!(s.worker.concurrency, 4);
        assert_eq!(s.auth.admin_api_keys.len(), 2);
        assert!(!s.redacted_json().contains("0123"), "secrets are redacted");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("ORDERFLOW__WORKER__CONCURRENCY", "0", "worker.concurrency"),
            ("ORDERFLOW__WORKER__CONCURRENCY", "lots", "concurrency"),
            ("ORDERFLOW__HTTP__ADDR", "nowhere", "http.addr"),
            ("ORDERFLOW__BACKEND", "cloud", "backend"),
            ("ORDERFLOW__BACKEND", "aws", "aws.queue_url"),
            (
                "ORDERFLOW__AUTH__ADMIN_API_KEYS",
                "short",
                "auth.admin_api_keys",
            ),
            ("ORDERFLOW__WORKER__TYPO", "1", "typo"),
            ("ORDERFLOW__LOG__FORMAT", "xml", "format"),
            (
                "ORDERFLOW__CORS__ALLOWED_ORIGINS",
                "https://shop.example.com/path",
                "cors.allowed_origins",
            ),
            ("ORDERFLOW__RATE_LIMIT__BURST", "0", "rate_limit.burst"),
            ("ORDERFLOW__METRICS__ADDR", "metrics", "metrics.addr"),
            ("ORDERFLOW__AWS__MAX_ATTEMPTS", "0", "aws.max_attempts"),
            ("ORDERFLOW__LOG__MAX_FILES", "0", "log.max_files"),
            ("ORDERFLOW__LOG__MAX_FILEZ", "7", "max_filez"),
            (
                "ORDERFLOW__HTTP__REQUEST_HEAD_TIMEOUT_MS",
                "0",
                "http.request_head_timeout_ms",
            ),
            (
                "ORDERFLOW__HTTP__REQUEST_BODY_TIMEOUT_MS",
                "999999999",
                "http.request_body_timeout_ms",
            ),
            (
                "ORDERFLOW__HTTP__CLIENT_DISCONNECT_TIMEOUT_MS",
                "0",
                "http.client_disconnect_timeout_ms",
            ),
            (
                "ORDERFLOW__HTTP__KEEP_ALIVE_SECS",
                "0",
                "http.keep_alive_secs",
            ),
            (
                "ORDERFLOW__HTTP__MAX_CONNECTIONS",
                "0",
                "http.max_connections",
            ),
            (
                "ORDERFLOW__HTTP__HSTS_MAX_AGE_SECS",
                "99999999",
                "http.hsts_max_age_secs",
            ),
            (
                "ORDERFLOW__CORS__ALLOWED_ORIGINS",
                "*",
                "cors.allowed_origins",
            ),
            (
                "ORDERFLOW__CORS__ALLOWED_ORIGINS",
                "https://shop.example.com,*",
                "`*` would let any site",
            ),
            (
                "ORDERFLOW__ORDERS__SHOP_NAME",
                "Shop\r\nBcc: victim@example.com",
                "orders.shop_name",
            ),
            ("ORDERFLOW__ORDERS__SHOP_NAME", "Shop\n", "U+000A"),
            (
                "ORDERFLOW__ORDERS__IDEMPOTENCY_TTL_SECS",
                "604801",
                "orders.idempotency_ttl_secs",
            ),
            (
                "ORDERFLOW__ORDERS__IDEMPOTENCY_TTL_SECS",
                "18446744073709551615",
                "orders.idempotency_ttl_secs",
            ),
            (
                "ORDERFLOW__ORDERS__LINK_COOKIE_SECS",
                "0",
                "orders.link_cookie_secs",
            ),
            (
                "ORDERFLOW__ORDERS__LINK_COOKIE_SECS",
                "86401",
                "orders.link_cookie_secs",
            ),
        ];
        for (k, v, needle) in cases {
            let err = load(&[(k, v)]).unwrap_err().to_string();
            assert!(err.contains(needle), "{k}={v}: {err}");
        }
    }

    #[test]
    fn admin_keys_must_be_long_and_not_low_entropy() {
        let twenty = "k3y-4bcd-efgh-ijklmn";
        assert_eq!(twenty.len(), 20);
        let a32 = "a".repeat(32);
        let ab32 = "ab".repeat(16);
        for key in [
            twenty,
            a32.as_str(),
            ab32.as_str(),
            "k3y-0123456789-abcdefghijklmnop",
        ] {
            let err = load(&[("ORDERFLOW__AUTH__ADMIN_API_KEYS", key)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("auth.admin_api_keys"), "{key}: {err}");
            assert!(err.contains("openssl rand -base64 32"), "{key}: {err}");
            assert!(!err.contains(key), "the key is not echoed: {err}");
        }
        // One bad key among good ones is enough to refuse.
        let good = "Vq3kX9pL2mN8rT5wY7zB1cD4fG6hJ0sA";
        let err = load(&[("ORDERFLOW__AUTH__ADMIN_API_KEYS", &format!("{good},{a32}"))]);
        assert!(err.is_err());
        // What `openssl rand -base64 32` and `-hex 16` produce passes.
        for key in [
            good,
            "3q2+7w8v9Ia0bCdEfGhIjKlMnOpQrStUvWxYz012345=",
            "0123456789abcdef0123456789abcdef",
        ] {
            let s = load(&[("ORDERFLOW__AUTH__ADMIN_API_KEYS", key)]).unwrap();
            assert_eq!(s.auth.admin_api_keys.len(), 1);
        }
    }

    #[test]
    fn auth_throttle_defaults_and_bounds() {
        let a = load(&[]).unwrap().auth;
        assert_eq!(
            (
                a.max_failures,
                a.failure_window_secs,
                a.block_secs,
                a.max_block_secs
            ),
            (5, 300, 60, 900)
        );
        assert_eq!(a.global_failures_per_minute, 100);
        for (k, v, needle) in [
            ("ORDERFLOW__AUTH__MAX_FAILURES", "0", "auth.max_failures"),
            (
                "ORDERFLOW__AUTH__FAILURE_WINDOW_SECS",
                "0",
                "auth.failure_window_secs",
            ),
            ("ORDERFLOW__AUTH__BLOCK_SECS", "0", "auth.block_secs"),
            (
                "ORDERFLOW__AUTH__MAX_BLOCK_SECS",
                "30",
                "auth.max_block_secs",
            ),
            (
                "ORDERFLOW__AUTH__GLOBAL_FAILURES_PER_MINUTE",
                "0",
                "auth.global_failures_per_minute",
            ),
            (
                "ORDERFLOW__AUTH__MAX_TRACKED_CLIENTS",
                "5",
                "auth.max_tracked_clients",
            ),
        ] {
            let err = load(&[(k, v)]).unwrap_err().to_string();
            assert!(err.contains(needle), "{k}={v}: {err}");
        }
    }

    #[test]
    fn rate_limit_switches_off_from_the_environment_and_origins_are_a_list() {
        let s = load(&[]).unwrap();
        assert!(s.rate_limit.enabled, "on by default");
        assert!(
            s.cors.allowed_origins.is_empty(),
            "no cross-origin access by default"
        );
        let s = load(&[
            ("ORDERFLOW__RATE_LIMIT__ENABLED", "false"),
            (
                "ORDERFLOW__CORS__ALLOWED_ORIGINS",
                "https://shop.example.com,http://localhost:3000",
            ),
        ])
        .unwrap();
        assert!(!s.rate_limit.enabled);
        assert_eq!(
            s.cors.allowed_origins,
            ["https://shop.example.com", "http://localhost:3000"]
        );
    }

    #[test]
    fn log_files_kept_default_to_a_week_and_are_configurable() {
        assert_eq!(load(&[]).unwrap().log.max_files, 7);
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(
            &mut f,
            b"[log]\ndir = \"/var/log/orderflow\"\nmax_files = 14\n",
        )
        .unwrap();
        let s = Settings::load_from(Some(f.path()), env(&[])).unwrap();
        assert_eq!(s.log.max_files, 14);
        let s = load(&[("ORDERFLOW__LOG__MAX_FILES", "3")]).unwrap();
        assert_eq!(s.log.max_files, 3);
    }

    #[test]
    fn bootstrap_accepts_backend_aws_without_the_names_it_creates() {
        let empty = tempfile::NamedTempFile::new().unwrap();
        let vars = env(&[
            ("ORDERFLOW__BACKEND", "aws"),
            ("ORDERFLOW__AWS__REGION", "eu-west-1"),
        ]);
        assert!(Settings::load_from(Some(empty.path()), vars.clone()).is_err());
        let s = Settings::load_for_bootstrap_from(Some(empty.path()), vars).unwrap();
        assert_eq!(s.backend, Backend::Aws);
        // What bootstrap does need is still checked.
        for (k, v, needle) in [
            (
                "ORDERFLOW__AWS__ENDPOINT_URL",
                "localhost:5000",
                "aws.endpoint_url",
            ),
            (
                "ORDERFLOW__AWS__EMAIL_FROM",
                "not-an-address",
                "aws.email_from",
            ),
            ("ORDERFLOW__AWS__MAX_ATTEMPTS", "0", "aws.max_attempts"),
            ("ORDERFLOW__WORKER__TYPO", "1", "typo"),
        ] {
            let err = Settings::load_for_bootstrap_from(
                Some(empty.path()),
                env(&[("ORDERFLOW__BACKEND", "aws"), (k, v)]),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(needle), "{k}={v}: {err}");
        }
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let err =
            Settings::load_from(Some(Path::new("/nonexistent/of.toml")), env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::Missing(_)));
    }
}
