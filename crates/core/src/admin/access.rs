//! Admin keys (SPEC §11): made with the CLI, shown once, stored as a keyed hash, checked
//! in constant time on every admin request.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use super::AdminService;
use crate::audit;
use crate::crypto::{ct_eq, keyed_hash, random_bytes};
use crate::error::{Error, StoreError};
use crate::events::Actor;
use crate::store::{AdminKeyRecord, AdminRole};
use crate::validate::AdminKeyName;

/// What every admin key starts with (so that secret scanners can find leaked ones).
const PREFIX: &str = "wcak_";
/// Random bytes in a key's public id (hex in the key).
const ID_BYTES: usize = 8;
/// Random bytes in a key's secret part (base64url in the key).
const SECRET_BYTES: usize = 32;
/// Length of the secret part: 32 bytes in unpadded base64url.
const SECRET_CHARS: usize = 43;

/// A new admin key: its record and the key itself, shown once.
pub struct AdminKeyIssued {
    /// As stored.
    pub record: AdminKeyRecord,
    /// `wcak_<id>_<secret>`.
    pub key: Zeroizing<String>,
}

/// Who an accepted admin key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPrincipal {
    /// The key's name.
    pub name: String,
    /// Its role.
    pub role: AdminRole,
}

impl AdminPrincipal {
    /// The actor of what this key does.
    pub fn actor(&self) -> Actor {
        Actor::AdminKey(self.name.clone())
    }
}

/// The id of a well-formed admin key, `None` for anything else (checked before any
/// store access, so garbage costs nothing).
pub fn parse_admin_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == ID_BYTES * 2 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = secret.len() == SECRET_CHARS
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some(id)
}

fn key_hash(mac: &hmac::Key, key: &str) -> [u8; 32] {
    keyed_hash(mac, key.as_bytes())
}

impl AdminService {
    /// Makes an admin key called `name`; the key is returned once and stored only as a
    /// keyed hash. `Conflict` if the name is taken (revoked keys keep their names).
    pub async fn create_admin_key(
        &self,
        actor: &Actor,
        mac: &hmac::Key,
        name: &AdminKeyName,
        role: AdminRole,
    ) -> Result<AdminKeyIssued, Error> {
        let mut id = [0u8; ID_BYTES];
        random_bytes(&mut id)?;
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
        random_bytes(secret.as_mut())?;
        let key = Zeroizing::new(format!(
            "{PREFIX}{id}_{}",
            URL_SAFE_NO_PAD.encode(secret.as_ref())
        ));
        let record = AdminKeyRecord {
            id,
            name: name.to_string(),
            role,
            key_hash: key_hash(mac, &key),
            created_at: self.clock.now(),
            revoked_at: None,
        };
        self.store
            .create_admin_key(record.clone())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    Error::Conflict(format!("an admin key called {name:?} exists already"))
                }
                other => other.into(),
            })?;
        audit::admin_key_created(name, role.as_str(), actor);
        Ok(AdminKeyIssued { record, key })
    }

    /// Every admin key, revoked ones too.
    pub async fn admin_keys(&self) -> Result<Vec<AdminKeyRecord>, Error> {
        Ok(self.store.list_admin_keys().await?)
    }

    /// Revokes the admin key called `name`; it is refused from the next request on.
    pub async fn revoke_admin_key(&self, actor: &Actor, name: &AdminKeyName) -> Result<(), Error> {
        if !self.store.revoke_admin_key(name, self.clock.now()).await? {
            return Err(Error::NotFound(format!(
                "no live admin key called {name:?}"
            )));
        }
        audit::admin_key_revoked(name, actor);
        Ok(())
    }

    /// Who the admin key with the public id `id` is, while it is live. The console's
    /// sessions name their key by id, so revoking the key ends them at the next request.
    pub async fn live_admin_key(&self, id: &str) -> Result<Option<AdminPrincipal>, Error> {
        Ok(self
            .store
            .find_admin_key(id)
            .await?
            .filter(|r| r.revoked_at.is_none())
            .map(|r| AdminPrincipal {
                name: r.name,
                role: r.role,
            }))
    }

    /// Who `presented` is, if it is a live admin key. The stored hash is compared in
    /// constant time; a malformed key is refused without a store access.
    pub async fn check_admin_key(
        &self,
        mac: &hmac::Key,
        presented: &str,
    ) -> Result<Option<AdminPrincipal>, Error> {
        let Some(id) = parse_admin_key(presented) else {
            return Ok(None);
        };
        let Some(record) = self.store.find_admin_key(id).await? else {
            return Ok(None);
        };
        let hash = key_hash(mac, presented);
        if !ct_eq(&hash, &record.key_hash) || record.revoked_at.is_some() {
            return Ok(None);
        }
        Ok(Some(AdminPrincipal {
            name: record.name,
            role: record.role,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_keys_parse() {
        let secret = "A".repeat(SECRET_CHARS);
        let good = format!("wcak_0123456789abcdef_{secret}");
        assert_eq!(parse_admin_key(&good), Some("0123456789abcdef"));
        for bad in [
            String::new(),
            "wcak_".to_string(),
            format!("wcak_0123456789abcde_{secret}"),
            format!("wcak_0123456789abcdeg_{secret}"),
            format!("wcak_0123456789abcdef_{secret}A"),
            format!("wcak_0123456789abcdef_{}", "A=".repeat(21) + "A"),
            format!("WCAK_0123456789abcdef_{secret}"),
            format!("wcak_0123456789abcdef{secret}"),
        ] {
            assert_eq!(parse_admin_key(&bad), None, "{bad}");
        }
    }
}
