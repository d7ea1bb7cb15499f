//! HTTP handlers: short functions that extract, call one service method and map the
//! result to a wire type.

pub mod client;
pub mod docs;
pub mod extract;
pub mod form;
pub mod hold;
pub mod meta;
pub mod middleware;
pub mod oauth;
pub mod ops;
pub mod ratelimit;
pub mod tokens;
