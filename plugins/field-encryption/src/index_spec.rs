//! How a column's blind index is computed, declared with the column (`encrypted_column!`'s
//! fourth argument) and used by [`crate::blind`].

/// How a column's blind index is computed: the version and the text normalisers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    /// Version 2: the tenant id is part of the HMAC input.
    pub tenant_bound: bool,
    /// Strip leading and trailing Unicode white space.
    pub trim: bool,
    /// Unicode lowercase.
    pub lowercase: bool,
    /// Unicode Normalization Form C (composed: `e` + U+0301 and `é` index alike).
    pub nfc: bool,
}

impl IndexSpec {
    /// The original index: column and plaintext, no tenant, no normalisation.
    pub const V1: IndexSpec = IndexSpec {
        tenant_bound: false,
        trim: false,
        lowercase: false,
        nfc: false,
    };
    /// Version 2 without normalisers.
    pub const V2: IndexSpec = IndexSpec {
        tenant_bound: true,
        ..IndexSpec::V1
    };

    /// Adds trimming. Normalisers exist in version 2 only, so this makes the spec version 2.
    pub const fn trim(self) -> Self {
        IndexSpec {
            trim: true,
            tenant_bound: true,
            ..self
        }
    }

    /// Adds lowercasing (and makes the spec version 2, see [`IndexSpec::trim`]).
    pub const fn lowercase(self) -> Self {
        IndexSpec {
            lowercase: true,
            tenant_bound: true,
            ..self
        }
    }

    /// Adds NFC (and makes the spec version 2, see [`IndexSpec::trim`]).
    pub const fn nfc(self) -> Self {
        IndexSpec {
            nfc: true,
            tenant_bound: true,
            ..self
        }
    }

    pub(crate) fn flags(self) -> u8 {
        u8::from(self.trim) | u8::from(self.lowercase) << 1 | u8::from(self.nfc) << 2
    }

    /// The bytes the HMAC sees: normalised text, or `bytes` as they are without normalisers.
    pub(crate) fn normalise(self, bytes: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
        if self.flags() == 0 {
            return Ok(bytes);
        }
        let text = String::from_utf8(bytes).map_err(|_| "normalisers apply to text only")?;
        let mut text: String = if self.trim {
            text.trim().to_owned()
        } else {
            text
        };
        if self.lowercase {
            text = text.to_lowercase();
        }
        if self.nfc {
            use unicode_normalization::UnicodeNormalization as _;
            text = text.nfc().collect();
        }
        Ok(text.into_bytes())
    }
}
