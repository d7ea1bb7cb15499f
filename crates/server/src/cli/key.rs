//! `wirecash-auth key …`: signing keys.

use clap::Subcommand;
use wirecash_core::SystemClock;
use wirecash_core::events::Actor;
use wirecash_core::keys::KeyState;

use super::admin::{admin, check_env, core, time};
use super::remote::{self, AdminApi};
use super::user::env_name;
use crate::config::Config;

/// `key list`: one line per key, listed by activation time as the key set orders them;
/// `(kid, alg, created, activates_at)`.
fn print_list(keys: &[(&str, &str, String, wirecash_core::UnixMillis)]) {
    let now = wirecash_core::Clock::now(&SystemClock);
    let activations: Vec<_> = keys.iter().map(|k| k.3).collect();
    let states = KeyState::of_all(&activations, now);
    println!(
        "{:<32}  {:<6}  {:<20}  {:<20}  STATE",
        "KID", "ALG", "CREATED", "SIGNS FROM"
    );
    for ((kid, alg, created, activates_at), state) in keys.iter().zip(states) {
        let state = match state {
            KeyState::Retired => "retired (published until its tokens expire)",
            other => other.as_str(),
        };
        println!(
            "{:<32}  {:<6}  {:<20}  {:<20}  {}",
            kid,
            alg,
            created,
            time(*activates_at),
            state
        );
    }
}

/// `key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List signing keys.
    List {
        /// Environment.
        #[arg(long)]
        env: String,
    },
    /// Create a new signing key: published now, signing after `key_activation_delay`.
    Rotate {
        /// Environment.
        #[arg(long)]
        env: String,
    },
}

pub async fn key(config: &Config, cmd: KeyCommand) -> anyhow::Result<()> {
    let a = admin(config).await?;
    match cmd {
        KeyCommand::List { env } => {
            let env = check_env(config, &env)?;
            let keys = a.keys(&env).await.map_err(core)?;
            let rows: Vec<_> = keys
                .iter()
                .map(|k| {
                    (
                        k.kid.as_str(),
                        k.alg.as_str(),
                        time(k.created_at),
                        k.activates_at,
                    )
                })
                .collect();
            print_list(&rows);
        }
        KeyCommand::Rotate { env } => {
            let env = check_env(config, &env)?;
            let master = crate::masterkey::load(config)?;
            let k = a
                .rotate_key(
                    &Actor::Cli,
                    &master.key_wrapper().map_err(core)?,
                    &config.tokens,
                    &env,
                )
                .await
                .map_err(core)?;
            println!(
                "created key {} ({}) in {env}: published now, signing from {} (running servers pick it up within {})",
                k.kid,
                k.alg,
                time(k.activates_at),
                humantime::format_duration(config.key_reload_interval)
            );
        }
    }
    Ok(())
}

/// `key …` on a remote admin API.
pub async fn remote(api: &AdminApi, cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::List { env } => {
            let env = env_name(&env)?;
            let keys: Vec<remote::Key> = api.list(&["admin", "v1", &env, "keys"], None).await?;
            let mut rows = Vec::with_capacity(keys.len());
            for k in &keys {
                let activates_at = remote::millis(&k.activates_at)?;
                rows.push((
                    k.kid.as_str(),
                    k.alg.as_str(),
                    remote::time(&k.created_at),
                    activates_at,
                ));
            }
            print_list(&rows);
        }
        KeyCommand::Rotate { env } => {
            let env = env_name(&env)?;
            let k: remote::Key = api
                .post(
                    &["admin", "v1", &env, "keys", "rotate"],
                    &serde_json::json!({}),
                    "rotate signing keys",
                )
                .await?;
            println!(
                "created key {} ({}) in {env}: published now, signing from {} (running servers pick it up within their key_reload_interval)",
                k.kid,
                k.alg,
                remote::time(&k.activates_at),
            );
        }
    }
    Ok(())
}
