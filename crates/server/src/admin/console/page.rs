//! What every console page shares: the frame, notices, the environment tabs, and small
//! pieces of forms.

use maud::{DOCTYPE, Markup, html};
use wirecash_core::UnixMillis;
use wirecash_core::store::AdminRole;

use super::Signed;

/// Which part of the console a page belongs to (highlighted in the top bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav<'a> {
    /// No part (errors).
    None,
    /// The environments overview.
    Overview,
    /// A page of one environment, and which tab.
    Env(&'a str, Tab),
    /// Webhooks.
    Webhooks,
}

/// The tabs of an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Users and their sessions.
    Users,
    /// Signing keys.
    Keys,
    /// Security and audit events.
    Events,
    /// Revoking every session.
    Incident,
}

/// A message at the top of a page.
#[derive(Debug, Clone)]
pub struct Notice {
    ok: bool,
    text: String,
}

impl Notice {
    /// Something worked.
    pub fn ok(text: impl Into<String>) -> Self {
        Notice {
            ok: true,
            text: text.into(),
        }
    }

    /// Something did not.
    pub fn error(text: impl Into<String>) -> Self {
        Notice {
            ok: false,
            text: text.into(),
        }
    }

    /// The notice of a redirect after a form: `?done=CODE&n=COUNT`, from a fixed list
    /// (nothing a link can make the page say).
    pub fn done(form: &crate::http::form::Form) -> Option<Notice> {
        let n = form
            .get("n")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        let sessions = |n: u64| {
            if n == 1 {
                "1 session".to_string()
            } else {
                format!("{n} sessions")
            }
        };
        let text = match form.get("done")? {
            "disabled" => "The user is disabled; every session of theirs has ended.".into(),
            "enabled" => "The user is enabled again.".into(),
            "deleted" => "The user and their sessions are deleted.".into(),
            "revoked" => format!("Ended {}.", sessions(n)),
            "key_rotated" => {
                "A new signing key was made; it signs once its activation time has come.".into()
            }
            "paused" => "The subscription is paused: no deliveries until it is resumed.".into(),
            "resumed" => "The subscription is active again.".into(),
            "test_sent" => "A test event is queued for this subscription.".into(),
            "resent" => "The delivery is queued again.".into(),
            "unsubscribed" => "The subscription is deleted.".into(),
            _ => return None,
        };
        Some(Notice::ok(text))
    }
}

/// An RFC 3339 time, to the second, in UTC.
pub fn when(ms: UnixMillis) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0).unsigned_abs());
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC")
}

/// The hidden CSRF field of a form.
pub fn csrf(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(signed.csrf); }
}

/// A form that is one button, posting to `action`.
pub fn button(signed: &Signed, action: &str, label: &str, class: &str) -> Markup {
    html! {
        form method="post" action=(action) {
            (csrf(signed))
            button type="submit" class=(class) { (label) }
        }
    }
}

/// The frame of every page.
pub fn layout(
    title: &str,
    signed: Option<&Signed>,
    nav: Nav<'_>,
    notice: Option<&Notice>,
    content: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · wirecash-auth console" }
                link rel="stylesheet" href="/console/style.css";
            }
            body {
                @if let Some(s) = signed {
                    header.top {
                        a.brand href="/console" { "wirecash-auth" }
                        nav {
                            a href="/console" class=[(nav == Nav::Overview).then_some("here")] { "Environments" }
                            @if s.who.role >= AdminRole::Owner {
                                a href="/console/webhooks" class=[(nav == Nav::Webhooks).then_some("here")] { "Webhooks" }
                            }
                        }
                        div.who {
                            span { "Signed in as " strong { (s.who.name) } " (" (s.who.role.as_str()) ")" }
                            form method="post" action="/console/logout" {
                                (csrf(s))
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main {
                    @if let Nav::Env(env, tab) = nav {
                        (env_tabs(env, tab))
                    }
                    @if let Some(n) = notice {
                        div class={ "notice " (if n.ok { "ok" } else { "error" }) } role=(if n.ok { "status" } else { "alert" }) {
                            (n.text)
                        }
                    }
                    (content)
                }
            }
        }
    }
}

fn env_tabs(env: &str, tab: Tab) -> Markup {
    let item = |t: Tab, path: &str, label: &str| {
        html! {
            a href={ "/console/env/" (env) "/" (path) } class=[(t == tab).then_some("here")] { (label) }
        }
    };
    html! {
        div.crumbs { a href="/console" { "Environments" } " / " strong { (env) } }
        nav.tabs {
            (item(Tab::Users, "users", "Users"))
            (item(Tab::Keys, "keys", "Signing keys"))
            (item(Tab::Events, "events", "Events"))
            (item(Tab::Incident, "incident", "Incident"))
        }
    }
}

/// A generated secret, shown this once.
pub fn shown_once(what: &str, value: &str, hint: &str) -> Markup {
    html! {
        div.secret role="status" {
            strong { (what) }
            output id="shown-once" { (value) }
            p.hint { (hint) " It is shown this once: it is stored only as a hash (or sealed), and this page is not kept by the browser." }
        }
    }
}

/// The sign-in page.
pub fn sign_in(token: &str, notice: Option<&Notice>) -> Markup {
    layout(
        "Sign in",
        None,
        Nav::None,
        None,
        html! {
            div.signin {
                section.card {
                    h1 { "wirecash-auth console" }
                    p.sub { "Sign in with an admin key. An owner makes one with "
                        code { "wirecash-auth admin-key create NAME --role viewer|operator|owner" } "." }
                    @if let Some(n) = notice {
                        div class={ "notice " (if n.ok { "ok" } else { "error" }) } role=(if n.ok { "status" } else { "alert" }) { (n.text) }
                    }
                    form.stack method="post" action="/console/login" autocomplete="off" {
                        input type="hidden" name="csrf" value=(token);
                        label { "Admin key"
                            input type="password" name="admin_key" required autofocus placeholder="wcak_…" spellcheck="false";
                        }
                        button type="submit" { "Sign in" }
                    }
                    p.hint { "The session ends after 30 minutes without a click, 12 hours after sign-in, or when the key is revoked." }
                }
            }
        },
    )
}

/// "Next page" for a list with an opaque cursor; `base` is the page's path and query
/// without the cursor.
pub fn pager(base: &str, next: Option<&str>) -> Markup {
    let sep = if base.contains('?') { '&' } else { '?' };
    html! {
        @if let Some(cursor) = next {
            div.pager { a href={ (base) (sep) "cursor=" (cursor) } { "Next page →" } }
        }
    }
}

/// Everything but RFC 3986's unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a path segment or query value.
pub fn enc(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, UNRESERVED).to_string()
}
