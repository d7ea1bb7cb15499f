//! Fuzzes the console's session cookie: the `Cookie` header a browser (or anyone) sends
//! to the admin listener, read by `cookie` and opened by `Session::open`. Input: a head
//! byte (how far the clock is from the cookie's times), then the header value. No input
//! may panic, and:
//! - a value that opens is exactly what sealing its session gives (only a value the key
//!   signed opens; anything else would be a forged HMAC-SHA-256 tag);
//! - an opened session is live at the time it was opened at (idle and absolute limits);
//! - a session made from the input's bytes seals, then opens to itself, and its CSRF
//!   token is accepted while the input's bytes as a token are not (unless equal).
#![no_main]

use aws_lc_rs::hmac;
use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use wirecash_auth::admin::console::session::{ABSOLUTE, IDLE, Session, cookie};

const START: i64 = 1_800_000_000_000;

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn hex(bytes: &[u8], len: usize) -> String {
    let mut out: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    out.truncate(len);
    while out.len() < len {
        out.push('0');
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let mac = hmac::Key::new(hmac::HMAC_SHA256, b"the console key of a fuzz run");
    // From before the cookie's times to past its absolute end.
    let now = START + i64::from(head) * (ms(ABSOLUTE) / 200) - ms(IDLE);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(rest) {
        headers.insert(header::COOKIE, v);
    }
    if let Some(value) = cookie(&headers, "wc_console")
        && let Some(s) = Session::open(&mac, value, now)
    {
        assert_eq!(s.seal(&mac), value, "a value the key did not seal opened");
        assert!(
            now.saturating_sub(s.seen) < ms(IDLE),
            "opened past its idle end"
        );
        assert!(
            now.saturating_sub(s.opened) < ms(ABSOLUTE),
            "opened past its end"
        );
    }
    // A session of the input's bytes round-trips.
    let made = Session {
        key_id: hex(rest, 16),
        id: hex(rest.get(8..).unwrap_or_default(), 32),
        opened: START,
        seen: START + i64::from(head) * 1000,
    };
    let sealed = made.seal(&mac);
    assert_eq!(Session::open(&mac, &sealed, made.seen), Some(made.clone()));
    assert!(made.csrf_ok(&mac, &made.csrf(&mac)));
    if let Ok(text) = std::str::from_utf8(rest)
        && text != made.csrf(&mac)
    {
        assert!(
            !made.csrf_ok(&mac, text),
            "a CSRF token not made for it passed"
        );
    }
});
