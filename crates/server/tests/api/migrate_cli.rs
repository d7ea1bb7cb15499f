//! `migrate-store` with the real binary, SQLite to SQLite: progress while it copies (a
//! bar on a terminal, lines otherwise, with counts and an estimate) and the counts of
//! source, copy and destination per table at the end.

use serde_json::json;

use crate::server_process::{post, start, terminate};
use crate::support::{ScratchDb, add_user_cli, ok_stdout, run_cli, run_in, stderr};

/// Whitespace-separated words of each line.
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[tokio::test]
async fn migrate_store_shows_progress_and_ends_with_counts_per_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::sqlite(dir.path());
    db.init();
    add_user_cli(&db, "alice", "a long enough password\n");
    add_user_cli(&db, "bob", "a long enough password\n");
    ok_stdout(&run_cli(
        &db,
        &["introspector", "add", "orders-api", "--env", "sandbox"],
        None,
    ));
    let server = start(dir.path(), &db, "10s");
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let a = post(
            &client,
            format!("{}/sandbox/authenticate", server.base),
            json!({"username": "alice", "password": "a long enough password"}),
        )
        .await
        .unwrap();
        assert_eq!(a.status, 200);
    }
    assert!(terminate(server).success());

    let copy = format!("sqlite://{}", dir.path().join("copy.db").display());
    let out = run_in(
        dir.path(),
        &[
            "migrate-store",
            "--from",
            &db.url,
            "--to",
            &copy,
            "--progress-interval",
            "0s",
        ],
        None,
        &[],
    );
    let text = ok_stdout(&out);
    let progress = stderr(&out);
    for line in [
        "copying 2 users",
        "users: 2 of 2 copied in",
        "copying 2 signing keys",
        "copying 1 introspectors",
        "sessions: 2 of 2 copied in",
    ] {
        assert!(progress.contains(line), "{line:?} in:\n{progress}");
    }
    // A line on the way, with the rate and an estimate.
    let on_the_way = progress
        .lines()
        .find(|l| l.starts_with("signing keys: 1 of 2 copied (50%)"))
        .unwrap_or_else(|| panic!("{progress}"));
    assert!(
        on_the_way.contains("/s, about") && on_the_way.ends_with("left"),
        "{on_the_way}"
    );
    let table = rows(&text);
    for want in [
        ["verified", "source", "copied", "destination"].as_slice(),
        &["users", "2", "2", "2"],
        &["signing", "keys", "2", "2", "2"],
        &["introspectors", "1", "1", "1"],
        &["sessions", "2", "2", "2"],
    ] {
        assert!(table.iter().any(|r| r == want), "{want:?} in:\n{text}");
    }
    let users = ok_stdout(&run_in(
        dir.path(),
        &["user", "list", "--env", "sandbox", "--database", &copy],
        None,
        &[],
    ));
    assert!(users.contains("alice") && users.contains("bob"), "{users}");

    // On a terminal (script(1) from util-linux gives it one): a progress bar.
    let again = format!("sqlite://{}", dir.path().join("again.db").display());
    let command = format!(
        "{} migrate-store --from '{}' --to '{again}'",
        env!("CARGO_BIN_EXE_wirecash-auth"),
        db.url
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .output()
        .expect("script(1) from util-linux");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("] 2/2") && shown.contains("sessions"),
        "{shown}"
    );
    assert!(
        !shown.contains("copying 2 users"),
        "lines instead of a bar: {shown}"
    );
}
