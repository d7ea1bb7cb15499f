//! Passwords from the command line's user: the first line of standard input, or a
//! prompt on the terminal — one way for every command that reads one.

use std::io::{IsTerminal, Read};

use anyhow::{Context, bail};
use zeroize::Zeroizing;

/// The first line of standard input (read up to 64 KiB); an empty one is an error
/// that names `flag`.
pub fn stdin_line(flag: &str) -> anyhow::Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .context("cannot read the password from standard input")?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        bail!("{flag}: standard input holds no password");
    }
    Ok(Zeroizing::new(line.to_string()))
}

/// A password typed at the terminal after `prompt` (twice, and the same, with
/// `confirm`); `None` when standard input is not a terminal.
pub fn terminal(prompt: &str, confirm: bool) -> anyhow::Result<Option<Zeroizing<String>>> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let first = Zeroizing::new(rpassword::prompt_password(prompt)?);
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("again: ")?);
        if *first != *again {
            bail!("the passwords differ");
        }
    }
    Ok(Some(first))
}
