//! Leader election through a coordination.k8s.io/v1 Lease, as client-go's `leaderelection`
//! package runs it for kube-controller-manager and kube-scheduler: when several servers share
//! one store, only the holder of the Lease runs the controllers and the scheduler.
//!
//! The rules are client-go's (`LeaderElector.tryAcquireOrRenew`, `acquire`, `renew`,
//! `release`):
//! - a candidate writes `holderIdentity`, `leaseDurationSeconds`, `acquireTime`, `renewTime` and
//!   `leaseTransitions`; every write carries the resourceVersion it read, so of two candidates
//!   racing for a free Lease one wins and the other gets a conflict;
//! - a Lease held by another is taken over only once it has gone unchanged for
//!   `leaseDurationSeconds` **by this candidate's own clock**, counted from when it last saw the
//!   Lease change (its "observed time"), never from the `renewTime` written in it, so the
//!   servers' clocks need not agree;
//! - unlike client-go, whose candidates wait a jittered 2 to 4.4 s between attempts (so a
//!   takeover comes 15 to 24 s after the leader's last renewal), a candidate here polls a
//!   Lease held by another every 2 to 2.4 s and also wakes the moment the Lease it saw would
//!   expire: a takeover comes 15 to 17.4 s after the last renewal;
//! - the leader renews every retry period; when no renewal succeeds within the renew deadline
//!   (shorter than the lease duration) it stops leading, before any other candidate can see
//!   its Lease expire.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kbatch_api::clock::Clock;
use kbatch_api::error::ApiError;
use kbatch_api::registry::{Registry, WriteOptions};
use kbatch_core::object::{LEASE, Object};
use tokio::time::Instant;

/// kube-controller-manager's `--leader-elect-lease-duration` default.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// kube-controller-manager's `--leader-elect-renew-deadline` default.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// kube-controller-manager's `--leader-elect-retry-period` default.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);
/// client-go's `JitterFactor`: a leader's renew deadline must leave room for attempts this
/// far apart.
const JITTER_FACTOR: f64 = 1.2;
/// A candidate waits between one and 1.2 retry periods between attempts, so that candidates
/// started together do not stay in step.
const POLL_JITTER: f64 = 0.2;
/// How long after the moment a Lease would expire a candidate tries to take it, so that by
/// its clock the Lease has expired.
const EXPIRY_MARGIN: Duration = Duration::from_millis(5);

/// What is elected, who runs, and the timings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// The Lease's namespace (`--leader-elect-resource-namespace`).
    pub namespace: String,
    /// The Lease's name (`--leader-elect-resource-name`).
    pub name: String,
    /// This candidate's name, written as the Lease's holderIdentity; unique among candidates.
    pub identity: String,
    /// How long a Lease that nobody renews keeps others waiting.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up leading.
    pub renew_deadline: Duration,
    /// The pause between attempts to acquire or renew.
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// kube-system/kbatch-controller-manager with Kubernetes' timings (15 s, 10 s, 2 s).
    pub fn new(identity: impl Into<String>) -> Self {
        LeaderElectionConfig {
            namespace: "kube-system".to_owned(),
            name: "kbatch-controller-manager".to_owned(),
            identity: identity.into(),
            lease_duration: LEASE_DURATION,
            renew_deadline: RENEW_DEADLINE,
            retry_period: RETRY_PERIOD,
        }
    }

    /// client-go's `NewLeaderElector` checks: the leader must give up before its Lease can
    /// expire, and must get more than one (jittered) attempt within the renew deadline.
    pub fn validate(&self) -> Result<(), LeaderElectionError> {
        let invalid = |why: &str| Err(LeaderElectionError::Invalid(why.to_owned()));
        if self.lease_duration <= self.renew_deadline {
            return invalid("leaseDuration must be greater than renewDeadline");
        }
        if self.renew_deadline.as_secs_f64() <= JITTER_FACTOR * self.retry_period.as_secs_f64() {
            return invalid("renewDeadline must be greater than retryPeriod*JitterFactor");
        }
        if self.retry_period.is_zero() {
            return invalid("retryPeriod must be greater than zero");
        }
        if self.lease_duration.as_secs() < 1 || self.lease_duration.subsec_nanos() != 0 {
            // The Lease holds whole seconds (leaseDurationSeconds).
            return invalid("leaseDuration must be a whole number of seconds, at least 1");
        }
        if self.identity.is_empty() {
            return invalid("the identity must not be empty");
        }
        if self.namespace.is_empty() || self.name.is_empty() {
            return invalid("the Lease needs a namespace and a name");
        }
        Ok(())
    }

    fn lease_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }
}

/// Why an elector cannot be made or a round failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderElectionError {
    #[error("invalid leader election settings: {0}")]
    Invalid(String),
    #[error("the lease {0} holds an object of another kind")]
    NotALease(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The Lease as this candidate last saw it change, and when (by its own clock).
#[derive(Debug, Default)]
struct Observed {
    spec: LeaseSpec,
    /// The Lease's resourceVersion: the record changed exactly when this did (client-go
    /// compares the raw record).
    resource_version: Option<String>,
    time: Option<Timestamp>,
}

/// One candidate. Cheap to share: [`LeaderElector::acquire`], [`LeaderElector::hold`] and
/// [`LeaderElector::release`] take `&self`.
#[derive(Debug)]
pub struct LeaderElector {
    registry: Registry,
    clock: Arc<dyn Clock>,
    config: LeaderElectionConfig,
    observed: Mutex<Observed>,
}

/// MicroTime's wire precision: what is written is what is read back.
fn micro(t: Timestamp) -> MicroTime {
    MicroTime(Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t))
}

fn write_options() -> WriteOptions {
    WriteOptions {
        field_manager: Some("kbatch-leader-election".to_owned()),
        ..Default::default()
    }
}

impl LeaderElector {
    pub fn new(
        registry: Registry,
        clock: Arc<dyn Clock>,
        config: LeaderElectionConfig,
    ) -> Result<Self, LeaderElectionError> {
        config.validate()?;
        Ok(LeaderElector {
            registry,
            clock,
            config,
            observed: Mutex::new(Observed::default()),
        })
    }

    pub fn config(&self) -> &LeaderElectionConfig {
        &self.config
    }

    fn observed(&self) -> std::sync::MutexGuard<'_, Observed> {
        self.observed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the Lease, as last seen, names this candidate (client-go's `IsLeader`).
    pub fn is_leader(&self) -> bool {
        self.observed().spec.holder_identity.as_deref() == Some(self.config.identity.as_str())
    }

    /// The holder of the Lease as last seen, if any.
    pub fn observed_leader(&self) -> Option<String> {
        self.observed()
            .spec
            .holder_identity
            .clone()
            .filter(|h| !h.is_empty())
    }

    /// Whether the Lease as last seen is still within its duration, counted from when it was
    /// seen to change (`isLeaseValid`).
    fn lease_valid(observed: &Observed, now: Timestamp) -> bool {
        let Some(seen) = observed.time else {
            return false;
        };
        let seconds = i64::from(observed.spec.lease_duration_seconds.unwrap_or(0));
        seen.checked_add(SignedDuration::from_secs(seconds))
            .is_ok_and(|expiry| expiry > now)
    }

    /// How long until the Lease another holds expires, as last seen; None when no one else
    /// holds it.
    fn until_expiry(&self) -> Option<Duration> {
        let observed = self.observed();
        let other = observed
            .spec
            .holder_identity
            .as_deref()
            .is_some_and(|h| !h.is_empty() && h != self.config.identity);
        let seen = observed.time?;
        let seconds = i64::from(observed.spec.lease_duration_seconds.unwrap_or(0));
        let expiry = seen.checked_add(SignedDuration::from_secs(seconds)).ok()?;
        let left = expiry.duration_since(self.clock.now());
        other.then(|| left.try_into().unwrap_or(Duration::ZERO))
    }

    fn set_observed(&self, spec: LeaseSpec, resource_version: Option<String>) {
        let mut observed = self.observed();
        observed.spec = spec;
        observed.resource_version = resource_version;
        observed.time = Some(self.clock.now());
    }

    /// One round of client-go's `tryAcquireOrRenew`: creates the Lease if there is none,
    /// renews it if this candidate holds it, takes it over if it expired; true when this
    /// candidate holds it afterwards. A write that lost a race answers false.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, LeaderElectionError> {
        let config = &self.config;
        let now = micro(self.clock.now());
        let mut record = LeaseSpec {
            holder_identity: Some(config.identity.clone()),
            lease_duration_seconds: Some(config.lease_seconds()),
            acquire_time: Some(now.clone()),
            renew_time: Some(now.clone()),
            lease_transitions: Some(0),
            ..Default::default()
        };
        let mut lease = match self
            .registry
            .get(&LEASE, &config.namespace, &config.name)
            .await
        {
            Ok(Object::Lease(lease)) => lease,
            Ok(_) => return Err(LeaderElectionError::NotALease(self.lease_name())),
            Err(e) if e.is_not_found() => return self.create(record).await,
            Err(e) => return Err(e.into()),
        };
        let old = lease.spec.clone().unwrap_or_default();
        {
            let mut observed = self.observed();
            if observed.resource_version != lease.metadata.resource_version {
                observed.spec = old.clone();
                observed.resource_version = lease.metadata.resource_version.clone();
                observed.time = Some(self.clock.now());
            }
            let held = old
                .holder_identity
                .as_deref()
                .is_some_and(|h| !h.is_empty());
            let ours = observed.spec.holder_identity.as_deref() == Some(config.identity.as_str());
            if held && Self::lease_valid(&observed, now.0) && !ours {
                return Ok(false);
            }
            if ours {
                record.acquire_time = old.acquire_time.clone();
                record.lease_transitions = old.lease_transitions;
            } else {
                record.lease_transitions = Some(old.lease_transitions.unwrap_or(0) + 1);
            }
        }
        // The Lease read is the precondition: a write by anyone since makes this one fail.
        lease.spec = Some(record.clone());
        self.write(lease, record).await
    }

    fn lease_name(&self) -> String {
        format!("{}/{}", self.config.namespace, self.config.name)
    }

    async fn create(&self, record: LeaseSpec) -> Result<bool, LeaderElectionError> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..Default::default()
            },
            spec: Some(record.clone()),
        };
        match self
            .registry
            .create(
                &LEASE,
                &self.config.namespace,
                Object::Lease(lease),
                &write_options(),
                Vec::new(),
            )
            .await
        {
            Ok(written) => {
                let rv = written.object.metadata().resource_version.clone();
                self.set_observed(record, rv);
                Ok(true)
            }
            // Another candidate created it first.
            Err(e) if e.code() == 409 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn write(&self, lease: Lease, record: LeaseSpec) -> Result<bool, LeaderElectionError> {
        match self
            .registry
            .update(
                &LEASE,
                &self.config.namespace,
                &self.config.name,
                Object::Lease(lease),
                &write_options(),
                Vec::new(),
            )
            .await
        {
            Ok(written) => {
                let rv = written.object.metadata().resource_version.clone();
                self.set_observed(record, rv);
                Ok(true)
            }
            Err(e) if e.is_conflict() || e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Tries every retry period (jittered) until this candidate holds the Lease
    /// (client-go's `acquire`).
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = %self.lease_name(), identity = %self.config.identity, "acquired the leader lease");
                    return;
                }
                Ok(false) => {
                    tracing::debug!(lease = %self.lease_name(), holder = ?self.observed_leader(), "the leader lease is held by another");
                }
                Err(e) => {
                    tracing::warn!(lease = %self.lease_name(), error = %e, "acquiring the leader lease");
                }
            }
            let jitter = rand::random::<f64>() * POLL_JITTER;
            let mut pause = self.config.retry_period.mul_f64(1.0 + jitter);
            if let Some(left) = self.until_expiry() {
                pause = pause.min(left + EXPIRY_MARGIN);
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// Renews the Lease every retry period while this candidate leads; returns once leadership
    /// is lost: when no renewal succeeded within the renew deadline (client-go's `renew`,
    /// whose `PollImmediateUntil` keeps trying every retry period until the deadline). The
    /// deadline is shorter than the lease duration, so this returns before any other
    /// candidate can see the Lease expire.
    pub async fn hold(&self) {
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let deadline = Instant::now() + self.config.renew_deadline;
            loop {
                match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
                    Ok(Ok(true)) => break,
                    Ok(Ok(false)) => {
                        tracing::warn!(lease = %self.lease_name(), holder = ?self.observed_leader(), "could not renew the leader lease");
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(lease = %self.lease_name(), error = %e, "renewing the leader lease");
                    }
                    Err(_) => {}
                }
                let next = Instant::now() + self.config.retry_period;
                if next >= deadline {
                    tokio::time::sleep_until(deadline).await;
                    tracing::error!(lease = %self.lease_name(), identity = %self.config.identity, "leader election lost");
                    return;
                }
                tokio::time::sleep_until(next).await;
            }
        }
    }

    /// Gives the Lease up, so another candidate takes over at once rather than after the
    /// lease duration (client-go's `release`, for `ReleaseOnCancel`): holderIdentity empty,
    /// a lease of one second. Only for a candidate that has stopped leading.
    pub async fn release(&self) -> Result<(), LeaderElectionError> {
        if !self.is_leader() {
            return Ok(());
        }
        let config = &self.config;
        let mut lease = match self
            .registry
            .get(&LEASE, &config.namespace, &config.name)
            .await
        {
            Ok(Object::Lease(lease)) => lease,
            Ok(_) => return Err(LeaderElectionError::NotALease(self.lease_name())),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let old = lease.spec.clone().unwrap_or_default();
        if old.holder_identity.as_deref() != Some(config.identity.as_str()) {
            return Ok(());
        }
        let now = micro(self.clock.now());
        let record = LeaseSpec {
            holder_identity: Some(String::new()),
            lease_duration_seconds: Some(1),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: old.lease_transitions,
            ..Default::default()
        };
        lease.spec = Some(record.clone());
        self.write(lease, record).await.map(|_| ())
    }
}
