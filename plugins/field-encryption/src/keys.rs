//! Key material, per-tenant key sets and the cached cipher objects.
//!
//! A [`TenantKeys`] holds one AES-256-GCM cipher per key id (key schedule expanded once, not per
//! field), the id new writes use, and the optional blind-index HMAC key. Raw key bytes live only
//! in [`KeyMaterial`], which is zeroized on drop and prints as `***`.

use std::fmt;

use aes_gcm::{Aes256Gcm, KeyInit};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

/// 32 bytes of key material. Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeyMaterial([u8; 32]);

impl KeyMaterial {
    /// Wraps 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        KeyMaterial(bytes)
    }

    /// A fresh random key from the operating system's RNG (not a user-space generator whose
    /// state a `fork()` would copy into the child).
    ///
    /// # Panics
    /// When the OS has no randomness to give (`getrandom` fails), which no usable system does.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's RNG failed");
        KeyMaterial(bytes)
    }

    /// Parses 32 raw bytes, 64 hex characters or 44 base64 characters (surrounding white space
    /// ignored), the forms a Kubernetes Secret file may hold.
    pub fn parse(data: &[u8]) -> std::result::Result<Self, String> {
        use base64::Engine as _;
        if data.len() == 32 {
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(data);
            return Ok(KeyMaterial(bytes));
        }
        let text = std::str::from_utf8(data)
            .map_err(|_| "key is neither 32 raw bytes nor text".to_string())?
            .trim();
        let decoded = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<std::result::Result<Vec<u8>, _>>()
                .map_err(|e| e.to_string())?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| "key is not 32 bytes, 64 hex or base64".to_string())?
        };
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| format!("key decodes to {} bytes, want 32", decoded.len()))?;
        Ok(KeyMaterial(bytes))
    }

    /// The raw bytes, for wrapping or key derivation inside this crate.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial(***)")
    }
}

/// Checks a tenant id: 1–64 bytes of `[A-Za-z0-9_.-]`, so it can name files and never smuggles
/// separators into the AAD.
pub fn validate_tenant(tenant: &str) -> Result<()> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidTenant(tenant.chars().take(80).collect()))
    }
}

/// One tenant's keys, ready to use.
pub struct TenantKeys {
    tenant: String,
    current: u32,
    /// A tenant has a handful of key ids: a linear scan beats hashing on the per-field path.
    ciphers: Vec<(u32, Aes256Gcm)>,
    blind: Option<KeyMaterial>,
    /// Values sealed under `current` through this set: random 96-bit nonces are safe for 2^32
    /// values per key, so operators watch this and rotate long before.
    seals: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for TenantKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self.ciphers.iter().map(|(id, _)| id).collect();
        ids.sort();
        f.debug_struct("TenantKeys")
            .field("tenant", &self.tenant)
            .field("current", &self.current)
            .field("key_ids", &ids)
            .field("blind_index", &self.blind.is_some())
            .finish()
    }
}

impl TenantKeys {
    /// Builds a key set. `current` must be one of `keys`' ids.
    pub fn new(
        tenant: &str,
        current: u32,
        keys: &[(u32, KeyMaterial)],
        blind: Option<KeyMaterial>,
    ) -> Result<Self> {
        validate_tenant(tenant)?;
        let mut ciphers: Vec<(u32, Aes256Gcm)> = keys
            .iter()
            .map(|(id, key)| (*id, Aes256Gcm::new(key.bytes().into())))
            .collect();
        // The current key first: it is the one every seal uses.
        ciphers.sort_by_key(|(id, _)| *id != current);
        if ciphers.first().is_none_or(|(id, _)| *id != current) {
            return Err(Error::KeyProvider {
                tenant: tenant.into(),
                reason: format!("current key id {current} is not among the keys"),
            });
        }
        Ok(TenantKeys {
            tenant: tenant.into(),
            current,
            ciphers,
            blind,
            seals: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The tenant these keys belong to.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The key id new writes use.
    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    /// How many values this set has sealed under its current key in this process.
    pub fn seals(&self) -> u64 {
        self.seals.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn count_seal(&self) {
        self.seals
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the set holds `key_id`.
    pub fn has_key(&self, key_id: u32) -> bool {
        self.cipher(key_id).is_some()
    }

    pub(crate) fn cipher(&self, key_id: u32) -> Option<&Aes256Gcm> {
        self.ciphers
            .iter()
            .find(|(id, _)| *id == key_id)
            .map(|(_, c)| c)
    }

    pub(crate) fn blind_key(&self) -> Option<&KeyMaterial> {
        self.blind.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parsing_accepts_raw_hex_and_base64_only_at_32_bytes() {
        let raw = [7u8; 32];
        assert_eq!(KeyMaterial::parse(&raw).unwrap().bytes(), &raw);
        let hex = "07".repeat(32);
        assert_eq!(
            KeyMaterial::parse(format!("{hex}\n").as_bytes())
                .unwrap()
                .bytes(),
            &raw
        );
        let b64 = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
        assert_eq!(KeyMaterial::parse(b64.as_bytes()).unwrap().bytes(), &raw);
        assert!(
            KeyMaterial::parse(b"short")
                .unwrap_err()
                .contains("want 32")
                || KeyMaterial::parse(b"short").is_err()
        );
        assert!(KeyMaterial::parse(&[0xff; 31]).is_err());
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = KeyMaterial::new([0xAB; 32]);
        assert_eq!(format!("{key:?}"), "KeyMaterial(***)");
        let keys = TenantKeys::new("acme", 1, &[(1, key.clone())], Some(key)).unwrap();
        let shown = format!("{keys:?}");
        assert!(
            !shown.to_lowercase().contains("ab, ") && !shown.contains("171"),
            "{shown}"
        );
        assert!(shown.contains("acme") && shown.contains("current: 1"));
    }

    #[test]
    fn tenant_ids_are_validated() {
        for ok in ["acme", "t-1", "a.b_c"] {
            validate_tenant(ok).unwrap();
        }
        for bad in ["", "a/b", "a b", "x\0", &"t".repeat(65)] {
            assert!(validate_tenant(bad).is_err(), "{bad:?}");
        }
        assert!(TenantKeys::new("acme", 2, &[(1, KeyMaterial::generate())], None).is_err());
    }
}
