//! Leader election on a `coordination.k8s.io/v1` Lease, so that two replicas are safe: only the
//! holder of the Lease runs the controllers; the other waits to take over.
//!
//! ```text
//!  standby ──(lease free, expired, or ours; looked at every second)──► leader ──renew every lease/3──┐
//!     ▲                                          │  ◄───────────────────────┘
//!     │                                          └─(renewal refused, or not renewed
//!     │                                             within 2/3 of the lease)──► exit
//!  (the pod restarts and stands by)
//! ```
//!
//! Writes use the Lease's `resourceVersion`, so two candidates racing for an expired Lease cannot
//! both win: the loser gets 409 Conflict. A leader that cannot renew stops before its Lease
//! expires, so two leaders never overlap while clocks agree within the remaining third. The
//! decision is the pure [`verdict`]; [`Elector`] is the IO.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};

/// How often a standby reads the Lease. A leader that stops releases the Lease, so this bounds
/// the takeover after a rolling update or SIGTERM (client-go's leader election retries every
/// 2 s); one GET a second is the whole cost of a standby.
pub const STANDBY_RETRY: Duration = Duration::from_secs(1);

/// What a candidate may do with a Lease it has just read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nobody holds it, or the holder let it expire: take it (a new term).
    Acquire,
    /// We hold it: renew it.
    Renew,
    /// Someone else holds it until `expires`.
    Held {
        /// The holder's identity.
        holder: String,
        /// When the holder's term ends unless renewed.
        expires: Timestamp,
    },
}

/// Decides what `me` may do with a Lease whose spec is `spec`, at `now`.
pub fn verdict(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Verdict {
    let Some(spec) = spec else {
        return Verdict::Acquire;
    };
    let holder = match spec.holder_identity.as_deref() {
        None | Some("") => return Verdict::Acquire,
        Some(h) if h == me => return Verdict::Renew,
        Some(h) => h,
    };
    let (Some(renewed), Some(seconds)) = (&spec.renew_time, spec.lease_duration_seconds) else {
        // A held Lease without a renew time or duration cannot expire by our reckoning: treat it as
        // expired rather than wait forever on a malformed object.
        return Verdict::Acquire;
    };
    let expires = renewed
        .0
        .saturating_add(SignedDuration::from_secs(i64::from(seconds)))
        .unwrap_or(renewed.0);
    if expires <= now {
        Verdict::Acquire
    } else {
        Verdict::Held {
            holder: holder.to_owned(),
            expires,
        }
    }
}

/// The Lease spec `me` writes after `verdict` allowed it.
pub fn next_spec(
    prev: Option<&LeaseSpec>,
    me: &str,
    now: Timestamp,
    duration: Duration,
) -> LeaseSpec {
    let seconds = i32::try_from(duration.as_secs()).unwrap_or(i32::MAX);
    let prev = prev.cloned().unwrap_or_default();
    let ours = prev.holder_identity.as_deref() == Some(me);
    let transitions = prev.lease_transitions.unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(me.to_owned()),
        lease_duration_seconds: Some(seconds),
        acquire_time: if ours {
            prev.acquire_time.or(Some(MicroTime(now)))
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(if ours || prev.holder_identity.is_none() {
            transitions
        } else {
            transitions + 1
        }),
        ..prev
    }
}

/// Why leadership ended.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Another candidate took the Lease, or renewal failed for too long.
    #[error("lost the leader lease {lease}: {reason}")]
    Lost {
        /// The Lease's name.
        lease: String,
        /// What happened.
        reason: String,
    },
    /// The API server refused a Lease call outright (e.g. RBAC).
    #[error("leader lease {lease}: {source}")]
    Api {
        /// The Lease's name.
        lease: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
}

/// One candidate for one Lease.
#[derive(Clone)]
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

impl std::fmt::Debug for Elector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elector")
            .field("name", &self.name)
            .field("identity", &self.identity)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl Elector {
    /// A candidate `identity` (the pod name) for the Lease `name` in `api`'s namespace.
    pub fn new(api: Api<Lease>, name: &str, identity: &str, duration: Duration) -> Elector {
        Elector {
            api,
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration,
        }
    }

    fn api_error(&self, source: kube::Error) -> LeaderError {
        LeaderError::Api {
            lease: self.name.clone(),
            source,
        }
    }

    /// One attempt: read the Lease and take or renew it if [`verdict`] allows. `Ok(true)` means
    /// we hold it now; a lost race (409) is `Ok(false)`.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, LeaderError> {
        let now = Timestamp::now();
        let current = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.api_error(e))?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(next_spec(None, &self.identity, now, self.duration)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(e) if conflict(&e) => Ok(false),
                Err(e) => Err(self.api_error(e)),
            };
        };
        if let Verdict::Held { .. } = verdict(lease.spec.as_ref(), &self.identity, now) {
            return Ok(false);
        }
        lease.spec = Some(next_spec(
            lease.spec.as_ref(),
            &self.identity,
            now,
            self.duration,
        ));
        // `replace` sends the resourceVersion we read: a concurrent writer makes this a 409.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if conflict(&e) => Ok(false),
            Err(e) => Err(self.api_error(e)),
        }
    }

    /// Gives the Lease up (holder cleared) so a standby takes over at once instead of waiting
    /// for it to expire. Does nothing if we do not hold it.
    pub async fn release(&self) -> Result<(), LeaderError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.api_error(e))?
        else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if conflict(&e) => Ok(()),
            Err(e) => Err(self.api_error(e)),
        }
    }

    /// Waits until this candidate holds the Lease, looking every [`STANDBY_RETRY`] (or every
    /// third of a shorter lease): a released Lease is taken within that, not at expiry.
    pub async fn acquire(&self) -> Result<(), LeaderError> {
        let retry = STANDBY_RETRY.min(self.duration / 3);
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
                    return Ok(());
                }
                Ok(false) => tracing::debug!(lease = %self.name, "standing by"),
                // Transient API errors while standing by are harmless: keep trying.
                Err(e) => tracing::warn!(error = %e, "lease attempt failed"),
            }
            tokio::time::sleep(retry).await;
        }
    }

    /// Renews the Lease every third of its duration; returns when leadership is lost: the Lease
    /// was taken, or it could not be renewed for two thirds of its duration (so we stop before
    /// it expires and a standby takes over).
    pub async fn hold(&self) -> LeaderError {
        let period = self.duration / 3;
        let deadline = self.duration * 2 / 3;
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(period).await;
            // kube-client has no read timeout of its own: a half-open connection would leave
            // this renewal waiting while the Lease expires and a standby takes over. No attempt
            // may outlast what is left of the lease.
            let budget = deadline
                .saturating_sub(renewed.elapsed())
                .max(Duration::from_millis(50));
            let attempt = tokio::time::timeout(budget, self.try_acquire_or_renew())
                .await
                .unwrap_or_else(|_| {
                    Err(LeaderError::Lost {
                        lease: self.name.clone(),
                        reason: format!("renewal got no answer within {budget:?}"),
                    })
                });
            match attempt {
                Ok(true) => renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    return LeaderError::Lost {
                        lease: self.name.clone(),
                        reason: "another candidate holds it".into(),
                    };
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lease renewal failed");
                    if renewed.elapsed() >= deadline {
                        return LeaderError::Lost {
                            lease: self.name.clone(),
                            reason: format!("not renewed for {:?}: {e}", renewed.elapsed()),
                        };
                    }
                }
            }
        }
    }

    /// Runs `work` while leader: acquires, then runs `work` and the renewal side by side. When
    /// `work` ends (shutdown) the Lease is released; when leadership is lost, `work` is dropped
    /// and the error returned, and the process should exit so that it never acts as a stale
    /// leader.
    pub async fn lead<F, T>(&self, work: F) -> Result<T, LeaderError>
    where
        F: std::future::Future<Output = T>,
    {
        self.acquire().await?;
        self.while_leading(work).await
    }

    /// The second half of [`Elector::lead`], for a caller that acquired the Lease itself (for
    /// example to stop standing by on shutdown): runs `work` beside the renewals and releases
    /// the Lease when `work` ends. Shutdown must end `work`, not drop this future, or the
    /// release never runs and a standby waits for the lease to expire.
    pub async fn while_leading<F, T>(&self, work: F) -> Result<T, LeaderError>
    where
        F: std::future::Future<Output = T>,
    {
        tokio::select! {
            out = work => {
                if let Err(e) = self.release().await {
                    tracing::warn!(error = %e, "lease not released; a standby takes over when it expires");
                }
                Ok(out)
            }
            lost = self.hold() => Err(lost),
        }
    }
}
