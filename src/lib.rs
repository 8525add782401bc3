//! gatehouse: a standalone OAuth 2.0 authorization server.
//!
//! Data flows one way: HTTP ([`routes`]) → OAuth flows ([`oauth`]) → storage ([`storage`]).

pub mod accounts;
pub mod admin;
pub mod cli;
pub mod console;
pub mod domain;
pub mod metrics;
pub mod oauth;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod tokens;
pub mod web;
