//! List parameters of the admin API: `limit` and an opaque `cursor` (SPEC §11), read
//! from the query string with the form parser's rules (each parameter at most once).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::error::AdminError;
use crate::http::form::{Form, parse_form};

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;
/// Most items per page.
pub const MAX_LIMIT: u32 = 200;
/// Longest cursor accepted.
const MAX_CURSOR: usize = 1024;

/// `{"items": [...], "next_cursor": ...}`.
#[derive(Serialize)]
pub struct Page<T: Serialize> {
    /// This page.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// A query string's parameters, refusing any not in `known`.
pub fn query(raw: Option<&str>, known: &[&str]) -> Result<Form, AdminError> {
    let form = parse_form(
        None,
        Some("application/x-www-form-urlencoded"),
        raw.unwrap_or("").as_bytes(),
    )?;
    if let Some(unknown) = form.names().find(|n| !known.contains(n)) {
        return Err(AdminError::BadRequest(format!(
            "unknown query parameter `{}`; this endpoint takes {}",
            unknown.chars().take(64).collect::<String>(),
            known.join(", ")
        )));
    }
    Ok(form)
}

/// The `limit` parameter: 1 to `MAX_LIMIT`, default `DEFAULT_LIMIT`.
pub fn limit(form: &Form) -> Result<u32, AdminError> {
    match form.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                AdminError::BadRequest(format!(
                    "`limit` must be a whole number from 1 to {MAX_LIMIT}"
                ))
            }),
    }
}

/// A cursor: `kind` and a position, base64url so that clients treat it as opaque.
pub fn encode(kind: char, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}{position}"))
}

/// The position of a cursor of `kind`; anything else is a 400.
pub fn decode(kind: char, cursor: &str) -> Result<String, AdminError> {
    let bad = || AdminError::BadRequest("`cursor` is not a cursor this list gave out".into());
    if cursor.len() > MAX_CURSOR {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix(kind).map(str::to_string).ok_or_else(bad)
}

/// The next cursor of a page fetched with one item more than `limit`: trims the extra
/// item and encodes the position of the last one kept.
pub fn finish<T: Serialize, R>(
    mut rows: Vec<R>,
    limit: u32,
    kind: char,
    position: impl Fn(&R) -> String,
    item: impl Fn(R) -> T,
) -> Page<T> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| encode(kind, &position(r)))
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(item).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cursors_round_trip_and_kinds_do_not_mix() {
        let c = encode('u', "alice");
        assert_eq!(decode('u', &c).ok().as_deref(), Some("alice"));
        assert!(decode('s', &c).is_err());
        assert!(decode('u', "not base64!").is_err());
        assert!(decode('u', &"A".repeat(2000)).is_err());
    }

    #[test]
    fn limits_and_unknown_parameters() {
        let q = |s| query(Some(s), &["limit", "cursor"]);
        assert_eq!(q("limit=5").and_then(|f| limit(&f)).ok(), Some(5));
        assert_eq!(q("").and_then(|f| limit(&f)).ok(), Some(DEFAULT_LIMIT));
        for bad in ["limit=0", "limit=201", "limit=x", "limit=-1"] {
            assert!(q(bad).and_then(|f| limit(&f)).is_err(), "{bad}");
        }
        assert!(q("limit=1&limit=2").is_err());
        assert!(q("q=a").is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(s in ".{0,200}") {
            let _ = decode('e', &s);
        }
    }
}
