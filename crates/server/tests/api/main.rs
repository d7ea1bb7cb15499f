//! Black-box API tests: every test spawns the real application on 127.0.0.1:0 with its
//! own SQLite database and talks HTTP to it.

// One test binary per backend (each `tests/*.rs` is a separate link, which is slow);
// `tests/api_postgres` runs the same modules on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod proxy;
mod server_process;
mod support;

/// This binary's databases are SQLite files.
pub const BACKEND: support::Backend = support::Backend::Sqlite;

mod admin_api;
mod admin_cli;
mod admin_remote_cli;
mod audit;
mod authenticate;
mod bad_input;
mod binary;
mod cli_surface;
mod client_persistence;
mod client_recovery;
mod client_session;
mod console;
mod console_browser;
mod crash;
mod deploy;
mod docs_page;
mod environments;
mod framing;
mod install;
mod jwt;
mod lifetimes;
mod lockout;
mod login_races;
mod metrics;
mod migrate_cli;
mod oauth;
mod openapi;
mod overload;
mod props;
mod published_samples;
mod query_guard;
mod ratelimit;
mod readme;
mod refresh;
mod reuse;
mod schemathesis;
mod session_growth;
mod third_party;
mod timing;
mod tls;
mod transport;
mod verifier;
mod webhooks;
