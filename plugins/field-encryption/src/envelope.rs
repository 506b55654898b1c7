//! The versioned envelope and the AES-256-GCM seal/open on it.
//!
//! ```text
//!  0        1     2          6               18                  n-16        n
//!  version  alg   key_id BE  nonce (96 bit)  ciphertext …        tag (128 bit)
//!  └─────────── header, 18 bytes ──────────┘                     34 bytes overhead in all
//!
//!  AAD = "lsfe" ‖ version ‖ alg ‖ key_id ‖ len ‖ tenant ‖ len ‖ "table.column" ‖ zeros
//! ```
//!
//! Version 2 pads the AAD with zeros to a multiple of 16 bytes, GHASH's block: aes-gcm 0.10 takes
//! a slow path for a partial final AAD block that cost ~45 ns per seal and per open at 256 bytes
//! (16 or 32 bytes of AAD cost 5–15 ns, 17 or 28 bytes ~55 ns). The length prefixes keep the
//! padding unambiguous. Version 1 (no padding) still opens; new values are sealed as version 2.
//!
//! The header is authenticated through the AAD, and so are the tenant and the column: a value
//! copied to another tenant's row, another column or another table fails to open. Nonces are
//! random, drawn from the operating system's RNG 256 nonces at a time per thread; the pool is
//! discarded in a forked child, so it never repeats its parent's nonces.
//! Random 96-bit nonces keep the collision risk under NIST SP 800-38D's 2^-32 bound for up to
//! 2^32 values per key: rotate keys well before that ([`TenantKeys::seals`] counts them).

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Nonce, Tag};

use crate::error::{Error, Place, Result};
use crate::keys::TenantKeys;

/// Envelope format version new values are sealed with.
pub const VERSION: u8 = 2;
/// The first version: AAD not padded. Still opens.
pub const VERSION_1: u8 = 1;
/// Algorithm byte for AES-256-GCM.
pub const ALG_AES_256_GCM: u8 = 1;
/// Bytes before the ciphertext.
pub const HEADER_LEN: usize = 18;
/// Bytes of the GCM tag.
pub const TAG_LEN: usize = 16;
/// Total bytes an envelope adds to the plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// The parsed header of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u8,
    /// Algorithm.
    pub alg: u8,
    /// Key id that sealed the value.
    pub key_id: u32,
    /// The 96-bit nonce.
    pub nonce: [u8; 12],
}

impl Header {
    /// Reads and checks the header of `envelope`.
    pub fn parse(envelope: &[u8]) -> std::result::Result<Header, String> {
        if envelope.len() < OVERHEAD {
            return Err(format!(
                "{} bytes is shorter than the {OVERHEAD}-byte envelope overhead",
                envelope.len()
            ));
        }
        if envelope[0] != VERSION && envelope[0] != VERSION_1 {
            return Err(format!("unknown envelope version {}", envelope[0]));
        }
        if envelope[1] != ALG_AES_256_GCM {
            return Err(format!("unknown algorithm {}", envelope[1]));
        }
        let key_id = u32::from_be_bytes([envelope[2], envelope[3], envelope[4], envelope[5]]);
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&envelope[6..18]);
        Ok(Header {
            version: envelope[0],
            alg: envelope[1],
            key_id,
            nonce,
        })
    }

    /// Whether `head` starts like an envelope of a version this crate opens.
    pub fn is_prefix(head: &[u8]) -> bool {
        head.len() >= 2
            && (head[0] == VERSION || head[0] == VERSION_1)
            && head[1] == ALG_AES_256_GCM
    }

    /// The first 6 bytes (version, algorithm, key id) of a new envelope: what a re-encryption
    /// job matches on (older versions on the same key id differ, so a rewrap also upgrades them).
    pub fn prefix(key_id: u32) -> [u8; 6] {
        let k = key_id.to_be_bytes();
        [VERSION, ALG_AES_256_GCM, k[0], k[1], k[2], k[3]]
    }
}

/// The AAD, built on the stack: seal and open run per field, and a heap allocation here was a
/// measurable share of a 256-byte seal. Tenant ids are at most 64 bytes; a column name longer
/// than about 40 bytes falls back to the heap. Version 2 pads it to whole 16-byte blocks.
struct Aad {
    buf: [u8; 128],
    len: usize,
    heap: Vec<u8>,
}

impl Aad {
    fn new(header: &[u8], tenant: &str, column: &str) -> Aad {
        let parts: [&[u8]; 6] = [
            b"lsfe",
            &header[..6],
            &(tenant.len() as u16).to_be_bytes(),
            tenant.as_bytes(),
            &(column.len() as u16).to_be_bytes(),
            column.as_bytes(),
        ];
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let padded = if header[0] == VERSION_1 {
            total
        } else {
            total.next_multiple_of(16)
        };
        let mut aad = Aad {
            buf: [0; 128],
            len: padded,
            heap: Vec::new(),
        };
        if padded <= aad.buf.len() {
            let mut at = 0;
            for part in parts {
                aad.buf[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
        } else {
            aad.heap = parts.concat();
            aad.heap.resize(padded, 0);
        }
        aad
    }

    fn as_bytes(&self) -> &[u8] {
        if self.heap.is_empty() {
            &self.buf[..self.len]
        } else {
            &self.heap
        }
    }
}

/// Nonces handed out per refill of a thread's pool: one `getrandom` call per 256 seals.
const POOL_NONCES: usize = 256;

/// A thread's stock of random nonce bytes and the process that drew them.
///
/// `fork()` copies the pool into the child, and rand's thread RNG does not reseed on fork, so a
/// parent and child would hand out the same nonces under the same key — keystream reuse and
/// forgeable tags with GCM. The pool therefore remembers the process generation it was filled
/// in (`fork::generation`, bumped in every child) and is thrown away when it differs, and it is
/// filled from the operating system's RNG (`getrandom`), never from a user-space generator.
/// A VM snapshot restored twice is not detected: both copies would hand out the rest of the
/// pool (at most 255 nonces) — restore snapshots only of stopped services.
struct NoncePool {
    generation: u64,
    bytes: [u8; 12 * POOL_NONCES],
    used: usize,
}

thread_local! {
    static NONCE_POOL: std::cell::RefCell<NoncePool> = const {
        std::cell::RefCell::new(NoncePool { generation: 0, bytes: [0; 12 * POOL_NONCES], used: 12 * POOL_NONCES })
    };
}

/// A fresh 96-bit nonce from the OS RNG, drawn `POOL_NONCES` at a time per thread and process.
fn next_nonce(column: &str) -> Result<[u8; 12]> {
    let generation = crate::fork::generation();
    NONCE_POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.generation != generation || pool.used == pool.bytes.len() {
            // Forget whatever the pool held before drawing anew, so a failed draw leaves nothing
            // that could be handed out twice.
            pool.bytes.fill(0);
            pool.used = pool.bytes.len();
            getrandom::fill(&mut pool.bytes).map_err(|e| Error::Random {
                column: column.to_owned(),
                reason: e.to_string(),
            })?;
            pool.generation = generation;
            pool.used = 0;
        }
        let at = pool.used;
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&pool.bytes[at..at + 12]);
        // Never hand out the same bytes twice.
        pool.bytes[at..at + 12].fill(0);
        pool.used += 12;
        Ok(nonce)
    })
}

fn place(keys: &TenantKeys, column: &str) -> Place {
    Place {
        tenant: keys.tenant().to_owned(),
        column: column.to_owned(),
    }
}

/// Seals `plaintext` for `column` (`table.column`) under the tenant's current key.
pub fn seal(keys: &TenantKeys, column: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
    let key_id = keys.current_key_id();
    let cipher = keys.cipher(key_id).ok_or_else(|| Error::UnknownKeyId {
        key_id,
        place: place(keys, column),
    })?;
    let nonce = next_nonce(column)?;
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(&Header::prefix(key_id));
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let aad = Aad::new(&out, keys.tenant(), column);
    let tag = cipher
        .encrypt_in_place_detached(&Nonce::from(nonce), aad.as_bytes(), &mut out[HEADER_LEN..])
        .map_err(|_| Error::MalformedEnvelope {
            column: column.into(),
            reason: "plaintext too long for AES-GCM".into(),
        })?;
    out.extend_from_slice(&tag);
    keys.count_seal();
    Ok(out)
}

/// Opens an envelope sealed for `column` by this tenant.
pub fn open(keys: &TenantKeys, column: &str, envelope: &[u8]) -> Result<Vec<u8>> {
    let header = Header::parse(envelope).map_err(|reason| Error::MalformedEnvelope {
        column: column.into(),
        reason,
    })?;
    let cipher = keys
        .cipher(header.key_id)
        .ok_or_else(|| Error::UnknownKeyId {
            key_id: header.key_id,
            place: place(keys, column),
        })?;
    let body_end = envelope.len() - TAG_LEN;
    let mut plaintext = envelope[HEADER_LEN..body_end].to_vec();
    let aad = Aad::new(envelope, keys.tenant(), column);
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&envelope[body_end..]);
    cipher
        .decrypt_in_place_detached(
            &Nonce::from(header.nonce),
            aad.as_bytes(),
            &mut plaintext,
            &Tag::from(tag),
        )
        .map_err(|_| Error::Authentication {
            place: place(keys, column),
        })?;
    Ok(plaintext)
}

/// The base64 form of an envelope, for TEXT columns. Base64 keeps the 6-byte prefix in the first
/// 8 characters, so a job can still select rows by key id.
pub fn to_base64(envelope: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(envelope)
}

/// Decodes [`to_base64`].
pub fn from_base64(text: &str, column: &str) -> Result<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| Error::MalformedEnvelope {
            column: column.into(),
            reason: "not base64".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyMaterial;
    use proptest::prelude::*;

    fn keys(tenant: &str, current: u32) -> TenantKeys {
        let k1 = KeyMaterial::new([1; 32]);
        let k2 = KeyMaterial::new([2; 32]);
        TenantKeys::new(tenant, current, &[(1, k1), (2, k2)], None).unwrap()
    }

    #[test]
    fn envelope_layout_and_overhead() {
        let k = keys("acme", 2);
        let env = seal(&k, "notes.body", b"hello").unwrap();
        assert_eq!(env.len(), 5 + OVERHEAD);
        assert_eq!(OVERHEAD, 34);
        let h = Header::parse(&env).unwrap();
        assert_eq!((h.version, h.alg, h.key_id), (VERSION, 1, 2));
        assert_eq!(&env[..6], &Header::prefix(2));
        assert_eq!(open(&k, "notes.body", &env).unwrap(), b"hello");
        assert!(
            !env.windows(5).any(|w| w == b"hello"),
            "plaintext visible in the envelope"
        );
    }

    /// A version 1 envelope (unpadded AAD), computed independently from the documented layout
    /// with aes-gcm alone: key 0x01 × 32, key id 1, nonce 0x11 × 12, tenant `acme`, column
    /// `notes.body`, plaintext "hello". Values sealed before version 2 keep opening.
    #[test]
    fn version_1_envelopes_still_open() {
        let hex = "010100000001111111111111111111111111e554bcdd11fe4db6f28aa375f8d188778ff2250bdb";
        let env: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let k = keys("acme", 1);
        assert_eq!(open(&k, "notes.body", &env).unwrap(), b"hello");
        assert!(open(&k, "notes.title", &env).is_err());
        // The same bytes relabelled version 2 (padded AAD) fail: the version is bound.
        let mut relabelled = env;
        relabelled[0] = VERSION;
        assert!(matches!(
            open(&k, "notes.body", &relabelled),
            Err(Error::Authentication { .. })
        ));
        // New values are version 2 and pad the AAD to whole blocks.
        assert_eq!(seal(&k, "notes.body", b"x").unwrap()[0], 2);
        for (tenant, column) in [
            ("acme", "notes.body"),
            (&"t".repeat(64)[..], &"c".repeat(70)[..]),
        ] {
            let aad = Aad::new(&[VERSION, 1, 0, 0, 0, 1], tenant, column);
            assert_eq!(aad.as_bytes().len() % 16, 0, "{tenant} {column}");
        }
    }

    #[test]
    fn aad_binds_tenant_column_and_table() {
        let acme = keys("acme", 1);
        let env = seal(&acme, "notes.body", b"secret").unwrap();
        // Same key bytes, other tenant: the AAD differs.
        let globex = keys("globex", 1);
        assert!(matches!(
            open(&globex, "notes.body", &env),
            Err(Error::Authentication { .. })
        ));
        assert!(matches!(
            open(&acme, "notes.title", &env),
            Err(Error::Authentication { .. })
        ));
        assert!(matches!(
            open(&acme, "drafts.body", &env),
            Err(Error::Authentication { .. })
        ));
        let only_k1 = TenantKeys::new("acme", 1, &[(1, KeyMaterial::new([1; 32]))], None).unwrap();
        let env2 = seal(&keys("acme", 2), "notes.body", b"x").unwrap();
        assert!(matches!(
            open(&only_k1, "notes.body", &env2),
            Err(Error::UnknownKeyId { key_id: 2, .. })
        ));
    }

    #[test]
    fn malformed_envelopes_are_typed_errors() {
        let k = keys("acme", 1);
        for (bytes, want) in [
            (vec![1u8; 10], "shorter"),
            ([vec![9u8], vec![1; 40]].concat(), "version 9"),
            ([vec![1u8, 7], vec![1; 40]].concat(), "algorithm 7"),
        ] {
            let err = open(&k, "notes.body", &bytes).unwrap_err();
            assert!(
                matches!(err, Error::MalformedEnvelope { .. }) && err.to_string().contains(want),
                "{err}"
            );
        }
        assert!(from_base64("%%%", "n.b").is_err());
    }

    #[test]
    fn nonces_never_repeat_over_a_million_seals() {
        let k = keys("acme", 1);
        let mut seen = std::collections::HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let env = seal(&k, "t.c", b"").unwrap();
            let nonce: [u8; 12] = env[6..18].try_into().unwrap();
            assert!(seen.insert(nonce), "nonce repeated");
        }
    }

    proptest! {
        #[test]
        fn round_trips_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let k = keys("acme", 1);
            let env = seal(&k, "t.c", &data).unwrap();
            prop_assert_eq!(open(&k, "t.c", &env).unwrap(), data);
            let b64 = to_base64(&env);
            prop_assert_eq!(from_base64(&b64, "t.c").unwrap(), env);
        }

        #[test]
        fn any_single_bit_flip_fails_to_open(data in proptest::collection::vec(any::<u8>(), 0..256), bit in any::<prop::sample::Index>()) {
            let k = keys("acme", 1);
            let mut env = seal(&k, "t.c", &data).unwrap();
            let i = bit.index(env.len() * 8);
            env[i / 8] ^= 1 << (i % 8);
            prop_assert!(open(&k, "t.c", &env).is_err());
        }
    }
}
