//! Raw AES-256-GCM seal (fixed nonce, empty AAD, one output allocation) of aes-gcm 0.10,
//! ring 0.17 and aws-lc-rs 1, best of 11 interleaved rounds per size, in ns per seal.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes_gcm::KeyInit as _;
use aes_gcm::aead::Aead as _;

fn time(iters: u32, mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..iters {
        f();
    }
    started.elapsed()
}

/// `data` and room for the tag, as `seal_in_place_append_tag` wants it.
fn buffer(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(data);
    out
}

fn main() {
    let key = [7u8; 32];
    let raw = aes_gcm::Aes256Gcm::new(&key.into());
    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &key).expect("ring key"),
    );
    let aws_key = aws_lc_rs::aead::LessSafeKey::new(
        aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &key).expect("aws key"),
    );
    println!(
        "{:>6} {:>8} {:>6} {:>9} {:>9}",
        "bytes", "aes-gcm", "ring", "aws-lc-rs", "aws/ring"
    );
    for size in [16usize, 256, 1024] {
        let data = vec![0x5a; size];
        let iters = 200_000;
        let mut best = [Duration::MAX; 3];
        for _ in 0..11 {
            let timings = [
                time(iters, || {
                    let sealed = raw.encrypt(&[3u8; 12].into(), black_box(data.as_slice()));
                    drop(black_box(sealed.expect("aes-gcm")))
                }),
                time(iters, || {
                    let mut out = buffer(black_box(&data));
                    let nonce = ring::aead::Nonce::assume_unique_for_key([3; 12]);
                    ring_key
                        .seal_in_place_append_tag(nonce, ring::aead::Aad::empty(), &mut out)
                        .expect("ring");
                    drop(black_box(out))
                }),
                time(iters, || {
                    let mut out = buffer(black_box(&data));
                    let nonce = aws_lc_rs::aead::Nonce::assume_unique_for_key([3; 12]);
                    aws_key
                        .seal_in_place_append_tag(nonce, aws_lc_rs::aead::Aad::empty(), &mut out)
                        .expect("aws-lc-rs");
                    drop(black_box(out))
                }),
            ];
            for (b, t) in best.iter_mut().zip(timings) {
                *b = (*b).min(t);
            }
        }
        let [a, r, w] = best.map(|d| d.as_nanos() as f64 / f64::from(iters));
        println!("{size:>6} {a:>8.0} {r:>6.0} {w:>9.0} {:>9.3}", w / r);
    }
}
