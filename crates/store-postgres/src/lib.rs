//! PostgreSQL storage for wirecash-auth: the store traits on a shared database, so that
//! several stateless service nodes can serve one set of users, sessions and keys.

mod schema;
mod store;
pub mod testing;

pub use store::{PgOptions, PostgresStore};

/// Checks that `url` is a PostgreSQL URL this backend can connect with, without
/// connecting. The message never quotes a character of the URL (it may hold a password).
pub fn check_url(url: &str) -> Result<(), String> {
    url.parse::<tokio_postgres::Config>()
        .map(drop)
        .map_err(|e| {
            // The parser may quote a character of what it read: never of a password.
            let e = e.to_string();
            e.split(" but got").next().unwrap_or_default().to_string()
        })
}
