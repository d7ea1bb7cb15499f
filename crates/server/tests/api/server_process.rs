//! The real binary as a child process: start it on a test database, read its ready
//! line, stop it with SIGTERM, talk JSON to it.

// Shared by both test binaries; each uses a part.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::support::{ScratchDb, answer, bin_command_via};

pub struct Server {
    pub child: Child,
    pub base: String,
    /// The admin listener's base URL, when it is on.
    pub admin_base: Option<String>,
}

/// Kills the server when a test fails half-way, so that no process outlives the test.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `wirecash-auth serve` on `db` with the given reuse grace; logs go to
/// `dir/server.log`.
pub fn start(dir: &Path, db: &ScratchDb, grace: &str) -> Server {
    start_with(dir, db, grace, &[])
}

pub fn start_with(dir: &Path, db: &ScratchDb, grace: &str, extra: &[&str]) -> Server {
    start_node(
        &dir.join("server.log"),
        db,
        extra,
        &[("WIRECASH_AUTH_TOKENS_REFRESH_REUSE_GRACE", grace)],
    )
}

/// Starts `wirecash-auth serve` on `db` with extra arguments and environment variables,
/// appending its log to `log`.
pub fn start_node(log: &Path, db: &ScratchDb, extra: &[&str], envs: &[(&str, &str)]) -> Server {
    start_node_via(&[], log, db, extra, envs)
}

/// `start_node` run by `prefix` (see `support::bin_command_via`).
pub fn start_node_via(
    prefix: &[&str],
    log: &Path,
    db: &ScratchDb,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> Server {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut cmd = bin_command_via(prefix, &[]);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", &db.url])
        .args(extra)
        .envs(db.env())
        .env("RUST_LOG", "trace")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    spawn_ready(cmd)
}

/// Spawns a `serve` command whose standard output is piped and waits for its ready
/// line.
pub fn spawn_ready(mut cmd: Command) -> Server {
    let admin_on = cmd
        .get_envs()
        .any(|(k, v)| k == "WIRECASH_AUTH_ADMIN_LISTEN" && v.is_some_and(|v| !v.is_empty()));
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    // The admin listener's line follows the ready line.
    let mut admin_line = String::new();
    if admin_on && line.starts_with("wirecash-auth listening on ") {
        stdout.read_line(&mut admin_line).unwrap();
    }
    let admin_base = admin_line
        .trim()
        .strip_prefix("wirecash-auth admin API listening on ")
        .map(|a| format!("http://{a}"));
    let Some(addr) = line.trim().strip_prefix("wirecash-auth listening on ") else {
        let _ = child.kill();
        panic!("no ready line: {line:?} (exit {:?})", child.wait());
    };
    Server {
        child,
        base: format!("http://{addr}"),
        admin_base,
    }
}

/// SIGTERM, then the exit status.
pub fn terminate(mut s: Server) -> std::process::ExitStatus {
    let pid = s.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    s.child.wait().unwrap()
}

/// POSTs a JSON body.
pub async fn post(
    client: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> Result<crate::support::Answer, reqwest::Error> {
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    Ok(answer(r).await)
}

/// GETs a JSON document.
pub async fn get_json(client: &reqwest::Client, url: String) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}
