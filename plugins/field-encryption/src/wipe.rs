//! A cipher whose every byte is overwritten when it is dropped.
//!
//! `aes-gcm` 0.10 leaves key material in memory it frees: its GHASH key `H` = AES_K(0¹²⁸)
//! (enough to forge tags under a seen nonce) sits in polyval 0.6's autodetect backend, a union
//! of `ManuallyDrop` backends that is never dropped, so the backends' `zeroize`-on-drop never
//! runs; and `aes`'s backend union is as large as its biggest backend, so the unused tail of a
//! cipher holds whatever the stack held when the cipher was built — key schedule residue of
//! the key built just before it (`tests/wipe.rs` found the version 2 key's first round key
//! there). Overwriting fields cannot reach those bytes; zeroing the whole value can.

// The one unsafe operation: zeroing a dropped value's bytes (see the SAFETY comment).
#![allow(unsafe_code)]

use std::mem::ManuallyDrop;
use std::ops::Deref;

use aes_gcm::Aes256Gcm;

/// An `Aes256Gcm` that, when dropped, first runs its own drop (`aes` wipes its round keys) and
/// then zeroes all of its bytes, padding and union tails included.
pub(crate) struct WipedCipher(ManuallyDrop<Aes256Gcm>);

impl WipedCipher {
    pub(crate) fn new(cipher: Aes256Gcm) -> Self {
        WipedCipher(ManuallyDrop::new(cipher))
    }
}

impl Deref for WipedCipher {
    type Target = Aes256Gcm;

    fn deref(&self) -> &Aes256Gcm {
        &self.0
    }
}

impl Drop for WipedCipher {
    fn drop(&mut self) {
        // SAFETY: `self.0` is dropped exactly once, here, and never used again (this is
        // `WipedCipher`'s own drop, and `ManuallyDrop` keeps the compiler from dropping it a
        // second time). After its drop its bytes are plain memory: `Aes256Gcm` owns no pointer,
        // reference or heap data (round keys, the GHASH state and a CPU-feature token, all
        // inline), so overwriting them with zeros frees nothing and leaves no dangling
        // reference; `zeroize_flat_type` writes volatilely, so the stores are not removed as
        // dead before the memory is freed.
        unsafe {
            ManuallyDrop::drop(&mut self.0);
            zeroize::zeroize_flat_type(&raw mut self.0);
        }
    }
}
