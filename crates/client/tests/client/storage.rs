//! Item 7 of issue #17: the session file across processes and mishaps.

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use wirecash_client::{
    Client, Error, FileTokenStore, MemoryTokenStore, Session, StoredSession, TokenStore, Tokens,
};

use crate::support::{Stub, answer, tokens};

fn tokens_of(refresh: &str, expires_at_ms: i64) -> Tokens {
    Tokens {
        username: "alice".into(),
        access_token: "a.b.c".into(),
        refresh_token: refresh.into(),
        expires_in: 3600,
        expires_at_ms,
    }
}

fn stored(client: &Client, refresh: &str, expires_at_ms: i64) -> StoredSession {
    StoredSession {
        version: 1,
        base_url: client.base_url().to_string(),
        tokens: tokens_of(refresh, expires_at_ms),
    }
}

#[tokio::test]
async fn an_ended_session_does_not_delete_a_fresher_one_another_process_saved() {
    let stub = Stub::serve(|_| {
        answer(
            400,
            &[("content-type", "application/json")],
            r#"{"error":"invalid_grant","error_description":"the session has been revoked; authenticate again"}"#,
        )
    })
    .await;
    let client = Client::builder().sandbox(&stub.base).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.json");
    FileTokenStore::new(&path)
        .save(&stored(&client, "r-ours", 0))
        .unwrap();
    let session = Session::builder(client.clone(), "alice")
        .store(FileTokenStore::new(&path))
        .build()
        .unwrap();
    // Meanwhile another process (with a password) started a new session and saved it.
    let theirs = stored(&client, "r-theirs", i64::MAX / 2);
    FileTokenStore::new(&path).save(&theirs).unwrap();

    let e = session.token().await.unwrap_err();
    assert!(matches!(e, Error::SessionEnded(_)), "{e:?}");
    assert_eq!(
        FileTokenStore::new(&path).load().unwrap(),
        Some(theirs),
        "the other process's session was deleted"
    );
    // What did end, and is still stored, is deleted.
    FileTokenStore::new(&path)
        .save(&stored(&client, "r-expired", 0))
        .unwrap();
    let session = Session::builder(client.clone(), "alice")
        .store(FileTokenStore::new(&path))
        .build()
        .unwrap();
    session.token().await.unwrap_err();
    assert_eq!(FileTokenStore::new(&path).load().unwrap(), None);
}

#[tokio::test]
async fn a_corrupt_or_too_open_file_with_a_password_starts_a_fresh_session() {
    let stub = Stub::serve(|_| tokens("eyJ.fresh.session")).await;
    let client = Client::builder().sandbox(&stub.base).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.json");
    let good = serde_json::to_vec(&stored(&client, "r-old", i64::MAX / 2)).unwrap();
    for (content, mode) in [(b"{not json".to_vec(), 0o600), (good, 0o644)] {
        std::fs::write(&path, &content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();

        // Without a password there is nothing to start from: the error says why.
        let e = Session::builder(client.clone(), "alice")
            .store(FileTokenStore::new(&path))
            .build()
            .unwrap_err();
        assert!(
            matches!(&e, Error::Config(m) if m.contains("alice.json") && m.contains("password")),
            "{e:?}"
        );
        // With one, a new session replaces the unusable file.
        let session = Session::builder(client.clone(), "alice")
            .password("pw")
            .store(FileTokenStore::new(&path))
            .build()
            .unwrap();
        assert_eq!(session.token().await.unwrap().as_str(), "eyJ.fresh.session");
        let now = FileTokenStore::new(&path).load().unwrap().unwrap();
        assert_eq!(now.tokens.access_token, "eyJ.fresh.session");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(stub.count(), 2, "one authenticate per fresh session");
}

/// Records the thread of every call.
#[derive(Default)]
struct Recording {
    inner: MemoryTokenStore,
    threads: Mutex<Vec<(&'static str, ThreadId)>>,
}

impl Recording {
    fn note(&self, what: &'static str) {
        self.threads
            .lock()
            .unwrap()
            .push((what, std::thread::current().id()));
    }
}

struct RecordingStore(Arc<Recording>);

impl TokenStore for RecordingStore {
    fn load(&self) -> Result<Option<StoredSession>, Error> {
        self.0.note("load");
        self.0.inner.load()
    }
    fn save(&self, session: &StoredSession) -> Result<(), Error> {
        self.0.note("save");
        self.0.inner.save(session)
    }
    fn clear(&self) -> Result<(), Error> {
        self.0.note("clear");
        self.0.inner.clear()
    }
}

#[tokio::test]
async fn with_build_async_every_store_call_runs_off_the_runtime_thread() {
    let stub = Stub::serve(|_| tokens("eyJ.a.b")).await;
    let client = Client::builder().sandbox(&stub.base).build().unwrap();
    let store = Arc::new(Recording::default());
    let session = Session::builder(client, "alice")
        .password("pw")
        .store(RecordingStore(store.clone()))
        .build_async()
        .await
        .unwrap();
    session.token().await.unwrap();
    let calls = store.threads.lock().unwrap().clone();
    let kinds: Vec<&str> = calls.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, ["load", "save"]);
    let here = std::thread::current().id();
    assert!(
        calls.iter().all(|(_, t)| *t != here),
        "a store call ran on the runtime's thread: {calls:?}"
    );
}
