//! `codereview-sync`: receives Slack, GitHub and GitLab webhooks, verifies them, queues them
//! durably (sealed), and processes them with a pluggable [`queue::EventHandler`].
//!
//! The data path is short and one-way: request → verify ([`http`]) → queue ([`ingest`],
//! [`store`], sealed by [`vault`]) → worker ([`queue`], [`worker`]) → decide ([`sync`]) → act ([`clients`]) → record ids
//! ([`store`]). The library is what the binary runs; tests and examples compose the same
//! pieces with their own handlers through [`startup::Application`].

pub mod breaker;
pub mod cli;
pub mod clients;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod ordering;
pub mod outcome;
pub mod queue;
pub mod redeliver;
pub mod secret;
pub mod startup;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod vault;
pub mod worker;
