//! The admin commands (`user`, `session`, `key`, `introspector`): they work on an
//! existing installation, also while the server runs on it.

use std::io::{IsTerminal, Read};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use clap::{Args, Subcommand};
use wirecash_core::admin::AdminService;
use wirecash_core::{SystemClock, UnixMillis};
use zeroize::Zeroizing;

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

fn time(ms: UnixMillis) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

fn read_password(source: &PasswordSource, name: &str) -> anyhow::Result<Zeroizing<String>> {
    if source.generate_password {
        let mut bytes = [0u8; 24];
        wirecash_core::crypto::random_bytes(&mut bytes).map_err(|e| anyhow!("{e}"))?;
        let pw = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        println!("generated password for {name} (shown once): {pw}");
        return Ok(Zeroizing::new(pw));
    }
    if source.password_stdin {
        let mut text = Zeroizing::new(String::new());
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut text)
            .context("cannot read the password from standard input")?;
        let line = text.lines().next().unwrap_or_default();
        return Ok(Zeroizing::new(line.to_string()));
    }
    if std::io::stdin().is_terminal() {
        let first = Zeroizing::new(rpassword::prompt_password(format!(
            "password for {name}: "
        ))?);
        let again = Zeroizing::new(rpassword::prompt_password("again: ")?);
        if *first != *again {
            bail!("the passwords differ");
        }
        return Ok(first);
    }
    bail!(
        "no password given: use --password-stdin or --generate-password (or run on a terminal to be prompted)"
    )
}

async fn admin(config: &Config) -> anyhow::Result<AdminService> {
    Ok(AdminService {
        store: crate::open_store(config).await?,
        clock: Arc::new(SystemClock),
    })
}

fn check_env(config: &Config, env: &str) -> anyhow::Result<()> {
    if config.environments.iter().any(|e| e == env) {
        Ok(())
    } else {
        bail!(
            "unknown environment {env:?}; configured: {}",
            config.environments.join(", ")
        )
    }
}

/// A domain error as a command-line message: the text without the HTTP-flavoured
/// prefix of its `Display` ("invalid request: …", "not found: …"), which means nothing
/// to a person at a terminal.
fn core(e: wirecash_core::Error) -> anyhow::Error {
    use wirecash_core::Error;
    match e {
        Error::InvalidRequest(m) | Error::NotFound(m) | Error::Conflict(m) => anyhow!(m),
        Error::InvalidGrant(m) | Error::InvalidClient(m) => anyhow!(m),
        Error::Unavailable(m) => anyhow!("the database is unavailable: {m}"),
        Error::Locked(s) => anyhow!("locked out for {s} s"),
        Error::Internal(m) => anyhow!("internal error: {m}"),
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
            check_env(config, &env)?;
            wirecash_core::validate::new_username(&name).map_err(core)?;
            let pw = read_password(&password, &name)?;
            let hasher = crate::password_hasher(config)?;
            let u = a.add_user(&hasher, &env, &name, pw).await.map_err(core)?;
            println!("created user {} in {} (id {})", u.username, u.env, u.id);
        }
        UserCommand::List { env } => {
            check_env(config, &env)?;
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
            check_env(config, &env)?;
            let u = a.user(&env, &name).await.map_err(core)?;
            let live = a
                .sessions(&env, Some(&name), 1000)
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
            check_env(config, &env)?;
            a.set_disabled(&env, &name, true).await.map_err(core)?;
            println!("disabled {name} in {env}; their sessions are revoked");
        }
        UserCommand::Enable { name, env } => {
            check_env(config, &env)?;
            a.set_disabled(&env, &name, false).await.map_err(core)?;
            println!("enabled {name} in {env}");
        }
        UserCommand::Delete { name, env } => {
            check_env(config, &env)?;
            a.delete_user(&env, &name).await.map_err(core)?;
            println!("deleted {name} from {env} with their sessions");
        }
        UserCommand::Passwd {
            name,
            env,
            password,
        } => {
            check_env(config, &env)?;
            a.user(&env, &name).await.map_err(core)?;
            let pw = read_password(&password, &name)?;
            let hasher = crate::password_hasher(config)?;
            a.set_password(&hasher, &env, &name, pw)
                .await
                .map_err(core)?;
            println!("changed the password of {name} in {env}; their sessions are revoked");
        }
    }
    Ok(())
}

pub async fn session(config: &Config, cmd: SessionCommand) -> anyhow::Result<()> {
    let a = admin(config).await?;
    match cmd {
        SessionCommand::List { env, user, limit } => {
            check_env(config, &env)?;
            println!(
                "{:<20}  {:<18}  {:<20}  {:<20}  {:>10}  {:<28}  USERNAME",
                "ID", "KIND", "CREATED", "LAST USED", "ROTATIONS", "STATE"
            );
            for s in a
                .sessions(&env, user.as_deref(), limit)
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
            check_env(config, &env)?;
            match (id, user) {
                (Some(id), _) => {
                    a.revoke_session(&env, id).await.map_err(core)?;
                    println!("revoked session {id}");
                }
                (None, Some(u)) => {
                    let n = a.revoke_user_sessions(&env, &u).await.map_err(core)?;
                    println!("revoked {n} session(s) of {u}");
                }
                (None, None) => bail!("give a session id or --user NAME"),
            }
        }
    }
    Ok(())
}

pub async fn key(config: &Config, cmd: KeyCommand) -> anyhow::Result<()> {
    let a = admin(config).await?;
    match cmd {
        KeyCommand::List { env } => {
            check_env(config, &env)?;
            let now = wirecash_core::Clock::now(&SystemClock);
            let keys = a.keys(&env).await.map_err(core)?;
            // Listed by activation time: the signing key is the last one activated.
            let active = keys
                .iter()
                .rev()
                .find(|k| k.activates_at <= now)
                .map(|k| k.kid.clone());
            println!(
                "{:<32}  {:<6}  {:<20}  {:<20}  STATE",
                "KID", "ALG", "CREATED", "SIGNS FROM"
            );
            for k in &keys {
                let state = if Some(&k.kid) == active.as_ref() {
                    "active"
                } else if k.activates_at > now {
                    "pending"
                } else {
                    "retired (published until its tokens expire)"
                };
                println!(
                    "{:<32}  {:<6}  {:<20}  {:<20}  {}",
                    k.kid,
                    k.alg,
                    time(k.created_at),
                    time(k.activates_at),
                    state
                );
            }
        }
        KeyCommand::Rotate { env } => {
            check_env(config, &env)?;
            let master = crate::masterkey::load(config)?;
            let k = a
                .rotate_key(&master, &config.tokens, &env)
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

pub async fn introspector(config: &Config, cmd: IntrospectorCommand) -> anyhow::Result<()> {
    let a = admin(config).await?;
    match cmd {
        IntrospectorCommand::Add { name, env } => {
            check_env(config, &env)?;
            let secret = a.add_introspector(&env, &name).await.map_err(core)?;
            println!("added introspector {name} in {env}");
            println!("client_id:     {name}");
            println!("client_secret: {} (shown once)", secret.as_str());
        }
        IntrospectorCommand::List { env } => {
            check_env(config, &env)?;
            println!("{:<32}  CREATED", "NAME");
            for i in a.introspectors(&env).await.map_err(core)? {
                println!("{:<32}  {}", i.name, time(i.created_at));
            }
        }
        IntrospectorCommand::Remove { name, env } => {
            check_env(config, &env)?;
            a.remove_introspector(&env, &name).await.map_err(core)?;
            println!("removed introspector {name} from {env}");
        }
    }
    Ok(())
}
