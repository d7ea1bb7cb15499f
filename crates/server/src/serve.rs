//! The accept loop: the transport limits `axum::serve` does not offer (connection cap,
//! header deadline, header buffer), TLS with ALPN, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::STRICT_TRANSPORT_SECURITY;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::{Service, ServiceExt as _};

use crate::framing::{JsonAnswers, MAX_HEADER_BYTES};
use crate::http::hold::ConnectionHold;
use crate::tls::Tls;

/// How long requests in flight may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Streams one HTTP/2 connection may have open at once (RFC 9113 §6.5.2 advises at
/// least 100; a token request is short, so more buys a client nothing).
const MAX_H2_STREAMS: u32 = 100;
/// After an idle HTTP/2 connection was sent GOAWAY: how long it may stay without a
/// request before it is dropped (a live client closes it at once).
const H2_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The transport limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deadline for a request's headers (and for an idle keep-alive connection, and for
    /// a TLS handshake).
    pub header_read_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

/// What every connection task needs besides the app.
struct Transport {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    tls: Option<Arc<Tls>>,
    limits: Limits,
}

/// The accept loop, with the transport limits `axum::serve` does not offer: a cap on
/// open connections (beyond it new ones are closed at once), a deadline for a request's
/// headers — which also closes idle keep-alive connections — and a bound on the header
/// buffer. A client that trickles its headers (slowloris) or holds connections open idle
/// is cut off after `header_read_timeout`, and can never hold more than
/// `max_connections` slots. Plain HTTP is HTTP/1.1 only (HTTP/2 without TLS is left out
/// because its protocol detection reads the first bytes with no deadline). With TLS the
/// handshake has the same deadline, ALPN picks HTTP/1.1 or HTTP/2, and an HTTP/2
/// connection without a request in flight is closed after the same time. Graceful
/// shutdown.
///
/// Serves `app` on `listener` (over TLS when `tls` is given) until `shutdown`
/// completes, then lets requests in flight finish (at most 30 s).
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let mut http1 = http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    let mut http2 = http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_H2_STREAMS)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        // Pings find dead peers; one unanswered for this long closes the connection.
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    let transport = Arc::new(Transport {
        http1,
        http2,
        tls,
        limits,
    });
    let max = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(max as usize));
    let (stop, stopped) = watch::channel(false);
    let mut full_logged = false;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if !full_logged {
                tracing::warn!(
                    max = limits.max_connections,
                    "connection limit reached; closing new connections"
                );
                full_logged = true;
            }
            drop(stream);
            continue;
        };
        full_logged = false;
        tokio::spawn(connection(
            Arc::clone(&transport),
            app.clone(),
            stream,
            peer,
            stopped.clone(),
            slot,
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    // Every slot back means every connection has ended.
    tokio::select! {
        _ = slots.acquire_many(max) => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("requests still running {DRAIN_TIMEOUT:?} after the shutdown signal; stopping anyway");
        }
    }
    Ok(())
}

/// One connection, holding its slot until it ends.
async fn connection<S>(
    transport: Arc<Transport>,
    app: S,
    stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let _ = stream.set_nodelay(true);
    let Some(tls) = &transport.tls else {
        let service = service(app, peer, None, None);
        let conn = transport
            .http1
            .serve_connection(TokioIo::new(JsonAnswers::new(stream)), service);
        return drive(conn, stop, None).await;
    };
    // The handshake is under the header deadline: a client that sends nothing, or
    // stalls half-way, holds its slot no longer than one that trickles its headers.
    let mut stream = stream;
    let handshake = tokio::time::timeout(transport.limits.header_read_timeout, async {
        if crate::tls::answer_plain_http(&mut stream).await {
            return Err(std::io::Error::other(
                "plain HTTP on the HTTPS port: answered 400",
            ));
        }
        tls.acceptor().accept(stream).await
    });
    let stream = tokio::select! {
        result = handshake => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::trace!(error = %e, %peer, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::trace!(%peer, "TLS handshake timed out");
                return;
            }
        },
        () = stopped(&mut stop) => return,
    };
    let hsts = Some(tls.hsts().clone());
    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        let activity = Arc::new(Activity::new());
        let service = service(app, peer, hsts, Some(Arc::clone(&activity)));
        let conn = transport
            .http2
            .serve_connection(TokioIo::new(stream), service);
        let idle = (activity, transport.limits.header_read_timeout);
        drive(conn, stop, Some(idle)).await;
    } else {
        let service = service(app, peer, hsts, None);
        let conn = transport
            .http1
            .serve_connection(TokioIo::new(JsonAnswers::new(stream)), service);
        drive(conn, stop, None).await;
    }
}

/// The app as a hyper service for one connection: the peer address (`ConnectInfo`) and
/// the connection's `Retry-After` hold go into each request, HSTS onto every response
/// of a TLS connection.
fn service<S>(
    app: S,
    peer: SocketAddr,
    hsts: Option<HeaderValue>,
    activity: Option<Arc<Activity>>,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
> + Clone
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let hold = ConnectionHold::new();
    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        // Counted from the moment the request is handed over, not when it first runs.
        let in_flight = activity.as_ref().map(|a| InFlight::start(Arc::clone(a)));
        let app = app.clone();
        let hsts = hsts.clone();
        let hold = hold.clone();
        async move {
            let _in_flight = in_flight;
            let mut request = request.map(axum::body::Body::new);
            if let Some(refused) = crate::framing::header_section_too_large(&request) {
                return Ok(refused);
            }
            let extensions = request.extensions_mut();
            extensions.insert(ConnectInfo::<SocketAddr>(peer));
            extensions.insert(hold);
            let mut response = app.oneshot(request).await?;
            if let Some(value) = hsts {
                response
                    .headers_mut()
                    .insert(STRICT_TRANSPORT_SECURITY, value);
            }
            Ok(response)
        }
    })
}

/// Runs a connection to its end. On the server's shutdown it is asked to finish
/// gracefully; with `idle` (HTTP/2, which has no header deadline of its own) it is also
/// asked to when no request has been in flight for that long, and dropped when it
/// still has none `H2_CLOSE_GRACE` later (a client that never sent its preface, or
/// ignores GOAWAY).
async fn drive<C>(conn: C, mut stop: watch::Receiver<bool>, idle: Option<(Arc<Activity>, Duration)>)
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    tokio::pin!(conn);
    let mut stopping = false;
    let mut closing_since: Option<Instant> = None;
    loop {
        let (idle_ref, closing) = (&idle, closing_since);
        let idle_wait = async move {
            match (idle_ref, closing) {
                (Some((activity, period)), None) => activity.idle_for(*period, None).await,
                (Some((activity, _)), Some(since)) => {
                    activity.idle_for(H2_CLOSE_GRACE, Some(since)).await;
                }
                (None, _) => std::future::pending().await,
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = stopped(&mut stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = idle_wait => {
                if closing_since.is_some() {
                    tracing::trace!("idle HTTP/2 connection dropped");
                    return;
                }
                closing_since = Some(Instant::now());
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Completes once the server is shutting down (or gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Requests of one HTTP/2 connection: how many are in flight, and when the last one
/// ended (or the connection started).
struct Activity {
    started: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn last(&self) -> Instant {
        self.started + Duration::from_millis(self.last_ms.load(Ordering::Acquire))
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(ms, Ordering::AcqRel);
    }

    /// Completes once no request has been in flight for `period`, counted from the
    /// last request's end or `since`, whichever is later.
    async fn idle_for(&self, period: Duration, since: Option<Instant>) {
        loop {
            let base = since.map_or(self.last(), |s| s.max(self.last()));
            let busy = self.in_flight.load(Ordering::Acquire) > 0;
            let now = Instant::now();
            if !busy && now >= base + period {
                return;
            }
            // A request in flight: look again a period later (its end moves `last`).
            let wake = if busy { now + period } else { base + period };
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// One request in flight on an HTTP/2 connection.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.touch();
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
