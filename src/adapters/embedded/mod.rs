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
