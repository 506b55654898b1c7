use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::*;
use crate::provider::KeyProvider;
use crate::{Keyring, StaticKeys};
use std::time::Duration;

/// Writes a key file readable by its owner only, as a Secret mounted with `defaultMode: 0400`.
fn write(dir: &Path, name: &str, data: &[u8]) {
    write_mode(dir, name, data, 0o600);
}

fn write_mode(dir: &Path, name: &str, data: &[u8], mode: u32) {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

async fn load_err(keys: &FileKeys, tenant: &str) -> String {
    keys.keys(tenant).await.unwrap_err().to_string()
}

#[tokio::test]
async fn a_mounted_secret_in_every_encoding_loads() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "acme.1.key", &[1u8; 32]);
    write(
        dir.path(),
        "acme.2.key.hex",
        format!("{}\n", "02".repeat(32)).as_bytes(),
    );
    write(
        dir.path(),
        "acme.3.key.b64",
        b"AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=\n",
    );
    write(dir.path(), "acme.blind.hex", "09".repeat(32).as_bytes());
    write(dir.path(), "globex.7.key", &[7u8; 32]);
    let keys = FileKeys::new(dir.path()).keys("acme").await.unwrap();
    assert_eq!(
        keys.current_key_id(),
        3,
        "the highest id is current without a .current file"
    );
    assert!(keys.has_key(1) && keys.has_key(2) && keys.has_key(3) && !keys.has_key(7));
    assert_eq!(keys.blind_key().unwrap().bytes(), &[9u8; 32]);
    write(dir.path(), "acme.current", b"1\n");
    let keys = FileKeys::new(dir.path()).keys("acme").await.unwrap();
    assert_eq!(keys.current_key_id(), 1);
}

/// A directory's files: name and content.
type Files<'a> = &'a [(&'a str, &'a [u8])];

/// Every refusal names the file, never the key bytes.
#[tokio::test]
async fn wrong_encodings_and_duplicates_are_refused_naming_the_files() {
    let cases: &[(Files, &[&str])] = &[
        (
            &[("acme.1.key", b"too short")],
            &["acme.1.key", "exactly 32"],
        ),
        // Hex text in a raw file: 64 characters and a newline.
        (
            &[(
                "acme.1.key",
                format!("{}\n", "ab".repeat(32)).leak().as_bytes(),
            )],
            &["acme.1.key", ".hex"],
        ),
        // A 32-character passphrase is text, not 32 raw bytes.
        (
            &[("acme.1.key", b"correct horse battery staple 123")],
            &["acme.1.key", "text"],
        ),
        // A hex AES-128 key (32 hex digits) where a 256-bit hex key is declared.
        (
            &[("acme.1.key.hex", b"00112233445566778899aabbccddeeff")],
            &["acme.1.key.hex", "64 hex"],
        ),
        (
            &[("acme.1.key.txt", &[1u8; 32])],
            &["acme.1.key.txt", "encoding"],
        ),
        (
            &[
                ("acme.1.key", &[1u8; 32]),
                ("acme.1.key.hex", "01".repeat(32).leak().as_bytes()),
            ],
            &["key id 1", "acme.1.key", "acme.1.key.hex"],
        ),
        (
            &[
                ("acme.1.key", &[1u8; 32]),
                ("acme.blind", &[2u8; 32]),
                (
                    "acme.blind.b64",
                    b"AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=",
                ),
            ],
            &["acme.blind", "acme.blind.b64"],
        ),
        (
            &[("acme.1.key", &[1u8; 32]), ("acme.blind.txt", &[2u8; 32])],
            &["acme.blind.txt"],
        ),
        (
            &[("acme.01.key", &[1u8; 32])],
            &["acme.01.key", "leading zeros"],
        ),
        (&[("acme.x.key", &[1u8; 32])], &["acme.x.key"]),
    ];
    for (files, wants) in cases {
        let dir = tempfile::tempdir().unwrap();
        for (name, data) in *files {
            write(dir.path(), name, data);
        }
        let err = load_err(&FileKeys::new(dir.path()), "acme").await;
        for want in *wants {
            assert!(err.contains(want), "{files:?}: {err}");
        }
        assert!(!err.contains("0x01") && !err.contains("[1, 1"), "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        FileKeys::new(dir.path()).keys("nobody").await,
        Err(Error::NoKeys { tenant }) if tenant == "nobody"
    ));
    assert!(matches!(
        FileKeys::new(dir.path()).keys("../etc").await,
        Err(Error::InvalidTenant(_))
    ));
}

/// Tenant ids may contain '.', so another tenant's files share the prefix.
#[tokio::test]
async fn other_tenants_files_sharing_the_prefix_are_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "acme.1.key", &[1u8; 32]);
    write(dir.path(), "acme.eu.1.key", &[2u8; 32]);
    write(dir.path(), "acme.eu.3.key.hex", "03".repeat(32).as_bytes());
    write(dir.path(), "acme.blind.2.key", &[4u8; 32]);
    write(dir.path(), "acme.blindfold.2.key", &[4u8; 32]);
    write(dir.path(), "acme.1.keyring", b"not a key");
    let acme = FileKeys::new(dir.path()).keys("acme").await.unwrap();
    assert!(acme.has_key(1) && !acme.has_key(2) && !acme.has_key(3));
    assert!(acme.blind_key().is_none());
    let eu = FileKeys::new(dir.path()).keys("acme.eu").await.unwrap();
    assert_eq!(eu.current_key_id(), 3);
    let blind = FileKeys::new(dir.path()).keys("acme.blind").await.unwrap();
    assert!(blind.has_key(2) && blind.blind_key().is_none());
}

#[test]
fn only_owner_only_or_root_group_read_modes_pass() {
    for (mode, owner) in [
        (0o600, 1000),
        (0o400, 1000),
        (0o600, 0),
        (0o400, 0),
        (0o640, 0),
        (0o440, 0),
    ] {
        assert_eq!(mode_problem(mode, owner), None, "{mode:o} owned by {owner}");
    }
    for (mode, owner, want) in [
        (0o644, 0, "every user"),
        (0o604, 1000, "every user"),
        (0o666, 1000, "every user"),
        (0o601, 0, "every user"),
        (0o640, 1000, "group"),
        (0o660, 0, "group"),
        (0o610, 0, "group"),
    ] {
        let problem = mode_problem(mode, owner).unwrap_or_default();
        assert!(
            problem.contains(want),
            "{mode:o} owned by {owner}: {problem:?}"
        );
    }
}

#[tokio::test]
async fn world_readable_files_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    write_mode(dir.path(), "acme.1.key", &[1u8; 32], 0o644);
    let err = load_err(&FileKeys::new(dir.path()), "acme").await;
    assert!(err.contains("acme.1.key") && err.contains("0644"), "{err}");
    let keys = FileKeys::new(dir.path()).allow_loose_permissions(true);
    assert!(keys.keys("acme").await.unwrap().has_key(1));
    // The blind-index key is checked too.
    write(dir.path(), "acme.1.key", &[1u8; 32]);
    write_mode(dir.path(), "acme.blind", &[2u8; 32], 0o666);
    let err = load_err(&FileKeys::new(dir.path()), "acme").await;
    assert!(err.contains("acme.blind") && err.contains("0666"), "{err}");
}

#[test]
fn owners_and_directories_follow_postgres_rules() {
    assert_eq!(owner_problem(1000, 1000), None);
    assert_eq!(owner_problem(0, 1000), None);
    assert!(owner_problem(1001, 1000).unwrap().contains("uid 1001"));
    for (mode, owner) in [
        (0o700, 1000),
        (0o755, 1000),
        (0o41777, 0),
        (0o1777, 1000),
        (0o750, 5),
    ] {
        assert_eq!(
            dir_problem(mode, owner, 1000),
            None,
            "{mode:o} owned by {owner}"
        );
    }
    for (mode, owner) in [(0o777, 1000), (0o770, 0), (0o1777, 5), (0o757, 0)] {
        let problem = dir_problem(mode, owner, 1000).unwrap_or_default();
        assert!(
            problem.contains("add, replace or remove"),
            "{mode:o} owned by {owner}: {problem:?}"
        );
    }
}

/// The three cases that loaded: `acme.current` mode 0666, a key directory mode 0777, a key
/// file owned by another user.
#[tokio::test]
async fn loose_current_files_directories_and_foreign_owners_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    write(dir.path(), "acme.1.key", &[1u8; 32]);
    write(dir.path(), "acme.2.key", &[2u8; 32]);
    write_mode(dir.path(), "acme.current", b"1\n", 0o666);
    let err = load_err(&FileKeys::new(dir.path()), "acme").await;
    assert!(
        err.contains("acme.current") && err.contains("0666"),
        "{err}"
    );
    write(dir.path(), "acme.current", b"1\n");
    assert_eq!(
        FileKeys::new(dir.path())
            .keys("acme")
            .await
            .unwrap()
            .current_key_id(),
        1
    );

    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = load_err(&FileKeys::new(dir.path()), "acme").await;
    assert!(err.contains("directory mode 0777"), "{err}");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    FileKeys::new(dir.path()).keys("acme").await.unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();

    // Changing a file's owner needs root (CI runs as root); elsewhere the rule is checked above.
    if process_uid().unwrap() == 0 {
        let path = dir.path().join("acme.2.key");
        let status = std::process::Command::new("chown")
            .arg("12345")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let err = load_err(&FileKeys::new(dir.path()), "acme").await;
        assert!(
            err.contains("acme.2.key") && err.contains("uid 12345"),
            "{err}"
        );
    } else {
        println!(
            "not root: the foreign-owner case is covered by owners_and_directories_follow_postgres_rules only"
        );
    }
}

fn write_key(dir: &std::path::Path, name: &str, data: &[u8]) {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Disabling a key takes effect at once for every key set of the keyring, also one handed
/// out before (it kept opening values under a retired key for its 60 s cache, and a handle
/// taken earlier did even after `invalidate`), and in another process's keyring at its next
/// refresh, for its older sets too.
#[tokio::test]
async fn a_disabled_key_opens_nothing_in_sets_taken_before() {
    let dir = tempfile::tempdir().unwrap();
    write_key(dir.path(), "acme.1.key", &[1; 32]);
    write_key(dir.path(), "acme.2.key", &[2; 32]);
    write_key(dir.path(), "acme.current", b"1");
    let ring = Keyring::new(FileKeys::new(dir.path()));
    let old = crate::envelope::seal(&ring.resolve("acme").await.unwrap(), "t.c", b"old").unwrap();
    write_key(dir.path(), "acme.current", b"2");
    ring.invalidate("acme");
    let taken = ring.resolve("acme").await.unwrap();
    let other = Keyring::new(FileKeys::new(dir.path())).with_ttl(Duration::ZERO);
    let other_taken = other.resolve("acme").await.unwrap();
    assert_eq!(crate::envelope::open(&taken, "t.c", &old).unwrap(), b"old");

    let current = ring.disable("acme", 2).await.unwrap_err();
    assert!(matches!(current, Error::KeyIsCurrent { .. }), "{current}");
    ring.disable("acme", 1).await.unwrap();
    let err = crate::envelope::open(&taken, "t.c", &old).unwrap_err();
    assert!(matches!(err, Error::KeyDisabled { key_id: 1, .. }), "{err}");
    let fresh = ring.resolve("acme").await.unwrap();
    let err = crate::envelope::open(&fresh, "t.c", &old).unwrap_err();
    assert!(matches!(err, Error::KeyDisabled { key_id: 1, .. }), "{err}");
    assert!(dir.path().join("acme.1.disabled").exists());
    // Another process: its set still opens until its cache refreshes, then none does.
    assert!(crate::envelope::open(&other_taken, "t.c", &old).is_ok());
    other.resolve("acme").await.unwrap();
    let err = crate::envelope::open(&other_taken, "t.c", &old).unwrap_err();
    assert!(matches!(err, Error::KeyDisabled { key_id: 1, .. }), "{err}");
    // Static keys cannot record it: refused, not silently ignored.
    let fixed = Keyring::new(StaticKeys::new().with_tenant(
        "acme",
        2,
        vec![(1, KeyMaterial::generate()), (2, KeyMaterial::generate())],
        None,
    ));
    assert!(matches!(
        fixed.disable("acme", 1).await,
        Err(Error::KeyProvider { .. })
    ));
}
