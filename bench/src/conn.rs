//! The HTTP/1.1 keep-alive connections the load loops post JSON through: a bare hyper
//! `client::conn::http1` connection (the default, cheapest) or a reqwest client (to
//! compare what a full-featured client costs in CPU on the same box).

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Which client library a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// hyper 1.x `client::conn::http1`, one TCP connection per loop, no pool.
    Hyper,
    /// reqwest 0.13 (HTTP/1.1 only), one shared client and its connection pool.
    Reqwest,
}

/// Where the service is, parsed once from `--url`.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`, for `TcpStream::connect` and the `Host` header.
    authority: String,
    /// The `--url` without a trailing slash, for reqwest.
    base: String,
    /// The path prefix of `--url` (usually empty) followed by `/{env}`.
    prefix: String,
}

impl Target {
    /// Checks `url` (plain `http://`; a load test over loopback needs no TLS).
    pub fn parse(url: &str, env: &str) -> anyhow::Result<Self> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("invalid --url {url:?}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("--url must start with http:// (got {url:?})");
        }
        let Some(authority) = uri.authority() else {
            bail!("--url has no host: {url:?}");
        };
        let authority = if authority.port().is_some() {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let path = uri.path().trim_end_matches('/');
        Ok(Self {
            authority,
            base: url.trim_end_matches('/').to_owned(),
            prefix: format!("{path}/{env}"),
        })
    }

    /// The request path of `/{env}/{endpoint}`.
    pub fn path(&self, endpoint: &str) -> String {
        format!("{}/{endpoint}", self.prefix)
    }
}

/// A shared part that every loop's [`Conn`] is made from.
#[derive(Clone)]
pub enum Connector {
    /// Each loop dials its own connection.
    Hyper(Target),
    /// All loops share one pooled client.
    Reqwest(Target, reqwest::Client),
}

impl Connector {
    /// Prepares clients of `kind` for `target`.
    pub fn new(kind: ClientKind, target: Target, timeout: Duration) -> anyhow::Result<Self> {
        Ok(match kind {
            ClientKind::Hyper => Connector::Hyper(target),
            ClientKind::Reqwest => {
                let client = reqwest::Client::builder()
                    .http1_only()
                    .tcp_nodelay(true)
                    .timeout(timeout)
                    .build()
                    .context("building the reqwest client")?;
                Connector::Reqwest(target, client)
            }
        })
    }

    /// A connection for one loop; the hyper one is dialled on first use.
    pub fn conn(&self) -> Conn {
        match self {
            Connector::Hyper(target) => Conn::Hyper {
                target: target.clone(),
                host: HeaderValue::from_str(&target.authority).ok(),
                sender: None,
            },
            Connector::Reqwest(target, client) => Conn::Reqwest {
                base: target.base.clone(),
                client: client.clone(),
            },
        }
    }
}

/// One loop's way to the server.
pub enum Conn {
    /// A single keep-alive connection, redialled after any transport error.
    Hyper {
        /// Where to dial.
        target: Target,
        /// The `Host` header value.
        host: Option<HeaderValue>,
        /// The open connection, if any.
        sender: Option<SendRequest<Full<Bytes>>>,
    },
    /// A handle on the shared pooled client.
    Reqwest {
        /// `--url` without a trailing slash.
        base: String,
        /// The shared client.
        client: reqwest::Client,
    },
}

/// A status code and the whole response body.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response body.
    pub body: Bytes,
}

impl Conn {
    /// Forgets the connection after a request was abandoned half-way.
    pub fn reset(&mut self) {
        if let Conn::Hyper { sender, .. } = self {
            *sender = None;
        }
    }

    /// POSTs a JSON `body` to `path` and reads the whole answer.
    pub async fn post(&mut self, path: &str, body: Vec<u8>) -> anyhow::Result<Reply> {
        match self {
            Conn::Hyper {
                target,
                host,
                sender,
            } => {
                let result = hyper_post(target, host.as_ref(), sender, path, body).await;
                if result.is_err() {
                    // The connection's state is unknown after an error: start afresh.
                    *sender = None;
                }
                result
            }
            Conn::Reqwest { base, client } => {
                let resp = client
                    .post(format!("{base}{path}"))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await?;
                let status = resp.status().as_u16();
                let body = resp.bytes().await?;
                Ok(Reply { status, body })
            }
        }
    }
}

async fn hyper_post(
    target: &Target,
    host: Option<&HeaderValue>,
    sender: &mut Option<SendRequest<Full<Bytes>>>,
    path: &str,
    body: Vec<u8>,
) -> anyhow::Result<Reply> {
    let ready = match sender.as_mut() {
        Some(s) => s.ready().await.is_ok(),
        None => false,
    };
    if !ready {
        *sender = Some(dial(target).await?);
    }
    let Some(s) = sender.as_mut() else {
        bail!("no connection");
    };
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(host) = host {
        req = req.header(HOST, host.clone());
    }
    let req = req.body(Full::new(Bytes::from(body)))?;
    let resp = s.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok(Reply { status, body })
}

impl Target {
    /// The `host:port` to dial.
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

/// POSTs a JSON `body` to `path` on a connection of its own, dialled from `source` (an
/// address of the loopback range: 127.0.0.0/8 is all this machine's), with
/// `Connection: close`: one request per connection, as a flood from many hosts that
/// never reuses a connection looks to the server.
pub async fn post_fresh(
    server: std::net::SocketAddr,
    source: std::net::IpAddr,
    path: &str,
    body: Vec<u8>,
) -> anyhow::Result<Reply> {
    let socket = match source {
        std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket
        .bind(std::net::SocketAddr::new(source, 0))
        .with_context(|| format!("binding {source}"))?;
    let stream = socket
        .connect(server)
        .await
        .with_context(|| format!("connecting to {server} from {source}"))?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(HOST, HeaderValue::from_str(&server.to_string())?)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(hyper::header::CONNECTION, HeaderValue::from_static("close"))
        .body(Full::new(Bytes::from(body)))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    drop(sender);
    let _ = driver.await;
    Ok(Reply { status, body })
}

async fn dial(target: &Target) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(&target.authority)
        .await
        .with_context(|| format!("connecting to {}", target.authority))?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection future drives the socket; it ends when the sender is dropped or
    // the server closes, and its error (if any) surfaces through `send_request`.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.ready().await?;
    Ok(sender)
}
