//! `migrate-store`: copies one installation into an empty database. An SQLite source
//! or destination is locked for the copy, so a server cannot be running on either:
//! what it wrote after a page was read would be lost.

use anyhow::bail;
use clap::Args;

use crate::config::{Config, Overrides, redact_url};
use crate::database::{self, Access};

use super::MigrateOptions;

/// `migrate-store …`
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    options: MigrateOptions,
    /// The database to copy from, e.g. sqlite://wirecash-auth.db.
    #[arg(long, value_name = "URL")]
    from: String,
    /// The database to copy into, e.g. postgres://wirecash@db.internal/wirecash.
    #[arg(long, value_name = "URL")]
    to: String,
}

/// Runs `migrate-store`.
pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let flags = Overrides {
        log_format: args.options.log_format,
        ..Overrides::default()
    };
    let config = Config::load(args.options.config.as_deref(), &flags)?;
    crate::logging::init(config.log_format);
    let (from, to) = (args.from.as_str(), args.to.as_str());
    if from == to {
        bail!("--from and --to name the same database");
    }
    let source = database::open(from, &config, Access::Existing, true)
        .await
        .map_err(|e| e.context("--from"))?;
    let destination = database::open(to, &config, Access::Create, true)
        .await
        .map_err(|e| e.context("--to"))?;
    let copied = crate::migrate::copy(source.store.clone(), destination.store.clone()).await?;
    println!(
        "copied {} users, {} signing keys, {} introspectors and {} sessions from {} to {}",
        copied.users,
        copied.keys,
        copied.introspectors,
        copied.sessions,
        redact_url(from),
        redact_url(to)
    );
    println!(
        "start the service on the new database with the same master key (for a SQLite \
         default, the key file is the database path + \".key\")"
    );
    Ok(())
}
