//! The column digest of envelope version 2: `SHA-256("lsfe/column\0" ‖ "table.column")[..10]`,
//! computed at compile time for every [`crate::ColumnBinding`].
//!
//! Version 2 binds the column through a 10-byte digest so that the whole AAD — the 6-byte header
//! and the digest — is exactly one 16-byte GHASH block (see `envelope`). A `const fn` SHA-256
//! lets `ColumnBinding::DIGEST` be a constant: the per-field path never hashes. Checked against
//! the `sha2` crate in the tests.

/// Bytes of the column digest in the AAD.
pub const DIGEST_LEN: usize = 10;

const PREFIX: &[u8] = b"lsfe/column\0";

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// Byte `i` of `PREFIX ‖ name ‖ padding ‖ bit length` (the padded SHA-256 message).
const fn padded_byte(name: &[u8], total: usize, i: usize) -> u8 {
    let len = PREFIX.len() + name.len();
    if i < PREFIX.len() {
        PREFIX[i]
    } else if i < len {
        name[i - PREFIX.len()]
    } else if i == len {
        0x80
    } else if i >= total - 8 {
        let bits = (len as u64) * 8;
        (bits >> (8 * (total - 1 - i))) as u8
    } else {
        0
    }
}

const fn sha256(name: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let total = (PREFIX.len() + name.len() + 9).div_ceil(64) * 64;
    let mut block = 0;
    while block < total / 64 {
        let mut w = [0u32; 64];
        let mut t = 0;
        while t < 16 {
            let at = block * 64 + t * 4;
            w[t] = u32::from_be_bytes([
                padded_byte(name, total, at),
                padded_byte(name, total, at + 1),
                padded_byte(name, total, at + 2),
                padded_byte(name, total, at + 3),
            ]);
            t += 1;
        }
        while t < 64 {
            let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
            let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16]
                .wrapping_add(s0)
                .wrapping_add(w[t - 7])
                .wrapping_add(s1);
            t += 1;
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        t = 0;
        while t < 64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[t])
                .wrapping_add(w[t]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
            t += 1;
        }
        let add = [a, b, c, d, e, f, g, hh];
        let mut i = 0;
        while i < 8 {
            h[i] = h[i].wrapping_add(add[i]);
            i += 1;
        }
        block += 1;
    }
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 8 {
        let word = h[i].to_be_bytes();
        out[4 * i] = word[0];
        out[4 * i + 1] = word[1];
        out[4 * i + 2] = word[2];
        out[4 * i + 3] = word[3];
        i += 1;
    }
    out
}

/// The version 2 column digest of `column` (`table.column`).
pub const fn column_digest(column: &str) -> [u8; DIGEST_LEN] {
    let full = sha256(column.as_bytes());
    let mut out = [0u8; DIGEST_LEN];
    let mut i = 0;
    while i < DIGEST_LEN {
        out[i] = full[i];
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn matches_sha2_at_every_padding_boundary() {
        for len in 0..200 {
            let name: String = "n".repeat(len);
            let want = Sha256::new()
                .chain_update(PREFIX)
                .chain_update(name.as_bytes())
                .finalize();
            assert_eq!(sha256(name.as_bytes())[..], want[..], "length {len}");
            assert_eq!(column_digest(&name), want[..DIGEST_LEN], "length {len}");
        }
        const AT_COMPILE_TIME: [u8; DIGEST_LEN] = column_digest("notes.body");
        assert_eq!(AT_COMPILE_TIME, column_digest(&String::from("notes.body")));
        assert_ne!(column_digest("notes.body"), column_digest("notes.title"));
    }
}
