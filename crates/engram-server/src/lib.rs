//! Engram's HTTP server: JSON over HTTP under `/v1/spaces/{space}/…`.
//!
//! The server is thin: it parses requests, maps them to engine calls (run on
//! the blocking pool, since the engine is synchronous) and maps errors to
//! RFC 9457 problem+json in exactly one place ([`problem`]). It holds no
//! storage logic.

pub mod audit_key;
pub mod auth;
pub mod config;
mod conn_limit;
pub mod embedded;
mod extract;
pub mod limits;
pub mod metrics;
mod observe;
pub mod openapi;
pub mod problem;
mod routes;
mod run;
pub mod shared_rate;
pub mod tls;
pub mod webhooks;
mod work_pool;

pub use config::ServerConfig;
pub use routes::{AppState, router};
pub use run::{serve, serve_on, shutdown_signal};
