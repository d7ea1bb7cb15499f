//! Two real `wirecash-auth` processes on one PostgreSQL database: every promise of the
//! refresh lifecycle holds across them, and they sign with and publish the same keys.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::server_process::{Server, get_json, post, start_node, terminate};
use crate::support::{Answer, ScratchDb, Tokens, add_user_cli, run_cli, run_cli_with};

const PASSWORD: &str = "multi node password";

struct Cluster {
    dir: TempDir,
    db: ScratchDb,
    nodes: Vec<Server>,
    client: reqwest::Client,
}

impl Cluster {
    /// A scratch database with user `alice`, and two nodes started on it with `envs`.
    async fn start(envs: &[(&str, &str)]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let db = ScratchDb::create(dir.path()).await;
        db.init();
        add_user_cli(&db, "alice", PASSWORD);
        let nodes = ["a", "b"]
            .iter()
            .map(|n| start_node(&dir.path().join(format!("node-{n}.log")), &db, &[], envs))
            .collect();
        Cluster {
            dir,
            db,
            nodes,
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, node: usize, path: &str) -> String {
        format!("{}{path}", self.nodes[node % self.nodes.len()].base)
    }

    async fn login(&self, node: usize) -> Tokens {
        post(
            &self.client,
            self.url(node, "/sandbox/authenticate"),
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await
        .unwrap()
        .tokens()
    }

    async fn refresh(&self, node: usize, t: &Tokens) -> Answer {
        post(
            &self.client,
            self.url(node, "/sandbox/token"),
            json!({"username": "alice", "access_token": t.access_token, "refresh_token": t.refresh_token}),
        )
        .await
        .unwrap()
    }

    async fn jwks(&self, node: usize) -> Value {
        get_json(
            &self.client,
            self.url(node, "/sandbox/.well-known/jwks.json"),
        )
        .await
    }

    /// Stops both nodes and checks that no secret reached their logs.
    fn stop(self, secrets: &[String]) {
        for node in self.nodes {
            assert!(terminate(node).success());
        }
        for n in ["a", "b"] {
            let log =
                std::fs::read_to_string(self.dir.path().join(format!("node-{n}.log"))).unwrap();
            assert!(!log.contains(PASSWORD), "node {n} logged the password");
            for s in secrets {
                assert!(!log.contains(s.as_str()), "node {n} logged a token");
            }
        }
        drop(self.db);
    }
}

fn grace(s: &str) -> [(&str, &str); 1] {
    [("WIRECASH_AUTH_TOKENS_REFRESH_REUSE_GRACE", s)]
}

/// 32 refreshes of `t` at once, alternating between the nodes; answers in send order.
async fn race(c: &Cluster, t: &Tokens) -> Vec<Answer> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..32 {
        let (client, url) = (c.client.clone(), c.url(i, "/sandbox/token"));
        let body = json!({"username": "alice", "access_token": t.access_token, "refresh_token": t.refresh_token});
        set.spawn(async move { (i, post(&client, url, body).await.unwrap()) });
    }
    let mut answers: Vec<(usize, Answer)> = set.join_all().await;
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, a)| a).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_spent_on_one_node_and_replayed_on_the_other_is_reuse() {
    let c = Cluster::start(&grace("0s")).await;
    let t0 = c.login(0).await;
    let t1 = c.refresh(0, &t0).await.tokens();
    let replay = c.refresh(1, &t0).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert_eq!(replay.error(), "invalid_grant");
    assert!(
        replay.body["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{}",
        replay.body
    );
    // The reuse revoked the session: the legitimate successor is dead on both nodes.
    for node in 0..2 {
        let a = c.refresh(node, &t1).await;
        assert_eq!(a.status, 400, "node {node}: {}", a.body);
    }
    let out = run_cli(&c.db, &["session", "list", "--env", "sandbox"], None);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("refresh token reuse"), "{listing}");
    let secrets = [t0.refresh_token, t1.refresh_token, t1.access_token];
    c.stop(&secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_grace_zero_32_racing_refreshes_over_both_nodes_yield_at_most_one_200() {
    let c = Cluster::start(&grace("0s")).await;
    let mut secrets = Vec::new();
    for round in 0..3 {
        let t = c.login(round).await;
        let answers = race(&c, &t).await;
        let ok: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
        for a in &answers {
            assert!(
                a.status == 200 || (a.status == 400 && a.error() == "invalid_grant"),
                "round {round}: {} {}",
                a.status,
                a.body
            );
        }
        assert!(ok.len() <= 1, "round {round}: {} winners", ok.len());
        for a in ok {
            secrets.push(a.tokens().refresh_token);
        }
        secrets.push(t.refresh_token);
    }
    c.stop(&secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_grace_32_racing_refreshes_over_both_nodes_all_get_the_same_successor() {
    let c = Cluster::start(&grace("10s")).await;
    let t = c.login(0).await;
    let answers = race(&c, &t).await;
    let first = answers[0].tokens();
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.tokens().refresh_token, first.refresh_token, "answer {i}");
        assert_eq!(a.tokens().access_token, first.access_token, "answer {i}");
    }
    // The chain goes on from the shared successor, on either node.
    let next = c.refresh(1, &first).await.tokens();
    let after = c.refresh(0, &next).await.tokens();
    let secrets = [
        t.refresh_token,
        first.refresh_token,
        next.refresh_token,
        after.refresh_token,
    ];
    c.stop(&secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_keys_and_a_rotation_reaches_the_other_node_within_the_reload_interval() {
    let timing = [
        ("WIRECASH_AUTH_TOKENS_KEY_RELOAD_INTERVAL", "1s"),
        ("WIRECASH_AUTH_TOKENS_KEY_ACTIVATION_DELAY", "2s"),
    ];
    let c = Cluster::start(&timing).await;
    let t = c.login(0).await;
    let jwks_b = c.jwks(1).await;
    let (claims, old_kid) = crate::jwt::verify(&jwks_b, &t.access_token);
    assert_eq!(claims.custom.username, "alice");
    assert_eq!(c.jwks(0).await, jwks_b, "both nodes publish the same JWKS");

    let out = run_cli_with(&c.db, &["key", "rotate", "--env", "sandbox"], None, &timing);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated = Instant::now();
    // Documented bound: a key written to the database is served by every node within
    // tokens.key_reload_interval (1 s here). Poll well past it to tell slow from never.
    let new_kid = loop {
        let jwks = c.jwks(1).await;
        let kids: Vec<String> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect();
        if let Some(k) = kids.iter().find(|k| **k != old_kid) {
            break k.clone();
        }
        assert!(
            rotated.elapsed() < Duration::from_secs(10),
            "node B never published the new key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seen_after = rotated.elapsed();
    eprintln!("node B published the new key {seen_after:?} after the rotation");
    assert!(
        seen_after < Duration::from_millis(1000 + 1500),
        "published after {seen_after:?}, beyond the 1 s reload interval"
    );
    // After the activation delay both nodes sign with the new key, and each one's tokens
    // verify through the other's JWKS.
    tokio::time::sleep(Duration::from_millis(2000 + 1200).saturating_sub(rotated.elapsed())).await;
    let from_b = c.login(1).await;
    let (_, kid_b) = crate::jwt::verify(&c.jwks(0).await, &from_b.access_token);
    assert_eq!(kid_b, new_kid);
    let from_a = c.refresh(0, &t).await.tokens();
    let (_, kid_a) = crate::jwt::verify(&c.jwks(1).await, &from_a.access_token);
    assert_eq!(kid_a, new_kid);
    // The token signed with the old key still verifies on both.
    crate::jwt::verify(&c.jwks(0).await, &t.access_token);
    let secrets = [
        t.access_token,
        t.refresh_token,
        from_a.refresh_token,
        from_b.refresh_token,
    ];
    c.stop(&secrets);
}

#[tokio::test]
async fn a_node_without_an_explicit_master_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wirecash-auth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db.url])
        .env_remove("WIRECASH_AUTH_MASTER_KEY")
        .env_remove("WIRECASH_AUTH_MASTER_KEY_FILE")
        .env_remove("WIRECASH_AUTH_CONFIG")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WIRECASH_AUTH_MASTER_KEY") && err.contains("master_key_file"),
        "{err}"
    );
    // No key file was invented anywhere.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
