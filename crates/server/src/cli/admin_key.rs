//! `wirecash-auth admin-key …`: the keys of the admin API (SPEC §11).

use clap::{Subcommand, ValueEnum};
use wirecash_core::events::Actor;
use wirecash_core::store::AdminRole;
use wirecash_core::validate::AdminKeyName;

use super::admin::{admin, core, time};
use crate::config::Config;

/// What a key may do.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Role {
    /// Reads.
    Viewer,
    /// Also writes users and sessions.
    Operator,
    /// Also keys, introspectors, webhooks and admin keys.
    Owner,
}

impl From<Role> for AdminRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Viewer => AdminRole::Viewer,
            Role::Operator => AdminRole::Operator,
            Role::Owner => AdminRole::Owner,
        }
    }
}

/// `admin-key …`
#[derive(Debug, Subcommand)]
pub enum AdminKeyCommand {
    /// Make an admin key; prints it, alone on standard output, this once (it is stored
    /// only as a keyed hash).
    Create {
        /// Its name: the actor of every event it causes (A-Z, a-z, 0-9, '-', '_', '.').
        name: String,
        /// What it may do.
        #[arg(long, value_enum)]
        role: Role,
    },
    /// List the admin keys (never the keys themselves).
    List,
    /// Revoke an admin key; it is refused from the next request on, on every node.
    Revoke {
        /// Its name.
        name: String,
    },
}

pub async fn admin_key(config: &Config, cmd: AdminKeyCommand) -> anyhow::Result<()> {
    let a = admin(config).await?;
    match cmd {
        AdminKeyCommand::Create { name, role } => {
            let name = AdminKeyName::parse(&name).map_err(core)?;
            let mac = crate::masterkey::load(config)?.admin_key_mac();
            let issued = a
                .create_admin_key(&Actor::Cli, &mac, &name, role.into())
                .await
                .map_err(core)?;
            // The key alone on standard output (`KEY=$(wirecash-auth admin-key create …)`);
            // it is shown this once.
            println!("{}", issued.key.as_str());
        }
        AdminKeyCommand::List => {
            println!("{:<32}  {:<8}  {:<20}  REVOKED", "NAME", "ROLE", "CREATED");
            for k in a.admin_keys().await.map_err(core)? {
                println!(
                    "{:<32}  {:<8}  {:<20}  {}",
                    k.name,
                    k.role.as_str(),
                    time(k.created_at),
                    k.revoked_at.map_or_else(|| "-".to_string(), time)
                );
            }
        }
        AdminKeyCommand::Revoke { name } => {
            let name = AdminKeyName::parse(&name).map_err(core)?;
            a.revoke_admin_key(&Actor::Cli, &name).await.map_err(core)?;
            println!("revoked admin key {name}");
        }
    }
    Ok(())
}
