//! Argon2id hashing on a fixed pool of hashing threads.
//!
//! Hashing costs tens of milliseconds of CPU and 19 MiB of memory per call,
//! so exactly `workers` threads do it and the tick thread keeps its core.
//! Each thread hashes once at startup, so the memory its allocator keeps
//! for argon2 is taken then, once, rather than growing with logins. At
//! most `queue` more requests may wait; beyond that [`HashError::Busy`]
//! tells the caller to come back later instead of queueing without limit.
//! A request's place is held until its hash is done, even if the caller
//! hung up meanwhile. A login for an unknown
//! account verifies against a dummy hash, so it costs the same as a wrong
//! password and timing reveals nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism (lanes).
    pub p: u32,
}

impl HashParams {
    /// OWASP's minimum for Argon2id: 19 MiB, 2 iterations, 1 lane.
    pub const OWASP_MIN: HashParams = HashParams { m_kib: 19 * 1024, t: 2, p: 1 };
}

impl Default for HashParams {
    fn default() -> Self {
        Self::OWASP_MIN
    }
}

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

/// A unit of work for a hashing thread.
type Job = Box<dyn FnOnce(&mut Kdf) + Send>;

/// Bytes of salt in new hashes.
const SALT_BYTES: usize = 16;
/// Bytes of hash output in new hashes.
const OUTPUT_BYTES: usize = 32;

/// Argon2id with its working memory allocated once and reused, so hashing
/// does not churn 19 MiB allocations through the allocator (which kept
/// ~200 MiB of them resident).
pub struct Kdf {
    argon2: Argon2<'static>,
    params: Params,
    memory: Vec<Block>,
}

impl Kdf {
    fn new(params: Params) -> Self {
        let memory = vec![Block::default(); params.block_count()];
        Self { argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()), params, memory }
    }

    /// Hashes `password` with a fresh salt into a PHC string (`$argon2id$v=19$m=…`).
    fn hash(&mut self, password: &[u8]) -> Result<String, HashError> {
        let bad = |e: &dyn std::fmt::Display| HashError::Hash(e.to_string());
        let salt = Salt::new(&tickforge_netcode::random_bytes::<SALT_BYTES>()).map_err(|e| bad(&e))?;
        let mut out = [0u8; OUTPUT_BYTES];
        self.argon2.hash_password_into_with_memory(password, &salt, &mut out, &mut self.memory).map_err(|e| bad(&e))?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| bad(&e))?,
            salt: Some(salt),
            hash: Some(Output::new(&out).map_err(|e| bad(&e))?),
        };
        Ok(hash.to_string())
    }

    /// Whether `password` matches the PHC string `phc` (compared in constant time).
    fn verify(&mut self, password: &[u8], phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else { return false };
        let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else { return false };
        let (Ok(params), Ok(algorithm)) = (Params::try_from(&hash), Algorithm::try_from(hash.algorithm.as_str()))
        else {
            return false;
        };
        let Ok(version) = hash.version.map_or(Ok(Version::V0x13), Version::try_from) else { return false };
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let mut out = vec![0u8; expected.len()];
        let done = if params.block_count() == self.memory.len() {
            argon2.hash_password_into_with_memory(password, salt, &mut out, &mut self.memory)
        } else {
            // A hash made with other costs (the configuration changed).
            argon2.hash_password_into(password, salt, &mut out)
        };
        done.is_ok() && Output::new(&out).is_ok_and(|computed| computed == *expected)
    }
}

/// Hashes and verifies passwords off the async threads.
#[derive(Clone)]
pub struct Hasher {
    /// To the hashing threads (they stop when every clone is dropped).
    jobs: crossbeam_channel::Sender<Job>,
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

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl Hasher {
    /// A hasher with the given cost, `workers` concurrent hashes and `queue` waiting places.
    pub fn new(params: HashParams, workers: usize, queue: usize) -> Result<Self, HashError> {
        let params = Params::new(params.m_kib, params.t, params.p, Some(OUTPUT_BYTES))
            .map_err(|e| HashError::Params(e.to_string()))?;
        let random: [u8; 32] = tickforge_netcode::random_bytes();
        let dummy = Kdf::new(params.clone()).hash(&random)?;
        let (jobs, inbox) = crossbeam_channel::unbounded::<Job>();
        for i in 0..workers.max(1) {
            let (inbox, params) = (inbox.clone(), params.clone());
            std::thread::Builder::new()
                .name(format!("tickforge-hash-{i}"))
                .spawn(move || {
                    let mut kdf = Kdf::new(params);
                    while let Ok(job) = inbox.recv() {
                        job(&mut kdf);
                    }
                })
                .map_err(|_| HashError::Worker)?;
        }
        Ok(Self { jobs, admitted: Arc::new(AtomicUsize::new(0)), capacity: workers + queue, dummy: Arc::new(dummy) })
    }

    fn enter(&self) -> Result<Slot, HashError> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(self.admitted.clone());
        if before >= self.capacity {
            return Err(HashError::Busy);
        }
        Ok(slot)
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce(&mut Kdf) -> T + Send + 'static) -> Result<T, HashError> {
        let slot = self.enter()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |kdf| {
            let _slot = slot;
            let _ = reply.send(work(kdf));
        });
        self.jobs.send(job).map_err(|_| HashError::Worker)?;
        answer.await.map_err(|_| HashError::Worker)
    }

    /// Hashes a new password into a PHC string (`$argon2id$v=19$m=…`).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |kdf| kdf.hash(password.as_bytes())).await?
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// the account does not exist (always false then, in the same time).
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, HashError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.as_ref().clone());
        let matched = self.run(move |kdf| kdf.verify(password.as_bytes(), &phc)).await?;
        Ok(known && matched)
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    fn params() -> Params {
        Params::new(19 * 1024, 2, 1, Some(OUTPUT_BYTES)).unwrap()
    }

    #[test]
    fn hashes_are_interchangeable_with_the_argon2_crates_own() {
        let mut kdf = Kdf::new(params());
        let ours = kdf.hash(b"correct horse").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        assert!(theirs.verify_password(b"correct horse", &parsed).is_ok());
        assert!(theirs.verify_password(b"wrong horse", &parsed).is_err());
        // Hashes stored by earlier versions (the crate's own hasher) still verify.
        let stored = theirs.hash_password(b"battery staple").unwrap().to_string();
        assert!(kdf.verify(b"battery staple", &stored));
        assert!(!kdf.verify(b"battery stapler", &stored));
        assert!(kdf.verify(b"correct horse", &ours));
        assert!(!kdf.verify(b"correct horse", "not a phc string"));
    }

    #[test]
    fn hashes_made_with_other_costs_verify_too() {
        let cheaper = Params::new(8 * 1024, 1, 1, Some(OUTPUT_BYTES)).unwrap();
        let old = Kdf::new(cheaper).hash(b"pw").unwrap();
        let mut kdf = Kdf::new(params());
        assert!(kdf.verify(b"pw", &old));
        assert!(!kdf.verify(b"pW", &old));
    }
}
