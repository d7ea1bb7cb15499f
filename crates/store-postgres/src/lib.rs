//! PostgreSQL storage for wirecash-auth: the store traits on a shared database, so that
//! several stateless service nodes can serve one set of users, sessions and keys.

mod schema;
mod store;
pub mod testing;

pub use store::{PgOptions, PostgresStore};
