//! The composition root: picks the adapter family from config (each family builds the
//! bundle of ports, [`Services`], with its own `services` constructor) and seeds the catalog
//! for the roles that price orders.

use crate::config::{Backend, Settings};
use crate::ports::PortError;
pub use crate::ports::Services;
use crate::startup::Roles;
use anyhow::Context;
use std::time::Duration;

impl Services {
    /// Opens the configured backend and seeds the product catalog: what `serve` and `dev`
    /// do. Existing products and their stock are left alone, so every instance may do this
    /// at start-up; transient backend errors are retried (see [`SEED_RETRY`]).
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Services> {
        let services = Self::open(settings).await?;
        services.seed_catalog(settings, &SEED_RETRY).await?;
        // Fetched once here (aws: KMS), so a key the instance cannot read stops start-up
        // instead of failing every keyed order.
        SEED_RETRY
            .run("loading the data key", || services.keys.data_key())
            .await
            .context("loading the data key")?;
        Ok(services)
    }

    /// What `roles` need at start-up: [`Services::from_settings`] for the roles that price
    /// orders, [`Services::open`] for the others.
    pub async fn for_roles(settings: &Settings, roles: Roles) -> anyhow::Result<Services> {
        if roles.seeds_catalog() {
            Self::from_settings(settings).await
        } else {
            Self::open(settings).await
        }
    }

    /// Opens the configured backend without touching the catalog (`worker`, `dlq`).
    pub async fn open(settings: &Settings) -> anyhow::Result<Services> {
        Ok(match settings.backend {
            Backend::Embedded => {
                crate::adapters::embedded::services(&settings.embedded, &settings.worker)?
            }
            Backend::Aws => crate::adapters::aws::services(&settings.aws).await,
        })
    }

    /// Inserts the catalog's products that the store does not have yet (never touching the
    /// stock of those it has), retrying transient errors with `retry`. Returns how many
    /// products were added.
    pub async fn seed_catalog(&self, settings: &Settings, retry: &Retry) -> anyhow::Result<usize> {
        let products = crate::catalog::load(settings.catalog.file.as_deref())?;
        let added = retry
            .run("seeding the product catalog", || {
                self.inventory.seed_products(&products)
            })
            .await
            .context("seeding the product catalog")?;
        if added > 0 {
            tracing::info!(added, "seeded the product catalog");
        }
        Ok(added)
    }
}

/// `orderflow bootstrap`: only against an explicit endpoint (an emulator or sandbox).
pub async fn bootstrap(
    settings: &Settings,
    write_config: &std::path::Path,
    endpoint_url: Option<String>,
    region: Option<String>,
    prefix: String,
) -> anyhow::Result<()> {
    let endpoint = endpoint_url
        .or_else(|| settings.aws.endpoint_url.clone())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .context("bootstrap needs an endpoint URL (--endpoint-url, aws.endpoint_url or AWS_ENDPOINT_URL); in real AWS, Terraform creates the resources")?;
    let mut base = settings.aws.clone();
    base.endpoint_url = Some(endpoint);
    base.region = region.or(base.region).or_else(|| Some("us-east-1".into()));
    let sdk = crate::adapters::aws::sdk_config(&base).await;
    let names = crate::adapters::aws::BootstrapNames {
        prefix,
        max_receive_count: settings.worker.max_receive_count,
        visibility_timeout_secs: settings.worker.visibility_timeout_secs,
    };
    let aws = crate::adapters::aws::bootstrap(&sdk, &base, &names).await?;
    let mut written = settings.clone();
    written.backend = crate::config::Backend::Aws;
    written.aws = aws;
    written.validate()?;
    let services = Services::from_settings(&written)
        .await
        .context("seeding the catalog")?;
    drop(services);
    let doc = toml::to_string_pretty(&crate::config::BootstrapConfig::from(&written))?;
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

/// Start-up's patience with a backend that is briefly down: about a minute and a half.
pub const SEED_RETRY: Retry = Retry {
    first: Duration::from_millis(500),
    cap: Duration::from_secs(15),
    budget: Duration::from_secs(90),
};

/// Bounded exponential back-off for transient (`Unavailable`) errors: waits `first`, then
/// twice as long each time up to `cap`, and gives up with the last error once the next wait
/// would end past `budget` from the first attempt. Other errors are returned at once.
#[derive(Debug, Clone)]
pub struct Retry {
    pub first: Duration,
    pub cap: Duration,
    pub budget: Duration,
}

impl Retry {
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, PortError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, PortError>>,
    {
        let started = std::time::Instant::now();
        let mut wait = self.first;
        let mut attempt = 1u32;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() && started.elapsed() + wait <= self.budget => {
                    tracing::warn!(
                        error = %e,
                        attempt,
                        retry_in_ms = wait.as_millis() as u64,
                        "{what}: a backend is unavailable; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.cap);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const QUICK: Retry = Retry {
        first: Duration::from_millis(10),
        cap: Duration::from_millis(40),
        budget: Duration::from_millis(500),
    };

    #[tokio::test]
    async fn transient_errors_are_retried_until_the_call_succeeds() {
        let calls = AtomicU32::new(0);
        let got = QUICK
            .run("test", || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(PortError::Unavailable("throttled".into())),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!(got.unwrap(), 7);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "failed twice, then succeeded"
        );
    }

    #[tokio::test]
    async fn other_errors_stop_at_once_and_the_budget_bounds_the_retries() {
        let calls = AtomicU32::new(0);
        let got: Result<(), _> = QUICK
            .run("test", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(PortError::Unexpected(anyhow::anyhow!("no such table")))
            })
            .await;
        assert!(matches!(got, Err(PortError::Unexpected(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let started = std::time::Instant::now();
        let got: Result<(), _> = QUICK
            .run("test", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(PortError::Unavailable("down".into()))
            })
            .await;
        assert!(matches!(got, Err(PortError::Unavailable(_))));
        assert!(started.elapsed() <= QUICK.budget + Duration::from_millis(200));
        let n = calls.load(Ordering::SeqCst);
        assert!((5..=20).contains(&n), "{n} attempts in the budget");
    }

    /// A store that is down for its first two calls, then the embedded store.
    #[tokio::test]
    async fn seeding_survives_a_brief_outage_and_never_resets_stock() {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::config::Settings::load_from(
            Some(tempfile::NamedTempFile::new().unwrap().path()),
            [(
                "ORDERFLOW__EMBEDDED__DATA_DIR".to_owned(),
                dir.path().display().to_string(),
            )],
        )
        .unwrap();
        let services = Services::open(&settings).await.unwrap();
        let calls = AtomicU32::new(0);
        let products = crate::catalog::load(None).unwrap();
        let added = QUICK
            .run("seeding", || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(PortError::Unavailable("store is down".into())),
                    _ => services.inventory.seed_products(&products).await,
                }
            })
            .await
            .unwrap();
        assert_eq!(added, products.len());
        let p = &products[0];
        let order = crate::domain::OrderId::generate();
        services
            .inventory
            .reserve_stock(&order, &[(p.product_id.clone(), 1)])
            .await
            .unwrap();
        assert_eq!(services.seed_catalog(&settings, &QUICK).await.unwrap(), 0);
        let listed = services.inventory.list_products().await.unwrap();
        let now = listed
            .iter()
            .find(|q| q.product_id == p.product_id)
            .unwrap();
        assert_eq!(
            now.stock,
            p.stock - 1,
            "seeding again leaves the stock alone"
        );
    }
}
