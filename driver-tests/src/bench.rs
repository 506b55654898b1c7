//! Shared pieces of the benchmark binary: timing, interleaving and reporting.

use std::time::{Duration, Instant};

/// Accumulated time and count for one side of a comparison.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Total time measured.
    pub elapsed: Duration,
    /// Operations measured.
    pub ops: u64,
}

impl Tally {
    /// Mean microseconds per operation.
    pub fn micros_per_op(&self) -> f64 {
        if self.ops == 0 {
            0.0
        } else {
            self.elapsed.as_secs_f64() * 1e6 / self.ops as f64
        }
    }
}

/// Runs `op` `n` times and adds the time to `tally`.
pub async fn measure<F, Fut>(tally: &mut Tally, n: u64, mut op: F) -> anyhow::Result<()>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    for i in 0..n {
        op(i).await?;
    }
    tally.elapsed += started.elapsed();
    tally.ops += n;
    Ok(())
}

/// `driver / raw`, the figure the goal is stated in.
pub fn ratio(driver: &Tally, raw: &Tally) -> f64 {
    driver.micros_per_op() / raw.micros_per_op()
}
