//! Adapter families implementing the ports. `embedded` is the default (local, durable,
//! no AWS account); `aws` (SDK clients) comes next. [`crate::app::Services`] picks one
//! family from config at start-up.

pub mod embedded;
