//! Nonces for AES-GCM: random 96-bit values from a per-thread generator that reseeds from the
//! operating system and in every forked child.

use crate::error::{Error, Result};

/// Nonces a thread draws from one seed before it reseeds from the operating system.
const RESEED_AFTER: u32 = 1 << 16;

/// A thread's nonce generator: AES-128 in counter mode under a key drawn from the operating
/// system's RNG (the construction of NIST SP 800-90A's CTR_DRBG, and of BoringSSL's per-thread
/// RNG), reseeded every [`RESEED_AFTER`] nonces and in every forked child.
///
/// It replaced a pool of `getrandom` bytes, whose kernel ChaCha20 showed up in a `perf` profile
/// of the seal loop (`examples/cost.rs seal`); one AES block per nonce costs a few instructions. Within one seed the 128-bit blocks never repeat
/// (AES permutes distinct counters), so the 96-bit nonces cut from them collide no more often
/// than random ones; across seeds, threads and processes they are as random as the seeds.
///
/// `fork()` copies the generator into the child, so parent and child would hand out the same
/// nonces under the same key — keystream reuse and forgeable tags with GCM. It therefore
/// remembers the process generation it was seeded in (`fork::generation`, bumped in every child)
/// and reseeds when that differs. A VM snapshot restored twice is not detected: both copies would
/// continue the same sequence until their next reseed — restore snapshots only of stopped
/// services. The AES key is wiped on reseed and at thread exit (`aes` built with `zeroize`).
struct NonceSource {
    generation: u64,
    cipher: Option<aes::Aes128>,
    counter: u64,
    left: u32,
    /// Nonces made ahead: AES-NI encrypts 8 blocks in parallel for little more than one.
    batch: [[u8; 16]; BATCH],
    next: usize,
}

/// Nonces computed per AES call.
const BATCH: usize = 16;

thread_local! {
    static NONCES: std::cell::RefCell<NonceSource> = const {
        std::cell::RefCell::new(NonceSource {
            generation: 0,
            cipher: None,
            counter: 0,
            left: 0,
            batch: [[0; 16]; BATCH],
            next: BATCH,
        })
    };
}

/// A fresh 96-bit nonce (see [`NonceSource`]); `column` names the field in an error.
pub(crate) fn next(column: &str) -> Result<[u8; 12]> {
    use aes::cipher::{BlockEncrypt, KeyInit};
    let generation = crate::fork::generation();
    NONCES.with(|source| {
        let mut source = source.borrow_mut();
        if source.generation != generation || source.left == 0 || source.cipher.is_none() {
            // Forget the old seed first, so a failed draw leaves nothing to hand out twice.
            source.cipher = None;
            let mut seed = zeroize::Zeroizing::new([0u8; 16]);
            getrandom::fill(&mut seed[..]).map_err(|e| Error::Random {
                column: column.to_owned(),
                reason: e.to_string(),
            })?;
            source.cipher = Some(aes::Aes128::new(&(*seed).into()));
            source.generation = generation;
            source.counter = 0;
            source.left = RESEED_AFTER;
            source.next = BATCH;
        }
        if source.next == BATCH {
            let first = source.counter;
            let mut blocks = [aes::Block::default(); BATCH];
            for (i, block) in blocks.iter_mut().enumerate() {
                block[..8].copy_from_slice(&(first + i as u64).to_le_bytes());
            }
            let cipher = source.cipher.as_ref().ok_or_else(|| Error::Random {
                column: column.to_owned(),
                reason: "nonce generator not seeded".into(),
            })?;
            cipher.encrypt_blocks(&mut blocks);
            for (slot, block) in source.batch.iter_mut().zip(&blocks) {
                slot.copy_from_slice(block);
            }
            source.counter += BATCH as u64;
            source.next = 0;
        }
        let block = source.batch[source.next];
        source.next += 1;
        source.left -= 1;
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&block[..12]);
        Ok(nonce)
    })
}
