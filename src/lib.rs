//! Stav gateway: the public API edge of an EU sovereign-AI provider, on Pingora.
//!
//! The module list follows a request's path: `contract` (which endpoint, which wire contract),
//! `auth` (who is calling, from where, with which rights) over `keys` (key format, records and
//! their stores) and `store` (the live snapshot and the Redis link), `request` + `plan` (what they
//! asked for, where it goes, which exact bytes are sent), `limits` (requests and tokens per
//! minute), `upstream` (the resolved peer), `sse` + `usage` + `json_member` (the response on its way back),
//! `metrics`, and `proxy`, the Pingora phases that call them.

pub mod access_log;
pub mod admin;
pub mod auth;
pub mod bridge;
pub mod catalogue;
pub mod config;
pub mod config_cache;
pub mod contract;
pub mod demo;
#[cfg(test)]
mod fuzz;
pub mod hangup;
pub mod headers;
pub mod health;
pub mod inject;
pub mod json_at;
pub mod json_line;
pub mod json_member;
pub mod keys;
pub mod ledger;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod plan;
pub mod policy;
pub mod proxy;
pub mod request;
pub mod router;
pub mod scrub;
pub mod sensitive;
pub mod server;
pub mod sse;
pub mod store;
pub mod tap;
pub mod telemetry;
#[cfg(test)]
mod test_support;
pub mod tier;
pub mod tls;
pub mod translate;
pub mod upstream;
pub mod usage;
