//! The admin CLI on the running server's database: every change that must end sessions
//! ends them at once.

use crate::support::{TestApp, Tokens};

async fn two_sessions(app: &TestApp, pw: &str) -> (Tokens, Tokens) {
    (
        app.login("sandbox", "alice", pw).await,
        app.login("sandbox", "alice", pw).await,
    )
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test]
async fn user_disable_ends_refresh_at_once_and_enable_allows_login_again() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let (a, b) = two_sessions(&app, &pw).await;
    ok(&app.cli(&["user", "disable", "alice", "--env", "sandbox"], None));
    assert_eq!(app.refresh("sandbox", "alice", &a).await.status, 400);
    assert_eq!(app.refresh("sandbox", "alice", &b).await.status, 400);
    assert_eq!(
        app.authenticate_raw("sandbox", "alice", &pw).await.status,
        400
    );
    ok(&app.cli(&["user", "enable", "alice", "--env", "sandbox"], None));
    let c = app.login("sandbox", "alice", &pw).await;
    app.refresh("sandbox", "alice", &c).await.tokens();
    // Old sessions stay dead.
    assert_eq!(app.refresh("sandbox", "alice", &a).await.status, 400);
}

#[tokio::test]
async fn user_passwd_ends_sessions_and_the_new_password_works() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let (a, _) = two_sessions(&app, &pw).await;
    let new_pw = "a brand new long password";
    app.remember(new_pw);
    ok(&app.cli(
        &[
            "user",
            "passwd",
            "alice",
            "--env",
            "sandbox",
            "--password-stdin",
        ],
        Some(&format!("{new_pw}\n")),
    ));
    assert_eq!(app.refresh("sandbox", "alice", &a).await.status, 400);
    assert_eq!(
        app.authenticate_raw("sandbox", "alice", &pw).await.status,
        400
    );
    app.login("sandbox", "alice", new_pw).await;
}

#[tokio::test]
async fn user_delete_ends_sessions_and_the_user() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let (a, _) = two_sessions(&app, &pw).await;
    ok(&app.cli(&["user", "delete", "alice", "--env", "sandbox"], None));
    assert_eq!(app.refresh("sandbox", "alice", &a).await.status, 400);
    assert_eq!(
        app.authenticate_raw("sandbox", "alice", &pw).await.status,
        400
    );
    let out = app.cli(&["user", "show", "alice", "--env", "sandbox"], None);
    assert!(!out.status.success());
}

#[tokio::test]
async fn session_revoke_ends_one_session_or_all_of_a_user() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let (a, b) = two_sessions(&app, &pw).await;
    let sid = crate::support::claims(&a.access_token)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let listing = ok(&app.cli(
        &["session", "list", "--env", "sandbox", "--user", "alice"],
        None,
    ));
    assert!(listing.contains(&sid), "{listing}");
    ok(&app.cli(&["session", "revoke", &sid, "--env", "sandbox"], None));
    assert_eq!(app.refresh("sandbox", "alice", &a).await.status, 400);
    let b = app.refresh("sandbox", "alice", &b).await.tokens();
    let out = ok(&app.cli(
        &["session", "revoke", "--user", "alice", "--env", "sandbox"],
        None,
    ));
    assert!(out.contains("revoked 1 session"), "{out}");
    assert_eq!(app.refresh("sandbox", "alice", &b).await.status, 400);
    // Revoking what is already revoked says so.
    assert!(
        !app.cli(&["session", "revoke", &sid, "--env", "sandbox"], None)
            .status
            .success()
    );
}

#[tokio::test]
async fn user_add_with_generated_password_prints_it_once_and_it_works() {
    let app = TestApp::spawn().await;
    let out = ok(&app.cli(
        &[
            "user",
            "add",
            "carol",
            "--env",
            "sandbox",
            "--generate-password",
        ],
        None,
    ));
    let pw = out
        .lines()
        .find_map(|l| l.strip_prefix("generated password for carol (shown once): "))
        .expect("password line")
        .trim()
        .to_string();
    app.remember(&pw);
    assert!(pw.len() >= 32);
    app.login("sandbox", "carol", &pw).await;
    let list = ok(&app.cli(&["user", "list", "--env", "sandbox"], None));
    assert!(list.contains("carol") && list.contains("enabled"), "{list}");
    let show = ok(&app.cli(&["user", "show", "carol", "--env", "sandbox"], None));
    assert!(show.contains("live sessions: 1"), "{show}");
    // Duplicates, bad names, short passwords, unknown environments are refused.
    let refused = |args: &[&str], stdin: Option<&str>| !app.cli(args, stdin).status.success();
    assert!(refused(
        &[
            "user",
            "add",
            "carol",
            "--env",
            "sandbox",
            "--generate-password"
        ],
        None
    ));
    assert!(refused(
        &[
            "user",
            "add",
            " bad",
            "--env",
            "sandbox",
            "--generate-password"
        ],
        None
    ));
    assert!(refused(
        &[
            "user",
            "add",
            "dave",
            "--env",
            "sandbox",
            "--password-stdin"
        ],
        Some("short\n")
    ));
    assert!(refused(
        &[
            "user",
            "add",
            "dave",
            "--env",
            "staging",
            "--generate-password"
        ],
        None
    ));
    // No password source and no terminal: a clear error, not a hang.
    let out = app.cli(&["user", "add", "dave", "--env", "sandbox"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));
}

#[tokio::test]
async fn user_add_on_a_terminal_prompts_twice_for_the_password() {
    let app = TestApp::spawn().await;
    let pw = "typed at the prompt twice";
    app.remember(pw);
    // `script` (util-linux, essential on Debian) gives the CLI a real terminal.
    let cmd = format!(
        "{} --database '{}' user add zed --env sandbox",
        env!("CARGO_BIN_EXE_wirecash-auth"),
        app.config.database.url()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .envs(app.db.as_ref().unwrap().env())
        .env("WIRECASH_AUTH_PASSWORD_HASH_MEMORY_KIB", "64")
        .env("WIRECASH_AUTH_PASSWORD_HASH_ITERATIONS", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{pw}\n{pw}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("password for zed:") && text.contains("again:"),
        "{text}"
    );
    assert!(text.contains("created user zed"), "{text}");
    app.login("sandbox", "zed", pw).await;
}

/// Names are letters, digits and `._-@`: a `:` breaks HTTP Basic (the OAuth endpoints'
/// client authentication), a space or `+` breaks form encoding and shell use. Users made
/// before the rule keep working.
#[tokio::test]
async fn user_add_refuses_names_that_break_clients_and_says_what_is_allowed() {
    let app = TestApp::spawn().await;
    for bad in [
        "a:b",
        "Zed Smith",
        "a+b",
        "a/b",
        "a%40b",
        "émile",
        "a\"b",
        ".x",
    ] {
        let out = app.cli(
            &[
                "user",
                "add",
                bad,
                "--env",
                "sandbox",
                "--generate-password",
            ],
            None,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(
            err.contains("letters") && err.contains("digits") && err.contains("._-@"),
            "{bad:?}: {err}"
        );
    }
    for good in ["partner-1", "ops.team_eu@example.com", "A9"] {
        let out = ok(&app.cli(
            &[
                "user",
                "add",
                good,
                "--env",
                "sandbox",
                "--generate-password",
            ],
            None,
        ));
        let pw = out
            .lines()
            .find_map(|l| l.split("(shown once): ").nth(1))
            .unwrap()
            .trim()
            .to_string();
        app.remember(&pw);
        app.login("sandbox", good, &pw).await;
    }
    // A user of an installation from before the rule logs in as ever.
    let pw = "a legacy user's password";
    app.remember(pw);
    app.db
        .as_ref()
        .unwrap()
        .add_legacy_user("sandbox", "Zed Smith", pw)
        .await;
    app.login("sandbox", "Zed Smith", pw).await;
}

#[tokio::test]
async fn user_passwd_with_an_overlap_keeps_the_old_password_and_the_sessions() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let (a, _) = two_sessions(&app, &pw).await;
    let new_pw = "a planned new long password";
    app.remember(new_pw);
    let out = ok(&app.cli(
        &[
            "user",
            "passwd",
            "alice",
            "--env",
            "sandbox",
            "--password-stdin",
            "--overlap",
            "2h",
        ],
        Some(&format!("{new_pw}\n")),
    ));
    assert!(
        out.contains("the old one keeps working for logins until "),
        "{out}"
    );
    app.refresh("sandbox", "alice", &a).await.tokens();
    app.login("sandbox", "alice", &pw).await;
    app.login("sandbox", "alice", new_pw).await;
    let out = app.cli(
        &[
            "user",
            "passwd",
            "alice",
            "--env",
            "sandbox",
            "--generate-password",
            "--overlap",
            "an hour",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("24h"));
}

#[tokio::test]
async fn session_revoke_all_ends_every_session_of_the_environment() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let bob = app.add_user("sandbox", "bob").await;
    let (a, _) = two_sessions(&app, &pw).await;
    let b = app.login("sandbox", "bob", &bob).await;
    let out = ok(&app.cli(&["session", "revoke", "--all", "--env", "sandbox"], None));
    assert_eq!(out.trim(), "revoked 3 session(s) in sandbox");
    assert_eq!(app.refresh("sandbox", "alice", &a).await.status, 400);
    assert_eq!(app.refresh("sandbox", "bob", &b).await.status, 400);
    // An id and --all together mean nothing.
    assert!(
        !app.cli(
            &["session", "revoke", "1", "--all", "--env", "sandbox"],
            None
        )
        .status
        .success()
    );
}
