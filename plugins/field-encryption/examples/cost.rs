//! One operation in a loop, for instruction counts: `raw-enc`/`raw-dec` (aes-gcm 0.10),
//! `ring-enc`/`ring-dec` (ring 0.17, the AEAD the plugin uses), `seal` or `open` of a
//! 256-byte value (`SIZE` to change), `N` times (default 200,000). Run by `bench/instructions.sh`
//! under `perf stat` or callgrind; the per-operation difference is the envelope's cost.
use std::hint::black_box;

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use lockstep_field_encryption::digest::column_digest;
use lockstep_field_encryption::envelope::{open_digest, seal_digest};
use lockstep_field_encryption::{KeyMaterial, TenantKeys};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, UnboundKey};

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let n: u32 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let size: usize = std::env::var("SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let keys = TenantKeys::new("acme", 1, &[(1, KeyMaterial::new([7; 32]))], None).expect("keys");
    let raw = Aes256Gcm::new(&[7u8; 32].into());
    let data = vec![0x5Au8; size];
    let nonce = Nonce::from([3u8; 12]);
    let raw_ct = raw.encrypt(&nonce, data.as_slice()).expect("raw encrypt");
    let ring_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("ring key"));
    let ring_nonce = || ring::aead::Nonce::assume_unique_for_key([3u8; 12]);
    // Each with one allocation for the output, like `raw.encrypt` and like a seal.
    let ring_enc = |data: &[u8]| {
        let mut out = Vec::with_capacity(data.len() + 16);
        out.extend_from_slice(data);
        ring_key
            .seal_in_place_append_tag(ring_nonce(), Aad::empty(), &mut out)
            .expect("ring seal");
        out
    };
    let ring_ct = ring_enc(&data);
    let ring_dec = |sealed: &[u8]| {
        let mut out = sealed.to_vec();
        let len = ring_key
            .open_in_place(ring_nonce(), Aad::empty(), &mut out)
            .expect("ring open")
            .len();
        out.truncate(len);
        out
    };
    // As `Encrypted<T, C>` seals: the column digest is a compile-time constant.
    const BODY: [u8; 10] = column_digest("notes.body");
    let seal = |data: &[u8]| seal_digest(&keys, "notes.body", &BODY, None, data);
    let open = |env: &[u8]| open_digest(&keys, "notes.body", &BODY, None, env);
    let env = seal(&data).expect("seal");
    let op: Box<dyn Fn()> = match mode.as_str() {
        "raw-enc" => Box::new(|| {
            drop(black_box(
                raw.encrypt(&nonce, black_box(data.as_slice()))
                    .expect("enc"),
            ))
        }),
        "ring-enc" => Box::new(|| drop(black_box(ring_enc(black_box(&data))))),
        "ring-dec" => Box::new(|| drop(black_box(ring_dec(black_box(&ring_ct))))),
        "seal" => Box::new(|| drop(black_box(seal(black_box(&data)).expect("seal")))),
        "raw-dec" => Box::new(|| {
            drop(black_box(
                raw.decrypt(&nonce, black_box(raw_ct.as_slice()))
                    .expect("dec"),
            ))
        }),
        "open" => Box::new(|| drop(black_box(open(black_box(&env)).expect("open")))),
        "none" => Box::new(|| ()),
        other => panic!(
            "unknown mode {other:?}: raw-enc, ring-enc, seal, raw-dec, ring-dec, open or none"
        ),
    };
    for _ in 0..n {
        op();
    }
}
