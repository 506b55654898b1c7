use super::*;

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
