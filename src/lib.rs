//! Orderflow: an order-processing service — storefront, order API and a queue worker —
//! on an embedded local backend or on AWS.
//!
//! # Layout
//! - [`domain`]: orders, money, status machine, receipts. Knows nothing of AWS or HTTP.
//! - [`ports`]: the traits the core talks to (queue, order store, receipt store, notifier,
//!   payment gateway), each with a written contract, and the shared error vocabulary.
//! - [`adapters`]: implementations of the ports; `embedded` is the default.
//! - [`app`]: picks the adapter family from config and builds the ports.
//! - [`startup`]: runs the roles (server, worker) on the ports until told to stop.
//! - [`http`]: actix-web server: static storefront, REST API, health checks.
//! - [`place_order`]: placing an order, the intake use case (HTTP-free); [`holds`]: the
//!   units unpaid orders on invoice hold, capped.
//! - [`invoice`]: recording the payment of an order on invoice (HTTP-free).
//! - [`worker`]: the queue consumer that drives orders to COMPLETED or FAILED.
//! - [`dlq`]: the dead-letter queue alarm and the operator commands.
//! - [`reconciler`]: re-enqueues orders left PENDING without a queue message.
//! - [`receipt_pdf`]: renders receipts with printpdf.
//! - [`metrics`]: Prometheus names and the recorder behind `GET /metrics`.
//! - [`config`], [`telemetry`], [`catalog`]: settings, logging, the seeded product catalog.
//!
//! The port contract tests every adapter family must pass live with the tests
//! (`tests/common/conformance.rs`), not in the library.

pub mod adapters;
pub mod app;
#[cfg(feature = "bench")]
pub mod bench;
pub mod catalog;
pub mod config;
pub mod dlq;
pub mod domain;
pub mod holds;
pub mod http;
pub mod invoice;
pub mod metrics;
pub mod place_order;
pub mod ports;
pub mod receipt_pdf;
pub mod reconciler;
pub mod startup;
pub mod telemetry;
pub mod worker;
