//! `wirecash-auth user …`: API users.

use anyhow::anyhow;
use base64::Engine;
use clap::{Args, Subcommand};
use wirecash_core::events::Actor;
use zeroize::Zeroizing;

use wirecash_core::validate::Username;

use super::admin::{admin, check_env, core, time};
use crate::config::Config;

/// How a password is given.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct PasswordSource {
    /// Read the password from standard input (first line).
    #[arg(long)]
    pub password_stdin: bool,
    /// Generate a strong password and print it once.
    #[arg(long)]
    pub generate_password: bool,
}

/// `user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        /// Username: 1-256 letters (a-z, A-Z), digits and ._-@, starting with a letter or
        /// digit.
        name: String,
        /// Environment.
        #[arg(long)]
        env: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// List users.
    List {
        /// Environment.
        #[arg(long)]
        env: String,
    },
    /// Show one user.
    Show {
        /// Username.
        name: String,
        /// Environment.
        #[arg(long)]
        env: String,
    },
    /// Disable a user (ends their sessions).
    Disable {
        /// Username.
        name: String,
        /// Environment.
        #[arg(long)]
        env: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Username.
        name: String,
        /// Environment.
        #[arg(long)]
        env: String,
    },
    /// Delete a user and their sessions.
    Delete {
        /// Username.
        name: String,
        /// Environment.
        #[arg(long)]
        env: String,
    },
    /// Set a new password (ends the user's sessions).
    Passwd {
        /// Username.
        name: String,
        /// Environment.
        #[arg(long)]
        env: String,
        #[command(flatten)]
        password: PasswordSource,
    },
}

/// The password of `name`: generated and printed once, the first line of standard
/// input, or typed twice at the terminal.
fn read_password(source: &PasswordSource, name: &str) -> anyhow::Result<Zeroizing<String>> {
    if source.generate_password {
        let mut bytes = [0u8; 24];
        wirecash_core::crypto::random_bytes(&mut bytes).map_err(|e| anyhow!("{e}"))?;
        let pw = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        println!("generated password for {name} (shown once): {pw}");
        return Ok(Zeroizing::new(pw));
    }
    if source.password_stdin {
        return super::prompt::stdin_line("--password-stdin");
    }
    match super::prompt::terminal(&format!("password for {name}: "), true)? {
        Some(pw) => Ok(pw),
        None => Err(anyhow!(
            "no password given: use --password-stdin or --generate-password (or run on a terminal to be prompted)"
        )),
    }
}

pub async fn user(config: &Config, cmd: UserCommand) -> anyhow::Result<()> {
    let a = admin(config).await?;
    match cmd {
        UserCommand::Add {
            name,
            env,
            password,
        } => {
            let env = check_env(config, &env)?;
            let name = Username::parse_new(&name).map_err(core)?;
            let pw = read_password(&password, &name)?;
            let hasher = crate::password_hasher(config)?;
            let u = a
                .add_user(&Actor::Cli, &hasher, &env, &name, pw)
                .await
                .map_err(core)?;
            println!("created user {} in {} (id {})", u.username, u.env, u.id);
        }
        UserCommand::List { env } => {
            let env = check_env(config, &env)?;
            println!("{:<36}  {:<8}  {:<20}  USERNAME", "ID", "STATUS", "CREATED");
            for u in a.users(&env).await.map_err(core)? {
                let status = if u.disabled { "disabled" } else { "enabled" };
                println!(
                    "{:<36}  {:<8}  {:<20}  {}",
                    u.id,
                    status,
                    time(u.created_at),
                    u.username
                );
            }
        }
        UserCommand::Show { name, env } => {
            let env = check_env(config, &env)?;
            let name = Username::parse(&name).map_err(core)?;
            let u = a.user(&env, &name).await.map_err(core)?;
            let live = a
                .sessions(&env, Some(&name), None, 1000)
                .await
                .map_err(core)?
                .iter()
                .filter(|s| s.revoked_at.is_none())
                .count();
            println!("username:      {}", u.username);
            println!("environment:   {}", u.env);
            println!("id:            {}", u.id);
            println!(
                "status:        {}",
                if u.disabled { "disabled" } else { "enabled" }
            );
            println!("created:       {}", time(u.created_at));
            println!("live sessions: {live}");
        }
        UserCommand::Disable { name, env } => {
            let env = check_env(config, &env)?;
            let name = Username::parse(&name).map_err(core)?;
            a.set_disabled(&Actor::Cli, &env, &name, true)
                .await
                .map_err(core)?;
            println!("disabled {name} in {env}; their sessions are revoked");
        }
        UserCommand::Enable { name, env } => {
            let env = check_env(config, &env)?;
            let name = Username::parse(&name).map_err(core)?;
            a.set_disabled(&Actor::Cli, &env, &name, false)
                .await
                .map_err(core)?;
            println!("enabled {name} in {env}");
        }
        UserCommand::Delete { name, env } => {
            let env = check_env(config, &env)?;
            let name = Username::parse(&name).map_err(core)?;
            a.delete_user(&Actor::Cli, &env, &name)
                .await
                .map_err(core)?;
            println!("deleted {name} from {env} with their sessions");
        }
        UserCommand::Passwd {
            name,
            env,
            password,
        } => {
            let env = check_env(config, &env)?;
            let name = Username::parse(&name).map_err(core)?;
            a.user(&env, &name).await.map_err(core)?;
            let pw = read_password(&password, &name)?;
            let hasher = crate::password_hasher(config)?;
            a.set_password(&Actor::Cli, &hasher, &env, &name, pw)
                .await
                .map_err(core)?;
            println!("changed the password of {name} in {env}; their sessions are revoked");
        }
    }
    Ok(())
}
