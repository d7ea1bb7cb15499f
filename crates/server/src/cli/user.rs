//! `wirecash-auth user …`: API users.

use std::time::Duration;

use anyhow::anyhow;
use base64::Engine;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use wirecash_core::events::Actor;
use wirecash_core::validate::{EnvName, Username};
use zeroize::Zeroizing;

use super::admin::{admin, check_env, core, time};
use super::remote::{self, AdminApi};
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
    /// Set a new password. By default a reset that ends the user's sessions; with
    /// --overlap a planned rotation: the old password keeps working for logins that long
    /// and the sessions stay.
    Passwd {
        /// Username.
        name: String,
        /// Environment.
        #[arg(long)]
        env: String,
        #[command(flatten)]
        password: PasswordSource,
        /// How long the old password keeps working for logins (at most 30d); 0s is a
        /// reset that ends every session of the user.
        #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_overlap)]
        overlap: Duration,
    },
}

fn parse_overlap(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|_| "a duration such as 0s, 24h or 7d".to_string())
}

/// The password of `name`: generated and printed once, the first line of standard
/// input, or typed twice at the terminal.
fn read_password(source: &PasswordSource, name: &str) -> anyhow::Result<Zeroizing<String>> {
    if source.generate_password {
        let mut bytes = [0u8; 24];
        wirecash_core::crypto::random_bytes(&mut bytes).map_err(|e| anyhow!("{e}"))?;
        let pw = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        print_generated(name, &pw);
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

fn print_generated(name: &str, password: &str) {
    println!("generated password for {name} (shown once): {password}");
}

fn status(disabled: bool) -> &'static str {
    if disabled { "disabled" } else { "enabled" }
}

fn print_list_header() {
    println!("{:<36}  {:<8}  {:<20}  USERNAME", "ID", "STATUS", "CREATED");
}

fn print_list_row(id: &str, disabled: bool, created: &str, username: &str) {
    println!(
        "{:<36}  {:<8}  {:<20}  {}",
        id,
        status(disabled),
        created,
        username
    );
}

/// `user show`'s lines.
struct Shown<'a> {
    username: &'a str,
    env: &'a str,
    id: &'a str,
    disabled: bool,
    created: &'a str,
    live_sessions: usize,
}

impl Shown<'_> {
    fn print(&self) {
        println!("username:      {}", self.username);
        println!("environment:   {}", self.env);
        println!("id:            {}", self.id);
        println!("status:        {}", status(self.disabled));
        println!("created:       {}", self.created);
        println!("live sessions: {}", self.live_sessions);
    }
}

/// What `user passwd` did: a reset (no `until`) or a rotation with an overlap.
fn print_passwd(name: &str, env: &str, until: Option<&str>) {
    match until {
        None => println!("changed the password of {name} in {env}; their sessions are revoked"),
        Some(until) => println!(
            "changed the password of {name} in {env}; the old one keeps working for logins \
             until {until}, and their sessions stay"
        ),
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
            print_list_header();
            for u in a.users(&env).await.map_err(core)? {
                print_list_row(&u.id, u.disabled, &time(u.created_at), &u.username);
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
            Shown {
                username: &u.username,
                env: &u.env,
                id: &u.id,
                disabled: u.disabled,
                created: &time(u.created_at),
                live_sessions: live,
            }
            .print();
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
            overlap,
        } => {
            let env = check_env(config, &env)?;
            let name = Username::parse(&name).map_err(core)?;
            a.user(&env, &name).await.map_err(core)?;
            let pw = read_password(&password, &name)?;
            let hasher = crate::password_hasher(config)?;
            let until = a
                .rotate_credentials(&Actor::Cli, &hasher, &env, &name, pw, overlap)
                .await
                .map_err(core)?;
            print_passwd(&name, &env, until.map(time).as_deref());
        }
    }
    Ok(())
}

/// `user …` on a remote admin API: the same lines as on the database.
pub async fn remote(api: &AdminApi, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            env,
            password,
        } => {
            let env = env_name(&env)?;
            let name = Username::parse_new(&name).map_err(core)?;
            let mut body = json!({ "username": name.as_str() });
            // Without a password the server generates one and shows it once.
            if !password.generate_password {
                let pw = read_password(&password, &name)?;
                body["password"] = Value::String(pw.to_string());
            }
            let u: remote::User = api
                .post(&["admin", "v1", &env, "users"], &body, "create users")
                .await?;
            if let Some(pw) = &u.password {
                print_generated(&name, pw);
            }
            println!("created user {} in {env} (id {})", u.username, u.id);
        }
        UserCommand::List { env } => {
            let env = env_name(&env)?;
            let users: Vec<remote::User> = api.list(&["admin", "v1", &env, "users"], None).await?;
            print_list_header();
            for u in users {
                print_list_row(&u.id, u.disabled, &remote::time(&u.created_at), &u.username);
            }
        }
        UserCommand::Show { name, env } => {
            let env = env_name(&env)?;
            let u: remote::User = api.get(&["admin", "v1", &env, "users", &name]).await?;
            let sessions: Vec<remote::Session> = api
                .list(&["admin", "v1", &env, "users", &name, "sessions"], None)
                .await?;
            Shown {
                username: &u.username,
                env: &env,
                id: &u.id,
                disabled: u.disabled,
                created: &remote::time(&u.created_at),
                live_sessions: sessions.iter().filter(|s| s.revoked_at.is_none()).count(),
            }
            .print();
        }
        UserCommand::Disable { name, env } => {
            let env = env_name(&env)?;
            let body = json!({ "disabled": true });
            let _: Value = api
                .patch(
                    &["admin", "v1", &env, "users", &name],
                    &body,
                    "disable users",
                )
                .await?;
            println!("disabled {name} in {env}; their sessions are revoked");
        }
        UserCommand::Enable { name, env } => {
            let env = env_name(&env)?;
            let body = json!({ "disabled": false });
            let _: Value = api
                .patch(
                    &["admin", "v1", &env, "users", &name],
                    &body,
                    "enable users",
                )
                .await?;
            println!("enabled {name} in {env}");
        }
        UserCommand::Delete { name, env } => {
            let env = env_name(&env)?;
            let _: Value = api
                .delete(&["admin", "v1", &env, "users", &name], "delete users")
                .await?;
            println!("deleted {name} from {env} with their sessions");
        }
        UserCommand::Passwd {
            name,
            env,
            password,
            overlap,
        } => {
            let env = env_name(&env)?;
            // As on the database: no password is asked for a user that does not exist.
            let _: remote::User = api.get(&["admin", "v1", &env, "users", &name]).await?;
            let mut body = json!({ "overlap": humantime::format_duration(overlap).to_string() });
            if !password.generate_password {
                let pw = read_password(&password, &name)?;
                body["password"] = Value::String(pw.to_string());
            }
            let path = ["admin", "v1", &env, "users", &name, "credentials"];
            let r: remote::Rotated = api.post(&path, &body, "change passwords").await?;
            if let Some(pw) = &r.password {
                print_generated(&name, pw);
            }
            let until = r.previous_password_valid_until.as_deref().map(remote::time);
            print_passwd(&name, &env, until.as_deref());
        }
    }
    Ok(())
}

/// An environment name for a remote command (the server says whether it serves it).
pub(super) fn env_name(env: &str) -> anyhow::Result<String> {
    Ok(EnvName::parse(env).map_err(core)?.to_string())
}
