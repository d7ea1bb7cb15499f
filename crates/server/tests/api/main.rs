//! Black-box API tests: every test spawns the real application on 127.0.0.1:0 with its
//! own SQLite database and talks HTTP to it. One test binary (each `tests/*.rs` is a
//! separate link, which is slow).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod proxy;
mod support;

mod admin_cli;
mod authenticate;
mod bad_input;
mod binary;
mod client_persistence;
mod client_recovery;
mod client_session;
mod environments;
mod jwt;
mod lifetimes;
mod props;
mod refresh;
mod reuse;
mod verifier;
