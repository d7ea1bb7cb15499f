//! The command line (SPEC §7): `serve`, and the admin commands that work on the same
//! database as the server, also while it runs.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use clap::{Args, Parser, Subcommand};
use wirecash_core::admin::AdminService;
use wirecash_core::{SystemClock, UnixMillis};
use zeroize::Zeroizing;

use crate::config::{Config, LogFormat, Overrides};

pub mod token;

/// wirecash-auth: the WireCash token service.
#[derive(Debug, Parser)]
#[command(name = "wirecash-auth", version, about)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "WIRECASH_AUTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DB (overrides config and
    /// environment).
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Manage API users.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect and revoke sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Inspect and rotate signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage the resource servers allowed to call `POST /{env}/introspect`.
    #[command(subcommand)]
    Introspector(IntrospectorCommand),
    /// Copy users, signing keys and sessions to another database (e.g. SQLite to
    /// PostgreSQL). Stop the service first; the destination must be empty.
    MigrateStore {
        /// The database to copy from, e.g. sqlite://wirecash-auth.db.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The database to copy into, e.g. postgres://wirecash@db.internal/wirecash.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Print a valid access token of a token service (a client command: it keeps its
    /// session in a cache file and uses none of the server's settings).
    Token(token::TokenArgs),
}

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
        /// Username.
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

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let flags = Overrides {
        listen,
        database: cli.database.clone(),
        log_format: cli.log_format,
    };
    let config = Config::load(cli.config.as_deref(), &flags)?;
    crate::logging::init(config.log_format);
    match cli.command {
        Command::Serve { .. } => serve(config).await,
        Command::User(cmd) => user(&config, cmd).await,
        Command::Session(cmd) => session(&config, cmd).await,
        Command::Key(cmd) => key(&config, cmd).await,
        Command::Introspector(cmd) => introspector(&config, cmd).await,
        Command::MigrateStore { from, to } => migrate_store(&config, &from, &to).await,
        Command::Token(args) => token::run(args).await,
    }
}

async fn migrate_store(config: &Config, from: &str, to: &str) -> anyhow::Result<()> {
    if from == to {
        bail!("--from and --to name the same database");
    }
    if let Some(path) = from.strip_prefix("sqlite://")
        && !std::path::Path::new(path).exists()
    {
        bail!("--from: {path} does not exist");
    }
    let source = crate::open_database(from, config).await?;
    let destination = crate::open_database(to, config).await?;
    let copied = crate::migrate::copy(source, destination).await?;
    println!(
        "copied {} users, {} signing keys, {} introspectors and {} sessions from {} to {}",
        copied.users,
        copied.keys,
        copied.introspectors,
        copied.sessions,
        crate::config::redact_url(from),
        crate::config::redact_url(to)
    );
    println!(
        "start the service on the new database with the same master key (for a SQLite \
         default, the key file is the database path + \".key\")"
    );
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // A missing or broken certificate stops the start, before anything else happens.
    let tls = crate::load_tls(&config)?;
    let service = crate::build_service(&config, Arc::new(SystemClock)).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let shutdown = shutdown_signal()?;
    // The ready line: tests and scripts wait for it (and read the port from it).
    println!("wirecash-auth listening on {addr}");
    tracing::info!(%addr, tls = tls.is_some(), database = %config.database_redacted(), environments = ?config.environments, "wirecash-auth ready");
    crate::run_with_tls(listener, service, &config, tls, shutdown).await?;
    tracing::info!("wirecash-auth stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT (Ctrl-C). The handlers are installed here, before
/// the ready line is printed: installed on the future's first poll, a signal that came
/// between the ready line and the accept loop found the default action and killed the
/// process instead of stopping it gracefully.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = interrupt.recv() => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
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

fn core(e: wirecash_core::Error) -> anyhow::Error {
    anyhow!("{e}")
}

async fn user(config: &Config, cmd: UserCommand) -> anyhow::Result<()> {
    let a = admin(config).await?;
    match cmd {
        UserCommand::Add {
            name,
            env,
            password,
        } => {
            check_env(config, &env)?;
            wirecash_core::validate::username(&name).map_err(core)?;
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

async fn session(config: &Config, cmd: SessionCommand) -> anyhow::Result<()> {
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

async fn key(config: &Config, cmd: KeyCommand) -> anyhow::Result<()> {
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

async fn introspector(config: &Config, cmd: IntrospectorCommand) -> anyhow::Result<()> {
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
