//! argon2id password hashes (PHC strings, with the crate's default parameters: 19 MiB, 2
//! passes, the OWASP recommendation), computed under a bound.
//!
//! ```text
//!  request ──► wait for one of `workers` slots (at most `queue_timeout`, at most
//!              `max_waiting` waiters) ──► 503 `overloaded` + Retry-After if neither
//!          ──► the hash runs on one of `workers` dedicated threads
//! ```
//!
//! Each hash allocates 19 MiB. On tokio's blocking pool nothing bounded how many ran at once
//! (up to 512 threads), and every thread's allocator arena kept its 19 MiB after the flood:
//! 64 concurrent registrations took the service from 0.86 to 3.25 GB. A fixed set of threads
//! bounds both: at most `workers` hashes run, and at most `workers` arenas hold their memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use std::cell::RefCell;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::domain::DomainError;

/// A hash of a random password, verified against when the user does not exist, so an unknown
/// name costs the same time as a wrong password and the answer time does not tell which names
/// exist.
static DECOY: LazyLock<Result<String, String>> = LazyLock::new(|| {
    let random: [u8; 32] = rand::random();
    hash_now(&format!("{random:02x?}"))
});

thread_local! {
    /// This thread's argon2 memory (19 MiB with the default parameters), allocated by its first
    /// hash and reused by every later one. The argon2 crate allocates it per hash, and glibc
    /// kept each of those: 19 MiB more resident memory per hash, even one at a time.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// The largest memory cost a stored hash may ask for (64 MiB; the default is 19 MiB): a hash
/// asking more is not computed, so no row can make a hashing thread allocate without bound.
const MAX_M_COST_KIB: u32 = 64 * 1024;

/// Runs the hash of `params` in this thread's reused memory.
fn hash_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), String> {
    let blocks = argon.params().block_count();
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        argon
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|e| e.to_string())
    })
}

fn hash_now(password: &str) -> Result<String, String> {
    let argon = Argon2::default();
    let salt: [u8; 16] = rand::random();
    let salt_text = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    hash_into(&argon, password.as_bytes(), &salt, &mut out)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(|e| e.to_string())?,
        salt: Some(salt_text.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

fn verify_now(password: &str, phc: &str) -> bool {
    let check = || -> Option<bool> {
        let parsed = PasswordHash::new(phc).ok()?;
        let params = Params::try_from(&parsed).ok()?;
        if params.m_cost() > MAX_M_COST_KIB {
            return None;
        }
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = parsed
            .version
            .map_or(Ok(Version::default()), Version::try_from)
            .ok()?;
        let expected = parsed.hash?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let mut out = vec![0u8; expected.len()];
        let argon = Argon2::new(algorithm, version, params);
        hash_into(&argon, password.as_bytes(), salt, &mut out).ok()?;
        // `Output`'s equality is constant-time.
        Some(Output::new(&out).ok()? == expected)
    };
    check().unwrap_or(false)
}

type Job = Box<dyn FnOnce() + Send>;

/// The process's hasher, with [`HashLimits::default`]: the bound is on the process's memory,
/// so every application in it shares one.
pub fn shared() -> Result<Arc<Hasher>, String> {
    static SHARED: LazyLock<Result<Arc<Hasher>, String>> = LazyLock::new(|| {
        Hasher::start(HashLimits::default())
            .map(Arc::new)
            .map_err(|e| e.to_string())
    });
    SHARED.clone()
}

/// The bounded hashing service of one process (see the module docs).
#[derive(Debug)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    limits: HashLimits,
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// How much hashing may run and wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    /// Hashes running at once, each on its own thread (default: the machine's cores).
    pub workers: usize,
    /// Requests waiting for a slot; more are answered 503 at once (default: 32 per worker).
    pub max_waiting: usize,
    /// Longest wait for a slot before 503 (default 1 s).
    pub queue_timeout: Duration,
}

impl Default for HashLimits {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        HashLimits {
            workers,
            max_waiting: 32 * workers,
            queue_timeout: Duration::from_secs(1),
        }
    }
}

impl Hasher {
    /// Starts `limits.workers` hashing threads; they end when the `Hasher` is dropped.
    pub fn start(limits: HashLimits) -> std::io::Result<Hasher> {
        // The decoy is hashed now, not by the first login for an unknown name: that login ran
        // two hashes, and its time told the name was unknown (113 ms against 37 ms for a wrong
        // password in tests/http.rs under load).
        LazyLock::force(&DECOY);
        let workers = limits.workers.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..workers {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while taking a job, not while hashing.
                        let next = queue
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match next {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Hasher {
            slots: Arc::new(Semaphore::new(workers)),
            waiting: AtomicUsize::new(0),
            limits: HashLimits { workers, ..limits },
            jobs: Mutex::new(jobs),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> HashLimits {
        self.limits
    }

    /// A slot, or [`DomainError::Overloaded`] when too many wait or the wait runs out.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, DomainError> {
        let overloaded = || DomainError::Overloaded {
            retry_after: self.limits.queue_timeout.max(Duration::from_secs(1)),
        };
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.limits.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(overloaded());
        }
        let waited = tokio::time::timeout(
            self.limits.queue_timeout,
            self.slots.clone().acquire_owned(),
        )
        .await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(overloaded()),
        }
    }

    /// Runs `work` on a hashing thread once a slot is free. The slot is held until `work`
    /// ends, also when the caller stops waiting (a dropped request cannot free a slot early).
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, DomainError> {
        let permit = self.slot().await?;
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            let _ = reply.send(work());
        });
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(job)
            .map_err(|_| DomainError::Storage("password hashing threads stopped".into()))?;
        answer
            .await
            .map_err(|_| DomainError::Storage("password hashing thread panicked".into()))
    }

    /// The PHC string of `password` under a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String, DomainError> {
        let password = password.to_owned();
        self.run(move || hash_now(&password))
            .await?
            .map_err(|e| DomainError::Storage(format!("hashing: {e}")))
    }

    /// Whether `password` matches `phc`; with `None` (no such user) the decoy is checked
    /// instead and the answer is `false`, after the same work.
    pub async fn verify(&self, password: &str, phc: Option<String>) -> Result<bool, DomainError> {
        let password = password.to_owned();
        self.run(move || match phc {
            Some(phc) => verify_now(&password, &phc),
            None => {
                if let Ok(decoy) = DECOY.as_ref() {
                    let _ = verify_now(&password, decoy);
                }
                false
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One at a time: the memory test reads the process's RSS.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[test]
    fn hashes_are_phc_strings_the_crate_itself_verifies() {
        let _one = serial();
        use argon2::password_hash::PasswordVerifier;
        let phc = hash_now("a long enough password").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let parsed = PasswordHash::new(&phc).unwrap();
        Argon2::default()
            .verify_password(b"a long enough password", &parsed)
            .unwrap();
        assert!(verify_now("a long enough password", &phc));
        assert!(!verify_now("a long enough passworD", &phc));
        assert!(!verify_now("a long enough password", "not a hash"));
    }

    #[test]
    fn hashes_made_by_the_crate_verify_and_huge_costs_are_refused() {
        let _one = serial();
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::encode_b64(&[7; 16]).unwrap();
        let phc = Argon2::default()
            .hash_password(b"pw of another era", &salt)
            .unwrap()
            .to_string();
        assert!(verify_now("pw of another era", &phc));
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8, 1, 1, None).unwrap(),
        )
        .hash_password(b"cheap", &salt)
        .unwrap()
        .to_string();
        assert!(verify_now("cheap", &cheap));
        let huge = phc.replace("m=19456", "m=1048576");
        assert!(!verify_now("pw of another era", &huge));
    }

    /// The thread's memory is reused: hashing again on the same thread does not grow RSS by
    /// 19 MiB per hash (it did: 16 hashes one after the other, 3 → 288 MiB).
    #[test]
    fn repeated_hashes_reuse_the_threads_memory() {
        let _one = serial();
        let rss = || {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap()
                / 1024
        };
        std::thread::spawn(move || {
            hash_now("warm up this thread").unwrap();
            let before = rss();
            for _ in 0..8 {
                hash_now("a long enough password").unwrap();
            }
            let after = rss();
            assert!(
                after <= before + 16,
                "RSS {before} -> {after} MiB over 8 hashes"
            );
        })
        .join()
        .unwrap();
    }
}
