use super::*;

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

/// Once every table is on version 2 (or past a key id), older values are refused.
#[tokio::test]
async fn a_floor_refuses_older_envelopes() {
    let keys = || {
        StaticKeys::new().with_tenant(
            "acme",
            2,
            vec![
                (1, KeyMaterial::new([1; 32])),
                (2, KeyMaterial::new([2; 32])),
            ],
            None,
        )
    };
    let v1 = Keyring::new(keys()).seal_version(1);
    let old = crate::envelope::seal(&v1.resolve("acme").await.unwrap(), "t.c", b"v1").unwrap();
    let floored = Keyring::new(keys()).with_floor(
        "acme",
        crate::Floor {
            min_version: 2,
            min_key_id: 2,
        },
    );
    let keys = floored.resolve("acme").await.unwrap();
    let err = crate::envelope::open(&keys, "t.c", &old).unwrap_err();
    assert!(matches!(err, Error::BelowFloor { version: 1, .. }), "{err}");
    let new = crate::envelope::seal(&keys, "t.c", b"v2").unwrap();
    assert_eq!(crate::envelope::open(&keys, "t.c", &new).unwrap(), b"v2");
    let other_tenant = Keyring::new(keys_for_globex()).with_floor(
        "acme",
        crate::Floor {
            min_version: 2,
            min_key_id: 9,
        },
    );
    let g = other_tenant.resolve("globex").await.unwrap();
    let sealed = crate::envelope::seal(&g, "t.c", b"g").unwrap();
    assert!(
        crate::envelope::open(&g, "t.c", &sealed).is_ok(),
        "a floor is per tenant"
    );
}

fn keys_for_globex() -> StaticKeys {
    StaticKeys::new().with_tenant("globex", 1, vec![(1, KeyMaterial::generate())], None)
}

#[tokio::test]
async fn seal_counts_outlive_cache_refreshes() {
    let ring = Keyring::new(StaticKeys::new().with_tenant(
        "acme",
        1,
        vec![(1, KeyMaterial::generate())],
        None,
    ));
    for _ in 0..3 {
        crate::envelope::seal(&ring.resolve("acme").await.unwrap(), "t.c", b"x").unwrap();
    }
    ring.invalidate("acme");
    let fresh = ring.resolve("acme").await.unwrap();
    crate::envelope::seal(&fresh, "t.c", b"x").unwrap();
    crate::envelope::seal(&fresh, "t.c", b"y").unwrap();
    assert_eq!(ring.seal_counts(), vec![("acme".to_owned(), 1, 5)]);
    assert_eq!(fresh.seals(), 5);
}

#[tokio::test]
async fn keyring_caches_until_the_ttl_and_on_invalidate() {
    #[derive(Debug, Default)]
    struct Counting(std::sync::atomic::AtomicU32);
    impl KeyProvider for Counting {
        fn keys<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Result<TenantKeys>> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(
                async move { TenantKeys::new(tenant, 1, &[(1, KeyMaterial::generate())], None) },
            )
        }
    }
    let provider = Arc::new(Counting::default());
    #[derive(Debug)]
    struct Shared(Arc<Counting>);
    impl KeyProvider for Shared {
        fn keys<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Result<TenantKeys>> {
            self.0.keys(tenant)
        }
    }
    let ring = Keyring::new(Shared(provider.clone())).with_ttl(Duration::from_secs(60));
    ring.resolve("acme").await.unwrap();
    ring.resolve("acme").await.unwrap();
    assert_eq!(provider.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    ring.invalidate("acme");
    ring.resolve("acme").await.unwrap();
    assert_eq!(provider.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    let expired = Keyring::new(Shared(provider.clone())).with_ttl(Duration::ZERO);
    expired.resolve("acme").await.unwrap();
    expired.resolve("acme").await.unwrap();
    assert_eq!(provider.0.load(std::sync::atomic::Ordering::SeqCst), 4);
}
