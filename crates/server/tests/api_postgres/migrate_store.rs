//! `wirecash-auth migrate-store` from SQLite to PostgreSQL: tokens issued on SQLite keep
//! working after the move, spent ones stay spent, revoked sessions stay revoked, users
//! keep their passwords and state, and the copy refuses a destination that is not empty.

use serde_json::json;

use crate::server_process::{get_json, post, start_node, terminate};
use crate::support::{Answer, ScratchDb, Tokens, add_user_cli, run_cli, run_in};

const PASSWORD: &str = "migrating password";

async fn refresh(client: &reqwest::Client, base: &str, t: &Tokens) -> Answer {
    post(
        client,
        format!("{base}/sandbox/token"),
        json!({"username": "alice", "access_token": t.access_token, "refresh_token": t.refresh_token}),
    )
    .await
    .unwrap()
}

async fn login(client: &reqwest::Client, base: &str, user: &str) -> Answer {
    post(
        client,
        format!("{base}/sandbox/authenticate"),
        json!({"username": user, "password": PASSWORD}),
    )
    .await
    .unwrap()
}

async fn jwks(client: &reqwest::Client, base: &str) -> serde_json::Value {
    get_json(client, format!("{base}/sandbox/.well-known/jwks.json")).await
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_issued_on_sqlite_keep_working_after_migrate_store_to_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let old = ScratchDb::sqlite(dir.path());
    old.init();
    for user in ["alice", "bob"] {
        add_user_cli(&old, user, PASSWORD);
    }
    let grace0 = [("WIRECASH_AUTH_TOKENS_REFRESH_REUSE_GRACE", "0s")];
    let client = reqwest::Client::new();

    // Life on SQLite: one chain moves on, one session ends by reuse, bob is disabled.
    let node = start_node(&dir.path().join("sqlite.log"), &old, &[], &grace0);
    let t0 = login(&client, &node.base, "alice").await.tokens();
    let t1 = refresh(&client, &node.base, &t0).await.tokens();
    let t2 = refresh(&client, &node.base, &t1).await.tokens();
    let s0 = login(&client, &node.base, "alice").await.tokens();
    let s1 = refresh(&client, &node.base, &s0).await.tokens();
    assert_eq!(
        refresh(&client, &node.base, &s0).await.status,
        400,
        "reuse on SQLite"
    );
    let old_jwks = jwks(&client, &node.base).await;
    let (_, old_kid) = crate::jwt::verify(&old_jwks, &t2.access_token);
    assert!(terminate(node).success());
    ok(&run_cli(
        &old,
        &["user", "disable", "bob", "--env", "sandbox"],
        None,
    ));
    let added = ok(&run_cli(
        &old,
        &["introspector", "add", "orders-api", "--env", "sandbox"],
        None,
    ));
    let secret = added
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();

    // The move. The new nodes use the SQLite key file as their master key file.
    let new = ScratchDb::create(dir.path())
        .await
        .with_master_key_file(dir.path().join("test.db.key"));
    let migrate = ["migrate-store", "--from", &old.url, "--to", &new.url];
    let out = ok(&run_in(dir.path(), &migrate, None, &[]));
    assert!(
        out.contains("copied 2 users, 2 signing keys, 1 introspectors and 2 sessions"),
        "{out}"
    );
    // Copying again into the now filled database is refused.
    let again = run_in(dir.path(), &migrate, None, &[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // Life on PostgreSQL.
    let node = start_node(&dir.path().join("pg.log"), &new, &[], &grace0);
    assert_eq!(
        jwks(&client, &node.base).await,
        old_jwks,
        "the same keys are published"
    );
    crate::jwt::verify(&jwks(&client, &node.base).await, &t2.access_token);
    let t3 = refresh(&client, &node.base, &t2).await.tokens();
    let (claims, kid) = crate::jwt::verify(&jwks(&client, &node.base).await, &t3.access_token);
    assert_eq!(kid, old_kid, "the migrated key signs");
    // The introspector came along, with its secret.
    let introspected = client
        .post(format!("{}/sandbox/introspect", node.base))
        .basic_auth("orders-api", Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::support::form_body(&[("token", &t3.access_token)]))
        .send()
        .await
        .unwrap();
    let introspected = crate::support::answer(introspected).await;
    assert_eq!(introspected.body["active"], true, "{}", introspected.body);
    assert_eq!(claims.custom.username, "alice");
    // The session revoked on SQLite stays revoked.
    assert_eq!(refresh(&client, &node.base, &s1).await.status, 400);
    // Passwords and user state came along.
    assert_eq!(login(&client, &node.base, "alice").await.status, 200);
    let bob = login(&client, &node.base, "bob").await;
    assert_eq!(bob.status, 400, "disabled bob logged in: {}", bob.body);
    // A token spent on SQLite is reuse on PostgreSQL and ends that session.
    let spent = refresh(&client, &node.base, &t1).await;
    assert_eq!(spent.status, 400);
    assert!(
        spent.body["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    assert_eq!(refresh(&client, &node.base, &t3).await.status, 400);
    assert!(terminate(node).success());

    for log in ["sqlite.log", "pg.log"] {
        let text = std::fs::read_to_string(dir.path().join(log)).unwrap();
        for secret in [
            PASSWORD,
            &t2.refresh_token,
            &t3.refresh_token,
            &t3.access_token,
            &secret,
        ] {
            assert!(!text.contains(secret), "{log} holds a secret");
        }
    }
}
