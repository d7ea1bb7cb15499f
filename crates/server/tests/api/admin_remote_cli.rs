//! The `user`, `session` and `key` commands driving a server's admin API
//! (`--admin-url`, `--admin-key-file`) from a directory without a database or
//! configuration: the same work and the same lines as on the database.

// Also: the roles' and a bad key's messages, key files open to others refused, the key
// in no output, and HTTPS trusting `--admin-ca-file`. The tests run on several threads:
// the in-process server answers while the test's thread waits for the binary.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tempfile::TempDir;
use wirecash_core::events::Actor;
use wirecash_core::store::AdminRole;
use wirecash_core::validate::AdminKeyName;

use crate::support::{TestApp, Tokens, claims, run_in, stderr};
use crate::tls::{TestCa, tls_app};

/// The binary run against an admin API with one admin key, in an empty directory.
struct Remote {
    dir: TempDir,
    url: String,
    key: String,
    key_file: PathBuf,
    ca_file: Option<PathBuf>,
}

/// Writes `text` to `path` with `mode`.
fn write(path: &Path, text: &str, mode: u32) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

impl Remote {
    /// A fresh admin key with `role` on `app`'s admin listener.
    async fn new(app: &TestApp, role: AdminRole) -> Remote {
        let name = format!("cli-{}", role.as_str());
        let issued = app
            .service
            .admin()
            .create_admin_key(
                &Actor::Cli,
                &app.service.admin_secrets().key_mac,
                &AdminKeyName::parse(&name).unwrap(),
                role,
            )
            .await
            .unwrap();
        app.remember(&issued.key);
        Remote::with_key(&app.admin_base, &issued.key)
    }

    /// `key` (as given, surrounded by blank space as an editor may leave it) at `url`.
    fn with_key(url: &str, key: &str) -> Remote {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("admin.key");
        write(&key_file, &format!("  {key}\n\n"), 0o600);
        std::fs::create_dir(dir.path().join("cwd")).unwrap();
        Remote {
            dir,
            url: url.to_string(),
            key: key.to_string(),
            key_file,
            ca_file: None,
        }
    }

    /// Runs `args` with `--admin-url` and `--admin-key-file` after them, from a
    /// directory that holds no database and stays empty.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--admin-url", &self.url]);
        all.extend(["--admin-key-file", self.key_file.to_str().unwrap()]);
        if let Some(ca) = &self.ca_file {
            all.extend(["--admin-ca-file", ca.to_str().unwrap()]);
        }
        self.run_raw(&all, stdin, &[])
    }

    /// Runs exactly `args` (and `envs`), checking that the key shows nowhere.
    fn run_raw(&self, args: &[&str], stdin: Option<&str>, envs: &[(&str, &str)]) -> Output {
        let cwd = self.dir.path().join("cwd");
        let out = run_in(&cwd, args, stdin, envs);
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(
            !all.contains(&self.key),
            "{args:?} showed the admin key:\n{all}"
        );
        assert!(
            std::fs::read_dir(&cwd).unwrap().next().is_none(),
            "{args:?} made a file in its directory"
        );
        out
    }

    /// Standard output of a command that must succeed.
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        ok(&self.run(args, stdin))
    }

    /// Standard error of a command that must fail.
    fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(!out.status.success(), "{args:?} succeeded");
        stderr(&out)
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The generated password in `user add` or `passwd` output, checked to be shown once.
fn generated(out: &str, name: &str) -> String {
    let prefix = format!("generated password for {name} (shown once): ");
    let pw = out
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no password line in:\n{out}"))
        .trim()
        .to_string();
    assert!(pw.len() >= 32, "{pw}");
    assert_eq!(out.matches(&pw).count(), 1, "{out}");
    pw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_user_commands_add_show_disable_enable_passwd_and_delete() {
    let app = TestApp::spawn().await;
    let remote = Remote::new(&app, AdminRole::Operator).await;
    let sandbox = ["--env", "sandbox"];

    let out = remote.ok(
        &[
            &["user", "add", "carol", "--generate-password"][..],
            &sandbox,
        ]
        .concat(),
        None,
    );
    let pw = generated(&out, "carol");
    app.remember(&pw);
    assert!(out.contains("created user carol in sandbox (id "), "{out}");
    let first = app.login("sandbox", "carol", &pw).await;
    let show = remote.ok(&["user", "show", "carol", "--env", "sandbox"], None);
    assert!(show.contains("status:        enabled"), "{show}");
    assert!(show.contains("live sessions: 1"), "{show}");
    assert_eq!(
        show,
        ok(&app.cli(&["user", "show", "carol", "--env", "sandbox"], None))
    );

    let dave_pw = "dave's long enough password";
    app.remember(dave_pw);
    let out = remote.ok(
        &[
            "user",
            "add",
            "dave",
            "--env",
            "sandbox",
            "--password-stdin",
        ],
        Some(&format!("{dave_pw}\n")),
    );
    assert!(!out.contains("generated"), "{out}");
    app.login("sandbox", "dave", dave_pw).await;

    // Disable: refresh fails at once; enable: logins work again.
    let out = remote.ok(&["user", "disable", "carol", "--env", "sandbox"], None);
    assert_eq!(
        out.trim(),
        "disabled carol in sandbox; their sessions are revoked"
    );
    assert_eq!(app.refresh("sandbox", "carol", &first).await.status, 400);
    let show = remote.ok(&["user", "show", "carol", "--env", "sandbox"], None);
    assert!(show.contains("status:        disabled"), "{show}");
    assert_eq!(
        remote
            .ok(&["user", "enable", "carol", "--env", "sandbox"], None)
            .trim(),
        "enabled carol in sandbox"
    );
    let second = app.login("sandbox", "carol", &pw).await;

    // A reset (the default) ends every session; the old password stops.
    let reset = "a reset password for carol";
    app.remember(reset);
    let out = remote.ok(
        &[
            "user",
            "passwd",
            "carol",
            "--env",
            "sandbox",
            "--password-stdin",
        ],
        Some(reset),
    );
    assert_eq!(
        out.trim(),
        "changed the password of carol in sandbox; their sessions are revoked"
    );
    assert_eq!(app.refresh("sandbox", "carol", &second).await.status, 400);
    assert_eq!(
        app.authenticate_raw("sandbox", "carol", &pw).await.status,
        400
    );
    let third = app.login("sandbox", "carol", reset).await;

    // With an overlap the old password keeps working for logins and sessions stay.
    let out = remote.ok(
        &[
            "user",
            "passwd",
            "carol",
            "--env",
            "sandbox",
            "--generate-password",
            "--overlap",
            "1h",
        ],
        None,
    );
    let rotated = generated(&out, "carol");
    app.remember(&rotated);
    assert!(
        out.contains("the old one keeps working for logins until "),
        "{out}"
    );
    app.refresh("sandbox", "carol", &third).await.tokens();
    app.login("sandbox", "carol", reset).await;
    app.login("sandbox", "carol", &rotated).await;

    // Delete, and then the server's own words for what is not there.
    let out = remote.ok(&["user", "delete", "dave", "--env", "sandbox"], None);
    assert_eq!(out.trim(), "deleted dave from sandbox with their sessions");
    assert_eq!(
        app.authenticate_raw("sandbox", "dave", dave_pw)
            .await
            .status,
        400
    );
    let err = remote.fails(&["user", "show", "dave", "--env", "sandbox"], None);
    assert_eq!(err.trim(), "error: no user \"dave\" in sandbox");
    let err = remote.fails(
        &[
            "user",
            "passwd",
            "dave",
            "--env",
            "sandbox",
            "--generate-password",
        ],
        None,
    );
    assert_eq!(err.trim(), "error: no user \"dave\" in sandbox");
    let err = remote.fails(&["user", "list", "--env", "staging"], None);
    assert!(err.contains("no environment \"staging\""), "{err}");
    let err = remote.fails(
        &[
            "user",
            "add",
            "carol",
            "--env",
            "sandbox",
            "--generate-password",
        ],
        None,
    );
    assert!(err.contains("carol") && err.contains("exists"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_user_list_reads_every_page_and_prints_what_the_local_one_prints() {
    let app = TestApp::spawn().await;
    for i in 0..205 {
        app.add_user("sandbox", &format!("user-{i:03}")).await;
    }
    let remote = Remote::new(&app, AdminRole::Viewer).await;
    let listed = remote.ok(&["user", "list", "--env", "sandbox"], None);
    assert_eq!(listed.lines().count(), 1 + 205, "{listed}");
    for i in 0..205 {
        assert!(listed.contains(&format!("  user-{i:03}\n")), "user-{i:03}");
    }
    assert_eq!(
        listed,
        ok(&app.cli(&["user", "list", "--env", "sandbox"], None))
    );
}

/// Two sessions of alice and one of bob.
async fn sessions(app: &TestApp) -> (String, Tokens, Tokens) {
    let pw = app.add_user("sandbox", "alice").await;
    let bob = app.add_user("sandbox", "bob").await;
    let a = app.login("sandbox", "alice", &pw).await;
    let b = app.login("sandbox", "alice", &pw).await;
    app.login("sandbox", "bob", &bob).await;
    (pw, a, b)
}

fn sid(t: &Tokens) -> String {
    claims(&t.access_token)["sid"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_session_commands_list_revoke_one_all_of_a_user_and_all() {
    let app = TestApp::spawn().await;
    let (_, a, b) = sessions(&app).await;
    let remote = Remote::new(&app, AdminRole::Operator).await;
    // The options also go before the subcommand, as the other options do.
    let listed = ok(&remote.run_raw(
        &[
            "session",
            "--admin-url",
            &remote.url,
            "--admin-key-file",
            remote.key_file.to_str().unwrap(),
            "list",
            "--env",
            "sandbox",
            "--user",
            "alice",
        ],
        None,
        &[],
    ));
    assert!(
        listed.contains(&sid(&a)) && listed.contains(&sid(&b)),
        "{listed}"
    );
    assert_eq!(listed.lines().count(), 3, "{listed}");
    let local = |args: &[&str]| ok(&app.cli(args, None));
    assert_eq!(
        listed,
        local(&["session", "list", "--env", "sandbox", "--user", "alice"])
    );
    // Without --user: every user's, newest first, as on the database.
    let all = remote.ok(&["session", "list", "--env", "sandbox"], None);
    assert_eq!(all.lines().count(), 4, "{all}");
    assert_eq!(all, local(&["session", "list", "--env", "sandbox"]));
    let two = remote.ok(
        &["session", "list", "--env", "sandbox", "--limit", "2"],
        None,
    );
    assert_eq!(
        two,
        local(&["session", "list", "--env", "sandbox", "--limit", "2"])
    );

    let out = remote.ok(&["session", "revoke", &sid(&a), "--env", "sandbox"], None);
    assert_eq!(out.trim(), format!("revoked session {}", sid(&a)));
    assert_eq!(app.refresh("sandbox", "alice", &a).await.status, 400);
    let b = app.refresh("sandbox", "alice", &b).await.tokens();
    let err = remote.fails(&["session", "revoke", &sid(&a), "--env", "sandbox"], None);
    assert!(err.contains("no live session"), "{err}");
    let listed = remote.ok(
        &["session", "list", "--env", "sandbox", "--user", "alice"],
        None,
    );
    assert!(listed.contains("revoked ("), "{listed}");

    let out = remote.ok(
        &["session", "revoke", "--user", "alice", "--env", "sandbox"],
        None,
    );
    assert_eq!(out.trim(), "revoked 1 session(s) of alice");
    assert_eq!(app.refresh("sandbox", "alice", &b).await.status, 400);
    assert_eq!(app.live_sessions("sandbox", "bob").await, 1);

    let out = remote.ok(&["session", "revoke", "--all", "--env", "sandbox"], None);
    assert_eq!(out.trim(), "revoked 1 session(s) in sandbox");
    assert_eq!(app.live_sessions("sandbox", "bob").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_key_commands_list_and_rotate_as_the_local_ones() {
    let app = TestApp::spawn().await;
    let owner = Remote::new(&app, AdminRole::Owner).await;
    let local = || ok(&app.cli(&["key", "list", "--env", "sandbox"], None));
    let before = owner.ok(&["key", "list", "--env", "sandbox"], None);
    assert_eq!(before, local());
    let out = owner.ok(&["key", "rotate", "--env", "sandbox"], None);
    let kid = out
        .strip_prefix("created key ")
        .and_then(|rest| rest.split_once(' '))
        .map(|(kid, _)| kid.to_string())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(out.contains("published now, signing from "), "{out}");
    let after = owner.ok(&["key", "list", "--env", "sandbox"], None);
    assert!(after.contains(&kid) && !before.contains(&kid), "{after}");
    assert!(after.contains("pending"), "{after}");
    assert_eq!(after, local());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_commands_say_what_a_role_may_not_do_and_when_a_key_is_refused() {
    let app = TestApp::spawn().await;
    app.add_user("sandbox", "alice").await;
    let viewer = Remote::new(&app, AdminRole::Viewer).await;
    viewer.ok(&["user", "list", "--env", "sandbox"], None);
    let err = viewer.fails(
        &[
            "user",
            "add",
            "x1",
            "--env",
            "sandbox",
            "--generate-password",
        ],
        None,
    );
    assert_eq!(
        err.trim(),
        "error: the admin key's role may not create users (it needs the operator role)"
    );
    let err = viewer.fails(&["user", "disable", "alice", "--env", "sandbox"], None);
    assert!(err.contains("may not disable users"), "{err}");
    let operator = Remote::new(&app, AdminRole::Operator).await;
    let err = operator.fails(&["key", "rotate", "--env", "sandbox"], None);
    assert_eq!(
        err.trim(),
        "error: the admin key's role may not rotate signing keys (it needs the owner role)"
    );

    // An unknown key, and one that is no key at all.
    for key in [
        "wcak_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "not-an-admin-key",
    ] {
        let bad = Remote::with_key(&app.admin_base, key);
        let err = bad.fails(&["user", "list", "--env", "sandbox"], None);
        assert!(
            err.starts_with("error: the admin API refused the admin key")
                && err.contains(bad.key_file.to_str().unwrap()),
            "{err}"
        );
    }
    // The key file must be the owner's alone, and is required.
    let open = operator.dir.path().join("open.key");
    write(&open, &operator.key, 0o644);
    let args = [
        "user",
        "list",
        "--env",
        "sandbox",
        "--admin-url",
        &operator.url,
    ];
    let err = stderr(&operator.run_raw(
        &[&args[..], &["--admin-key-file", open.to_str().unwrap()]].concat(),
        None,
        &[],
    ));
    assert!(
        err.contains("chmod 600") && err.contains("open.key"),
        "{err}"
    );
    let err = stderr(&operator.run_raw(&args, None, &[]));
    assert!(err.contains("--admin-url needs --admin-key-file"), "{err}");
    let err = stderr(&operator.run_raw(
        &[&args[..], &["--admin-key-file", "/nonexistent/admin.key"]].concat(),
        None,
        &[],
    ));
    assert!(err.contains("/nonexistent/admin.key"), "{err}");
    // A database has no use with a remote admin API.
    let err = operator.fails(
        &[
            "user",
            "list",
            "--env",
            "sandbox",
            "--database",
            "sqlite://x.db",
        ],
        None,
    );
    assert!(
        err.contains("--database has no use with --admin-url"),
        "{err}"
    );

    // Nobody listening: the message names the URL, once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let nobody = Remote::with_key(&url, &operator.key);
    let err = nobody.fails(&["user", "list", "--env", "sandbox"], None);
    assert!(
        err.starts_with(&format!("error: cannot reach the admin API at {url}/")),
        "{err}"
    );
    assert_eq!(err.matches("Connection refused").count(), 1, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_commands_read_their_options_from_the_environment() {
    let app = TestApp::spawn().await;
    let remote = Remote::new(&app, AdminRole::Viewer).await;
    let out = remote.run_raw(
        &["key", "list", "--env", "sandbox"],
        None,
        &[
            ("WIRECASH_AUTH_ADMIN_URL", &remote.url),
            (
                "WIRECASH_AUTH_ADMIN_KEY_FILE",
                remote.key_file.to_str().unwrap(),
            ),
        ],
    );
    assert!(ok(&out).starts_with("KID"));
    // Misspelt, it is refused as every misspelt variable is.
    let out = remote.run_raw(
        &["key", "list", "--env", "sandbox"],
        None,
        &[
            ("WIRECASH_AUTH_ADMIN_URL", &remote.url),
            (
                "WIRECASH_AUTH_ADMIN_KEY_FILE",
                remote.key_file.to_str().unwrap(),
            ),
            ("WIRECASH_AUTH_ADMIN_CA_FLIE", "x.pem"),
        ],
    );
    assert!(
        stderr(&out).contains("WIRECASH_AUTH_ADMIN_CA_FILE"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_commands_over_https_trust_the_admin_ca_file() {
    let ca = TestCa::new();
    let certs = tempfile::tempdir().unwrap();
    let (app, _) = tls_app(&ca, certs.path(), Duration::from_secs(5), |_| {}).await;
    app.add_user("sandbox", "alice").await;
    let mut remote = Remote::new(&app, AdminRole::Viewer).await;
    remote.url = app.admin_base.replace("http://", "https://");
    // Without the CA the server's certificate is not trusted.
    let err = remote.fails(&["user", "list", "--env", "sandbox"], None);
    assert!(
        err.contains(&format!("cannot reach the admin API at {}/", remote.url)),
        "{err}"
    );
    let ca_file = remote.dir.path().join("ca.pem");
    write(&ca_file, &ca.pem, 0o644);
    remote.ca_file = Some(ca_file.clone());
    let listed = remote.ok(&["user", "list", "--env", "sandbox"], None);
    assert!(listed.contains("alice"), "{listed}");
    // A CA file means nothing for plain http.
    remote.url = app.admin_base.clone();
    let err = remote.fails(&["user", "list", "--env", "sandbox"], None);
    assert!(
        err.contains("--admin-ca-file is for an https --admin-url"),
        "{err}"
    );
}
