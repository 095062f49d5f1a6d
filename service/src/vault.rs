//! The token vault: AES-256-GCM sealing of everything secret we keep at rest (API tokens and
//! queued webhook payloads).
//!
//! Three properties matter, and each has a test:
//! - a fresh random 96-bit nonce per write, so equal plaintexts never give equal ciphertexts;
//! - the row's identity as associated data ([`Aad`]), so a ciphertext copied to another row
//!   fails to decrypt instead of handing one tenant's token to another;
//! - a key id stored next to every ciphertext, so keys rotate: the current key seals, older
//!   keys still open, and `rotate-key` re-seals old rows under the current key.

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

/// Length of an AES-256 key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of an AES-GCM nonce in bytes (96 bits).
pub const NONCE_LEN: usize = 12;

/// Errors from loading keys or opening a sealed value. Messages never contain key material or
/// plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    /// The key is not valid base64 of exactly 32 bytes.
    #[error(
        "{name} is not a valid key: expected base64 of 32 random bytes (run `codereview-sync keygen`)"
    )]
    MalformedKey {
        /// The env var (or other place) the key came from.
        name: String,
    },
    /// The row was sealed with a key we do not have.
    #[error(
        "value was sealed with key {key_id}, which is neither CODEREVIEW_SYNC_KEY nor in CODEREVIEW_SYNC_OLD_KEYS"
    )]
    UnknownKey {
        /// Key id stored on the row.
        key_id: String,
    },
    /// Authentication failed: wrong associated data (row moved), tampering, or a bad nonce.
    #[error("value does not decrypt under key {key_id}: tampered, or moved from another row")]
    Decrypt {
        /// Key id stored on the row.
        key_id: String,
    },
}

/// A sealed value as stored in a row: which key, which nonce, and ciphertext with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Short id of the key that sealed it (see [`key_id`]).
    pub key_id: String,
    /// The 96-bit nonce, fresh for every write.
    pub nonce: Vec<u8>,
    /// Ciphertext followed by the 16-byte GCM tag.
    pub ciphertext: Vec<u8>,
}

/// Associated data binding a ciphertext to the identity of its row.
///
/// Encoded as a table name and length-prefixed parts so no two different identities can
/// produce the same bytes (`("a/b", "c")` and `("a", "b/c")` differ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aad(Vec<u8>);

impl Aad {
    /// Builds associated data from a table name and the row's key columns.
    pub fn new(table: &str, parts: &[&str]) -> Self {
        let mut bytes = Vec::with_capacity(64);
        for part in std::iter::once(table).chain(parts.iter().copied()) {
            bytes.extend_from_slice(&(part.len() as u32).to_be_bytes());
            bytes.extend_from_slice(part.as_bytes());
        }
        Self(bytes)
    }

    /// The encoded bytes fed to AES-GCM.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Short hex id of a key: the first 8 bytes of its SHA-256. Stored per row so the right key can
/// be picked for reading; reveals nothing useful about a 256-bit random key.
pub fn key_id(key: &[u8; KEY_LEN]) -> String {
    let digest = Sha256::digest(key);
    hex::encode(&digest[..8])
}

/// A fresh random key, base64-encoded, as printed by `codereview-sync keygen`.
pub fn generate_key_base64() -> String {
    let key = Key::<Aes256Gcm>::generate();
    BASE64.encode(key.as_slice())
}

struct VaultKey {
    id: String,
    cipher: Aes256Gcm,
}

/// The current key (used for every write) plus older keys still accepted for reading.
pub struct Vault {
    current: VaultKey,
    old: Vec<VaultKey>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let old: Vec<&str> = self.old.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Vault")
            .field("current_key_id", &self.current.id)
            .field("old_key_ids", &old)
            .finish()
    }
}

fn decode_key(name: &str, encoded: &str) -> Result<[u8; KEY_LEN], VaultError> {
    let malformed = || VaultError::MalformedKey {
        name: name.to_string(),
    };
    let bytes = BASE64.decode(encoded.trim()).map_err(|_| malformed())?;
    bytes.try_into().map_err(|_| malformed())
}

impl VaultKey {
    fn new(key: [u8; KEY_LEN]) -> Self {
        Self {
            id: key_id(&key),
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)),
        }
    }
}

impl Vault {
    /// Builds a vault from raw keys: `current` seals, `old` only open.
    pub fn new(current: [u8; KEY_LEN], old: &[[u8; KEY_LEN]]) -> Self {
        Self {
            current: VaultKey::new(current),
            old: old.iter().map(|k| VaultKey::new(*k)).collect(),
        }
    }

    /// Builds a vault from the env values: `CODEREVIEW_SYNC_KEY` and the comma-separated
    /// `CODEREVIEW_SYNC_OLD_KEYS` (empty entries ignored).
    pub fn from_base64(current: &str, old_keys: Option<&str>) -> Result<Self, VaultError> {
        let current = decode_key("CODEREVIEW_SYNC_KEY", current)?;
        let old = old_keys
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| decode_key("CODEREVIEW_SYNC_OLD_KEYS", s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(current, &old))
    }

    /// Id of the key every new write uses.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `plaintext` under the current key with a fresh random nonce.
    pub fn seal(&self, aad: &Aad, plaintext: &[u8]) -> Sealed {
        let nonce = Nonce::generate();
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            // AES-GCM only fails on inputs longer than 64 GiB; our bodies are capped at 1 MiB.
            .expect("AES-GCM encryption of a bounded input cannot fail");
        Sealed {
            key_id: self.current.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens a sealed value, picking the key by the stored key id.
    pub fn open(&self, aad: &Aad, sealed: &Sealed) -> Result<Vec<u8>, VaultError> {
        let key = std::iter::once(&self.current)
            .chain(&self.old)
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| VaultError::UnknownKey {
                key_id: sealed.key_id.clone(),
            })?;
        let decrypt_error = || VaultError::Decrypt {
            key_id: sealed.key_id.clone(),
        };
        let nonce = Nonce::try_from(sealed.nonce.as_slice()).map_err(|_| decrypt_error())?;
        key.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed.ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| decrypt_error())
    }

    /// True when a row sealed under `key_id` should be re-sealed by `rotate-key`.
    pub fn is_stale(&self, key_id: &str) -> bool {
        key_id != self.current.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> [u8; KEY_LEN] {
        [byte; KEY_LEN]
    }

    #[test]
    fn round_trip_with_matching_aad() {
        let vault = Vault::new(key(1), &[]);
        let aad = Aad::new("credentials", &["slack", "T0001"]);
        let sealed = vault.seal(&aad, b"xoxb-secret");
        assert_eq!(sealed.nonce.len(), NONCE_LEN);
        assert_eq!(sealed.ciphertext.len(), b"xoxb-secret".len() + 16);
        assert_eq!(vault.open(&aad, &sealed).unwrap(), b"xoxb-secret");
    }

    #[test]
    fn nonce_is_fresh_for_every_write() {
        let vault = Vault::new(key(1), &[]);
        let aad = Aad::new("credentials", &["slack", "T0001"]);
        let a = vault.seal(&aad, b"same");
        let b = vault.seal(&aad, b"same");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn other_row_identity_fails() {
        let vault = Vault::new(key(1), &[]);
        let sealed = vault.seal(&Aad::new("credentials", &["slack", "T0001"]), b"tok");
        let err = vault
            .open(&Aad::new("credentials", &["slack", "T0002"]), &sealed)
            .unwrap_err();
        assert!(matches!(err, VaultError::Decrypt { .. }));
        // Length prefixes keep part boundaries apart.
        assert_ne!(Aad::new("t", &["a/b", "c"]), Aad::new("t", &["a", "b/c"]));
        assert_ne!(Aad::new("t", &["ab", ""]), Aad::new("t", &["a", "b"]));
    }

    #[test]
    fn tampering_fails() {
        let vault = Vault::new(key(1), &[]);
        let aad = Aad::new("credentials", &["github", "acme"]);
        let mut sealed = vault.seal(&aad, b"ghp_token");
        sealed.ciphertext[0] ^= 1;
        assert!(vault.open(&aad, &sealed).is_err());
        let mut sealed = vault.seal(&aad, b"ghp_token");
        sealed.nonce.pop();
        assert!(vault.open(&aad, &sealed).is_err());
    }

    #[test]
    fn old_keys_open_and_unknown_keys_are_named() {
        let aad = Aad::new("credentials", &["gitlab", "group"]);
        let old_vault = Vault::new(key(1), &[]);
        let sealed = old_vault.seal(&aad, b"glpat");
        let rotated = Vault::new(key(2), &[key(1)]);
        assert_eq!(rotated.open(&aad, &sealed).unwrap(), b"glpat");
        assert!(rotated.is_stale(&sealed.key_id));
        let resealed = rotated.seal(&aad, b"glpat");
        assert!(!rotated.is_stale(&resealed.key_id));
        let forgot_old = Vault::new(key(2), &[]);
        assert_eq!(
            forgot_old.open(&aad, &sealed).unwrap_err(),
            VaultError::UnknownKey {
                key_id: key_id(&key(1))
            }
        );
    }

    #[test]
    fn keys_load_from_base64_and_reject_garbage() {
        let k = generate_key_base64();
        let other = generate_key_base64();
        assert_ne!(k, other);
        let vault = Vault::from_base64(&k, Some(&format!(" {other} ,"))).unwrap();
        assert_eq!(vault.old.len(), 1);
        assert_eq!(vault.current_key_id().len(), 16);
        for bad in ["", "not base64!", "c2hvcnQ="] {
            assert!(matches!(
                Vault::from_base64(bad, None),
                Err(VaultError::MalformedKey { .. })
            ));
        }
        assert!(Vault::from_base64(&k, Some("c2hvcnQ=")).is_err());
        let debug = format!("{vault:?}");
        assert!(!debug.contains(&k));
    }
}
