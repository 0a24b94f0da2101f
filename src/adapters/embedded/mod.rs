//! The embedded adapter family: everything local and durable under `embedded.data_dir`.
//!
//! | port          | adapter                | file                     |
//! |---------------|------------------------|--------------------------|
//! | OrderQueue    | [`EmbeddedQueue`]      | `queue.sqlite3`          |
//! | OrderStore    | [`EmbeddedStore`]      | `store.sqlite3`          |
//! | ReceiptStore  | [`FileReceiptStore`]   | `receipts/{orderId}.pdf` |
//! | Notifier      | [`EmbeddedNotifier`]   | `notifier.sqlite3`       |
//! | PaymentGateway| [`SimulatedGateway`]   | `payments.sqlite3`       |
//! | Mailer        | [`EmlMailer`]          | `mail/{orderId}-{kind}.eml` |
//! | KeyRing       | [`FileKeyRing`]        | `data.key` (mode 0600)   |

mod files;
mod keys;
mod mailer;
mod notifier;
mod payment;
mod queue;
mod receipts;
pub mod sqlite;
mod store;

pub use keys::FileKeyRing;
pub use mailer::EmlMailer;
pub use notifier::EmbeddedNotifier;
pub use payment::SimulatedGateway;
pub use queue::EmbeddedQueue;
pub use receipts::FileReceiptStore;
pub use store::EmbeddedStore;

use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;

/// The ports on the embedded family, in `embedded.data_dir` (created if missing).
pub fn services(
    settings: &crate::config::EmbeddedSettings,
    worker: &crate::config::WorkerSettings,
) -> anyhow::Result<crate::ports::Services> {
    let dir = &settings.data_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating embedded.data_dir {}", dir.display()))?;
    let store = Arc::new(EmbeddedStore::open(&dir.join("store.sqlite3"))?);
    Ok(crate::ports::Services {
        queue: Arc::new(EmbeddedQueue::open(
            &dir.join("queue.sqlite3"),
            Duration::from_secs(worker.visibility_timeout_secs),
            worker.max_receive_count,
        )?),
        store: store.clone(),
        inventory: store.clone(),
        records: store,
        receipts: Arc::new(FileReceiptStore::open(dir)?),
        notifier: Arc::new(EmbeddedNotifier::open(&dir.join("notifier.sqlite3"))?),
        payments: Arc::new(SimulatedGateway::open(&dir.join("payments.sqlite3"))?),
        mailer: Arc::new(EmlMailer::open(dir)?),
        keys: Arc::new(FileKeyRing::open(dir)?),
    })
}
