//! Key material: 32 bytes in a heap block of their own, zeroized on drop, never printed, and
//! how key files spell it.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// 32 bytes of key material. Zeroized on drop; never printed.
///
/// The bytes live in one heap block of their own, so moving a `KeyMaterial` (or a provider or
/// keyring holding one) copies a pointer, never the key: a moved-from stack slot is not wiped,
/// and such slots end up in heap blocks as the padding of values built later on the stack.
#[derive(Clone)]
pub struct KeyMaterial(Box<[u8; 32]>);

impl Drop for KeyMaterial {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for KeyMaterial {}

impl KeyMaterial {
    /// A zeroed key in its own heap block, filled in place by the constructors.
    fn zeroed() -> Self {
        KeyMaterial(Box::new([0u8; 32]))
    }
}

impl KeyMaterial {
    /// Wraps 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        let mut key = KeyMaterial::zeroed();
        key.0.copy_from_slice(&bytes);
        key
    }

    /// A fresh random key from the operating system's RNG (not a user-space generator whose
    /// state a `fork()` would copy into the child).
    ///
    /// # Panics
    /// When the OS has no randomness to give (`getrandom` fails), which no usable system does.
    pub fn generate() -> Self {
        let mut key = KeyMaterial::zeroed();
        getrandom::fill(&mut key.0[..]).expect("the operating system's RNG failed");
        key
    }

    /// Takes exactly 32 bytes (an unwrapped data key).
    pub fn from_slice(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() != 32 {
            return Err(format!("{} bytes, want 32", bytes.len()));
        }
        let mut key = KeyMaterial::zeroed();
        key.0.copy_from_slice(bytes);
        Ok(key)
    }

    /// Decodes a key stored in `encoding`. Each encoding is strict, so a key written in one form
    /// is never read as another: raw is exactly 32 bytes that do not look like text (a random key
    /// is all printable ASCII or white space with probability (99/256)^32 ≈ 6·10^-14; a passphrase or hex
    /// always is), hex is 64 hex digits and base64 decodes to exactly 32 bytes, both with at most
    /// one trailing newline. Intermediate buffers are wiped.
    pub fn decode(data: &[u8], encoding: KeyEncoding) -> std::result::Result<Self, String> {
        use base64::Engine as _;
        let text = || {
            let data = data
                .strip_suffix(b"\n")
                .map(|d| d.strip_suffix(b"\r").unwrap_or(d))
                .unwrap_or(data);
            std::str::from_utf8(data).map_err(|_| format!("{encoding} key is not text"))
        };
        match encoding {
            KeyEncoding::Raw => {
                if data.len() == 32
                    && data
                        .iter()
                        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
                {
                    return Err(
                        "32 bytes of text, not raw key bytes: store text keys as hex \
                                (`.hex`) or base64 (`.b64`)"
                            .into(),
                    );
                }
                KeyMaterial::from_slice(data).map_err(|e| {
                    format!("{e}: a raw key is exactly 32 bytes (hex or base64 text needs the `.hex` or `.b64` suffix)")
                })
            }
            KeyEncoding::Hex => {
                let text = text()?;
                if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "a hex key is 64 hex digits, this is {} characters",
                        text.len()
                    ));
                }
                let mut key = KeyMaterial::zeroed();
                for (i, byte) in key.0.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                        .map_err(|e| e.to_string())?;
                }
                Ok(key)
            }
            KeyEncoding::Base64 => {
                let decoded = zeroize::Zeroizing::new(
                    base64::engine::general_purpose::STANDARD
                        .decode(text()?)
                        .map_err(|_| "not valid base64".to_string())?,
                );
                KeyMaterial::from_slice(&decoded).map_err(|e| format!("base64 decodes to {e}"))
            }
        }
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

/// How a key is written in a file: the file name's suffix declares it (`.key` raw, `.key.hex`,
/// `.key.b64`), so the loader never guesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    /// Exactly 32 bytes.
    Raw,
    /// 64 hex digits.
    Hex,
    /// Standard base64 of 32 bytes.
    Base64,
}

impl fmt::Display for KeyEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyEncoding::Raw => "raw",
            KeyEncoding::Hex => "hex",
            KeyEncoding::Base64 => "base64",
        })
    }
}
