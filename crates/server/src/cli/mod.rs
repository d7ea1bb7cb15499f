//! The command line (SPEC §7): one subcommand per module below; each takes exactly the
//! options it uses.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, LogFormat, Overrides, redact_text};

mod admin;
pub mod admin_key;
mod docs;
pub mod introspector;
pub mod key;
mod migrate;
mod prompt;
pub mod remote;
mod serve;
pub mod session;
pub mod token;
pub mod user;

pub use admin_key::AdminKeyCommand;
pub use introspector::IntrospectorCommand;
pub use key::KeyCommand;
pub use remote::RemoteOptions;
pub use session::SessionCommand;
pub use user::{PasswordSource, UserCommand};

/// The command line (SPEC §7): `serve` and `init`, the admin commands that work on the
/// same database as the server (also while it runs) or, with `--admin-url`, through a
/// server's admin API, `config check`, `migrate-store`,
/// the client command `token`, and the completions and man page. Each command takes
/// exactly the options it uses: `--config`, `--database` and `--log-format` belong to
/// the commands that read the service's configuration, and nowhere else.
///
/// wirecash-auth: the WireCash token service.
#[derive(Debug, Parser)]
#[command(name = "wirecash-auth", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The options of every command that reads the service's configuration.
#[derive(Debug, Clone, Default, Args)]
pub struct ServiceOptions {
    /// TOML configuration file.
    #[arg(long, global = true, env = "WIRECASH_AUTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB (overrides
    /// the configuration file and environment).
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// `migrate-store` names its two databases itself: no `--database`.
#[derive(Debug, Clone, Default, Args)]
pub struct MigrateOptions {
    /// TOML configuration file (for the `[postgres]` pool settings).
    #[arg(long, env = "WIRECASH_AUTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service. On its first start in a place that holds no installation it
    /// makes one (database, master key, signing keys), and says so.
    Serve {
        #[command(flatten)]
        options: ServiceOptions,
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Make a new installation (database, master key, signing keys) without starting
    /// the service, e.g. to add users before the first start. Does nothing where an
    /// installation exists.
    Init {
        #[command(flatten)]
        options: ServiceOptions,
    },
    /// Manage API users.
    User {
        #[command(flatten)]
        options: ServiceOptions,
        #[command(flatten)]
        remote: RemoteOptions,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Inspect and revoke sessions.
    Session {
        #[command(flatten)]
        options: ServiceOptions,
        #[command(flatten)]
        remote: RemoteOptions,
        #[command(subcommand)]
        command: SessionCommand,
    },
    /// Inspect and rotate signing keys.
    Key {
        #[command(flatten)]
        options: ServiceOptions,
        #[command(flatten)]
        remote: RemoteOptions,
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Manage the keys of the admin API (`admin_listen`).
    AdminKey {
        #[command(flatten)]
        options: ServiceOptions,
        #[command(subcommand)]
        command: AdminKeyCommand,
    },
    /// Manage the resource servers allowed to call `POST /{env}/introspect`.
    Introspector {
        #[command(flatten)]
        options: ServiceOptions,
        #[command(subcommand)]
        command: IntrospectorCommand,
    },
    /// Check the configuration.
    Config {
        #[command(flatten)]
        options: ServiceOptions,
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Copy users, signing keys, introspectors and sessions to another database (e.g.
    /// SQLite to PostgreSQL). Stop the service first; the destination must be empty.
    MigrateStore(migrate::MigrateArgs),
    /// Print a valid access token of a token service (a client command: it keeps its
    /// session in a cache file and uses none of the server's settings).
    Token(token::TokenArgs),
    /// Print a shell completion script, e.g. `wirecash-auth completions bash > FILE`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a directory.
    Man {
        /// Write wirecash-auth.1, wirecash-auth-serve.1 and so on into this directory.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// `config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print every key with its effective value and
    /// where it came from (default, file, env, flag); secrets are redacted. Exits
    /// non-zero, naming the key, when something is invalid.
    Check {
        /// As `serve --listen`.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
}

/// The options older versions took before the command (`wirecash-auth --database URL
/// user add …`, as scripts still write them) are moved behind the command's name, where
/// they belong now: the same line keeps working, and a command that has no use for one
/// still refuses it.
pub fn hoist_options(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    const WITH_VALUE: [&str; 3] = ["--config", "--database", "--log-format"];
    let args: Vec<OsString> = args.into_iter().collect();
    let mut leading = Vec::new();
    let mut i = 1;
    while let Some(arg) = args.get(i).and_then(|a| a.to_str()) {
        if WITH_VALUE.contains(&arg) {
            leading.extend(args.iter().skip(i).take(2).cloned());
            i += 2;
        } else if WITH_VALUE.iter().any(|o| arg.starts_with(&format!("{o}="))) {
            leading.push(args[i].clone());
            i += 1;
        } else {
            break;
        }
    }
    if leading.is_empty() || i >= args.len() {
        return args;
    }
    let mut out = args[..1].to_vec();
    out.push(args[i].clone());
    out.extend(leading);
    out.extend(args[i + 1..].iter().cloned());
    out
}

/// The message of a failed command: each cause once (a cause whose text its parent
/// already shows is left out), with every password redacted.
pub fn error_message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    redact_text(&out)
}

/// Loads the configuration of a service command and sets up logging.
fn load(options: &ServiceOptions, listen: Option<String>) -> anyhow::Result<Config> {
    let flags = Overrides {
        listen,
        database: options.database.clone(),
        log_format: options.log_format,
    };
    let config = Config::load(options.config.as_deref(), &flags)?;
    crate::logging::init(config.log_format);
    Ok(config)
}

/// The admin API an admin command drives, if `--admin-url` is given; then it reads no
/// configuration and opens no database, and a `--database` is a mistake to report.
fn connect(
    options: &ServiceOptions,
    remote: &RemoteOptions,
) -> anyhow::Result<Option<remote::AdminApi>> {
    let api = remote.connect()?;
    if api.is_some() {
        if options.database.is_some() {
            anyhow::bail!(
                "--database has no use with --admin-url: the admin API works on its server's database"
            );
        }
        // A misspelt WIRECASH_AUTH_ variable is refused here too, as everywhere.
        crate::config::check_environment()?;
    }
    Ok(api)
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { options, listen } => serve::serve(load(&options, listen)?).await,
        Command::Init { options } => serve::init(load(&options, None)?).await,
        Command::User {
            options,
            remote,
            command,
        } => match connect(&options, &remote)? {
            Some(api) => user::remote(&api, command).await,
            None => user::user(&load(&options, None)?, command).await,
        },
        Command::Session {
            options,
            remote,
            command,
        } => match connect(&options, &remote)? {
            Some(api) => session::remote(&api, command).await,
            None => session::session(&load(&options, None)?, command).await,
        },
        Command::Key {
            options,
            remote,
            command,
        } => match connect(&options, &remote)? {
            Some(api) => key::remote(&api, command).await,
            None => key::key(&load(&options, None)?, command).await,
        },
        Command::AdminKey { options, command } => {
            admin_key::admin_key(&load(&options, None)?, command).await
        }
        Command::Introspector { options, command } => {
            introspector::introspector(&load(&options, None)?, command).await
        }
        Command::Config {
            options,
            command: ConfigCommand::Check { listen },
        } => serve::config_check(&options, listen),
        Command::MigrateStore(args) => migrate::run(args).await,
        Command::Token(args) => {
            crate::logging::init(LogFormat::Human);
            token::run(args).await
        }
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { out_dir } => docs::man(out_dir.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hoisted(line: &str) -> String {
        let args = line.split(' ').map(OsString::from);
        hoist_options(args)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn leading_service_options_move_behind_the_command() {
        assert_eq!(
            hoisted("w --database sqlite://x --config c.toml user add a --env s"),
            "w user --database sqlite://x --config c.toml add a --env s"
        );
        assert_eq!(
            hoisted("w --log-format=json serve --listen a"),
            "w serve --log-format=json --listen a"
        );
        assert_eq!(hoisted("w user list --env s"), "w user list --env s");
        assert_eq!(hoisted("w --database"), "w --database");
        // Then clap refuses them where they mean nothing.
        let cli = Cli::try_parse_from(hoist_options(
            [
                "w",
                "--database",
                "sqlite://x",
                "token",
                "--url",
                "u",
                "--username",
                "a",
            ]
            .map(OsString::from),
        ));
        assert!(cli.is_err());
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
