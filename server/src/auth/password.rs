//! Argon2id hashing on a bounded pool of blocking threads.
//!
//! Hashing costs tens of milliseconds of CPU and 19 MiB of memory per call,
//! so at most `workers` run at once (a semaphore in front of tokio's
//! blocking pool) and the tick thread keeps its core. At most `queue`
//! more may wait; beyond that [`HashError::Busy`] tells the caller to come
//! back later instead of queueing without limit. A login for an unknown
//! account verifies against a dummy hash, so it costs the same as a wrong
//! password and timing reveals nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::HashParams;

/// Hashing failures.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The parameters are not accepted by argon2.
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    /// Every worker is busy and the queue is full.
    #[error("password hashing queue is full")]
    Busy,
    /// Hashing itself failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The worker task died.
    #[error("password hashing worker failed")]
    Worker,
}

/// Hashes and verifies passwords off the async threads.
#[derive(Debug, Clone)]
pub struct Hasher {
    argon2: Argon2<'static>,
    /// Limits concurrent hashes to the configured worker count.
    permits: Arc<Semaphore>,
    /// Requests running or waiting.
    admitted: Arc<AtomicUsize>,
    /// Most requests running or waiting at once (workers + queue).
    capacity: usize,
    /// A real hash of a random password, verified when the account is unknown.
    dummy: Arc<String>,
}

/// A place in the hashing line; leaving it (drop) frees the place.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Hasher {
    /// A hasher with the given cost, `workers` concurrent hashes and `queue` waiting places.
    pub fn new(params: HashParams, workers: usize, queue: usize) -> Result<Self, HashError> {
        let params =
            Params::new(params.m_kib, params.t, params.p, None).map_err(|e| HashError::Params(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let random: [u8; 32] = tickforge_netcode::random_bytes();
        let dummy = argon2.hash_password(&random).map_err(|e| HashError::Hash(e.to_string()))?.to_string();
        Ok(Self {
            argon2,
            permits: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(AtomicUsize::new(0)),
            capacity: workers + queue,
            dummy: Arc::new(dummy),
        })
    }

    fn enter(&self) -> Result<Slot, HashError> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(self.admitted.clone());
        if before >= self.capacity {
            return Err(HashError::Busy);
        }
        Ok(slot)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _slot = self.enter()?;
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Worker)?;
        let argon2 = self.argon2.clone();
        tokio::task::spawn_blocking(move || work(&argon2)).await.map_err(|_| HashError::Worker)
    }

    /// Hashes a new password into a PHC string (`$argon2id$v=19$m=…`).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |argon2| {
            argon2.hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| HashError::Hash(e.to_string()))
        })
        .await?
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// the account does not exist (always false then, in the same time).
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, HashError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.as_ref().clone());
        let matched = self
            .run(move |argon2| {
                PasswordHash::new(&phc).is_ok_and(|hash| argon2.verify_password(password.as_bytes(), &hash).is_ok())
            })
            .await?;
        Ok(known && matched)
    }
}
