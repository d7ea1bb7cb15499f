//! A test proxy between a client and the app: it counts requests by method and path,
//! and on request cuts the connection after the app has answered (the answer is lost on
//! the way back) or answers in the app's place (a canned 503).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

type Hook = Box<dyn FnOnce() + Send>;

enum Rule {
    /// Forward, wait for the whole answer, run the hook, then close without answering.
    DropAnswer(Hook),
    /// Answer with these bytes without forwarding.
    Canned(Vec<u8>),
    /// Forward, and pass the answer on only once the sender is used or dropped.
    Hold(tokio::sync::oneshot::Receiver<()>),
}

#[derive(Default)]
struct Shared {
    counts: HashMap<String, usize>,
    rules: HashMap<String, VecDeque<Rule>>,
}

/// The proxy; `base` replaces the app's base URL.
pub struct Proxy {
    pub base: String,
    shared: Arc<Mutex<Shared>>,
}

impl Proxy {
    /// A proxy in front of `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(conn, upstream, s.clone()));
            }
        });
        Proxy {
            base: format!("http://{addr}"),
            shared,
        }
    }

    /// Requests seen for `what`, e.g. `"POST /sandbox/token"`.
    pub fn count(&self, what: &str) -> usize {
        self.shared
            .lock()
            .unwrap()
            .counts
            .get(what)
            .copied()
            .unwrap_or(0)
    }

    /// The next request for `what` reaches the app, but its answer is lost: the
    /// connection is closed after `hook` has run.
    pub fn drop_next_answer(&self, what: &str, hook: impl FnOnce() + Send + 'static) {
        self.push(what, Rule::DropAnswer(Box::new(hook)));
    }

    /// The next request for `what` gets a 503 in the app's error format, with
    /// `Retry-After: 0`, and does not reach the app.
    pub fn unavailable_next(&self, what: &str) {
        let body = r#"{"error":"temporarily_unavailable","error_description":"the service is temporarily unavailable; retry shortly"}"#;
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 0\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        self.push(what, Rule::Canned(response.into_bytes()));
    }

    /// The next request for `what` reaches the app, but its answer is held back until
    /// the returned sender is used (or dropped).
    pub fn hold_next_answer(&self, what: &str) -> tokio::sync::oneshot::Sender<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.push(what, Rule::Hold(rx));
        tx
    }

    fn push(&self, what: &str, rule: Rule) {
        self.shared
            .lock()
            .unwrap()
            .rules
            .entry(what.to_string())
            .or_default()
            .push_back(rule);
    }
}

async fn serve(client: TcpStream, upstream: SocketAddr, shared: Arc<Mutex<Shared>>) {
    let (client_read, mut client_write) = client.into_split();
    let mut client_read = BufReader::new(client_read);
    let mut server: Option<(
        BufReader<tokio::net::tcp::OwnedReadHalf>,
        tokio::net::tcp::OwnedWriteHalf,
    )> = None;
    loop {
        let Some(request) = read_message(&mut client_read).await else {
            return;
        };
        let what = request_line(&request);
        let rule = {
            let mut s = shared.lock().unwrap();
            *s.counts.entry(what.clone()).or_default() += 1;
            s.rules.get_mut(&what).and_then(VecDeque::pop_front)
        };
        if let Some(Rule::Canned(bytes)) = rule {
            if client_write.write_all(&bytes).await.is_err() {
                return;
            }
            continue;
        }
        if server.is_none() {
            let conn = TcpStream::connect(upstream).await.unwrap();
            let (r, w) = conn.into_split();
            server = Some((BufReader::new(r), w));
        }
        let Some((server_read, server_write)) = server.as_mut() else {
            return;
        };
        if server_write.write_all(&request).await.is_err() {
            return;
        }
        let Some(response) = read_message(server_read).await else {
            return;
        };
        match rule {
            Some(Rule::DropAnswer(hook)) => {
                hook();
                // Dropping both halves closes the connection: the client sees it end
                // before any byte of the answer.
                return;
            }
            Some(Rule::Hold(release)) => {
                let _ = release.await;
            }
            _ => {}
        }
        if client_write.write_all(&response).await.is_err() {
            return;
        }
    }
}

fn request_line(message: &[u8]) -> String {
    let line = message.split(|b| *b == b'\r').next().unwrap_or_default();
    let text = String::from_utf8_lossy(line);
    let mut parts = text.split(' ');
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    format!("{method} {path}")
}

/// One HTTP/1.1 message (head and `Content-Length` body); `None` at end of stream.
async fn read_message<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> Option<Vec<u8>> {
    let mut message = Vec::new();
    loop {
        let before = message.len();
        let n = reader.read_until(b'\n', &mut message).await.ok()?;
        if n == 0 {
            return None;
        }
        if &message[before..] == b"\r\n" {
            break;
        }
    }
    let head = String::from_utf8_lossy(&message).to_ascii_lowercase();
    assert!(
        !head.contains("transfer-encoding: chunked"),
        "the test proxy only speaks Content-Length"
    );
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().unwrap())
        .unwrap_or(0);
    let start = message.len();
    message.resize(start + length, 0);
    reader.read_exact(&mut message[start..]).await.ok()?;
    Some(message)
}
