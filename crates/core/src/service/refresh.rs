//! Refresh (SPEC §2): the one-statement hot path for the live pair presented by its
//! owner, and the general path that reads the session and lets `lifecycle::decide` rule.

use super::login::AuthenticatedClient;
use super::{AuthService, Environment, TokenGrant};
use crate::access_token::Minted;
use crate::clock::millis;
use crate::crypto::{HASH_LEN, keyed_hash};
use crate::error::Error;
use crate::lifecycle::{Decision, Presented, Reject, decide};
use crate::store::{Rotation, RotationGuard};
use crate::validate::EnvName;

/// An access token minted for a rotation that did not happen (the hot path missed), for
/// `user_id`: the general path uses it if it rotates the same session to the same
/// generation for the same owner, instead of minting and sealing another.
struct Spare {
    user_id: String,
    minted: Minted,
}

/// What the hot path did.
enum HotPath {
    /// Rotated: the answer.
    Rotated(TokenGrant),
    /// Not applied; the general path decides, perhaps with the token it minted.
    Missed(Option<Spare>),
}

impl AuthService {
    /// Rotates a session's refresh token (SPEC §2): see `lifecycle::decide` for the rules.
    pub async fn refresh(
        &self,
        env: &EnvName,
        username: &str,
        access_token: &str,
        refresh_token: &str,
    ) -> Result<TokenGrant, Error> {
        let result = self
            .rotate(env, username, access_token, refresh_token)
            .await;
        // Grants and refusals are counted where they are decided; here, what failed.
        if let Err(e) = &result
            && !matches!(e, Error::InvalidGrant(_))
        {
            crate::metrics::refresh("error");
        }
        result
    }

    async fn rotate(
        &self,
        env: &str,
        username: &str,
        access_token: &str,
        refresh_token: &str,
    ) -> Result<TokenGrant, Error> {
        let env = self.env(env)?;
        // Forged, altered or foreign tokens stop here, before any I/O (counted, not
        // logged: a flood of garbage must not flood the audit log).
        let Some(presented) = crate::token::RefreshToken::parse(refresh_token, &env.secrets) else {
            crate::metrics::refresh_refused(crate::metrics::INVALID_TOKEN);
            return Err(Error::InvalidGrant(Reject::Mismatch.description()));
        };
        // So is a username no user can have.
        if crate::validate::username(username).is_err() {
            crate::metrics::refresh_refused(crate::metrics::INVALID_TOKEN);
            return Err(Error::InvalidGrant(Reject::Mismatch.description()));
        }
        let token_hash = presented.hash(&env.secrets);
        let access_hash = keyed_hash(&env.secrets.access_bind, access_token.as_bytes());
        let p = Presented {
            username,
            generation: presented.generation(),
            token_hash: &token_hash,
            access_hash: Some(&access_hash),
        };
        // The common case — the live pair, presented by its owner — in one store call.
        match self
            .rotate_without_reading(env, username, access_token, &presented, &p, &access_hash)
            .await?
        {
            HotPath::Rotated(grant) => Ok(grant),
            HotPath::Missed(spare) => self.refresh_decided(env, &presented, &p, spare).await,
        }
    }

    /// The RFC 6749 §6 `refresh_token` grant for a client that authenticated with its
    /// credentials, which stand in for the access token of the WireCash `POST /token`.
    /// Every other rule (rotation, grace replay, reuse detection, lifetimes) is the same.
    pub(super) async fn refresh_as_client(
        &self,
        env: &str,
        client: &AuthenticatedClient,
        refresh_token: &str,
    ) -> Result<TokenGrant, Error> {
        let env = self.env(env)?;
        let Some(presented) = crate::token::RefreshToken::parse(refresh_token, &env.secrets) else {
            return Err(Error::InvalidGrant(Reject::Mismatch.description()));
        };
        let token_hash = presented.hash(&env.secrets);
        let p = Presented {
            username: &client.username,
            generation: presented.generation(),
            token_hash: &token_hash,
            access_hash: None,
        };
        self.refresh_decided(env, &presented, &p, None).await
    }

    /// The general refresh path: read the session and let the lifecycle decide.
    async fn refresh_decided(
        &self,
        env: &Environment,
        presented: &crate::token::RefreshToken,
        p: &Presented<'_>,
        mut spare: Option<Spare>,
    ) -> Result<TokenGrant, Error> {
        let sid = presented.session_id();
        // Anything else (a replay, a reuse, a refusal, a race): read the session and let
        // the lifecycle decide. A lost compare-and-set means another request changed the
        // session meanwhile; deciding again on the new state turns it into a replay, a
        // reuse or a refusal.
        for _ in 0..4 {
            let session = self.store.load_session(&env.name, sid).await?;
            let now = self.clock.now();
            match (decide(session.as_ref(), p, now, &self.policy), session) {
                (Decision::Rotate, Some(s)) => {
                    let next = presented.successor(&env.secrets);
                    // The decision rotates `presented` (its generation is the live one) for
                    // `s.username`, which it checked is the username presented: the spare
                    // of the hot path fits if it was minted for the same owner.
                    let minted = match spare.take() {
                        Some(spare) if spare.user_id == s.user_id => spare.minted,
                        _ => self.mint_access(
                            env,
                            &s.user_id,
                            &s.username,
                            sid,
                            next.generation(),
                            now,
                        )?,
                    };
                    let rotation = Rotation {
                        session_id: sid,
                        env: env.name.clone(),
                        expected_generation: s.generation,
                        expected_hash: s.current_hash,
                        generation: next.generation(),
                        current_hash: next.hash(&env.secrets),
                        current_access_hash: minted.hash,
                        prev_hash: s.current_hash,
                        prev_access_hash: s.current_access_hash,
                        rotated_at: now,
                        access_token_sealed: minted.sealed,
                        access_expires_at: minted.expires_at,
                    };
                    if self.store.rotate(rotation).await? {
                        env.superseded.mark(sid, s.generation);
                        crate::metrics::refresh("rotated");
                        crate::audit::refresh(&env.name, sid, next.generation(), &s.user_id);
                        return Ok(TokenGrant {
                            access_token: minted.token.to_string(),
                            expires_in: self.policy.access_ttl.as_secs(),
                            refresh_token: next.encode(),
                        });
                    }
                }
                (Decision::Replay, Some(s)) => {
                    let next = presented.successor(&env.secrets);
                    let access = crate::access_token::unseal(
                        &env.secrets,
                        &env.name,
                        sid,
                        s.generation,
                        &s.access_token_sealed,
                    )
                    .ok_or_else(|| {
                        Error::Internal(format!("session {sid}: stored access token unreadable"))
                    })?;
                    if !crate::crypto::ct_eq(&next.hash(&env.secrets), &s.current_hash) {
                        return Err(Error::Internal(format!(
                            "session {sid}: successor does not match"
                        )));
                    }
                    crate::metrics::refresh("grace_replay");
                    crate::audit::refresh_replayed(&env.name, sid, presented.generation());
                    // Never more than a fresh token's lifetime, whatever the clock did.
                    let remaining = s.access_expires_at.saturating_sub(now).max(0) / 1000;
                    return Ok(TokenGrant {
                        access_token: access,
                        expires_in: u64::try_from(remaining)
                            .unwrap_or(0)
                            .min(self.policy.access_ttl.as_secs()),
                        refresh_token: next.encode(),
                    });
                }
                (Decision::Reuse, session) => {
                    let reason = "refresh token reuse";
                    let user_id = session.as_ref().map_or("", |s| s.user_id.as_str());
                    let event = crate::events::reuse_detected(
                        &env.name,
                        now,
                        sid,
                        presented.generation(),
                        user_id,
                    );
                    let revoked = self
                        .store
                        .revoke_session(&env.name, sid, now, reason, Some(event))
                        .await?;
                    crate::metrics::refresh("reuse_detected");
                    crate::audit::reuse_detected(
                        &env.name,
                        sid,
                        presented.generation(),
                        user_id,
                        revoked,
                    );
                    return Err(Error::InvalidGrant(
                        "the refresh token was already used; the session has been revoked, authenticate again",
                    ));
                }
                (Decision::Reject(r), _) => {
                    crate::metrics::refresh_rejected(r);
                    crate::audit::refresh_refused(&env.name, sid, r.as_str());
                    return Err(Error::InvalidGrant(r.description()));
                }
                (Decision::Rotate | Decision::Replay, None) => {
                    let r = Reject::UnknownSession;
                    crate::metrics::refresh_rejected(r);
                    crate::audit::refresh_refused(&env.name, sid, r.as_str());
                    return Err(Error::InvalidGrant(r.description()));
                }
            }
        }
        Err(Error::Unavailable(
            "the session is changing too fast; retry".into(),
        ))
    }

    /// The refresh hot path: mint the successor from what was presented and let the store
    /// apply it in one statement under exactly the lifecycle's `Rotate` conditions
    /// (`RotationGuard`), with no read first. The presented access token's claims name
    /// the owner; they are read without checking the signature, which is safe because
    /// the store applies the rotation only if that token's keyed hash is the session's
    /// live access token — a token this service minted for this session. `Missed` when
    /// the claims do not fit or the store refused: the caller then reads and decides.
    async fn rotate_without_reading(
        &self,
        env: &Environment,
        username: &str,
        access_token: &str,
        presented: &crate::token::RefreshToken,
        p: &Presented<'_>,
        access_hash: &[u8; HASH_LEN],
    ) -> Result<HotPath, Error> {
        let sid = presented.session_id();
        // The owner's user id, if the claims fit. (A `sub` we never mint — e.g. with NUL,
        // which PostgreSQL refuses in text — goes the general way, where claims are never
        // used in a query.)
        let owner = crate::access_token::peek_owner(access_token, |claims| {
            let fits = claims.username == username
                && claims.env == env.name
                && names_session(&claims.sid, sid)
                && !claims.sub.is_empty()
                && claims.sub.len() <= 128
                && !claims.sub.chars().any(char::is_control);
            fits.then(|| claims.sub.to_string())
        });
        let Some(Some(user_id)) = owner else {
            return Ok(HotPath::Missed(None));
        };
        // A pair this node has just rotated away is a replay (or a reuse): minting its
        // successor here would be work thrown away.
        if env.superseded.contains(sid, p.generation) {
            return Ok(HotPath::Missed(None));
        }
        let now = self.clock.now();
        let next = presented.successor(&env.secrets);
        let minted = self.mint_access(env, &user_id, username, sid, next.generation(), now)?;
        let rotation = Rotation {
            session_id: sid,
            env: env.name.clone(),
            expected_generation: p.generation,
            expected_hash: *p.token_hash,
            generation: next.generation(),
            current_hash: next.hash(&env.secrets),
            current_access_hash: minted.hash,
            prev_hash: *p.token_hash,
            prev_access_hash: *access_hash,
            rotated_at: now,
            access_token_sealed: minted.sealed.clone(),
            access_expires_at: minted.expires_at,
        };
        let guard = RotationGuard {
            current_access_hash: *access_hash,
            user_id: user_id.clone(),
            username: username.to_string(),
            used_after: now.saturating_sub(millis(self.policy.refresh_idle_ttl)),
            created_after: now.saturating_sub(millis(self.policy.refresh_absolute_ttl)),
        };
        if !self.store.rotate_guarded(rotation, guard).await? {
            let spare = Spare { user_id, minted };
            return Ok(HotPath::Missed(Some(spare)));
        }
        env.superseded.mark(sid, p.generation);
        crate::metrics::refresh("rotated");
        crate::audit::refresh(&env.name, sid, next.generation(), &user_id);
        Ok(HotPath::Rotated(TokenGrant {
            access_token: minted.token.to_string(),
            expires_in: self.policy.access_ttl.as_secs(),
            refresh_token: next.encode(),
        }))
    }
}

/// Whether `text` is the decimal form of `sid`, as minted (`sid.to_string()`), compared
/// without building that string.
fn names_session(text: &str, sid: i64) -> bool {
    use std::io::Write as _;
    // The longest i64, `-9223372036854775808`, is 20 characters.
    let mut buf = [0u8; 20];
    let mut rest = &mut buf[..];
    if write!(rest, "{sid}").is_err() {
        return false;
    }
    let len = 20 - rest.len();
    text.as_bytes() == &buf[..len]
}

#[cfg(test)]
mod tests {
    use super::names_session;

    #[test]
    fn a_session_is_named_by_its_decimal_form_only() {
        for sid in [0, 7, 42, -1, i64::MAX, i64::MIN] {
            assert!(names_session(&sid.to_string(), sid), "{sid}");
        }
        for (text, sid) in [
            ("+42", 42),
            ("042", 42),
            ("42 ", 42),
            ("", 0),
            ("4", 42),
            ("-0", 0),
        ] {
            assert!(!names_session(text, sid), "{text:?}");
        }
    }
}
