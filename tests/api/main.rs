//! Black-box HTTP tests: the app on port 0 with a fresh data dir per test.

#[path = "../common/conformance.rs"]
mod conformance;

mod auth;
mod bench;
mod catalog;
mod fuzz;
mod health;
mod helpers;
mod idempotency;
mod lifecycle;
mod openapi;
mod operability;
mod pages;
mod process;
mod reconciler;
mod slow_clients;
mod validation;
mod worker;
