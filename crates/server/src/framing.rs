//! Errors below the application in the §2 JSON shape (SPEC §9): the answers hyper
//! writes by itself for an HTTP/1 request it cannot parse, and the header-section limit.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::Request;
use axum::response::{IntoResponse as _, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wirecash_proto::ErrorBody;

use crate::error::ApiError;

/// Largest header section of a request (request line and headers), over HTTP/1 and
/// HTTP/2 alike; hyper's own read buffer is capped at this too, but what it lets through
/// depends on how the bytes arrive, so the limit is also counted here.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// A 431 for a request whose header section is over `MAX_HEADER_BYTES`, counted as on
/// the wire (`Name: value\r\n` per header, and the request line).
pub fn header_section_too_large(request: &Request) -> Option<Response> {
    let line = request.method().as_str().len() + displayed_len(request.uri()) + 12;
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    (line + headers > MAX_HEADER_BYTES)
        .then(|| ApiError::HeadersTooLarge(MAX_HEADER_BYTES).into_response())
}

/// The length of `value` as displayed, counted without building the string (this runs
/// for every request).
fn displayed_len(value: &impl std::fmt::Display) -> usize {
    struct Count(usize);
    impl std::fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = std::fmt::write(&mut count, format_args!("{value}"));
    count.0
}

/// The answers hyper writes by itself when an HTTP/1 request does not parse: a status
/// line and `content-length: 0`, then it closes the connection.
const AUTOMATIC: &[(&[u8], &str, &str)] = &[
    (
        b"HTTP/1.1 400 Bad Request\r\n",
        "400 Bad Request",
        "the request is not valid HTTP/1.1 (a malformed request line or header, or \
         conflicting Content-Length headers)",
    ),
    (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        "431 Request Header Fields Too Large",
        "the request's header section is larger than 65536 bytes",
    ),
    (
        b"HTTP/1.1 414 URI Too Long\r\n",
        "414 URI Too Long",
        "the request target is too long",
    ),
];

/// The JSON answer that replaces `written` if it is one of hyper's automatic answers:
/// a head alone, of one of those statuses, with no content type and no body (every
/// answer of the application has a JSON body).
fn replacement(written: &[u8]) -> Option<Vec<u8>> {
    let (_, status, description) = AUTOMATIC
        .iter()
        .find(|(line, _, _)| written.starts_with(line))?;
    let end = written.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != written.len() {
        return None;
    }
    let head = String::from_utf8_lossy(&written[..end]).to_ascii_lowercase();
    if !head.contains("\r\ncontent-length: 0") || head.contains("\r\ncontent-type:") {
        return None;
    }
    let body = serde_json::to_vec(&ErrorBody {
        error: "invalid_request".into(),
        error_description: (*description).into(),
    })
    .ok()?;
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncache-control: no-store\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

/// An HTTP/1 connection's stream that turns hyper's automatic answers into JSON ones.
/// Writes are not vectored, so hyper hands each answer's head over in one buffer
/// starting at its first byte.
pub struct JsonAnswers<S> {
    inner: S,
    /// A replacement being written: its bytes, how many went out, and the length of
    /// the buffer it stands for (reported written once it all went out).
    replacing: Option<(Vec<u8>, usize, usize)>,
    /// A replacement went out: hyper closes the connection next.
    replaced: bool,
}

impl<S> JsonAnswers<S> {
    /// Wraps a connection's stream.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            replacing: None,
            replaced: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonAnswers<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonAnswers<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacing.is_none() && !this.replaced {
            match replacement(buf) {
                Some(bytes) => this.replacing = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        let Some((bytes, sent, stands_for)) = &mut this.replacing else {
            // Nothing follows an automatic answer; should anything, it is not sent.
            return Poll::Ready(Ok(buf.len()));
        };
        while *sent < bytes.len() {
            match ready!(Pin::new(&mut this.inner).poll_write(cx, &bytes[*sent..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *sent += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let n = *stands_for;
        this.replacing = None;
        this.replaced = true;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_is_counted_as_long_as_its_text() {
        for uri in [
            "/sandbox/token",
            "/",
            "*",
            "/a?b=c&d=%20e",
            "http://example.com:8080/x/y?z",
            "example.com:443",
        ] {
            let Ok(parsed) = uri.parse::<axum::http::Uri>() else {
                panic!("{uri} does not parse")
            };
            assert_eq!(displayed_len(&parsed), parsed.to_string().len(), "{uri}");
        }
    }

    #[test]
    fn only_hypers_automatic_answers_are_replaced() {
        let automatic = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\
                          date: Fri, 04 Dec 2026 23:00:00 GMT\r\n\r\n";
        let Some(json) = replacement(automatic) else {
            panic!("not replaced")
        };
        let text = String::from_utf8_lossy(&json);
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text.contains("content-type: application/json"), "{text}");
        assert!(text.ends_with("\"}"), "{text}");
        let too_large =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert!(replacement(too_large).is_some());
        // The application's own answers are left alone: a JSON 400, a 200, a head with
        // its body following, a partial head.
        for own in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"{\"error\":\"HTTP/1.1 400 Bad Request\"}",
        ] {
            assert!(replacement(own).is_none(), "{}", String::from_utf8_lossy(own));
        }
    }
}
