//! The verifier against keys of our own and JWKS servers on 127.0.0.1:0: tokens the
//! token service would never sign, JWKS outages and tricks, and how the layer and the
//! extractor compose.

// The tests against the real token service are in the server's `api` test binary
// (`verifier.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod composition;
mod fetching;
mod own_keys;
mod recorder;
mod support;
mod tokens;
