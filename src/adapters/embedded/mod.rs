//! The embedded adapter family: everything local and durable under `embedded.data_dir`.
//!
//! | port          | adapter                | file                     |
//! |---------------|------------------------|--------------------------|
//! | OrderQueue    | [`EmbeddedQueue`]      | `queue.sqlite3`          |
//! | OrderStore    | [`EmbeddedStore`]      | `state.sqlite3`          |
//! | ReceiptStore  | [`FileReceiptStore`]   | `receipts/{orderId}.pdf` |
//! | Notifier      | [`EmbeddedNotifier`]   | `state.sqlite3`          |
//! | PaymentGateway| [`SimulatedGateway`]   | `state.sqlite3`          |
//! | Mailer        | [`EmlMailer`]          | `mail/{orderId}-{kind}.eml` |
//!
//! The store, the payment ledger and the event log share `state.sqlite3` (and its group
//! commits), opened together as a [`State`]; see [`state`] for why and for the upgrade from
//! the separate files of earlier versions.

mod files;
mod mailer;
mod notifier;
mod payment;
mod queue;
mod receipts;
pub mod sqlite;
pub mod state;
mod store;

pub use mailer::EmlMailer;
pub use notifier::EmbeddedNotifier;
pub use payment::SimulatedGateway;
pub use queue::EmbeddedQueue;
pub use receipts::FileReceiptStore;
pub use state::State;
pub use store::EmbeddedStore;
