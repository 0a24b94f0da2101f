//! DynamoDB: the order store ([`store`]), the payment ledger ([`payments`]) and the item
//! codec both use ([`item`]).
//!
//! Tables (created by Terraform, or `orderflow bootstrap` against an emulator):
//! - orders: key `orderId`; `status`, `kind` (always "order"), `createdAt`, `body` (the order
//!   as JSON). GSI `by-status` (`status`, `orderId`) and `by-time` (`kind`, `orderId`):
//!   order ids are time-ordered, so both list newest first.
//! - products: key `productId`; `name`, `description`, `priceAmount`, `currency`, `stock`,
//!   `active`, `position`, `seq` (ledger entries so far) and `openingStock` ([`inventory`]).
//! - state: key `pk` with prefixes `idem#` (idempotency records), `resv#` (reservations),
//!   `charge#` (the payment ledger), `ledger#<product>#<seq>` (the stock ledger),
//!   `adj#<product>#<key>` (applied stock adjustments), `rec#` (coordination records: the reconciler's lease,
//!   invoice holds, recorded invoice payments), `event#`, `alarm#`, `mail#` (send-once
//!   markers, `once.rs`) and `key#data` (the wrapped data key, `keys.rs`); a `ttl` attribute
//!   (epoch seconds) expires idempotency records.

mod inventory;
mod item;
mod payments;
mod store;

pub use payments::DynamoGateway;
pub use store::DynamoStore;
