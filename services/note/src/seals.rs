//! `field_encryption_seals{key_id}`: values sealed in this process under key id `key_id`, summed
//! over tenants, read from the keyring at scrape time. Each worker thread adds its seals in
//! batches of 1,024, so a scrape may miss that many per thread and key (see the keyring's
//! `seal_counts`) — noise next to the limit.
//!
//! Random 96-bit GCM nonces are safe for 2^32 values per key. A key is a tenant's key id, so a
//! label per tenant would grow with the tenants; the sum over tenants per key id is a bound on
//! every tenant's key of that id with as many series as key ids in use. Alert on
//! `sum by (key_id) (field_encryption_seals) > 2^31` (across replicas) and rotate.

use std::sync::Arc;

use lockstep_field_encryption::Keyring;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts};

/// The collector; register it in the service's registry.
#[derive(Debug)]
pub struct SealMetrics {
    keyring: Arc<Keyring>,
    gauge: IntGaugeVec,
}

impl SealMetrics {
    /// Reads `keyring`'s seal counts at every scrape.
    pub fn new(keyring: Arc<Keyring>) -> Result<SealMetrics, prometheus::Error> {
        let gauge = IntGaugeVec::new(
            Opts::new(
                "field_encryption_seals",
                "Values sealed in this process per key id, summed over tenants (bound: 2^32 per key)",
            ),
            &["key_id"],
        )?;
        Ok(SealMetrics { keyring, gauge })
    }
}

impl Collector for SealMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut per_key: std::collections::BTreeMap<u32, u64> = std::collections::BTreeMap::new();
        for (_, key_id, seals) in self.keyring.seal_counts() {
            *per_key.entry(key_id).or_default() += seals;
        }
        self.gauge.reset();
        for (key_id, seals) in per_key {
            self.gauge
                .with_label_values(&[&key_id.to_string()])
                .set(i64::try_from(seals).unwrap_or(i64::MAX));
        }
        self.gauge.collect()
    }
}
