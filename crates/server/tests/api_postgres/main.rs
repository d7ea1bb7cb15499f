//! The HTTP-level conformance suite on PostgreSQL: the same test modules as `tests/api`
//! (each test on a scratch database of its own), plus what only a shared database has:
//! several nodes on one database, a database outage, and moving from SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../api/server_process.rs"]
mod server_process;
#[path = "../api/support.rs"]
mod support;

/// This binary's databases are scratch PostgreSQL databases.
pub const BACKEND: support::Backend = support::Backend::Postgres;

#[path = "../api/admin_api.rs"]
mod admin_api;
#[path = "../api/admin_cli.rs"]
mod admin_cli;
#[path = "../api/authenticate.rs"]
mod authenticate;
#[path = "../api/bad_input.rs"]
mod bad_input;
#[path = "../api/console.rs"]
mod console;
#[path = "../api/crash.rs"]
mod crash;
#[path = "../api/environments.rs"]
mod environments;
#[path = "../api/jwt.rs"]
mod jwt;
#[path = "../api/lifetimes.rs"]
mod lifetimes;
#[path = "../api/lockout.rs"]
mod lockout;
#[path = "../api/login_races.rs"]
mod login_races;
#[path = "../api/oauth.rs"]
mod oauth;
#[path = "../api/props.rs"]
mod props;
#[path = "../api/refresh.rs"]
mod refresh;
#[path = "../api/reuse.rs"]
mod reuse;
#[path = "../api/session_growth.rs"]
mod session_growth;
#[path = "../api/timing.rs"]
mod timing;
#[path = "../api/webhooks.rs"]
mod webhooks;

mod migrate_store;
mod multinode;
mod outage;
