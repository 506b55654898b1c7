//! Where tenant keys come from, and the TTL cache in front of them.
//!
//! ```text
//!  request ─► with_tenant(&keyring, "acme", fut) ─► Keyring::resolve ─► cache hit (TTL)?
//!                                                        │ miss
//!                                                        ▼
//!                                       KeyProvider::keys("acme")  (static | files | envelope)
//! ```
//!
//! Keys are resolved before the tenant scope is entered, so the (sync) SeaORM value conversions
//! inside the scope never wait on IO.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::error::{Error, Result};
use crate::keys::{KeyMaterial, TenantKeys, validate_tenant};

/// A source of tenant keys.
pub trait KeyProvider: Send + Sync + std::fmt::Debug {
    /// All keys of `tenant` that can still decrypt, which one is current, and the blind-index
    /// key if any.
    fn keys<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Result<TenantKeys>>;
}

/// One tenant's keys in [`StaticKeys`]: current id, all keys, blind-index key.
type StaticTenant = (u32, Vec<(u32, KeyMaterial)>, Option<KeyMaterial>);

/// Keys held in memory: tests, and programs that derive keys themselves.
#[derive(Debug, Default)]
pub struct StaticKeys {
    tenants: HashMap<String, StaticTenant>,
}

impl StaticKeys {
    /// An empty set.
    pub fn new() -> Self {
        StaticKeys::default()
    }

    /// Adds a tenant with its keys; `current` is the id new writes use.
    pub fn with_tenant(
        mut self,
        tenant: &str,
        current: u32,
        keys: Vec<(u32, KeyMaterial)>,
        blind: Option<KeyMaterial>,
    ) -> Self {
        self.tenants
            .insert(tenant.to_owned(), (current, keys, blind));
        self
    }
}

impl KeyProvider for StaticKeys {
    fn keys<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Result<TenantKeys>> {
        Box::pin(async move {
            let (current, keys, blind) = self.tenants.get(tenant).ok_or_else(|| Error::NoKeys {
                tenant: tenant.into(),
            })?;
            TenantKeys::new(tenant, *current, keys, blind.clone())
        })
    }
}

/// Keys from files, laid out so a Kubernetes Secret mounted as a directory works (Secret keys
/// cannot contain `/`):
///
/// ```text
/// <dir>/<tenant>.<key_id>.key   32 raw bytes, 64 hex or base64   (one per key id)
/// <dir>/<tenant>.current        the key id for new writes        (default: the highest id)
/// <dir>/<tenant>.blind          blind-index key                   (optional)
/// ```
#[derive(Debug, Clone)]
pub struct FileKeys {
    dir: PathBuf,
}

impl FileKeys {
    /// Reads keys from `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileKeys { dir: dir.into() }
    }

    fn load(&self, tenant: &str) -> Result<TenantKeys> {
        validate_tenant(tenant)?;
        let fail = |reason: String| Error::KeyProvider {
            tenant: tenant.into(),
            reason,
        };
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| fail(format!("{}: {e}", self.dir.display())))?;
        let prefix = format!("{tenant}.");
        let mut keys: Vec<(u32, KeyMaterial)> = Vec::new();
        for entry in entries {
            let name = entry.map_err(|e| fail(e.to_string()))?.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|r| r.strip_suffix(".key"))
            else {
                continue;
            };
            // Tenant ids may contain '.': `acme.eu.1.key` is tenant `acme.eu`'s, not `acme`'s.
            if id.contains('.') {
                continue;
            }
            let file = name.to_string_lossy().into_owned();
            // Digits only, no leading zero, so one id has one file name (`acme.1.key` and
            // `acme.01.key` both loaded as id 1).
            let canonical = !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && (id == "0" || !id.starts_with('0'));
            let id: u32 = id.parse().ok().filter(|_| canonical).ok_or_else(|| {
                fail(format!(
                    "`{file}`: the key id must be a number without leading zeros"
                ))
            })?;
            let path = self.dir.join(&name);
            let data =
                std::fs::read(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
            keys.push((
                id,
                KeyMaterial::parse(&data).map_err(|e| fail(format!("{}: {e}", path.display())))?,
            ));
        }
        if keys.is_empty() {
            return Err(Error::NoKeys {
                tenant: tenant.into(),
            });
        }
        let current_path = self.dir.join(format!("{tenant}.current"));
        let current = match std::fs::read_to_string(&current_path) {
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|_| fail(format!("{}: not a key id", current_path.display())))?,
            Err(_) => keys.iter().map(|(id, _)| *id).max().unwrap_or(0),
        };
        let blind = match std::fs::read(self.dir.join(format!("{tenant}.blind"))) {
            Ok(data) => {
                Some(KeyMaterial::parse(&data).map_err(|e| fail(format!("blind-index key: {e}")))?)
            }
            Err(_) => None,
        };
        TenantKeys::new(tenant, current, &keys, blind)
    }
}

impl KeyProvider for FileKeys {
    fn keys<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Result<TenantKeys>> {
        Box::pin(async move { self.load(tenant) })
    }
}

/// A cache entry: when the keys were resolved, and the keys.
type Cached = (Instant, Arc<TenantKeys>);

/// Resolves tenants through a provider and caches the result for `ttl`, so a request does not
/// read files or the database, and rotated keys are picked up within `ttl`.
#[derive(Debug, Clone)]
pub struct Keyring {
    provider: Arc<dyn KeyProvider>,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    allow_plaintext_reads: bool,
}

impl Keyring {
    /// A keyring over `provider` with a 60 s cache.
    pub fn new(provider: impl KeyProvider + 'static) -> Self {
        Keyring {
            provider: Arc::new(provider),
            ttl: Duration::from_secs(60),
            cache: Arc::default(),
            allow_plaintext_reads: false,
        }
    }

    /// Sets the cache lifetime.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Migration mode: a stored value that is not an envelope at all (no version/algorithm
    /// header) is returned as plaintext instead of failing. Values that are envelopes but fail
    /// authentication still fail. Off by default; turn it off again once
    /// [`crate::jobs::encrypt_plaintext_rows`] has run.
    pub fn allow_plaintext_reads(mut self, allow: bool) -> Self {
        self.allow_plaintext_reads = allow;
        self
    }

    pub(crate) fn plaintext_reads_allowed(&self) -> bool {
        self.allow_plaintext_reads
    }

    /// The keys of `tenant`, from the cache while fresh.
    pub async fn resolve(&self, tenant: &str) -> Result<Arc<TenantKeys>> {
        validate_tenant(tenant)?;
        if let Some(keys) = self.cached(tenant) {
            return Ok(keys);
        }
        let keys = Arc::new(self.provider.keys(tenant).await?);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(tenant.to_owned(), (Instant::now(), keys.clone()));
        }
        Ok(keys)
    }

    fn cached(&self, tenant: &str) -> Option<Arc<TenantKeys>> {
        let cache = self.cache.lock().ok()?;
        let (at, keys) = cache.get(tenant)?;
        (at.elapsed() < self.ttl).then(|| keys.clone())
    }

    /// Drops the cached keys of `tenant` (after a rotation in this process).
    pub fn invalidate(&self, tenant: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(tenant);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &std::path::Path, name: &str, data: &[u8]) {
        std::fs::write(dir.join(name), data).unwrap();
    }

    #[tokio::test]
    async fn file_keys_read_a_mounted_secret_layout() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "acme.1.key", &[1u8; 32]);
        write(dir.path(), "acme.2.key", "02".repeat(32).as_bytes());
        write(dir.path(), "acme.blind", &[9u8; 32]);
        write(dir.path(), "globex.7.key", &[7u8; 32]);
        let keys = FileKeys::new(dir.path()).keys("acme").await.unwrap();
        assert_eq!(
            keys.current_key_id(),
            2,
            "highest id is current without a .current file"
        );
        assert!(keys.has_key(1) && keys.has_key(2) && !keys.has_key(7));
        assert!(keys.blind_key().is_some());
        write(dir.path(), "acme.current", b"1\n");
        assert_eq!(
            FileKeys::new(dir.path())
                .keys("acme")
                .await
                .unwrap()
                .current_key_id(),
            1
        );
    }

    #[tokio::test]
    async fn file_key_errors_name_the_file_not_the_key() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "acme.1.key", b"too short");
        let err = FileKeys::new(dir.path())
            .keys("acme")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("acme.1.key") && err.contains("acme"), "{err}");
        let err = FileKeys::new(dir.path()).keys("nobody").await.unwrap_err();
        assert!(
            matches!(&err, Error::NoKeys { tenant } if tenant == "nobody"),
            "{err}"
        );
        assert!(matches!(
            FileKeys::new(dir.path()).keys("../etc").await,
            Err(Error::InvalidTenant(_))
        ));
    }

    /// Tenant ids may contain '.', so another tenant's files share the prefix; ids are
    /// canonical numbers, so two files cannot both be one id.
    #[tokio::test]
    async fn file_names_are_unambiguous() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "acme.1.key", &[1u8; 32]);
        write(dir.path(), "acme.eu.1.key", &[2u8; 32]);
        write(dir.path(), "acme.eu.3.key", &[3u8; 32]);
        let acme = FileKeys::new(dir.path()).keys("acme").await.unwrap();
        assert!(
            acme.has_key(1) && !acme.has_key(3),
            "acme.eu's keys are not acme's"
        );
        let eu = FileKeys::new(dir.path()).keys("acme.eu").await.unwrap();
        assert_eq!(eu.current_key_id(), 3);
        write(dir.path(), "acme.01.key", &[4u8; 32]);
        let err = FileKeys::new(dir.path())
            .keys("acme")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("acme.01.key") && err.contains("leading zeros"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("acme.01.key")).unwrap();
        write(dir.path(), "acme.x.key", &[4u8; 32]);
        let err = FileKeys::new(dir.path())
            .keys("acme")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("acme.x.key"), "{err}");
    }

    #[tokio::test]
    async fn keyring_caches_until_the_ttl_and_on_invalidate() {
        #[derive(Debug, Default)]
        struct Counting(std::sync::atomic::AtomicU32);
        impl KeyProvider for Counting {
            fn keys<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Result<TenantKeys>> {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Box::pin(async move {
                    TenantKeys::new(tenant, 1, &[(1, KeyMaterial::generate())], None)
                })
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
}
