//! `wirecash-auth session …`: list and revoke sessions.

use anyhow::bail;
use clap::Subcommand;
use serde_json::json;
use wirecash_core::events::Actor;

use super::admin::{admin, check_env, core, time};
use super::remote::{self, AdminApi};
use super::user::env_name;
use crate::config::Config;

fn print_list_header() {
    println!(
        "{:<20}  {:<18}  {:<20}  {:<20}  {:>10}  {:<28}  USERNAME",
        "ID", "KIND", "CREATED", "LAST USED", "ROTATIONS", "STATE"
    );
}

/// One line of `session list`; times already formatted.
struct Row<'a> {
    id: &'a str,
    kind: &'a str,
    created: &'a str,
    last_used: &'a str,
    generation: i64,
    revoked: bool,
    reason: Option<&'a str>,
    username: &'a str,
}

impl Row<'_> {
    fn print(&self) {
        let state = match (self.revoked, self.reason) {
            (true, Some(r)) => format!("revoked ({r})"),
            (true, None) => "revoked".to_string(),
            (false, _) => "live".to_string(),
        };
        println!(
            "{:<20}  {:<18}  {:<20}  {:<20}  {:>10}  {:<28}  {}",
            self.id, self.kind, self.created, self.last_used, self.generation, state, self.username
        );
    }
}

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
    /// Revoke one session by id, all of a user's, or all of the environment's.
    Revoke {
        /// Session id (the `sid` claim).
        #[arg(required_unless_present_any = ["user", "all"], conflicts_with_all = ["user", "all"])]
        id: Option<i64>,
        /// Revoke every session of this user.
        #[arg(long, conflicts_with = "all")]
        user: Option<String>,
        /// Revoke every session of the environment (the incident button): every user
        /// must log in again.
        #[arg(long)]
        all: bool,
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
            print_list_header();
            for s in a
                .sessions(&env, user.as_ref(), None, limit)
                .await
                .map_err(core)?
            {
                Row {
                    id: &s.id.to_string(),
                    kind: s.kind.as_str(),
                    created: &time(s.created_at),
                    last_used: &time(s.last_used_at),
                    generation: s.generation,
                    revoked: s.revoked_at.is_some(),
                    reason: s.revoked_reason.as_deref(),
                    username: &s.username,
                }
                .print();
            }
        }
        SessionCommand::Revoke { id, user, all, env } => {
            let env = check_env(config, &env)?;
            if all {
                let n = a
                    .revoke_env_sessions(&Actor::Cli, &env)
                    .await
                    .map_err(core)?;
                println!("revoked {n} session(s) in {env}");
                return Ok(());
            }
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
                (None, None) => bail!("give a session id, --user NAME or --all"),
            }
        }
    }
    Ok(())
}

/// `session …` on a remote admin API.
pub async fn remote(api: &AdminApi, cmd: SessionCommand) -> anyhow::Result<()> {
    match cmd {
        SessionCommand::List { env, user, limit } => {
            let env = env_name(&env)?;
            let at_most = usize::try_from(limit).unwrap_or(usize::MAX);
            let sessions = match user {
                Some(u) => {
                    api.list::<remote::Session>(
                        &["admin", "v1", &env, "users", &u, "sessions"],
                        Some(at_most),
                    )
                    .await?
                }
                None => {
                    api.list::<remote::Session>(&["admin", "v1", &env, "sessions"], Some(at_most))
                        .await?
                }
            };
            print_list_header();
            for s in &sessions {
                Row {
                    id: &s.id,
                    kind: &s.kind,
                    created: &remote::time(&s.created_at),
                    last_used: &remote::time(&s.last_used_at),
                    generation: s.generation,
                    revoked: s.revoked_at.is_some(),
                    reason: s.revoked_reason.as_deref(),
                    username: &s.username,
                }
                .print();
            }
        }
        SessionCommand::Revoke { id, user, all, env } => {
            let env = env_name(&env)?;
            if all {
                let r: remote::Revoked = api
                    .post(
                        &["admin", "v1", &env, "sessions", "revoke-all"],
                        &json!({}),
                        "revoke sessions",
                    )
                    .await?;
                println!("revoked {} session(s) in {env}", r.revoked);
                return Ok(());
            }
            match (id, user) {
                (Some(id), _) => {
                    let id = id.to_string();
                    let _: serde_json::Value = api
                        .delete(&["admin", "v1", &env, "sessions", &id], "revoke sessions")
                        .await?;
                    println!("revoked session {id}");
                }
                (None, Some(u)) => {
                    let r: remote::Revoked = api
                        .delete(
                            &["admin", "v1", &env, "users", &u, "sessions"],
                            "revoke sessions",
                        )
                        .await?;
                    println!("revoked {} session(s) of {u}", r.revoked);
                }
                (None, None) => bail!("give a session id, --user NAME or --all"),
            }
        }
    }
    Ok(())
}
