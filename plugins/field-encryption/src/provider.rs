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

    /// Whether the provider can serve keys at all, for a service's readiness probe: `Err` says
    /// what is missing (a key directory that cannot be read). Ready unless a provider says
    /// otherwise.
    fn ready(&self) -> BoxFuture<'_, std::result::Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    /// Records `tenant`'s `key_id` as disabled where every process reads its keys (see
    /// [`crate::revoke`]). Providers that cannot (keys held in memory) refuse.
    fn disable<'a>(&'a self, tenant: &'a str, key_id: u32) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            Err(Error::KeyProvider {
                tenant: tenant.into(),
                reason: format!(
                    "this key provider cannot record key id {key_id} as disabled: remove it from its configuration"
                ),
            })
        })
    }
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

/// A cache entry: when the keys were resolved (`None`: invalidated, kept to compare with), and
/// the keys.
type Cached = (Option<Instant>, Arc<TenantKeys>);

/// Seals per (tenant, key id) in this process.
type SealCounters = HashMap<(String, u32), crate::seals::SealCounter>;

/// Resolves tenants through a provider and caches the result for `ttl`, so a request does not
/// read files or the database, and rotated keys are picked up within `ttl`.
#[derive(Debug, Clone)]
pub struct Keyring {
    provider: Arc<dyn KeyProvider>,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    seals: Arc<Mutex<SealCounters>>,
    seal_version: u8,
    allow_plaintext_reads: bool,
    allow_unbound_rows: bool,
    /// Shared with every key set this keyring hands out (see [`crate::revoke`]).
    revocations: Arc<crate::revoke::Revocations>,
    floors: Arc<HashMap<String, crate::revoke::Floor>>,
}

impl Keyring {
    /// A keyring over `provider` with a 60 s cache.
    pub fn new(provider: impl KeyProvider + 'static) -> Self {
        Keyring {
            provider: Arc::new(provider),
            ttl: Duration::from_secs(60),
            cache: Arc::default(),
            seals: Arc::default(),
            seal_version: crate::envelope::VERSION,
            allow_plaintext_reads: false,
            allow_unbound_rows: false,
            revocations: Arc::default(),
            floors: Arc::default(),
        }
    }

    /// Refuses `tenant`'s values below `floor` (an envelope version or key id every table of the
    /// tenant was moved past with `rewrap_table`): [`Error::BelowFloor`].
    pub fn with_floor(mut self, tenant: &str, floor: crate::revoke::Floor) -> Self {
        Arc::make_mut(&mut self.floors).insert(tenant.to_owned(), floor);
        self
    }

    /// Disables `tenant`'s `key_id`: recorded by the provider for every process, and refused at
    /// once by every key set of this keyring, also ones handed out before (see
    /// [`crate::revoke`] for the bound in other processes). The current key cannot be disabled:
    /// rotate first.
    pub async fn disable(&self, tenant: &str, key_id: u32) -> Result<()> {
        let keys = self.resolve(tenant).await?;
        if keys.current_key_id() == key_id {
            return Err(Error::KeyIsCurrent {
                tenant: tenant.into(),
                key_id,
            });
        }
        self.provider.disable(tenant, key_id).await?;
        self.revocations.disable(tenant, key_id);
        self.invalidate(tenant);
        Ok(())
    }

    /// Sets the cache lifetime.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Seals new values as envelope `version`: 2 (the default), or 1 while any binary that may
    /// read the data — another replica mid-rollout, the revision a rollback would return to —
    /// predates version 2 and cannot open it. Every version opens both. Switch to 2 once no
    /// such binary is left; `rewrap_table` then moves old values over. Version 1 has no row
    /// binding (sealing a row-bound column fails).
    pub fn seal_version(mut self, version: u8) -> Self {
        self.seal_version = version;
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

    /// Migration mode for a column that became row-bound: a value that fails to open bound to
    /// its row is opened as sealed before row binding. Off by default; turn it off again once
    /// [`crate::jobs::bind_rows`] has run (until then a copied old value still opens).
    pub fn allow_unbound_rows(mut self, allow: bool) -> Self {
        self.allow_unbound_rows = allow;
        self
    }

    pub(crate) fn unbound_rows_allowed(&self) -> bool {
        self.allow_unbound_rows
    }

    /// The keys of `tenant`, from the cache while fresh.
    pub async fn resolve(&self, tenant: &str) -> Result<Arc<TenantKeys>> {
        validate_tenant(tenant)?;
        if let Some(keys) = self.cached(tenant) {
            return Ok(keys);
        }
        let keys = self.provider.keys(tenant).await;
        // The provider's frames, now below this one, held raw keys (see `scrub_stack`).
        crate::keys::scrub_stack();
        let mut keys = keys?.with_seal_version(self.seal_version)?;
        let floor = self.floors.get(tenant).copied().unwrap_or_default();
        keys.watch(self.revocations.clone(), floor);
        // Keys the previous set had and this one does not (disabled or destroyed elsewhere):
        // refused from now on by the sets handed out before, too.
        if let Some(previous) = self.stale(tenant) {
            for id in previous.key_ids().filter(|id| !keys.has_key(*id)) {
                self.revocations.disable(tenant, id);
            }
        }
        if let Ok(mut seals) = self.seals.lock() {
            let counter = seals
                .entry((tenant.to_owned(), keys.current_key_id()))
                .or_default();
            keys.count_seals_on(counter.clone());
        }
        let keys = Arc::new(keys);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(tenant.to_owned(), (Some(Instant::now()), keys.clone()));
        }
        Ok(keys)
    }

    /// The cached set of `tenant`, fresh or not.
    fn stale(&self, tenant: &str) -> Option<Arc<TenantKeys>> {
        self.cache
            .lock()
            .ok()?
            .get(tenant)
            .map(|(_, keys)| keys.clone())
    }

    fn cached(&self, tenant: &str) -> Option<Arc<TenantKeys>> {
        let cache = self.cache.lock().ok()?;
        let (at, keys) = cache.get(tenant)?;
        at.is_some_and(|at| at.elapsed() < self.ttl)
            .then(|| keys.clone())
    }

    /// Values sealed in this process per `(tenant, key id)`, across cache refreshes. Random 96-bit
    /// nonces are safe for 2^32 values per key: rotate long before any count gets near. (The
    /// note service exports the sum per key id, a bound on every tenant's key of that id that
    /// keeps the metric's labels few.) Each thread adds its seals in batches: another thread's
    /// last up to 1,023 seals per key show after its next batch or when it ends.
    pub fn seal_counts(&self) -> Vec<(String, u32, u64)> {
        let Ok(seals) = self.seals.lock() else {
            return Vec::new();
        };
        let mut counts: Vec<_> = seals
            .iter()
            .map(|((tenant, id), n)| (tenant.clone(), *id, n.get()))
            .collect();
        counts.sort();
        counts
    }

    /// Whether the provider can serve keys at all (see [`KeyProvider::ready`]).
    pub async fn ready(&self) -> std::result::Result<(), String> {
        self.provider.ready().await
    }

    /// Makes the next use of `tenant` read its keys from the provider again (after a rotation
    /// in this process). The stale set is kept to compare with (see [`Keyring::resolve`]).
    pub fn invalidate(&self, tenant: &str) {
        if let Ok(mut cache) = self.cache.lock()
            && let Some((at, _)) = cache.get_mut(tenant)
        {
            *at = None;
        }
    }
}

#[cfg(test)]
mod tests;
