//! A cipher in a heap block of its own whose every byte is overwritten when it is dropped.
//!
//! The AES-256-GCM implementation is `ring`'s (BoringSSL's assembly: AES-NI with PCLMULQDQ, or
//! VAES with VPCLMULQDQ), which seals a 256-byte field in about half the time of `aes-gcm` 0.10
//! (`examples/bench.rs`). Its key object holds the expanded AES round keys and a table of
//! powers of the GHASH key `H` = AES_K(0¹²⁸) — enough to forge tags under a seen nonce — and has
//! no `Drop` of its own, so dropping it leaves all of that in freed memory. The key is
//! therefore built into one heap block that is never moved (a move copies bytes and does not
//! wipe the source) and zeroed whole on drop: round keys, the `H` table, padding, and the unused
//! tail of the enum of CPU-specific backends, which holds whatever the stack held when it was
//! built. `tests/wipe.rs` searches every freed block for every 16-byte window of the live key
//! object.

// The one unsafe operation: zeroing a dropped key's bytes (see the SAFETY comments).
#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::ops::Deref;

use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};

/// An AES-256-GCM key whose bytes are zeroed when it is dropped.
pub(crate) struct WipedCipher(Box<MaybeUninit<LessSafeKey>>);

impl WipedCipher {
    /// Expands `key` straight into its heap block.
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let unbound = UnboundKey::new(&AES_256_GCM, key).expect("AES-256-GCM takes 32-byte keys");
        let mut block = Box::new(MaybeUninit::<LessSafeKey>::uninit());
        block.write(LessSafeKey::new(unbound));
        WipedCipher(block)
    }
}

impl Deref for WipedCipher {
    type Target = LessSafeKey;

    fn deref(&self) -> &LessSafeKey {
        // SAFETY: `new` initialises the block and nothing de-initialises it before `drop`.
        unsafe { self.0.assume_init_ref() }
    }
}

impl Drop for WipedCipher {
    fn drop(&mut self) {
        // SAFETY: the value was initialised by `new` and is dropped exactly once, here, and
        // never used again. After its drop its bytes are plain memory: `LessSafeKey` owns no
        // heap data (round keys, the `H` table and an algorithm reference, all inline), so
        // overwriting them frees nothing; all zeros is a valid `MaybeUninit`, whatever the
        // type inside; `zeroize_flat_type` writes volatilely, so the stores are not removed as
        // dead before the block is freed.
        unsafe {
            self.0.assume_init_drop();
            zeroize::zeroize_flat_type(&raw mut *self.0);
        }
    }
}
