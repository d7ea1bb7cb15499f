//! `wirecash-auth introspector …`: resource servers' introspection credentials.

use clap::Subcommand;
use wirecash_core::events::Actor;

use super::admin::{admin, check_env, core, time};
use crate::config::Config;
use wirecash_core::validate::IntrospectorName;

/// `introspector …`
#[derive(Debug, Subcommand)]
pub enum IntrospectorCommand {
    /// Add a resource server; prints its client secret once (a 256-bit random secret,
    /// stored only as a hash).
    Add {
        /// Its client id (A-Z, a-z, 0-9, '-', '_', '.').
        name: String,
        /// Environment.
        #[arg(long)]
        env: String,
    },
    /// List the introspectors of an environment.
    List {
        /// Environment.
        #[arg(long)]
        env: String,
    },
    /// Remove one; its secret stops working at once.
    Remove {
        /// Its client id.
        name: String,
        /// Environment.
        #[arg(long)]
        env: String,
    },
}

pub async fn introspector(config: &Config, cmd: IntrospectorCommand) -> anyhow::Result<()> {
    let a = admin(config).await?;
    match cmd {
        IntrospectorCommand::Add { name, env } => {
            let env = check_env(config, &env)?;
            let name = IntrospectorName::parse(&name).map_err(core)?;
            let secret = a
                .add_introspector(&Actor::Cli, &env, &name)
                .await
                .map_err(core)?;
            println!("added introspector {name} in {env}");
            println!("client_id:     {name}");
            println!("client_secret: {} (shown once)", secret.as_str());
        }
        IntrospectorCommand::List { env } => {
            let env = check_env(config, &env)?;
            println!("{:<32}  CREATED", "NAME");
            for i in a.introspectors(&env).await.map_err(core)? {
                println!("{:<32}  {}", i.name, time(i.created_at));
            }
        }
        IntrospectorCommand::Remove { name, env } => {
            let env = check_env(config, &env)?;
            let name = IntrospectorName::parse(&name).map_err(core)?;
            a.remove_introspector(&Actor::Cli, &env, &name)
                .await
                .map_err(core)?;
            println!("removed introspector {name} from {env}");
        }
    }
    Ok(())
}
