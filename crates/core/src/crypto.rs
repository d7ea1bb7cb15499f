//! Symmetric secrets: the master key (key-encryption key), the per-environment keys
//! derived from it, keyed hashes and authenticated encryption. Everything here uses
//! aws-lc-rs, the one crypto library of the build.

use std::cell::RefCell;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, MAX_TAG_LEN, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use zeroize::Zeroizing;

use crate::error::Error;

/// Length of keyed hashes stored in the database.
pub const HASH_LEN: usize = 32;

/// The key-encryption key: 32 secret bytes from `WIRECASH_AUTH_MASTER_KEY` or the key file.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self, Error> {
        let mut b = [0u8; 32];
        random_bytes(&mut b)?;
        Ok(Self::from_bytes(b))
    }

    /// The raw bytes (for writing the key file).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// A subkey for one purpose, derived with HMAC-SHA256 (a PRF) so that no two uses
    /// ever share a key: `HMAC(master, "wirecash-auth/v1/" + purpose)`.
    fn derive(&self, purpose: &str) -> Zeroizing<Vec<u8>> {
        let k = hmac::Key::new(hmac::HMAC_SHA256, self.0.as_ref());
        let tag = hmac::sign(&k, format!("wirecash-auth/v1/{purpose}").as_bytes());
        Zeroizing::new(tag.as_ref().to_vec())
    }

    /// The AEAD key that wraps signing keys at rest.
    pub fn key_wrapper(&self) -> Result<Sealer, Error> {
        Sealer::new(&self.derive("key-wrap"))
    }

    /// The key admin keys are hashed with for storage.
    pub fn admin_key_mac(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.derive("admin-key"))
    }

    /// The key failed admin-key attempts are counted under (by client address).
    pub fn admin_guard_mac(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.derive("admin-guard"))
    }

    /// The key the console signs its session cookies and CSRF tokens with.
    pub fn admin_console_mac(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.derive("admin-console"))
    }

    /// The AEAD key that seals stored admin API answers (idempotent replays), which can
    /// hold a generated password.
    pub fn admin_sealer(&self) -> Result<Sealer, Error> {
        Sealer::new(&self.derive("admin-seal"))
    }

    /// The per-environment secrets of the refresh-token machinery.
    pub fn env_secrets(&self, env: &str) -> Result<EnvSecrets, Error> {
        let mac = |p: &str| hmac::Key::new(hmac::HMAC_SHA256, &self.derive(&format!("{p}/{env}")));
        Ok(EnvSecrets {
            token_mac: mac("refresh-mac"),
            successor: mac("refresh-successor"),
            token_hash: mac("refresh-hash"),
            access_bind: mac("access-bind"),
            login_guard: mac("login-guard"),
            access_seal: Sealer::new(&self.derive(&format!("access-seal/{env}")))?,
        })
    }
}

/// Keys of one environment. Different environments never share one, so a token of
/// one environment fails every check of another.
pub struct EnvSecrets {
    /// Authenticates the contents of a refresh token (so forged ones die before any I/O).
    pub token_mac: hmac::Key,
    /// Derives a refresh token's successor from it (idempotent rotation).
    pub successor: hmac::Key,
    /// Hashes refresh tokens for storage.
    pub token_hash: hmac::Key,
    /// Hashes the access token issued with a refresh token (the binding check).
    pub access_bind: hmac::Key,
    /// Hashes what failed logins are counted by (usernames, client addresses).
    pub login_guard: hmac::Key,
    /// Encrypts the current access token at rest, for grace-window replays.
    pub access_seal: Sealer,
}

impl std::fmt::Debug for EnvSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvSecrets(..)")
    }
}

/// A 32-byte keyed hash.
pub fn keyed_hash(key: &hmac::Key, data: &[u8]) -> [u8; HASH_LEN] {
    let tag = hmac::sign(key, data);
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(&tag.as_ref()[..HASH_LEN]);
    out
}

/// Hash kept for an introspector's secret. The secret is 256 random bits, so a fast hash
/// is enough (nothing to brute-force) and checking it costs microseconds, which matters:
/// resource servers may introspect on every request.
pub fn introspector_secret_hash(secret: &str) -> [u8; HASH_LEN] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(d.as_ref());
    out
}

/// Constant-time equality of secrets (or hashes of secrets).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), Error> {
    aws_lc_rs::rand::fill(buf).map_err(|_| Error::Internal("system random generator failed".into()))
}

/// Bytes of system randomness each thread fetches at a time for [`pooled_random`].
const POOL: usize = 4096;

thread_local! {
    /// This thread's unread system randomness and where the unread part starts.
    static RANDOM: RefCell<(Box<[u8; POOL]>, usize)> = RefCell::new((Box::new([0; POOL]), POOL));
}

/// Fills `buf` (at most [`POOL`] bytes) with system randomness fetched a block at a
/// time, for values that must be unpredictable and unique but are not secret: nonces
/// and token ids, which are stored or sent in the clear beside what they protect. One
/// system call per few hundred refreshes instead of two per refresh (the profile of
/// issue 14 showed the kernel's `getrandom` and aws-lc's reseeding in every refresh).
/// Each byte is handed out once.
pub fn pooled_random(buf: &mut [u8]) -> Result<(), Error> {
    if buf.len() > POOL {
        return random_bytes(buf);
    }
    RANDOM.with(|cell| {
        let mut pool = cell.borrow_mut();
        let (bytes, next) = &mut *pool;
        if POOL - *next < buf.len() {
            random_bytes(&mut bytes[..])?;
            *next = 0;
        }
        let end = *next + buf.len();
        buf.copy_from_slice(&bytes[*next..end]);
        // Never handed out twice, whatever happens next.
        bytes[*next..end].fill(0);
        *next = end;
        Ok(())
    })
}

/// AES-256-GCM with a random nonce per message; output is `nonce || ciphertext || tag`.
/// The nonce is 96 bits from the system random generator ([`pooled_random`]), as
/// aws-lc's `RandomizedNonceKey` would draw them, fetched a block at a time.
pub struct Sealer(LessSafeKey);

impl Sealer {
    fn new(key: &[u8]) -> Result<Self, Error> {
        UnboundKey::new(&AES_256_GCM, key)
            .map(|k| Self(LessSafeKey::new(k)))
            .map_err(|_| Error::Internal("cannot create AEAD key".into()))
    }

    /// Encrypts `plaintext`, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        // One buffer, nonce first, then the ciphertext and its tag (a refresh seals one
        // access token: no second buffer to copy it into).
        let mut nonce = [0u8; NONCE_LEN];
        pooled_random(&mut nonce)?;
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + MAX_TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[NONCE_LEN..],
            )
            .map_err(|_| Error::Internal("encryption failed".into()))?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Decrypts what `seal` produced with the same `aad`; `None` if it was altered or
    /// sealed under another key.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let len = self
            .0
            .open_in_place(nonce, Aad::from(aad), buf.as_mut_slice())
            .ok()?
            .len();
        buf.truncate(len);
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_randomness_is_never_handed_out_twice_across_refills() {
        let mut seen = std::collections::HashSet::new();
        // Several refills' worth, in sizes that do not divide the pool.
        for _ in 0..(3 * POOL / 12 + 7) {
            let mut nonce = [0u8; 12];
            pooled_random(&mut nonce).unwrap_or_else(|e| panic!("{e}"));
            assert!(seen.insert(nonce), "a nonce came twice");
        }
        let mut big = vec![0u8; POOL + 1];
        pooled_random(&mut big).unwrap_or_else(|e| panic!("{e}"));
        assert!(big.iter().any(|b| *b != 0));
    }

    #[test]
    fn a_sealed_message_opens_and_two_seals_differ() {
        let sealer = MasterKey::from_bytes([3; 32])
            .key_wrapper()
            .unwrap_or_else(|e| panic!("{e}"));
        let a = sealer
            .seal(b"aad", b"secret")
            .unwrap_or_else(|e| panic!("{e}"));
        let b = sealer
            .seal(b"aad", b"secret")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert_eq!(
            sealer.open(b"aad", &a).as_deref().map(Vec::as_slice),
            Some(&b"secret"[..])
        );
        assert_eq!(sealer.open(b"other", &a), None);
        let mut altered = b.clone();
        altered[NONCE_LEN] ^= 1;
        assert_eq!(sealer.open(b"aad", &altered), None);
    }

    #[test]
    fn introspector_secret_hash_is_sha256() {
        assert_ne!(introspector_secret_hash("a"), introspector_secret_hash("b"));
        assert_eq!(
            hex(&introspector_secret_hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn seal_round_trips_and_detects_tampering() -> Result<(), Error> {
        let mk = MasterKey::from_bytes([7; 32]);
        let s = mk.key_wrapper()?;
        let sealed = s.seal(b"aad", b"secret")?;
        assert_eq!(
            s.open(b"aad", &sealed).as_deref().map(|v| v.as_slice()),
            Some(&b"secret"[..])
        );
        assert!(s.open(b"other", &sealed).is_none());
        let mut bad = sealed.clone();
        if let Some(b) = bad.last_mut() {
            *b ^= 1;
        }
        assert!(s.open(b"aad", &bad).is_none());
        assert!(s.open(b"aad", &sealed[..5]).is_none());
        Ok(())
    }

    #[test]
    fn environments_get_different_keys() -> Result<(), Error> {
        let mk = MasterKey::from_bytes([1; 32]);
        let a = mk.env_secrets("sandbox")?;
        let b = mk.env_secrets("production")?;
        assert_ne!(
            keyed_hash(&a.token_hash, b"x"),
            keyed_hash(&b.token_hash, b"x")
        );
        assert_ne!(
            keyed_hash(&a.token_mac, b"x"),
            keyed_hash(&a.token_hash, b"x")
        );
        Ok(())
    }
}
