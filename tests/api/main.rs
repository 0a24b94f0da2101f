//! Black-box HTTP tests: the app on port 0 with a fresh data dir per test.

mod auth;
mod helpers;
mod idempotency;
mod lifecycle;
mod pages;
mod process;
mod reconciler;
mod validation;
mod worker;
