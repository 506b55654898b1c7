//! Key states and how a change reaches every key set in use.
//!
//! ```text
//!  active ──rotate──► decrypt-only ──disable──► disabled ──destroy──► destroyed
//!  (current: seals    (opens old values)        (kept, opens nothing)  (gone; destroy first
//!   and opens)                                                          scans every table)
//! ```
//!
//! A key set ([`crate::TenantKeys`]) handed out by a [`crate::Keyring`] shares the keyring's
//! `Revocations`. Disabling a key through the keyring takes effect **at once** in this process
//! for every set, also ones taken before (each open compares one atomic epoch, and looks the key
//! up only after a change); other processes see it when their cache entry for the tenant is
//! refreshed (at most the cache TTL, 60 s by default, after the change, at their next use of
//! the tenant), and then their older sets refuse it too. A floor ([`Floor`]) refuses values
//! below an envelope version or key id once a table was migrated past them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Key ids disabled in this process, shared by a keyring and every key set it handed out.
#[derive(Debug, Default)]
pub(crate) struct Revocations {
    epoch: AtomicU64,
    disabled: Mutex<Vec<(Arc<str>, u32)>>,
}

impl Revocations {
    /// Records `tenant`'s `key_id` as disabled; every set sees it at its next open.
    pub(crate) fn disable(&self, tenant: &str, key_id: u32) {
        let mut disabled = self
            .disabled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !disabled
            .iter()
            .any(|(t, id)| **t == *tenant && *id == key_id)
        {
            disabled.push((tenant.into(), key_id));
            self.epoch.fetch_add(1, Ordering::Release);
        }
    }

    /// Changes so far: a set that saw this epoch when it was built has nothing to look up.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn is_disabled(&self, tenant: &str, key_id: u32) -> bool {
        self.disabled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|(t, id)| **t == *tenant && *id == key_id)
    }
}

/// The oldest envelopes a tenant still opens: once `rewrap_table` moved every table of the
/// tenant to version 2 (or past a key id), values below are refused ([`crate::Error::BelowFloor`])
/// — like Vault transit's `min_decryption_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Floor {
    /// Lowest envelope version opened (1 or 2; 0 = no floor).
    pub min_version: u8,
    /// Lowest key id opened (0 = no floor).
    pub min_key_id: u32,
}
