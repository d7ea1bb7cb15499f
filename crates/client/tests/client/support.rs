//! A stand-in HTTP server on 127.0.0.1:0 that records every request it receives and
//! answers with what the test says.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Response, Uri};

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: String,
}

/// A running stand-in; `base` is `http://127.0.0.1:PORT`.
pub struct Stub {
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Stub {
    /// Starts a server answering every request with `respond(&request)`.
    pub async fn serve(
        respond: impl Fn(&Seen) -> Response<Body> + Clone + Send + Sync + 'static,
    ) -> Stub {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            let log = log.clone();
            let respond = respond.clone();
            async move {
                let request = Seen {
                    method: method.to_string(),
                    path: uri.path().to_string(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let answer = respond(&request);
                log.lock().unwrap().push(request);
                answer
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Stub { base, seen }
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests were received.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// An answer with `status`, extra headers and a body.
pub fn answer(status: u16, headers: &[(&str, &str)], body: impl Into<Body>) -> Response<Body> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).unwrap()
}

/// A 200 `AuthenticateResponse` with the given access token.
pub fn tokens(access_token: &str) -> Response<Body> {
    let body = serde_json::json!({
        "access_token": access_token,
        "expires_in": 3600,
        "refresh_token": "refresh-from-stub",
        "token_type": "Bearer",
    });
    answer(
        200,
        &[("content-type", "application/json")],
        body.to_string(),
    )
}
