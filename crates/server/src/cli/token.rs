//! `wirecash-auth token`: prints a valid access token, keeping the session in a cache
//! file so that repeated calls reuse and refresh it.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use wirecash_client::{Client, Error, FileTokenStore, Session};
use zeroize::Zeroizing;

/// The environment variable a password may come from. Another process of the same user
/// can read a process's environment (`/proc/PID/environ`), so prefer `--password-stdin`.
pub const PASSWORD_VAR: &str = "WIRECASH_PASSWORD";

/// `token …`
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The environment's base URL, e.g. http://127.0.0.1:8080/sandbox.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The API user.
    #[arg(long, value_name = "NAME")]
    pub username: String,
    /// Session cache file [default: $XDG_CACHE_HOME/wirecash-auth/ or ~/.cache/wirecash-auth/,
    /// one file per URL and user].
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,
    /// Read the password from standard input (first line) when one is needed. Otherwise
    /// it comes from the WIRECASH_PASSWORD environment variable or, on a terminal, a
    /// prompt. It is only needed when there is no cached session or it has ended.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `wirecash-auth token`: prints a valid access token of a token service, keeping the
/// session in a cache file (mode 0600) so that repeated calls reuse and refresh it
/// instead of authenticating every time:
/// `curl -H "Authorization: $(wirecash-auth token --url URL --username NAME)" …`.
///
/// Prints a valid access token on standard output.
pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let client = Client::builder().base_url(args.url.as_str()).build()?;
    let cache = match &args.cache {
        Some(p) => p.clone(),
        None => default_cache(client.base_url(), &args.username)?,
    };
    let store = FileTokenStore::new(&cache);
    // First without a password: a cached session needs none.
    match Session::builder(client.clone(), args.username.as_str())
        .store(store.clone())
        .build()
    {
        Ok(session) => match session.fresh_token().await {
            Ok(token) => {
                println!("{}", token.as_str());
                return Ok(());
            }
            Err(Error::SessionEnded(_)) => {}
            Err(e) => return Err(e.into()),
        },
        // No cached session for this URL and user.
        Err(Error::Config(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let password = read_password(&args)?;
    let session = Session::builder(client, args.username.as_str())
        .store(store)
        .password(password.as_str())
        .build()?;
    let token = session.fresh_token().await?;
    println!("{}", token.as_str());
    Ok(())
}

fn read_password(args: &TokenArgs) -> anyhow::Result<Zeroizing<String>> {
    if args.password_stdin {
        return super::prompt::stdin_line("--password-stdin");
    }
    if let Some(pw) = std::env::var_os(PASSWORD_VAR) {
        let pw = pw
            .into_string()
            .map_err(|_| anyhow::anyhow!("{PASSWORD_VAR} is not valid UTF-8"))?;
        return Ok(Zeroizing::new(pw));
    }
    let prompt = format!("password for {} at {}: ", args.username, args.url);
    if let Some(pw) = super::prompt::terminal(&prompt, false)? {
        return Ok(pw);
    }
    bail!(
        "no cached session for {} at {}: a password is needed (--password-stdin, {PASSWORD_VAR}, or run on a terminal to be prompted)",
        args.username,
        args.url
    )
}

/// `$XDG_CACHE_HOME/wirecash-auth/<url>_<user>.json`, else under `~/.cache`.
fn default_cache(base_url: &str, username: &str) -> anyhow::Result<PathBuf> {
    let dir = match (std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME")) {
        (Some(x), _) if !x.is_empty() => PathBuf::from(x),
        (_, Some(h)) if !h.is_empty() => PathBuf::from(h).join(".cache"),
        _ => bail!("neither XDG_CACHE_HOME nor HOME is set: give --cache FILE"),
    };
    let name: String = format!("{base_url}_{username}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(dir.join("wirecash-auth").join(format!("{name}.json")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_default_cache_file_is_one_per_url_and_user() {
        let a = default_cache("http://127.0.0.1:8080/sandbox", "alice").unwrap();
        let b = default_cache("http://127.0.0.1:8080/production", "alice").unwrap();
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, "http___127.0.0.1_8080_sandbox_alice.json");
        assert!(a.parent().unwrap().ends_with("wirecash-auth"));
    }
}
