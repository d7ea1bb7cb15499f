//! The client against small local stand-ins for the token service (127.0.0.1:0): what
//! it sends where, how it treats redirects, odd answers and `Retry-After`. The tests
//! against the real service are in the server's `api` test binary (`client_*.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod answers;
mod redirects;
mod retries;
mod storage;
mod support;
