//! The versioned envelope and the AES-256-GCM seal/open on it.
//!
//! ```text
//!  0        1     2          6               18                  n-16        n
//!  version  alg   key_id BE  nonce (96 bit)  ciphertext …        tag (128 bit)
//!  └─────────── header, 18 bytes ──────────┘                     34 bytes overhead in all
//!
//!  v2: key = HMAC-SHA256(tenant key id's key, "lsfe/tenant\0" ‖ tenant ‖ 0x01)
//!      AAD = version ‖ alg ‖ key_id ‖ SHA-256("lsfe/column\0" ‖ "table.column")[..10]
//!  v1: key = the key itself
//!      AAD = "lsfe" ‖ version ‖ alg ‖ key_id ‖ len ‖ tenant ‖ len ‖ "table.column"
//! ```
//!
//! The header is authenticated through the AAD, and so are the tenant (through the derived key
//! in version 2, the AAD in version 1) and the column: a value copied to another tenant's row,
//! another column or another table fails to open. Version 2 exists for speed: its AAD is exactly
//! one 16-byte GHASH block, where version 1's 28+ bytes cost two blocks, one of them partial.
//! The column digest is a compile-time constant of each [`crate::ColumnBinding`] and the tenant
//! key is derived once when the keys are resolved, so the per-field path never hashes.
//! Version 1 values still open; new values are version 2, and a rewrap moves old ones over.
//! AES-GCM itself is ring's (`crate::wipe` says why and how its keys are wiped).
//!
//! Nonces come from a per-thread AES-CTR generator seeded from the operating system's RNG and
//! reseeded in a forked child, so a child never repeats its parent's nonces. Random 96-bit
//! nonces keep the collision risk under NIST SP 800-38D's 2^-32 bound for up to 2^32 values per
//! key: rotate keys well before that ([`TenantKeys::seals`] counts them).

use ring::aead::{Aad as RingAad, LessSafeKey, Nonce, Tag};

use crate::digest::{DIGEST_LEN, column_digest};
use crate::error::{Error, Place, Result};
use crate::keys::TenantKeys;

pub use crate::format::{VERSION, VERSION_1};
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
        Header::prefix_of(VERSION, key_id)
    }

    /// The first 6 bytes of an envelope of `version` under `key_id`.
    pub fn prefix_of(version: u8, key_id: u32) -> [u8; 6] {
        let k = key_id.to_be_bytes();
        [version, ALG_AES_256_GCM, k[0], k[1], k[2], k[3]]
    }
}

/// The version 1 AAD, built on the stack. Tenant ids are at most 64 bytes; a column name longer
/// than 50 bytes falls back to the heap.
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
        let mut aad = Aad {
            buf: [0; 128],
            len: total,
            heap: Vec::new(),
        };
        if total <= aad.buf.len() {
            let mut at = 0;
            for part in parts {
                aad.buf[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
        } else {
            aad.heap = parts.concat();
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

impl AsRef<[u8]> for Aad {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

fn place(keys: &TenantKeys, column: &str) -> Place {
    Place {
        tenant: keys.tenant().to_owned(),
        column: column.to_owned(),
    }
}

/// The version 2 AAD: the header's first 6 bytes and the column digest, one GHASH block.
fn aad_block(header: &[u8], digest: &[u8; DIGEST_LEN]) -> [u8; 16] {
    let mut block = [0u8; 16];
    block[..6].copy_from_slice(&header[..6]);
    block[6..].copy_from_slice(digest);
    block
}

/// A row-bound column's version 2 AAD: the block, then `len ‖ row key`.
fn aad_with_row(block: &[u8; 16], row: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(18 + row.len());
    aad.extend_from_slice(block);
    aad.extend_from_slice(&(row.len() as u16).to_be_bytes());
    aad.extend_from_slice(row.as_bytes());
    aad
}

/// The cipher an envelope of `version` under `key_id` uses: the key itself for version 1, the
/// key derived for the tenant for version 2.
#[inline]
fn cipher_for<'k>(
    keys: &'k TenantKeys,
    column: &str,
    version: u8,
    key_id: u32,
) -> Result<&'k LessSafeKey> {
    keys.check_usable(key_id, version, column)?;
    match version {
        VERSION_1 => keys.cipher_v1(key_id),
        _ => keys.cipher(key_id),
    }
    .ok_or_else(|| Error::UnknownKeyId {
        key_id,
        place: place(keys, column),
    })
}

/// Seals `plaintext` for `column` (`table.column`) under the tenant's current key. Hashes the
/// column name per call; the typed path ([`crate::Encrypted`]) uses its compile-time digest.
pub fn seal(keys: &TenantKeys, column: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
    seal_digest(keys, column, &column_digest(column), None, plaintext)
}

/// [`seal`] with the column's digest already computed (`ColumnBinding::DIGEST`), and bound to
/// the row `row` (its key as text) when the column is row-bound.
pub fn seal_digest(
    keys: &TenantKeys,
    column: &str,
    digest: &[u8; DIGEST_LEN],
    row: Option<&str>,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let key_id = keys.current_key_id();
    let version = keys.seal_version();
    let cipher = cipher_for(keys, column, version, key_id)?;
    if version == VERSION_1 && row.is_some() {
        return Err(Error::Encode {
            place: place(keys, column),
            reason: "row binding needs envelope version 2".into(),
        });
    }
    let nonce = crate::nonce::next(column)?;
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(&Header::prefix_of(version, key_id));
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let nonce = Nonce::assume_unique_for_key(nonce);
    let tag = if version == VERSION_1 {
        // Sealing for binaries that predate version 2 (`Keyring::seal_version`).
        let aad = Aad::new(&out, keys.tenant(), column);
        cipher.seal_in_place_separate_tag(
            nonce,
            RingAad::from(aad.as_bytes()),
            &mut out[HEADER_LEN..],
        )
    } else {
        let block = aad_block(&out, digest);
        let body = &mut out[HEADER_LEN..];
        match row {
            None => cipher.seal_in_place_separate_tag(nonce, RingAad::from(block), body),
            Some(row) => {
                let aad = RingAad::from(aad_with_row(&block, row));
                cipher.seal_in_place_separate_tag(nonce, aad, body)
            }
        }
    }
    .map_err(|_| Error::MalformedEnvelope {
        column: column.into(),
        reason: "plaintext too long for AES-GCM".into(),
    })?;
    out.extend_from_slice(tag.as_ref());
    keys.count_seal();
    Ok(out)
}

/// Opens an envelope sealed for `column` by this tenant.
pub fn open(keys: &TenantKeys, column: &str, envelope: &[u8]) -> Result<Vec<u8>> {
    open_digest(keys, column, &column_digest(column), None, envelope)
}

/// [`open`] with the column's digest already computed (`ColumnBinding::DIGEST`), for the row
/// `row` when the column is row-bound. Version 1 envelopes predate row binding and open without.
pub fn open_digest(
    keys: &TenantKeys,
    column: &str,
    digest: &[u8; DIGEST_LEN],
    row: Option<&str>,
    envelope: &[u8],
) -> Result<Vec<u8>> {
    let header = Header::parse(envelope).map_err(|reason| Error::MalformedEnvelope {
        column: column.into(),
        reason,
    })?;
    let cipher = cipher_for(keys, column, header.version, header.key_id)?;
    let body_end = envelope.len() - TAG_LEN;
    let mut plaintext = envelope[HEADER_LEN..body_end].to_vec();
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&envelope[body_end..]);
    let nonce = Nonce::assume_unique_for_key(header.nonce);
    let tag = Tag::from(tag);
    let opened = if header.version == VERSION_1 {
        // Version 1 binds no row: asked to open bound to a row, it does not open (a value moved
        // between rows would). `Keyring::allow_unbound_rows` opens it unbound while
        // `jobs::bind_rows` upgrades it to a bound version 2 value.
        if row.is_some() {
            return Err(Error::Authentication {
                place: place(keys, column),
            });
        }
        let aad = RingAad::from(Aad::new(envelope, keys.tenant(), column));
        cipher.open_in_place_separate_tag(nonce, aad, tag, &mut plaintext, 0..)
    } else {
        let block = aad_block(envelope, digest);
        match row {
            None => cipher.open_in_place_separate_tag(
                nonce,
                RingAad::from(block),
                tag,
                &mut plaintext,
                0..,
            ),
            Some(row) => {
                let aad = RingAad::from(aad_with_row(&block, row));
                cipher.open_in_place_separate_tag(nonce, aad, tag, &mut plaintext, 0..)
            }
        }
    };
    opened.map_err(|_| Error::Authentication {
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

/// Whether a stored binary value may be an envelope — whole, truncated or damaged — so that
/// migration mode must open it (authenticate or fail) instead of taking it as a value written
/// before encryption. Legacy values are text: UTF-8 without control characters other than tab,
/// LF and CR (the empty value included, which no envelope is). Every envelope starts with its
/// version (1 or 2) and algorithm (1) bytes, both control characters, so no prefix of one and no
/// single flipped bit can pass as text. (Before this, a damaged header made `Header::parse` fail
/// and the bytes came back as plaintext: 16 of 400 bit flips and truncations did.)
pub fn may_be_envelope(stored: &[u8]) -> bool {
    match std::str::from_utf8(stored) {
        Ok(text) => text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')),
        Err(_) => true,
    }
}

/// [`may_be_envelope`] for a Base64 column: the text is an envelope's Base64, whole, damaged
/// or truncated — Base64 alphabet only and starting like version 1 or 2 (`AQ`, `Ag`), or
/// decoding to bytes of which one of the first two is a control byte. Other text is a value
/// written before encryption.
pub fn may_be_envelope_text(stored: &str) -> bool {
    let alphabet = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    let starts_like_one =
        (stored.starts_with("AQ") || stored.starts_with("Ag")) && stored.chars().all(alphabet);
    starts_like_one || from_base64(stored, "").is_ok_and(|b| b.iter().take(2).any(|x| *x < 0x20))
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
mod tests;
