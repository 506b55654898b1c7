//! Key material, per-tenant key sets and the cached cipher objects.
//!
//! A [`TenantKeys`] holds one AES-256-GCM cipher per key id (key schedule expanded once, not per
//! field), the id new writes use, and the optional blind-index HMAC key. Raw key bytes live only
//! in [`KeyMaterial`], which is zeroized on drop and prints as `***`.

use std::fmt;

use ring::aead::LessSafeKey;
use zeroize::Zeroize;

use crate::wipe::WipedCipher;

use crate::error::{Error, Result};

mod material;

pub use material::{KeyEncoding, KeyMaterial};

/// Overwrites the 16 KiB of stack below the caller's frame with zeros.
///
/// Moving a value does not wipe where it was: building a key schedule leaves copies of round keys
/// in the stack frames of the calls that built it, and an async state machine or a union later
/// boxed from that stack carries such bytes into heap blocks as "uninitialised" padding (the
/// scanning allocator of `tests/wipe.rs` found exactly that). Key set-up therefore ends with this
/// scrub; `zeroize` writes volatilely, so it is not optimised away.
#[inline(never)]
pub(crate) fn scrub_stack() {
    let mut area = [0u8; 16 * 1024];
    area.zeroize();
    std::hint::black_box(&area);
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

/// The ciphers of one key id: version 2 envelopes use a key derived for the tenant, version 1
/// envelopes the key itself.
/// Both are wiped whole when the set is dropped (see `crate::wipe`).
struct KeyCiphers {
    id: u32,
    v2: WipedCipher,
    v1: WipedCipher,
}

/// The tenant's version 2 key: `HMAC-SHA256(key, "lsfe/tenant\0" ‖ tenant ‖ 0x01)`, HKDF-Expand's
/// first block with the (uniformly random) key as the PRK. Binding the tenant through the key
/// rather than the AAD keeps the AAD to one GHASH block; tenants that share key material still
/// get different keys.
fn tenant_key(key: &KeyMaterial, tenant: &str) -> KeyMaterial {
    use hmac::Mac as _;
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key.bytes())
        .expect("HMAC takes any key length");
    mac.update(b"lsfe/tenant\0");
    mac.update(tenant.as_bytes());
    mac.update(&[1]);
    let mut out = mac.finalize().into_bytes();
    let derived = KeyMaterial::from_slice(&out).expect("SHA-256 is 32 bytes");
    out[..].zeroize();
    derived
}

/// One tenant's keys, ready to use.
pub struct TenantKeys {
    /// Shared with every value sealed or opened through the set (see `Encrypted`'s write checks).
    tenant: std::sync::Arc<str>,
    current: u32,
    /// A tenant has a handful of key ids: a linear scan beats hashing on the per-field path.
    ciphers: Vec<KeyCiphers>,
    blind: Option<KeyMaterial>,
    /// Values sealed under `current` through this set: random 96-bit nonces are safe for 2^32
    /// values per key, so operators watch this and rotate long before.
    seals: crate::seals::SealCounter,
    /// The envelope version new values are sealed as (see [`crate::Keyring::seal_version`]).
    seal_version: u8,
    /// Key ids the provider keeps but has disabled: named as such when a value needs one.
    disabled: Vec<u32>,
    /// The keyring's revocations and the epoch this set has checked against (`crate::revoke`).
    revocations: Option<(std::sync::Arc<crate::revoke::Revocations>, u64)>,
    floor: crate::revoke::Floor,
}

impl fmt::Debug for TenantKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self.ciphers.iter().map(|c| c.id).collect();
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
        scrub_stack();
        let mut ciphers: Vec<KeyCiphers> = Vec::with_capacity(keys.len());
        for (id, key) in keys {
            let derived = tenant_key(key, tenant);
            ciphers.push(KeyCiphers {
                id: *id,
                v2: WipedCipher::new(derived.bytes()),
                v1: WipedCipher::new(key.bytes()),
            });
        }
        scrub_stack();
        // The current key first: it is the one every seal uses.
        ciphers.sort_by_key(|c| c.id != current);
        if ciphers.first().is_none_or(|c| c.id != current) {
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
            seals: crate::seals::SealCounter::default(),
            seal_version: crate::format::VERSION,
            disabled: Vec::new(),
            revocations: None,
            floor: crate::revoke::Floor::default(),
        })
    }

    /// The tenant these keys belong to.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The tenant, shared (no copy of the text).
    pub(crate) fn tenant_arc(&self) -> std::sync::Arc<str> {
        self.tenant.clone()
    }

    /// The key id new writes use.
    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    /// How many values have been sealed under the current key through this set — in this process
    /// since the keyring first resolved the key, when the set came from a [`crate::Keyring`]
    /// (the count outlives cache refreshes; see [`crate::Keyring::seal_counts`]).
    /// Other threads' seals count after their next batch (see `seals.rs`: at most 1,023 late).
    pub fn seals(&self) -> u64 {
        self.seals.get()
    }

    /// The envelope version new values are sealed as.
    pub fn seal_version(&self) -> u8 {
        self.seal_version
    }

    /// Seals new values as envelope `version` (1 or 2; others are refused).
    pub fn with_seal_version(mut self, version: u8) -> Result<Self> {
        if version != crate::format::VERSION && version != crate::format::VERSION_1 {
            return Err(Error::KeyProvider {
                tenant: self.tenant.to_string(),
                reason: format!("unknown envelope version {version}"),
            });
        }
        self.seal_version = version;
        Ok(self)
    }

    /// Names `ids` as disabled by the provider (their key material is not in the set).
    pub(crate) fn with_disabled(mut self, ids: Vec<u32>) -> Self {
        self.disabled = ids;
        self
    }

    /// Refuses keys disabled later through `revocations` (a keyring's), and values below `floor`.
    pub(crate) fn watch(
        &mut self,
        revocations: std::sync::Arc<crate::revoke::Revocations>,
        floor: crate::revoke::Floor,
    ) {
        let epoch = revocations.epoch();
        self.revocations = Some((revocations, epoch));
        self.floor = floor;
    }

    /// The key ids of the set.
    pub(crate) fn key_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.ciphers.iter().map(|c| c.id)
    }

    /// Whether `key_id` (of an envelope of `version`) may open a value: not disabled by the
    /// provider or since through the keyring, not below the floor. The common case — nothing
    /// disabled, no floor crossed — is one atomic load and two compares, inline.
    #[inline]
    pub(crate) fn check_usable(&self, key_id: u32, version: u8, column: &str) -> Result<()> {
        let changed = self
            .revocations
            .as_ref()
            .is_some_and(|(r, seen)| r.epoch() != *seen);
        if !changed
            && self.disabled.is_empty()
            && version >= self.floor.min_version
            && key_id >= self.floor.min_key_id
        {
            return Ok(());
        }
        self.check_usable_slow(key_id, version, column)
    }

    #[cold]
    #[inline(never)]
    fn check_usable_slow(&self, key_id: u32, version: u8, column: &str) -> Result<()> {
        let place = || crate::error::Place {
            tenant: self.tenant().into(),
            column: column.into(),
        };
        let revoked = self.disabled.contains(&key_id)
            || self
                .revocations
                .as_ref()
                .is_some_and(|(r, _)| r.is_disabled(&self.tenant, key_id));
        if revoked {
            return Err(Error::KeyDisabled {
                key_id,
                place: place(),
            });
        }
        let floor = self.floor;
        if version < floor.min_version || key_id < floor.min_key_id {
            return Err(Error::BelowFloor {
                place: place(),
                version,
                key_id,
                min_version: floor.min_version,
                min_key_id: floor.min_key_id,
            });
        }
        Ok(())
    }

    /// Counts this set's seals on `counter` (the keyring's, shared by every set of the key).
    pub(crate) fn count_seals_on(&mut self, counter: crate::seals::SealCounter) {
        self.seals = counter;
    }

    pub(crate) fn count_seal(&self) {
        self.seals.add_one();
    }

    /// Whether the set holds `key_id`.
    pub fn has_key(&self, key_id: u32) -> bool {
        self.cipher(key_id).is_some()
    }

    /// The version 2 cipher of `key_id` (the key derived for this tenant).
    pub(crate) fn cipher(&self, key_id: u32) -> Option<&LessSafeKey> {
        self.ciphers.iter().find(|c| c.id == key_id).map(|c| &*c.v2)
    }

    /// The version 1 cipher of `key_id` (the key itself).
    pub(crate) fn cipher_v1(&self, key_id: u32) -> Option<&LessSafeKey> {
        self.ciphers.iter().find(|c| c.id == key_id).map(|c| &*c.v1)
    }

    pub(crate) fn blind_key(&self) -> Option<&KeyMaterial> {
        self.blind.as_ref()
    }
}

#[cfg(test)]
mod tests;
