//! No freed heap block holds key material: a global allocator scans every block as it is freed
//! (and the old block of every move) for the key bytes and their file encodings.
//!
//! Covers the key schedule and GHASH key inside `Aes256Gcm` (`aes`/`ghash`/`polyval` built with
//! `zeroize`), `TenantKeys`, the `Keyring` cache, `FileKeys` loading raw, hex and base64 files,
//! and `WrappedKeys` unwrapping a data key. No harness: one thread, so every freed block is ours.

// A global allocator is an unsafe trait: the only unsafe code in the workspace.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::os::unix::fs::PermissionsExt as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

/// Keys derived from `KEY`, computed once before any scan (in static memory, never a heap block):
/// the version 2 key of tenant `acme`, and for both versions the GHASH key `H` = AES_K(0¹²⁸)
/// as computed and in the form polyval stores it (`mulX(reverse(H))`).
static DERIVED: std::sync::OnceLock<[[u8; 16]; 6]> = std::sync::OnceLock::new();

fn derive_needles() -> [[u8; 16]; 6] {
    use aes::cipher::{BlockEncrypt, KeyInit};
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&KEY).expect("any key length");
    mac.update(b"lsfe/tenant\0acme\x01");
    let tenant_key: [u8; 32] = mac.finalize().into_bytes().into();
    let ghash_key = |key: &[u8; 32]| {
        let mut h = aes::Block::default();
        aes::Aes256::new(key.into()).encrypt_block(&mut h);
        let h: [u8; 16] = h.into();
        // ghash 0.5: POLYVAL's key is mulX of the byte-reversed GHASH key.
        let mut reversed = h;
        reversed.reverse();
        let v = u128::from_le_bytes(reversed);
        let hi = v >> 127;
        let polyval = ((v << 1) ^ hi ^ (hi << 127) ^ (hi << 126) ^ (hi << 121)).to_le_bytes();
        (h, polyval)
    };
    let (h1, p1) = ghash_key(&KEY);
    let (h2, p2) = ghash_key(&tenant_key);
    let half =
        |k: &[u8; 32], i: usize| -> [u8; 16] { k[i * 16..i * 16 + 16].try_into().expect("16") };
    [half(&tenant_key, 0), half(&tenant_key, 1), h1, p1, h2, p2]
}

/// Whether `block` holds 16 consecutive bytes of the key, of its encodings or of a key derived
/// from it: AES round keys 0 and 1 of AES-256 are the two key halves, as stored by every
/// backend of `aes`; `H` as polyval stores it.
fn holds_key(block: &[u8]) -> bool {
    let needles: [&[u8]; 6] = [
        &KEY[..16],
        &KEY[16..],
        &HEX.as_bytes()[..16],
        &HEX.as_bytes()[48..],
        &B64.as_bytes()[..16],
        &B64.as_bytes()[24..40],
    ];
    let derived = DERIVED.get().map_or(&[][..], |d| &d[..]);
    needles
        .iter()
        .copied()
        .chain(derived.iter().map(|d| &d[..]))
        .any(|n| block.windows(n.len()).any(|w| w == n))
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
    DERIVED.get_or_init(derive_needles);
    // The detector detects: a plain Vec holding the key, freed, is found, and so is a derived
    // GHASH key in polyval's form.
    let derived_control =
        freed_blocks_with_key("control (an unwiped Vec of H, polyval form)", || {
            drop(DERIVED.get().expect("derived")[5].to_vec())
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
