//! The command line as a person meets it, with the real binary.

// `config check`, a misspelt variable, completions and a man page, options refused
// where they do nothing, messages without HTTP words or a doubled cause, and no secret
// in any message.

use std::path::Path;

use crate::support::{ScratchDb, TestApp, ok_stdout, run_in, stderr};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The keys docs/configuration.md documents (`tokens.access_ttl`, …), from the first
/// column of its tables.
fn documented_keys() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let text = std::fs::read_to_string(path).unwrap();
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = heading
                .split_once("`[")
                .and_then(|(_, rest)| rest.split_once("]`"))
                .map(|(name, _)| name.to_string())
                .unwrap_or_default();
            continue;
        }
        let Some(cell) = line
            .strip_prefix("| `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(key, _)| key)
        else {
            continue;
        };
        if cell.starts_with("WIRECASH") || cell.starts_with("RUST_") {
            continue;
        }
        let key = if section.is_empty() || cell.contains('.') {
            cell.to_string()
        } else {
            format!("{section}.{cell}")
        };
        keys.push(key);
    }
    keys
}

#[test]
fn config_check_prints_every_documented_key_with_its_value_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "database = \"postgres://wa:s3cret-in-file@db.internal/auth\"\n[tokens]\naccess_ttl = \"5m\"\n",
    )
    .unwrap();
    let key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=";
    let out = run_in(
        dir.path(),
        &[
            "config",
            "check",
            "--config",
            file.to_str().unwrap(),
            "--listen",
            "127.0.0.1:9999",
        ],
        None,
        &[
            ("WIRECASH_AUTH_TOKENS_REFRESH_REUSE_GRACE", "3s"),
            ("WIRECASH_AUTH_MASTER_KEY", key),
        ],
    );
    let text = ok_stdout(&out);
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("# {key} ")))
            .unwrap_or_else(|| panic!("no line for {key}:\n{text}"))
            .to_string()
    };
    for key in documented_keys() {
        line(&key);
    }
    let file_name = file.display().to_string();
    assert!(
        line("listen").ends_with("# flag --listen"),
        "{}",
        line("listen")
    );
    assert!(line("listen").contains("\"127.0.0.1:9999\""));
    assert!(line("tokens.access_ttl").contains("\"5m\""));
    assert!(line("tokens.access_ttl").ends_with(&format!("# file {file_name}")));
    assert!(
        line("tokens.refresh_reuse_grace")
            .ends_with("# env WIRECASH_AUTH_TOKENS_REFRESH_REUSE_GRACE")
    );
    assert!(line("tokens.max_sessions_per_user").contains("= 100"));
    assert!(line("tokens.max_sessions_per_user").ends_with("# default"));
    assert!(line("database").contains("postgres://wa:***@db.internal/auth"));
    assert!(
        !text.contains("s3cret-in-file") && !text.contains(key),
        "{text}"
    );
    assert!(text.contains("valid"), "{text}");

    // Invalid: non-zero, naming the key.
    std::fs::write(&file, "[tokens]\naccess_ttl = \"an hour\"\n").unwrap();
    let out = run_in(
        dir.path(),
        &["config", "check", "--config", file.to_str().unwrap()],
        None,
        &[],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("tokens.access_ttl"), "{err}");
    // Durations say what they accept, not where the parser stopped.
    assert!(
        err.contains("ms, s, m, h, d or w") && !err.contains("expected number"),
        "{err}"
    );
}

/// A variable that is not UTF-8 (a legacy locale's, say) is no panic: someone else's is
/// left alone, one of ours is an error that names it. Both for a command that loads the
/// configuration and for one that only checks the variables (a remote admin command).
#[test]
fn a_variable_that_is_not_utf8_is_ignored_or_named_never_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let garbage = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let dir = tempfile::tempdir().unwrap();
    let remote = [
        "user",
        "list",
        "--env",
        "sandbox",
        "--admin-url",
        "http://127.0.0.1:9",
        "--admin-key-file",
        "/nonexistent",
    ];
    for (var, ours) in [
        ("LEGACY_LOCALE_SETTING", false),
        ("WIRECASH_AUTH_TOKENS_ACCESS_TTL", true),
    ] {
        for args in [&["config", "check"][..], &remote[..]] {
            let out = crate::support::bin_command(&[])
                .current_dir(dir.path())
                .args(args)
                .env(var, garbage)
                .output()
                .unwrap();
            let err = stderr(&out);
            assert!(!err.contains("panicked"), "{var} {args:?}: {err}");
            match (ours, args[0]) {
                (true, "config") => {
                    assert!(!out.status.success());
                    assert!(err.contains(var) && err.contains("not UTF-8"), "{err}");
                }
                (false, "config") => assert!(out.status.success(), "{var}: {err}"),
                // Refused for the missing key file or for the variable: either way a
                // clear line, no panic.
                _ => assert!(
                    !out.status.success()
                        && (err.contains("/nonexistent") || err.contains("not UTF-8")),
                    "{err}"
                ),
            }
        }
    }
}

#[test]
fn a_misspelt_wirecash_auth_variable_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::sqlite(dir.path());
    for args in [
        &["config", "check"][..],
        &["user", "list", "--env", "sandbox"],
    ] {
        let out = crate::support::run_cli_with(
            &db,
            args,
            None,
            &[("WIRECASH_AUTH_TOKENS_ACESS_TTL", "5m")],
        );
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("WIRECASH_AUTH_TOKENS_ACESS_TTL")
                && err.contains("WIRECASH_AUTH_TOKENS_ACCESS_TTL"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn completions_for_bash_zsh_and_fish_and_a_man_page_that_renders() {
    let dir = tempfile::tempdir().unwrap();
    let script = ok_stdout(&run_in(dir.path(), &["completions", "bash"], None, &[]));
    let file = dir.path().join("wirecash-auth.bash");
    std::fs::write(&file, &script).unwrap();
    // bash loads it and registers the completion.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p wirecash-auth",
            file.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("wirecash-auth"));
    assert!(script.contains("migrate-store") && script.contains("--password-stdin"));
    let zsh = ok_stdout(&run_in(dir.path(), &["completions", "zsh"], None, &[]));
    assert!(zsh.starts_with("#compdef wirecash-auth"), "{zsh}");
    let fish = ok_stdout(&run_in(dir.path(), &["completions", "fish"], None, &[]));
    assert!(fish.contains("complete -c wirecash-auth"), "{fish}");

    let page = ok_stdout(&run_in(dir.path(), &["man"], None, &[]));
    assert!(page.contains(".TH wirecash-auth 1"), "{page}");
    let file = dir.path().join("wirecash-auth.1");
    std::fs::write(&file, &page).unwrap();
    // groff renders it without a warning, with every command in it.
    let out = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&file)
        .output()
        .expect("groff (Debian's groff-base, needed by man) renders the page");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        stderr(&out)
    );
    let pages = dir.path().join("man1");
    std::fs::create_dir(&pages).unwrap();
    ok_stdout(&run_in(
        dir.path(),
        &["man", "--out-dir", pages.to_str().unwrap()],
        None,
        &[],
    ));
    for name in [
        "wirecash-auth.1",
        "wirecash-auth-serve.1",
        "wirecash-auth-user-add.1",
    ] {
        assert!(pages.join(name).exists(), "{name}");
    }
    for page in std::fs::read_dir(&pages).unwrap() {
        let page = page.unwrap().path();
        let out = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&page)
            .output()
            .unwrap();
        assert!(
            out.stderr.is_empty(),
            "{}: {}",
            page.display(),
            stderr(&out)
        );
    }
}

#[test]
fn options_that_do_nothing_for_a_command_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |args: &[&str]| {
        let out = run_in(dir.path(), args, None, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("unexpected argument"),
            "{}",
            stderr(&out)
        );
    };
    let token = ["--url", "http://127.0.0.1:1/sandbox", "--username", "alice"];
    refused(&[&["token", "--database", "sqlite://x.db"][..], &token].concat());
    refused(&[&["token", "--config", "c.toml"][..], &token].concat());
    refused(&[&["--database", "sqlite://x.db", "token"][..], &token].concat());
    refused(&[
        "migrate-store",
        "--database",
        "sqlite://x.db",
        "--from",
        "sqlite://a.db",
        "--to",
        "sqlite://b.db",
    ]);
    refused(&["completions", "bash", "--database", "sqlite://x.db"]);
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[tokio::test]
async fn cli_messages_have_no_http_words_and_name_each_cause_once() {
    let app = TestApp::spawn().await;
    let out = app.cli(
        &[
            "user",
            "add",
            "dave",
            "--env",
            "sandbox",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.starts_with("error: password must be 12 to 1024 bytes"),
        "{err}"
    );
    assert!(!err.contains("invalid request"), "{err}");
    let out = app.cli(&["user", "show", "nobody", "--env", "sandbox"], None);
    let err = stderr(&out);
    assert_eq!(err.trim(), "error: no user \"nobody\" in sandbox");

    // `token` against a port nobody listens on: the cause once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sandbox", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache.json");
    let out = run_in(
        dir.path(),
        &[
            "token",
            "--url",
            &url,
            "--username",
            "alice",
            "--password-stdin",
            "--cache",
            cache.to_str().unwrap(),
        ],
        Some("a long enough password\n"),
        &[],
    );
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.matches("Connection refused").count(), 1, "{err}");
    assert_eq!(err.matches("error sending request").count(), 1, "{err}");
}

/// Arguments, environment, and what the answer shows instead of the secret.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn no_setting_that_can_hold_a_secret_is_ever_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("broken.toml");
    std::fs::write(&toml, "database = \"postgres://wa:hunter2@db/x\n").unwrap();
    let toml = toml.to_str().unwrap();
    let key = (
        "WIRECASH_AUTH_MASTER_KEY",
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=",
    );
    let list = ["user", "list", "--env", "sandbox", "--database"];
    let cases: &[Case] = &[
        (
            [&list[..], &["host=db user=wa password=hunter2"]].concat(),
            vec![],
            "password=***",
        ),
        (
            vec!["config", "check"],
            vec![("WIRECASH_AUTH_DATABASE", "host=db password='hunter2 x'")],
            "password=***",
        ),
        (
            [&list[..], &["postgres://wa:hunter2@127.0.0.1:1/db"]].concat(),
            vec![],
            "postgres://wa:***@127.0.0.1:1/db",
        ),
        (
            [
                &list[..],
                &["postgres://wa@127.0.0.1:1/db?password=hunter2"],
            ]
            .concat(),
            vec![],
            "password=***",
        ),
        (
            vec![
                "init",
                "--database",
                "postgresql://wa:hunter2@db:notaport/db",
            ],
            vec![],
            "postgresql://wa:***@db:notaport/db",
        ),
        (
            vec!["config", "check", "--database", "mysql://wa:hunter2@db/x"],
            vec![],
            "mysql://wa:***@db/x",
        ),
        (
            vec!["config", "check", "--config", toml],
            vec![],
            "not valid TOML",
        ),
        (
            vec![
                "config",
                "check",
                "--database",
                "postgres://wa:hunter2@db/x",
            ],
            vec![],
            "postgres://wa:***@db/x",
        ),
        (
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database",
                "postgres://wa:hunter2@127.0.0.1:1/db",
            ],
            vec![key],
            "postgres://wa:***@127.0.0.1:1/db",
        ),
    ];
    for (args, envs, instead) in cases {
        let out = crate::support::run_in_bounded(
            dir.path(),
            args,
            envs,
            std::time::Duration::from_secs(60),
        );
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains("hunter2"), "{args:?} {envs:?}:\n{all}");
        assert!(all.contains(instead), "{args:?} {envs:?}:\n{all}");
    }
}

#[tokio::test]
async fn an_empty_password_line_is_refused_alike_by_every_command_that_reads_one() {
    let app = TestApp::spawn().await;
    let add = app.cli(
        &[
            "user",
            "add",
            "erin",
            "--env",
            "sandbox",
            "--password-stdin",
        ],
        Some("\n"),
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("erin.json");
    let token = run_in(
        dir.path(),
        &[
            "token",
            "--url",
            "http://127.0.0.1:9/sandbox",
            "--username",
            "erin",
            "--password-stdin",
            "--cache",
            cache.to_str().unwrap(),
        ],
        Some("\n"),
        &[],
    );
    for out in [add, token] {
        assert!(!out.status.success());
        assert_eq!(
            stderr(&out).trim(),
            "error: --password-stdin: standard input holds no password"
        );
    }
}
