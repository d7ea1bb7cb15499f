//! `migrate-store`: copies one installation into an empty database, with progress and a
//! verification count per table.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::{Config, Database, Overrides};
use crate::database::{self, Access};
use crate::migrate::{Progress, TABLES};

use super::MigrateOptions;

/// `migrate-store` arguments.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    options: MigrateOptions,
    /// The database to copy from, e.g. sqlite://wirecash-auth.db.
    #[arg(long, value_name = "URL")]
    from: String,
    /// The database to copy into, e.g. postgres://wirecash@db.internal/wirecash.
    #[arg(long, value_name = "URL")]
    to: String,
    /// When standard error is not a terminal: how often a progress line is printed
    /// (a terminal gets a progress bar).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    progress_interval: Duration,
}

/// `migrate-store`: copies one installation into an empty database, showing its
/// progress (a bar on a terminal, a line every `--progress-interval` otherwise) and
/// ending with the row counts of source, copy and destination per table. An SQLite
/// source or destination is locked for the copy, so a server cannot be running on
/// either: what it wrote after a page was read would be lost.
///
/// Runs `migrate-store`.
pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let flags = Overrides {
        log_format: args.options.log_format,
        ..Overrides::default()
    };
    let config = Config::load(args.options.config.as_deref(), &flags)?;
    crate::logging::init(config.log_format);
    let from = Database::parse("--from", &args.from)?;
    let to = Database::parse("--to", &args.to)?;
    if from == to {
        bail!("--from and --to name the same database");
    }
    let source = database::open(&from, &config, Access::Existing, true)
        .await
        .map_err(|e| e.context("--from"))?;
    let destination = database::open(&to, &config, Access::Create, true)
        .await
        .map_err(|e| e.context("--to"))?;
    let mut progress: Box<dyn Progress> = if std::io::stderr().is_terminal() {
        Box::new(Bar::default())
    } else {
        Box::new(Lines::new(args.progress_interval))
    };
    let verified = crate::migrate::copy(
        source.store.clone(),
        destination.store.clone(),
        progress.as_mut(),
    )
    .await?;
    let c = verified.copied;
    println!(
        "copied {} users, {} signing keys, {} introspectors and {} sessions from {} to {}",
        c.users,
        c.keys,
        c.introspectors,
        c.sessions,
        from.redacted(),
        to.redacted()
    );
    println!(
        "{:<14} {:>12} {:>12} {:>12}",
        "verified", "source", "copied", "destination"
    );
    for table in TABLES {
        println!(
            "{table:<14} {:>12} {:>12} {:>12}",
            verified.source.get(table),
            c.get(table),
            verified.destination.get(table)
        );
    }
    println!(
        "start the service on the new database with the same master key (for a SQLite \
         default, the key file is the database path + \".key\")"
    );
    drop((source, destination));
    Ok(())
}

/// A progress bar per table on a terminal (standard error).
#[derive(Default)]
struct Bar {
    bar: Option<ProgressBar>,
}

impl Progress for Bar {
    fn start(&mut self, table: &'static str, total: u64) {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:>13} [{bar:30}] {pos}/{len} {rate}, about {eta} left",
        )
        .map_err(|e| anyhow!("{e}"));
        if let Ok(style) = style {
            let rate = |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            };
            bar.set_style(style.progress_chars("=> ").with_key("rate", rate));
        }
        bar.set_prefix(table);
        self.bar = Some(bar);
    }

    fn advance(&mut self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
            // The bar stays; the next one goes on its own line.
            eprintln!();
        }
    }
}

/// Plain lines on standard error when it is no terminal (a log, a pipe): one when a
/// table starts, one every `every` with the rate and an estimate, one when it is done.
struct Lines {
    every: Duration,
    table: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    printed: Instant,
}

impl Lines {
    fn new(every: Duration) -> Self {
        Self {
            every,
            table: "",
            total: 0,
            done: 0,
            started: Instant::now(),
            printed: Instant::now(),
        }
    }
}

impl Progress for Lines {
    fn start(&mut self, table: &'static str, total: u64) {
        (self.table, self.total, self.done) = (table, total, 0);
        self.started = Instant::now();
        self.printed = self.started;
        eprintln!("copying {total} {table}");
    }

    fn advance(&mut self, n: u64) {
        self.done += n;
        if self.printed.elapsed() < self.every || self.done >= self.total {
            return;
        }
        self.printed = Instant::now();
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = self.done as f64 / elapsed.max(0.001);
        let left = self.total.saturating_sub(self.done) as f64 / rate.max(0.001);
        eprintln!(
            "{}: {} of {} copied ({}%), {rate:.0}/s, about {} left",
            self.table,
            self.done,
            self.total,
            self.done * 100 / self.total.max(1),
            humantime::format_duration(Duration::from_secs(left.ceil() as u64))
        );
    }

    fn finish(&mut self) {
        eprintln!(
            "{}: {} of {} copied in {}",
            self.table,
            self.done,
            self.total,
            humantime::format_duration(Duration::from_millis(
                self.started.elapsed().as_millis() as u64
            ))
        );
    }
}
