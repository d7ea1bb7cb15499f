//! `wirecash-auth session …`: list and revoke sessions.

use anyhow::bail;
use clap::Subcommand;
use wirecash_core::events::Actor;

use super::admin::{admin, check_env, core, time};
use crate::config::Config;

/// `session …`
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List sessions, newest first.
    List {
        /// Environment.
        #[arg(long)]
        env: String,
        /// Only this user's sessions.
        #[arg(long)]
        user: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Revoke one session by id, or all of a user's.
    Revoke {
        /// Session id (the `sid` claim).
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        id: Option<i64>,
        /// Revoke every session of this user.
        #[arg(long)]
        user: Option<String>,
        /// Environment.
        #[arg(long)]
        env: String,
    },
}

pub async fn session(config: &Config, cmd: SessionCommand) -> anyhow::Result<()> {
    let a = admin(config).await?;
    match cmd {
        SessionCommand::List { env, user, limit } => {
            let env = check_env(config, &env)?;
            let user = user
                .map(|u| wirecash_core::validate::Username::parse(&u))
                .transpose()
                .map_err(core)?;
            println!(
                "{:<20}  {:<18}  {:<20}  {:<20}  {:>10}  {:<28}  USERNAME",
                "ID", "KIND", "CREATED", "LAST USED", "ROTATIONS", "STATE"
            );
            for s in a
                .sessions(&env, user.as_ref(), None, limit)
                .await
                .map_err(core)?
            {
                let state = match (&s.revoked_at, &s.revoked_reason) {
                    (Some(_), Some(r)) => format!("revoked ({r})"),
                    (Some(_), None) => "revoked".to_string(),
                    (None, _) => "live".to_string(),
                };
                println!(
                    "{:<20}  {:<18}  {:<20}  {:<20}  {:>10}  {:<28}  {}",
                    s.id,
                    s.kind.as_str(),
                    time(s.created_at),
                    time(s.last_used_at),
                    s.generation,
                    state,
                    s.username
                );
            }
        }
        SessionCommand::Revoke { id, user, env } => {
            let env = check_env(config, &env)?;
            match (id, user) {
                (Some(id), _) => {
                    a.revoke_session(&Actor::Cli, &env, id)
                        .await
                        .map_err(core)?;
                    println!("revoked session {id}");
                }
                (None, Some(u)) => {
                    let u = wirecash_core::validate::Username::parse(&u).map_err(core)?;
                    let n = a
                        .revoke_user_sessions(&Actor::Cli, &env, &u)
                        .await
                        .map_err(core)?;
                    println!("revoked {n} session(s) of {u}");
                }
                (None, None) => bail!("give a session id or --user NAME"),
            }
        }
    }
    Ok(())
}
