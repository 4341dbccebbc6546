pub mod metrics;
pub mod privilege;
