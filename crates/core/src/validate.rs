//! Validated newtypes for what comes in from outside, so that nothing inward handles a
//! raw, unchecked string.

use crate::error::Error;

/// Longest accepted username, in bytes.
pub const MAX_USERNAME: usize = 256;
/// Longest accepted password, in bytes (Argon2 work is bounded by the parameters, but
/// copying megabytes into it is not).
pub const MAX_PASSWORD: usize = 1024;
/// Longest accepted access token, in bytes.
pub const MAX_ACCESS_TOKEN: usize = 4096;
/// Shortest password the CLI accepts.
pub const MIN_PASSWORD: usize = 12;

/// A valid environment (stage) name (see [`environment`]). The edge parses one; what is
/// inward takes this, never a raw string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvName(String);

impl EnvName {
    /// Checks `name`.
    pub fn parse(name: &str) -> Result<Self, Error> {
        environment(name).map(|n| Self(n.to_string()))
    }

    /// Checks `name`, keeping its allocation (the request path's own copy).
    pub fn parse_owned(name: String) -> Result<Self, Error> {
        environment(&name)?;
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A name a user can have (see [`username`]). A login does not parse what it is sent
/// into one: a name no user can have must be answered like an unknown user, in the same
/// time, not refused as malformed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// Checks `name`.
    pub fn parse(name: &str) -> Result<Self, Error> {
        username(name).map(|n| Self(n.to_string()))
    }

    /// Checks `name` against the stricter rule for new users ([`new_username`]).
    pub fn parse_new(name: &str) -> Result<Self, Error> {
        new_username(name).map(|n| Self(n.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An introspector name (see [`introspector_name`]).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IntrospectorName(String);

impl IntrospectorName {
    /// Checks `name`.
    pub fn parse(name: &str) -> Result<Self, Error> {
        introspector_name(name).map(|n| Self(n.to_string()))
    }
}

/// An admin key name (the same characters as an introspector name): the actor of every
/// event the key causes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AdminKeyName(String);

impl AdminKeyName {
    /// Checks `name`.
    pub fn parse(name: &str) -> Result<Self, Error> {
        introspector_name(name)
            .map(|n| Self(n.to_string()))
            .map_err(|_| {
                Error::InvalidRequest(format!(
                    "an admin key name is 1 to {MAX_INTROSPECTOR_NAME} characters of A-Z, a-z, 0-9, '-', '_' and '.'"
                ))
            })
    }
}

macro_rules! as_str_impls {
    ($($t:ty),*) => {$(
        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        // Debug like the name itself, so that `{name:?}` in a message quotes the name.
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}

as_str_impls!(EnvName, Username, IntrospectorName, AdminKeyName);

/// An environment (stage) name: `[a-z0-9_-]{1,32}`, starting with a letter.
pub fn environment(name: &str) -> Result<&str, Error> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(name)
    } else {
        Err(Error::InvalidRequest(format!(
            "invalid environment name {name:?}: use 1-32 characters a-z, 0-9, '-' or '_', starting with a letter"
        )))
    }
}

/// A username as an admin may create it: 1-256 bytes, no control characters, no
/// leading or trailing white space.
pub fn username(name: &str) -> Result<&str, Error> {
    if name.is_empty() || name.len() > MAX_USERNAME {
        return Err(Error::InvalidRequest(format!(
            "username must be 1 to {MAX_USERNAME} bytes"
        )));
    }
    if name.chars().any(char::is_control) || name.trim() != name {
        return Err(Error::InvalidRequest(
            "username must not contain control characters or leading/trailing spaces".into(),
        ));
    }
    Ok(name)
}

/// A username as a new user may get it: 1-256 characters, ASCII letters, digits and
/// `.` `_` `-` `@`, starting with a letter or digit. Anything else breaks some client:
/// `:` ends the user name in HTTP Basic (the OAuth endpoints' client authentication),
/// a space or `+` changes under form encoding, a leading `-` reads as an option, and
/// non-ASCII letters are encoded differently by different libraries. Users made before
/// this rule keep their names: logins check only `username`.
pub fn new_username(name: &str) -> Result<&str, Error> {
    username(name)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if name.chars().all(allowed) && name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Ok(name)
    } else {
        Err(Error::InvalidRequest(format!(
            "username {name:?} is not allowed: use letters (a-z, A-Z), digits and ._-@, \
             starting with a letter or digit (a \":\" breaks HTTP Basic, a space or \"+\" \
             form encoding)"
        )))
    }
}

/// A new password as an admin may set it.
pub fn new_password(pw: &str) -> Result<&str, Error> {
    if pw.len() < MIN_PASSWORD || pw.len() > MAX_PASSWORD {
        return Err(Error::InvalidRequest(format!(
            "password must be {MIN_PASSWORD} to {MAX_PASSWORD} bytes"
        )));
    }
    Ok(pw)
}

/// Longest introspector name.
pub const MAX_INTROSPECTOR_NAME: usize = 64;

/// An introspector name: what a client id in HTTP Basic can carry.
pub fn introspector_name(name: &str) -> Result<&str, Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_INTROSPECTOR_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(name)
    } else {
        Err(Error::InvalidRequest(format!(
            "an introspector name is 1 to {MAX_INTROSPECTOR_NAME} characters of A-Z, a-z, 0-9, '-', '_' and '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newtypes_hold_only_what_their_rules_allow() {
        assert_eq!(
            EnvName::parse("sandbox").map(|e| e.to_string()).ok(),
            Some("sandbox".into())
        );
        assert!(EnvName::parse("Sandbox").is_err());
        assert!(Username::parse("Zed Smith").is_ok());
        assert!(Username::parse_new("Zed Smith").is_err());
        assert!(Username::parse(" alice").is_err());
        assert_eq!(Username::parse_new("a.b@c").map(|u| u.len()).ok(), Some(5));
        assert_eq!(
            EnvName::parse_owned("sandbox".to_string()).ok(),
            EnvName::parse("sandbox").ok()
        );
        assert!(EnvName::parse_owned("Sand box".to_string()).is_err());
        assert_eq!(
            IntrospectorName::parse("orders-api.v2")
                .map(|n| n.to_string())
                .ok(),
            Some("orders-api.v2".into())
        );
        assert!(IntrospectorName::parse("orders api").is_err());
        assert!(IntrospectorName::parse("").is_err());
        // `{name:?}` in a message quotes the name, as it did when names were `&str`.
        let user = Username::parse("nobody").ok();
        assert_eq!(
            format!("{:?}", user.as_ref().map(|u| u.as_str())),
            format!("{user:?}")
        );
    }

    #[test]
    fn environment_names() {
        assert!(environment("sandbox").is_ok());
        assert!(environment("prod-eu_1").is_ok());
        for bad in ["", "Sandbox", "1abc", "a/b", "a b", &"a".repeat(33)] {
            assert!(environment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_and_passwords() {
        assert!(username("alice@example.com").is_ok());
        for bad in ["", " alice", "al\nice", &"a".repeat(257)] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
        for good in ["alice", "partner-1", "ops.team_eu@example.com", "A9"] {
            assert!(new_username(good).is_ok(), "{good:?}");
        }
        for bad in ["a:b", "Zed Smith", "a+b", "a/b", "émile", "-x", ".x", ""] {
            assert!(new_username(bad).is_err(), "{bad:?}");
        }
        // Looked up as before: a user of an older installation still logs in.
        assert!(username("Zed Smith").is_ok());
        assert!(new_password("short").is_err());
        assert!(new_password("long enough password").is_ok());
    }

    #[test]
    fn introspector_names_are_plain_client_ids() {
        for ok in ["orders-api", "a", "svc_1.prod"] {
            assert!(introspector_name(ok).is_ok(), "{ok}");
        }
        let long = "x".repeat(MAX_INTROSPECTOR_NAME + 1);
        for bad in ["", "a:b", "a b", "é", "a\0", long.as_str()] {
            assert!(introspector_name(bad).is_err(), "{bad:?}");
        }
    }
}
