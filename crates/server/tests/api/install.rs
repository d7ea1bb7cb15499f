//! Making, finding and owning an installation with the real binary.

// Only `serve` and `init` make one, and only where the directory exists; every other
// command refuses a missing database; `serve` binds before it creates anything; one
// process serves an SQLite file; the files are created owner-only under umask 022.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::server_process::{post, start, start_node_via, terminate};
use crate::support::{ScratchDb, ok_stdout, run_cli, run_in, run_in_bounded, stderr};

const LIMIT: Duration = Duration::from_secs(30);

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn commands_on_a_missing_database_fail_naming_it_and_init_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["user", "list", "--env", "sandbox"][..],
        &["session", "list", "--env", "sandbox"],
        &["key", "rotate", "--env", "sandbox"],
        &["introspector", "list", "--env", "sandbox"],
    ] {
        let out = run_in(dir.path(), args, None, &[]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.contains("wirecash-auth.db") && err.contains("wirecash-auth init"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(listing(dir.path()), Vec::<String>::new(), "nothing created");
    // A typo in a directory: neither serve nor init makes it.
    for command in ["serve", "init"] {
        let out = run_in_bounded(
            dir.path(),
            &[command, "--database", "sqlite://nodir/sub/w.db"],
            &[("WIRECASH_AUTH_LISTEN", "127.0.0.1:0")],
            LIMIT,
        );
        let err = stderr(&out);
        assert!(!out.status.success(), "{command}: {err}");
        assert!(
            err.contains("nodir/sub") && err.contains("does not exist"),
            "{command}: {err}"
        );
    }
    assert_eq!(listing(dir.path()), Vec::<String>::new(), "nothing created");
}

#[tokio::test]
async fn init_provisions_before_the_first_start_and_only_a_first_serve_announces_itself() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::sqlite(dir.path());
    let out = ok_stdout(&run_cli(&db, &["init"], None));
    assert!(
        out.contains("initialised a new wirecash-auth installation"),
        "{out}"
    );
    assert!(out.contains("test.db.key"), "{out}");
    let keys = ok_stdout(&run_cli(&db, &["key", "list", "--env", "sandbox"], None));
    // Again: nothing happens, the key stays the only one.
    let again = ok_stdout(&run_cli(&db, &["init"], None));
    assert!(again.contains("nothing to do"), "{again}");
    assert_eq!(
        ok_stdout(&run_cli(&db, &["key", "list", "--env", "sandbox"], None)),
        keys
    );
    ok_stdout(&run_cli(
        &db,
        &[
            "user",
            "add",
            "alice",
            "--env",
            "sandbox",
            "--password-stdin",
        ],
        Some("provisioned password\n"),
    ));
    let server = start(dir.path(), &db, "10s");
    let client = reqwest::Client::new();
    let a = post(
        &client,
        format!("{}/sandbox/authenticate", server.base),
        json!({"username": "alice", "password": "provisioned password"}),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    // init while it runs: still nothing to do, no error.
    let during = ok_stdout(&run_cli(&db, &["init"], None));
    assert!(during.contains("nothing to do"), "{during}");
    assert!(terminate(server).success());
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(!log.contains("NEW wirecash-auth installation"), "{log}");

    // A first start where there is nothing: one loud line, and only the first time.
    let fresh = tempfile::tempdir().unwrap();
    let db = ScratchDb::sqlite(fresh.path());
    for _ in 0..2 {
        assert!(terminate(start(fresh.path(), &db, "10s")).success());
    }
    let log = std::fs::read_to_string(fresh.path().join("server.log")).unwrap();
    let announced: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("NEW wirecash-auth installation"))
        .collect();
    assert_eq!(announced.len(), 1, "{log}");
    assert!(
        announced[0].contains("WARN") && announced[0].contains("test.db.key"),
        "{}",
        announced[0]
    );
}

#[test]
fn serve_on_a_port_in_use_creates_nothing_and_suggests_listen() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run_in_bounded(dir.path(), &["serve", "--listen", &addr], &[], LIMIT);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains(&addr) && err.contains("--listen"), "{err}");
    assert_eq!(listing(dir.path()), Vec::<String>::new(), "nothing created");
}

#[tokio::test]
async fn one_process_serves_an_sqlite_file_and_migrate_store_will_not_copy_a_served_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::sqlite(dir.path());
    let server = start(dir.path(), &db, "10s");
    let pid = server.child.id().to_string();
    let second = run_in_bounded(
        dir.path(),
        &["serve", "--listen", "127.0.0.1:0", "--database", &db.url],
        &[],
        LIMIT,
    );
    let err = stderr(&second);
    assert!(!second.status.success(), "a second server started");
    assert!(err.contains("in use") && err.contains(&pid), "{err}");
    let copy = format!("sqlite://{}", dir.path().join("copy.db").display());
    let migrate = ["migrate-store", "--from", &db.url, "--to", &copy];
    let out = run_in_bounded(dir.path(), &migrate, &[], LIMIT);
    let err = stderr(&out);
    assert!(!out.status.success(), "copied a served database");
    assert!(err.contains("--from") && err.contains(&pid), "{err}");
    assert!(!dir.path().join("copy.db").exists());
    // The admin commands still work beside the server.
    ok_stdout(&run_cli(&db, &["user", "list", "--env", "sandbox"], None));
    assert!(terminate(server).success());
    let out = ok_stdout(&run_in(dir.path(), &migrate, None, &[]));
    assert!(out.contains("copied 0 users, 2 signing keys"), "{out}");
}

/// SPEC §10: under the common umask 022 the database, its WAL and shared memory, the
/// key file and the lock file are 0600; an existing file that others can read is
/// reported at start-up.
#[tokio::test]
async fn database_files_are_owner_only_under_umask_022_and_readable_ones_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::sqlite(dir.path());
    let umask = ["sh", "-c", "umask 022 && exec \"$0\" \"$@\""];
    let log = dir.path().join("server.log");
    let server = start_node_via(&umask, &log, &db, &[], &[]);
    for file in [
        "test.db",
        "test.db-wal",
        "test.db-shm",
        "test.db.key",
        "test.db.lock",
    ] {
        assert_eq!(mode(&dir.path().join(file)), 0o600, "{file}");
    }
    assert!(terminate(server).success());
    assert!(
        !std::fs::read_to_string(&log)
            .unwrap()
            .contains("readable by other")
    );
    std::fs::set_permissions(
        dir.path().join("test.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let server = start_node_via(&umask, &log, &db, &[], &[]);
    assert!(terminate(server).success());
    let log = std::fs::read_to_string(&log).unwrap();
    let warning = log
        .lines()
        .find(|l| l.contains("readable by other"))
        .unwrap_or_else(|| panic!("no warning: {log}"));
    assert!(
        warning.contains("WARN") && warning.contains("test.db") && warning.contains("644"),
        "{warning}"
    );
}

#[tokio::test]
async fn serve_warns_at_start_up_about_a_key_activation_delay_below_reload_plus_jwks_cache() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::sqlite(dir.path());
    let server = crate::server_process::start_node(
        &dir.path().join("server.log"),
        &db,
        &[],
        &[
            ("WIRECASH_AUTH_TOKENS_KEY_ACTIVATION_DELAY", "15s"),
            ("WIRECASH_AUTH_TOKENS_KEY_RELOAD_INTERVAL", "20s"),
        ],
    );
    assert!(terminate(server).success());
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let warning = log
        .lines()
        .find(|l| l.contains("key_activation_delay"))
        .unwrap_or_else(|| panic!("no warning: {log}"));
    for number in ["WARN", "(15s)", "(20s)", "(30s)", "= 50s"] {
        assert!(warning.contains(number), "{number}: {warning}");
    }
}
