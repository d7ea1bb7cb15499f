//! `completions` and `man`: generated from the command-line definition itself, so they
//! can never list an option the program does not take.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use super::Cli;

/// Prints the completion script for `shell` on standard output.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "wirecash-auth", &mut std::io::stdout());
    Ok(())
}

/// Prints wirecash-auth(1), or writes it and one page per command into `out_dir`.
pub fn man(out_dir: Option<&Path>) -> anyhow::Result<()> {
    let cmd = Cli::command();
    match out_dir {
        None => clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .context("cannot write the man page"),
        Some(dir) => {
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
            println!("wrote the man pages into {}", dir.display());
            Ok(())
        }
    }
}
