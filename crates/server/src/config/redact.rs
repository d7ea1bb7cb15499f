//! Secrets out of messages: a password in any form a database setting can hold it.

/// Whether a connection parameter's name says it holds a secret (`password`,
/// `sslpassword`, …).
fn is_secret_key(key: &str) -> bool {
    key.to_ascii_lowercase().contains("password")
}

/// Secrets out of messages: a database setting can hold a password in three forms — a
/// URL's user information (`postgres://user:PASSWORD@host/db`), a URL query parameter
/// (`?password=PASSWORD`) and a libpq key/value string (`host=db password=PASSWORD`) —
/// and none of them may reach a log line, an error message or `config check`.
///
/// A database setting fit for a log line or a message: the password of a URL's user
/// information, and every `…password…` parameter of a URL query or a key/value string,
/// are replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_key_values(url);
    };
    let (authority, tail) = rest
        .find(['/', '?', '#'])
        .map_or((rest, ""), |i| rest.split_at(i));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if is_secret_key(k) => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Replaces the value of every secret parameter in a libpq key/value string
/// (`host=db password='a b' sslpassword=x`): values may be quoted with `'` (with `\`
/// escapes) and there may be spaces around `=`.
fn redact_key_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        let name = before.trim_end();
        let key = name
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map_or(name, |(i, c)| &name[i + c.len_utf8()..]);
        out.push_str(before);
        out.push('=');
        let value = &after[1..];
        let leading = value.len() - value.trim_start().len();
        let end = leading + value_len(&value[leading..]);
        if is_secret_key(key) && end > leading {
            out.push_str(&value[..leading]);
            out.push_str("***");
        } else {
            out.push_str(&value[..end]);
        }
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// Length of one value at the start of `s`: a `'…'` string (with `\` escapes) or a run
/// up to white space, `&`, a quote or the end.
fn value_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, '\'')) => {
            let mut escaped = false;
            for (i, c) in chars {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '\'' => return i + 1,
                    _ => {}
                }
            }
            s.len()
        }
        Some(_) => s
            .find(|c: char| c.is_whitespace() || matches!(c, '&' | '"' | '`'))
            .unwrap_or(s.len()),
        None => 0,
    }
}

/// Any text (an error message, a TOML parser's quote of a line) with every password in
/// it replaced: the user information of each `scheme://user:PASSWORD@host`, and the
/// values of `…password…=` parameters. The last line of defence before a message is
/// printed.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        // The authority ends where a URL's would, or where the text around it goes on.
        let end = after
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '/' | '?' | '#' | '"' | '\'' | '`' | ')' | ',')
            })
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rsplit_once('@') {
            // `USER:PASSWORD@HOST` in a message is the placeholder of some advice.
            Some((userinfo, host))
                if userinfo.contains(':') && !userinfo.ends_with(":PASSWORD") =>
            {
                let user = userinfo.split(':').next().unwrap_or_default();
                out.push_str(&format!("{user}:***@{host}"));
            }
            _ => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    redact_key_values(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_every_form_of_password() {
        for (url, want) in [
            ("postgres://u:p@h/db", "postgres://u:***@h/db"),
            ("postgresql://u:p:q@h:1/db", "postgresql://u:***@h:1/db"),
            (
                "postgres://u@h/db?password=p&sslmode=disable",
                "postgres://u@h/db?password=***&sslmode=disable",
            ),
            (
                "postgres://u@h/db?sslpassword=p&PASSWORD=q",
                "postgres://u@h/db?sslpassword=***&PASSWORD=***",
            ),
            ("postgres://h/db", "postgres://h/db"),
            ("sqlite://a/b.db", "sqlite://a/b.db"),
            ("postgres://u:p@h", "postgres://u:***@h"),
            ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),
            (
                "host=db user=wa password=hunter2 dbname=x",
                "host=db user=wa password=*** dbname=x",
            ),
            (
                "host=db password = 'a b\\' c' port=5",
                "host=db password = *** port=5",
            ),
            ("…password=x", "…password=***"),
            ("password=", "password="),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn redact_text_finds_passwords_anywhere_in_a_message() {
        let msg = "configuration file c.toml is not valid TOML: line 1\n  | database = \"postgres://wa:hunter2@db/x\n  |            ^ unterminated string";
        let r = redact_text(msg);
        assert!(!r.contains("hunter2"), "{r}");
        assert!(r.contains("postgres://wa:***@db/x"), "{r}");
        let r = redact_text("bad: \"host=db password=hunter2\" and (mysql://u:hunter2@h)");
        assert!(!r.contains("hunter2"), "{r}");
        let advice = "use postgres://USER:PASSWORD@HOST:PORT/DB";
        assert_eq!(redact_text(advice), advice);
        let r = redact_text("see https://example.com/a?b=c and user@host: fine");
        assert_eq!(r, "see https://example.com/a?b=c and user@host: fine");
    }
}
