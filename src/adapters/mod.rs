//! Adapter families implementing the ports, picked from config at start-up by
//! [`crate::ports::Services`]: `embedded` (the default: local, durable, no AWS account) and
//! `aws` (the SDK clients). Both pass the same conformance suite.

pub mod aws;
pub mod embedded;
pub mod simulated;
