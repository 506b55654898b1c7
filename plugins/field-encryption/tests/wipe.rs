//! No freed heap block holds key material: a global allocator scans every block as it is freed
//! (and the old block of every move) for the key bytes, their file encodings, and every 16-byte
//! window of the cipher objects derived from the key.
//!
//! The cipher windows are read from live `ring` key objects built here from the same keys (the
//! version 1 key and acme's version 2 key): round keys, the GHASH key table and whatever else
//! ring keeps, in ring's own layout on this CPU, so the search does not depend on knowing it.
//! Covers `TenantKeys`, the `Keyring` cache, `FileKeys` loading raw, hex and base64 files, and
//! `WrappedKeys` unwrapping a data key. No harness: one thread, so every freed block is ours.

// A global allocator is an unsafe trait: the only unsafe code in the workspace.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};

use lockstep_field_encryption::Encrypted;
use lockstep_field_encryption::{
    FileKeys, KeyMaterial, Keyring, StaticKeys, TenantKeys, WrappedKeys, envelope, seal_with,
};

lockstep_field_encryption::encrypted_column!(Body, "notes.body");

/// The key under test, in static memory so the scan never finds the needle itself.
static KEY: [u8; 32] = [
    0x3c, 0xa1, 0x5e, 0x97, 0x02, 0xd4, 0x6b, 0xf8, 0x11, 0x8e, 0x73, 0xc5, 0x2a, 0xb9, 0x40, 0xe6,
    0x5d, 0x07, 0x9a, 0x34, 0xcf, 0x68, 0x1b, 0xf2, 0x85, 0x4e, 0xd3, 0x29, 0x76, 0xac, 0x0f, 0x91,
];
/// Its hex and base64 spellings, as `FileKeys` reads them.
static HEX: &str = "3ca15e9702d46bf8118e73c52ab940e65d079a34cf681bf2854ed32976ac0f91";
static B64: &str = "PKFelwLUa/gRjnPFKrlA5l0HmjTPaBvyhU7TKXasD5E=";

static SCANNING: AtomicBool = AtomicBool::new(false);
static FOUND: AtomicUsize = AtomicUsize::new(0);

struct Scanning;

/// Hashes a needle by its first 8 bytes: needles are key-derived, so those are already uniform.
#[derive(Default)]
struct FirstEight(u64);

impl std::hash::Hasher for FirstEight {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
}

type Needles = HashSet<[u8; 16], BuildHasherDefault<FirstEight>>;

/// Every 16-byte string whose presence in a freed block is a leak, built once before any scan
/// and never freed.
static NEEDLES: OnceLock<Needles> = OnceLock::new();

/// The version 2 key of tenant `acme` under `KEY`.
fn acme_key() -> [u8; 32] {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&KEY).expect("any key length");
    mac.update(b"lsfe/tenant\0acme\x01");
    mac.finalize().into_bytes().into()
}

/// The bytes of a live ring key object for `key`, as `src/wipe.rs` holds one. The box is leaked:
/// freeing it would be a leak the scan reports.
fn cipher_object(key: &[u8; 32]) -> Vec<u8> {
    let cipher: &'static LessSafeKey = Box::leak(Box::new(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key).expect("32 bytes"),
    )));
    let size = std::mem::size_of::<LessSafeKey>();
    // SAFETY: `cipher` is live and `size` bytes long; only bytes are read (padding included,
    // which reads as whatever it holds, the point of the exercise).
    unsafe { std::slice::from_raw_parts(std::ptr::from_ref(cipher).cast::<u8>(), size) }.to_vec()
}

/// Whether a window of a key object is key-derived rather than a length, a flag, a pointer or
/// zero padding: those have few distinct bytes, 16 uniform bytes about 15.5.
fn high_entropy(window: &[u8]) -> bool {
    let mut seen = [false; 256];
    window.iter().for_each(|b| seen[usize::from(*b)] = true);
    seen.iter().filter(|s| **s).count() >= 10
}

fn build_needles() -> Needles {
    use aes::cipher::{BlockEncrypt, KeyInit};
    let tenant_key = acme_key();
    let mut needles = Needles::default();
    let mut add = |bytes: &[u8]| {
        for window in bytes.windows(16).filter(|w| high_entropy(w)) {
            needles.insert(window.try_into().expect("16 bytes"));
        }
    };
    add(&KEY);
    add(HEX.as_bytes());
    add(B64.as_bytes());
    for key in [KEY, tenant_key] {
        add(&key);
        // The GHASH key H = AES_K(0¹²⁸) as computed, whatever form ring stores it in.
        let mut h = aes::Block::default();
        aes::Aes256::new(&key.into()).encrypt_block(&mut h);
        add(&h);
        let object = cipher_object(&key);
        println!(
            "ring key object: {} bytes, {} high-entropy windows",
            object.len(),
            object.windows(16).filter(|w| high_entropy(w)).count()
        );
        add(&object);
    }
    needles
}

/// Whether `block` holds one of the needles anywhere.
fn holds_key(block: &[u8]) -> bool {
    NEEDLES.get().is_some_and(|needles| {
        block
            .windows(16)
            .any(|w| needles.contains::<[u8; 16]>(w.try_into().expect("16 bytes")))
    })
}

/// Scans a block about to be freed, then zeroes it, so bytes left by an earlier owner (the test's
/// own set-up included) are never found again in a later allocation that reuses the memory.
fn scan(ptr: *mut u8, size: usize) {
    // SAFETY: the block is still allocated and `size` bytes long.
    let block = unsafe { std::slice::from_raw_parts_mut(ptr, size) };
    if SCANNING.load(Ordering::Relaxed) && holds_key(block) {
        FOUND.fetch_add(1, Ordering::Relaxed);
    }
    block.fill(0);
}

// SAFETY: delegates to `System`; the scan only reads blocks that are still allocated.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        scan(ptr, layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    /// A move frees the old block with its contents: allocate, copy, scan, free.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { System.alloc(new_layout) };
        if !new.is_null() {
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Scanning = Scanning;

/// Zeroes the stack below the caller, so key bytes the test itself left there while setting up
/// cannot be carried into a heap block by the code under test.
#[inline(never)]
fn scrub_stack() {
    let mut area = [0u8; 64 * 1024];
    zeroize::Zeroize::zeroize(&mut area[..]);
    std::hint::black_box(&area);
}

/// Runs `f` with the scan on and returns how many freed blocks held key material.
fn freed_blocks_with_key(what: &str, f: impl FnOnce()) -> usize {
    scrub_stack();
    FOUND.store(0, Ordering::Relaxed);
    SCANNING.store(true, Ordering::Relaxed);
    f();
    SCANNING.store(false, Ordering::Relaxed);
    let found = FOUND.load(Ordering::Relaxed);
    println!("{what}: {found} freed blocks held key bytes");
    found
}

fn write_key(dir: &std::path::Path, name: &str, data: &[u8]) {
    let path = dir.join(name);
    std::fs::write(&path, data).expect("wipe scenario");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("wipe scenario");
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("wipe scenario");
    let needles = NEEDLES.get_or_init(build_needles);
    println!("{} needles", needles.len());
    // The detector detects: a freed Vec holding a window from the middle of the version 2 key's
    // ring object (where the GHASH table lies, past the round keys) is found.
    let object = cipher_object(&acme_key());
    let middle = object.len() / 2;
    let window = (middle..object.len() - 16)
        .find(|at| high_entropy(&object[*at..*at + 16]))
        .expect("a key-derived window past the middle");
    let derived_control =
        freed_blocks_with_key("control (an unwiped Vec of a ring key window)", || {
            drop(object[window..window + 16].to_vec())
        });
    assert!(
        derived_control >= 1,
        "the scan does not see a freed derived key"
    );
    let control = freed_blocks_with_key("control (an unwiped Vec)", || drop(KEY.to_vec()));
    assert!(control >= 1, "the scan does not see freed key bytes");

    let mut leaks = 0;
    leaks += freed_blocks_with_key("TenantKeys and a seal/open", || {
        let keys = TenantKeys::new(
            "acme",
            1,
            &[(1, KeyMaterial::new(KEY))],
            Some(KeyMaterial::new(KEY)),
        )
        .expect("wipe scenario");
        let sealed = envelope::seal(&keys, "notes.body", b"hello").expect("wipe scenario");
        assert_eq!(
            envelope::open(&keys, "notes.body", &sealed).expect("wipe scenario"),
            b"hello"
        );
    });
    leaks += freed_blocks_with_key("Keyring over StaticKeys", || {
        rt.block_on(async {
            let ring = Keyring::new(StaticKeys::new().with_tenant(
                "acme",
                1,
                vec![(1, KeyMaterial::new(KEY))],
                None,
            ));
            let sealed: Encrypted<String, Body> = seal_with(&ring, "acme", "hi".into())
                .await
                .expect("wipe scenario");
            assert_eq!(sealed.get(), "hi");
        })
    });
    let dir = tempfile::tempdir().expect("wipe scenario");
    write_key(dir.path(), "acme.1.key", &KEY);
    write_key(dir.path(), "acme.2.key.hex", format!("{HEX}\n").as_bytes());
    write_key(dir.path(), "acme.3.key.b64", B64.as_bytes());
    write_key(dir.path(), "acme.blind.hex", HEX.as_bytes());
    leaks += freed_blocks_with_key("FileKeys (raw, hex, base64)", || {
        rt.block_on(async {
            let ring = Keyring::new(FileKeys::new(dir.path()));
            assert_eq!(
                ring.resolve("acme")
                    .await
                    .expect("wipe scenario")
                    .current_key_id(),
                3
            );
        })
    });
    // Set-up outside the scan: a data key equal to the test key, wrapped as the provider does.
    let wrapped = rt.block_on(async {
        let db = sea_orm::Database::connect("sqlite::memory:").await.expect("wipe scenario");
        let wrapped = WrappedKeys::new(KeyMaterial::new(KEY), db.clone());
        wrapped.create_table().await.expect("wipe scenario");
        let kek = TenantKeys::new("acme", 0, &[(0, KeyMaterial::new(KEY))], None).expect("wipe scenario");
        let dek = envelope::seal(&kek, "fe_data_keys.wrapped", &KEY).expect("wipe scenario");
        let blind = envelope::seal(&kek, "fe_data_keys.blind_wrapped", &KEY).expect("wipe scenario");
        use sea_orm::ConnectionTrait as _;
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "INSERT INTO fe_data_keys (tenant, key_id, wrapped, blind_wrapped, created_at) VALUES ('acme', 1, ?, ?, 0)",
            [dek.into(), blind.into()],
        ))
        .await
        .expect("wipe scenario");
        wrapped
    });
    leaks += freed_blocks_with_key(
        "WrappedKeys (master key, an unwrapped data key, bound to its key id again)",
        move || {
            rt.block_on(async move {
                assert_eq!(
                    wrapped.bind_key_ids("acme").await.expect("wipe scenario"),
                    1
                );
                let ring = Keyring::new(wrapped);
                assert_eq!(
                    ring.resolve("acme")
                        .await
                        .expect("wipe scenario")
                        .current_key_id(),
                    1
                );
            })
        },
    );
    assert_eq!(leaks, 0, "freed heap blocks held key material");
    println!("wipe: 0 freed blocks held key material");
}
