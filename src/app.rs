//! Wiring: picks the adapter family from config and hands out the ports as trait objects.

use crate::adapters::embedded::{
    EmbeddedNotifier, EmbeddedQueue, EmbeddedStore, EmlMailer, FileReceiptStore, SimulatedGateway,
};
use crate::config::{Backend, Settings};
use crate::ports::{Mailer, Notifier, OrderQueue, OrderStore, PaymentGateway, ReceiptStore};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;

/// The ports the core talks to, whichever family implements them.
#[derive(Clone)]
pub struct Services {
    pub queue: Arc<dyn OrderQueue>,
    pub store: Arc<dyn OrderStore>,
    pub receipts: Arc<dyn ReceiptStore>,
    pub notifier: Arc<dyn Notifier>,
    pub payments: Arc<dyn PaymentGateway>,
    pub mailer: Arc<dyn Mailer>,
}

impl Services {
    /// Opens the configured backend and seeds the product catalog (existing products and
    /// their stock are left alone, so every instance may do this at start-up).
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Services> {
        let services = match settings.backend {
            Backend::Embedded => Self::embedded(settings)?,
            Backend::Aws => crate::adapters::aws::services(&settings.aws).await,
        };
        let products = crate::catalog::load(settings.catalog.file.as_deref())?;
        let added = services
            .store
            .seed_products(&products)
            .await
            .context("seeding the product catalog")?;
        if added > 0 {
            tracing::info!(added, "seeded the product catalog");
        }
        Ok(services)
    }

    fn embedded(settings: &Settings) -> anyhow::Result<Services> {
        let dir = &settings.embedded.data_dir;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating embedded.data_dir {}", dir.display()))?;
        Ok(Services {
            queue: Arc::new(EmbeddedQueue::open(
                &dir.join("queue.sqlite3"),
                Duration::from_secs(settings.worker.visibility_timeout_secs),
                settings.worker.max_receive_count,
            )?),
            store: Arc::new(EmbeddedStore::open(&dir.join("store.sqlite3"))?),
            receipts: Arc::new(FileReceiptStore::open(dir)?),
            notifier: Arc::new(EmbeddedNotifier::open(&dir.join("notifier.sqlite3"))?),
            payments: Arc::new(SimulatedGateway::open(&dir.join("payments.sqlite3"))?),
            mailer: Arc::new(EmlMailer::open(dir)?),
        })
    }
}
