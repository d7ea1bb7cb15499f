//! Argon2id password hashing on a fixed pool of threads of its own, so that logins can
//! never starve the async runtime, with a dummy hash for unknown users so that "no such
//! user" costs the same time as "wrong password".
//!
//! Stored hashes keep the parameters they were made with until their next successful
//! login, so after a parameter change a check costs what its stored hash says. The
//! hasher is calibrated with the parameters in use (`calibrate`): the dummy hash takes
//! the most expensive of them, and every check of a cheaper hash says how long to wait
//! before answering a failure (`Verified::pad`) so that it takes as long as one of the
//! most expensive — scaled from the check's own measured time, so it follows the load.
//!
//! Each pool thread owns one Argon2 work area (19 MiB at the OWASP defaults) and reuses
//! it for every hash. Allocating it per hash made glibc keep a retired 19 MiB block in
//! the arena of every thread that ever hashed (RSS grew past 500 MiB under login load,
//! see docs/benchmarks.md); now password memory is bounded by threads × work area.
//! The queue in front of the pool is bounded: when it is full the caller is told
//! `Unavailable` at once instead of waiting without end. A login takes its place in the
//! queue ([`PasswordHasher::reserve`]) before anything else, so that under a login flood
//! the logins the pool has no room for are refused before they cost a store lookup.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use std::str::FromStr as _;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::crypto::{ct_eq, random_bytes};
use crate::error::Error;
use crate::metrics::{HASH_DURATION, HASH_QUEUE_DEPTH, HASH_REJECTED, HASH_WAIT};
use crate::policy::PasswordParams;

/// Hashes waiting per pool thread before `Unavailable`.
const QUEUE_PER_THREAD: usize = 64;

/// The result of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched a real user's hash.
    pub ok: bool,
    /// The stored hash uses other parameters than the configured ones.
    pub needs_rehash: bool,
    /// How much longer a check with the most expensive parameters in use would have
    /// taken: a failure is answered no sooner (zero for the dummy and the costliest).
    pub pad: Duration,
}

/// Longest `Verified::pad`: a bound on what a wildly cheap stored hash can cost a
/// failed login in waiting.
const MAX_PAD: Duration = Duration::from_secs(5);

/// What failures are made to cost: the dummy hash (for unknown users), made with the
/// most expensive parameters in use, and that cost in Argon2 block passes.
struct Calibration {
    dummy_hash: String,
    max_cost: u64,
}

/// The work of an Argon2 check in block passes (memory × iterations; lanes run one
/// after another in this build, so parallelism adds none).
fn cost(params: &Params) -> u64 {
    u64::from(params.m_cost()) * u64::from(params.t_cost())
}

/// A job with the time it was queued (for the wait-time histogram) and the place it holds.
struct Queued {
    job: Job,
    at: Instant,
    _place: Place,
}

/// A place in the hashing pool: one job waiting or running. Taken with
/// [`PasswordHasher::reserve`]; given back when dropped (by the pool thread once the job
/// is done, or by the caller if it never submits one).
#[derive(Debug)]
pub struct Place {
    taken: Arc<AtomicUsize>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.taken.fetch_sub(1, Ordering::AcqRel);
    }
}

enum Job {
    Verify {
        password: Zeroizing<String>,
        stored: Option<String>,
        reply: oneshot::Sender<Verified>,
    },
    Hash {
        password: Zeroizing<String>,
        reply: oneshot::Sender<Result<String, Error>>,
    },
}

/// The parts every pool thread shares.
struct Shared {
    params: PasswordParams,
    argon: Argon2<'static>,
    calibration: RwLock<Arc<Calibration>>,
}

/// Hashes and verifies passwords.
pub struct PasswordHasher {
    shared: Arc<Shared>,
    queue: SyncSender<Queued>,
    /// Places taken: jobs waiting, running, or about to be submitted.
    taken: Arc<AtomicUsize>,
    /// Places there are: one running job per thread and [`QUEUE_PER_THREAD`] waiting.
    places: usize,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.shared.params)
            .finish_non_exhaustive()
    }
}

fn argon(params: PasswordParams) -> Result<Argon2<'static>, Error> {
    let p = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| Error::InvalidRequest(format!("invalid Argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
}

impl Shared {
    fn hash(&self, password: &[u8], memory: &mut [Block]) -> Result<String, Error> {
        let mut salt = [0u8; 16];
        random_bytes(&mut salt)?;
        let failed =
            |e: &dyn std::fmt::Display| Error::Internal(format!("password hashing failed: {e}"));
        let mut out = Zeroizing::new([0u8; Params::DEFAULT_OUTPUT_LEN]);
        self.argon
            .hash_password_into_with_memory(password, &salt, out.as_mut_slice(), memory)
            .map_err(|e| failed(&e))?;
        // The standard PHC string, as `Argon2::hash_password` would write it.
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(self.argon.params()).map_err(|e| failed(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
            hash: Some(Output::new(out.as_slice()).map_err(|e| failed(&e))?),
        };
        Ok(hash.to_string())
    }

    fn calibration(&self) -> Arc<Calibration> {
        match self.calibration.read() {
            Ok(c) => Arc::clone(&c),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn verify(&self, password: &[u8], stored: Option<&str>, memory: &mut Vec<Block>) -> Verified {
        let refused = Verified {
            ok: false,
            needs_rehash: false,
            pad: Duration::ZERO,
        };
        let calibration = self.calibration();
        let (hash, real) = match stored.and_then(|s| PasswordHash::new(s).ok()) {
            Some(h) => (h, true),
            // Unknown user (or an unreadable hash): spend the same work on the dummy.
            None => match PasswordHash::new(&calibration.dummy_hash) {
                Ok(h) => (h, false),
                Err(_) => return refused,
            },
        };
        let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
            return refused;
        };
        let Ok(params) = Params::try_from(&hash) else {
            return refused;
        };
        let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
            return refused;
        };
        let Ok(version) = Version::try_from(hash.version.unwrap_or(0x13)) else {
            return refused;
        };
        let argon = Argon2::new(algorithm, version, params.clone());
        let blocks = params.block_count();
        if memory.len() < blocks {
            // A hash made with more memory than configured (before a parameter change):
            // grow this thread's area once; it stays bounded by the stored hashes.
            memory.resize(blocks, Block::default());
        }
        let started = Instant::now();
        let mut out = vec![0u8; expected.len()];
        let computed = argon.hash_password_into_with_memory(
            password,
            salt.as_ref(),
            &mut out,
            &mut memory[..blocks],
        );
        let took = started.elapsed();
        let ok = computed.is_ok() && ct_eq(&out, expected.as_bytes()) && real;
        let current = hash.algorithm.as_str() == "argon2id"
            && hash.version == Some(0x13)
            && params.m_cost() == self.params.memory_kib
            && params.t_cost() == self.params.iterations
            && params.p_cost() == self.params.parallelism;
        Verified {
            ok,
            needs_rehash: ok && !current,
            pad: pad_for(took, cost(&params), calibration.max_cost),
        }
    }
}

/// How much longer than `took` (a check costing `cost`) a check costing `max_cost`
/// takes, on the same machine under the same load.
fn pad_for(took: Duration, cost: u64, max_cost: u64) -> Duration {
    if cost == 0 || cost >= max_cost {
        return Duration::ZERO;
    }
    #[allow(clippy::cast_precision_loss)]
    let factor = (max_cost - cost) as f64 / cost as f64;
    took.mul_f64(factor).min(MAX_PAD)
}

/// A hash of a random password with `params`, made on a blocking thread.
async fn dummy_hash(params: Params) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let mut pw = [0u8; 32];
        random_bytes(&mut pw)?;
        let mut salt = [0u8; 16];
        random_bytes(&mut salt)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut memory = vec![Block::default(); params.block_count()];
        let failed = |e: &dyn std::fmt::Display| Error::Internal(format!("dummy hash: {e}"));
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        argon
            .hash_password_into_with_memory(&pw, &salt, &mut out, &mut memory)
            .map_err(|e| failed(&e))?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
            hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
        };
        Ok(hash.to_string())
    })
    .await
    .map_err(|e| Error::Internal(format!("dummy hash: {e}")))?
}

/// How much lower than the rest of the process the hashing threads run (nice levels).
/// Argon2 is deliberately CPU-heavy: under a login flood its threads would otherwise take
/// the cores from the threads that serve refreshes and every other request. With a
/// lower priority they still use every idle cycle, but yield to request handling.
const HASH_NICE_OFFSET: i32 = 10;

/// Lowers the calling thread's scheduling priority (Linux: nice is per thread).
#[cfg(target_os = "linux")]
fn lower_priority() {
    use rustix::process::{getpriority_process, setpriority_process};
    let tid = Some(rustix::thread::gettid());
    let result = getpriority_process(tid)
        .and_then(|now| setpriority_process(tid, (now + HASH_NICE_OFFSET).min(19)));
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot lower the priority of a password hashing thread");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

fn work(shared: Arc<Shared>, jobs: Arc<Mutex<Receiver<Queued>>>) {
    lower_priority();
    let mut memory = vec![Block::default(); shared.argon.params().block_count()];
    loop {
        let queued = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(Queued { job, at, _place }) = queued else {
            return; // the hasher was dropped
        };
        metrics::gauge!(HASH_QUEUE_DEPTH).decrement(1.0);
        metrics::histogram!(HASH_WAIT).record(at.elapsed().as_secs_f64());
        let started = Instant::now();
        let operation = match job {
            Job::Verify {
                password,
                stored,
                reply,
            } => {
                let _ =
                    reply.send(shared.verify(password.as_bytes(), stored.as_deref(), &mut memory));
                "verify"
            }
            Job::Hash { password, reply } => {
                let _ = reply.send(shared.hash(password.as_bytes(), &mut memory));
                "hash"
            }
        };
        metrics::histogram!(HASH_DURATION, "operation" => operation)
            .record(started.elapsed().as_secs_f64());
    }
}

impl PasswordHasher {
    /// A hasher with `params` on `threads` threads of its own.
    pub fn new(params: PasswordParams, threads: usize) -> Result<Self, Error> {
        let threads = threads.max(1);
        let argon = argon(params)?;
        let mut memory = vec![Block::default(); argon.params().block_count()];
        let mut shared = Shared {
            params,
            argon,
            calibration: RwLock::new(Arc::new(Calibration {
                dummy_hash: String::new(),
                max_cost: 0,
            })),
        };
        let mut pw = [0u8; 32];
        random_bytes(&mut pw)?;
        shared.calibration = RwLock::new(Arc::new(Calibration {
            dummy_hash: shared.hash(&pw, &mut memory)?,
            max_cost: cost(shared.argon.params()),
        }));
        drop(memory);
        let shared = Arc::new(shared);
        let places = threads * (QUEUE_PER_THREAD + 1);
        // Room in the channel for every place, so that sending a job with a place never
        // finds it full.
        let (queue, rx) = sync_channel(places);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let (shared, rx) = (Arc::clone(&shared), Arc::clone(&rx));
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(shared, rx))
                .map_err(|e| {
                    Error::Internal(format!("cannot start a password hashing thread: {e}"))
                })?;
        }
        Ok(Self {
            shared,
            queue,
            taken: Arc::new(AtomicUsize::new(0)),
            places,
        })
    }

    /// Calibrates failures to the most expensive of the configured parameters and
    /// `in_use`, the parameter parts (`m=…,t=…,p=…`) of the stored hashes (unreadable
    /// ones are ignored): the dummy hash takes those parameters, and cheaper checks pad
    /// their failures to their cost. Returns that cost in block passes.
    pub async fn calibrate(&self, in_use: &[String]) -> Result<u64, Error> {
        let mut most = self.shared.argon.params().clone();
        for p in in_use {
            let parsed = ParamsString::from_str(p)
                .ok()
                .and_then(|s| Params::try_from(&s).ok());
            if let Some(params) = parsed
                && cost(&params) > cost(&most)
            {
                most = params;
            }
        }
        let current = self.shared.calibration();
        let max_cost = cost(&most);
        if max_cost == current.max_cost {
            return Ok(max_cost);
        }
        let dummy_hash = dummy_hash(most).await?;
        let calibration = Arc::new(Calibration {
            dummy_hash,
            max_cost,
        });
        match self.shared.calibration.write() {
            Ok(mut c) => *c = calibration,
            Err(poisoned) => *poisoned.into_inner() = calibration,
        }
        Ok(max_cost)
    }

    /// Takes a place in the pool for one password check or hash, or says `Unavailable`
    /// at once when every place is taken (the pool is busy and its queue full).
    pub fn reserve(&self) -> Result<Place, Error> {
        let places = self.places;
        let took = self
            .taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < places).then_some(n + 1)
            });
        match took {
            Ok(_) => Ok(Place {
                taken: Arc::clone(&self.taken),
            }),
            Err(_) => {
                metrics::counter!(HASH_REJECTED).increment(1);
                Err(Error::Unavailable("too many password checks queued".into()))
            }
        }
    }

    fn submit(&self, place: Place, job: Job) -> Result<(), Error> {
        // Counted before it is sent, so that a thread taking it at once can never take
        // the gauge below zero.
        let depth = metrics::gauge!(HASH_QUEUE_DEPTH);
        depth.increment(1.0);
        let queued = Queued {
            job,
            at: Instant::now(),
            _place: place,
        };
        self.queue.try_send(queued).map_err(|e| {
            depth.decrement(1.0);
            match e {
                TrySendError::Full(_) => {
                    metrics::counter!(HASH_REJECTED).increment(1);
                    Error::Unavailable("too many password checks queued".into())
                }
                TrySendError::Disconnected(_) => {
                    Error::Internal("password hashing threads have stopped".into())
                }
            }
        })
    }

    /// Checks `password` against `stored` (`None`: unknown user, same cost, never ok),
    /// in the place taken with [`reserve`](Self::reserve).
    pub async fn verify(
        &self,
        place: Place,
        password: Zeroizing<String>,
        stored: Option<String>,
    ) -> Result<Verified, Error> {
        let (reply, answer) = oneshot::channel();
        self.submit(
            place,
            Job::Verify {
                password,
                stored,
                reply,
            },
        )?;
        answer
            .await
            .map_err(|_| Error::Internal("password check was dropped".into()))
    }

    /// Hashes `password` with the configured parameters.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String, Error> {
        let place = self.reserve()?;
        let (reply, answer) = oneshot::channel();
        self.submit(place, Job::Hash { password, reply })?;
        answer
            .await
            .map_err(|_| Error::Internal("password hashing was dropped".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{PasswordHasher as _, PasswordVerifier as _};

    const CHEAP: PasswordParams = PasswordParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    /// The nice value of each thread of this process whose name starts with `prefix`.
    #[cfg(target_os = "linux")]
    fn nice_of_threads(prefix: &str) -> Vec<i32> {
        let mut out = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let dir = task.unwrap().path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if !comm.trim_end().starts_with(prefix) {
                continue;
            }
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
            // Fields after the parenthesised name: state is field 3, nice field 19.
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            let nice = after.split(' ').nth(16).unwrap().parse().unwrap();
            out.push(nice);
        }
        out
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_a_lower_priority_than_the_process() -> Result<(), Error> {
        let own = rustix::process::getpriority_process(None).unwrap();
        let h = PasswordHasher::new(CHEAP, 2)?;
        // Both threads have started (and set their priority) once they answered.
        let a = h.hash(Zeroizing::new("a".into()));
        let b = h.hash(Zeroizing::new("b".into()));
        let (a, b) = tokio::join!(a, b);
        a?;
        b?;
        // A thread that got no job may still be starting: give it a moment.
        let want = (own + HASH_NICE_OFFSET).min(19);
        let mut nices = Vec::new();
        for _ in 0..100 {
            nices = nice_of_threads("argon2-");
            if nices.len() >= 2 && nices.iter().all(|n| *n >= want) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("argon2 threads at nice {nices:?}, process at {own}, want >= {want}");
    }

    #[tokio::test]
    async fn verify_accepts_right_rejects_wrong_and_unknown() -> Result<(), Error> {
        let h = PasswordHasher::new(CHEAP, 2)?;
        let stored = h.hash(Zeroizing::new("s3cret".into())).await?;
        assert!(
            stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{stored}"
        );
        let ok = h
            .verify(
                h.reserve()?,
                Zeroizing::new("s3cret".into()),
                Some(stored.clone()),
            )
            .await?;
        assert_eq!((ok.ok, ok.needs_rehash), (true, false));
        let bad = h
            .verify(h.reserve()?, Zeroizing::new("s3cret!".into()), Some(stored))
            .await?;
        assert!(!bad.ok);
        let unknown = h
            .verify(h.reserve()?, Zeroizing::new("s3cret".into()), None)
            .await?;
        assert!(!unknown.ok);
        let garbage = h
            .verify(
                h.reserve()?,
                Zeroizing::new("x".into()),
                Some("not a hash".into()),
            )
            .await?;
        assert!(!garbage.ok);
        Ok(())
    }

    #[tokio::test]
    async fn hashes_are_standard_phc_strings_both_ways() -> Result<(), Error> {
        let h = PasswordHasher::new(CHEAP, 1)?;
        // Ours verifies with the library's own verifier…
        let ours = h.hash(Zeroizing::new("pw one".into())).await?;
        let parsed = PasswordHash::new(&ours).map_err(|e| Error::Internal(e.to_string()))?;
        assert!(argon(CHEAP)?.verify_password(b"pw one", &parsed).is_ok());
        // …and the library's verify with ours, with more memory than configured too.
        let big = PasswordParams {
            memory_kib: 256,
            ..CHEAP
        };
        let theirs = argon(big)?
            .hash_password_with_salt(b"pw two", b"0123456789abcdef")
            .map_err(|e| Error::Internal(e.to_string()))?
            .to_string();
        let v = h
            .verify(
                h.reserve()?,
                Zeroizing::new("pw two".into()),
                Some(theirs.clone()),
            )
            .await?;
        assert_eq!((v.ok, v.needs_rehash), (true, true));
        assert!(
            !h.verify(
                h.reserve()?,
                Zeroizing::new("pw three".into()),
                Some(theirs)
            )
            .await?
            .ok
        );
        Ok(())
    }

    #[tokio::test]
    async fn changed_parameters_ask_for_a_rehash() -> Result<(), Error> {
        let old = PasswordHasher::new(CHEAP, 1)?;
        let stored = old.hash(Zeroizing::new("pw".into())).await?;
        let new = PasswordHasher::new(
            PasswordParams {
                memory_kib: 128,
                ..CHEAP
            },
            1,
        )?;
        let v = new
            .verify(new.reserve()?, Zeroizing::new("pw".into()), Some(stored))
            .await?;
        assert_eq!((v.ok, v.needs_rehash), (true, true));
        Ok(())
    }

    #[test]
    fn a_cheap_check_pads_to_the_cost_of_the_dearest_in_proportion() {
        let ms = Duration::from_millis;
        assert_eq!(pad_for(ms(10), 100, 400), ms(30));
        assert_eq!(pad_for(ms(10), 400, 400), Duration::ZERO);
        assert_eq!(pad_for(ms(10), 800, 400), Duration::ZERO);
        assert_eq!(pad_for(ms(10), 0, 400), Duration::ZERO);
        assert_eq!(pad_for(ms(100), 1, 1_000_000), MAX_PAD);
    }

    #[tokio::test]
    async fn calibration_takes_the_dearest_parameters_in_use() -> Result<(), Error> {
        let h = PasswordHasher::new(CHEAP, 1)?;
        let stored = h.hash(Zeroizing::new("pw".into())).await?;
        // Nothing dearer in use: no pad anywhere.
        assert_eq!(h.calibrate(&["m=32,t=1,p=1".into()]).await?, 64);
        let h = &h;
        let wrong = |stored: Option<String>| async move {
            h.verify(h.reserve()?, Zeroizing::new("nope".into()), stored)
                .await
        };
        assert_eq!(wrong(Some(stored.clone())).await?.pad, Duration::ZERO);
        // A dearer stored hash (and garbage, which is ignored): cheap checks pad, and
        // the dummy for unknown names costs the dearest and needs none.
        let in_use = [
            "m=1024,t=2,p=1".to_string(),
            "garbage".into(),
            "m=64,t=1,p=1".into(),
        ];
        assert_eq!(h.calibrate(&in_use).await?, 2048);
        assert!(wrong(Some(stored)).await?.pad > Duration::ZERO);
        assert_eq!(wrong(None).await?.pad, Duration::ZERO);
        Ok(())
    }

    #[tokio::test]
    async fn a_full_queue_is_unavailable_at_once() -> Result<(), Error> {
        // Expensive enough that the queue fills before the single thread drains it.
        let h = Arc::new(PasswordHasher::new(
            PasswordParams {
                memory_kib: 8192,
                iterations: 3,
                parallelism: 1,
            },
            1,
        )?);
        let mut tasks = Vec::new();
        for _ in 0..(QUEUE_PER_THREAD + 20) {
            let h = Arc::clone(&h);
            tasks.push(tokio::spawn(async move {
                h.verify(h.reserve()?, Zeroizing::new("x".into()), None)
                    .await
            }));
        }
        let mut unavailable = 0;
        for t in tasks {
            if let Ok(Err(Error::Unavailable(_))) = t.await {
                unavailable += 1;
            }
        }
        assert!(unavailable > 0);
        Ok(())
    }

    #[tokio::test]
    async fn places_are_counted_exactly_and_given_back() -> Result<(), Error> {
        let h = PasswordHasher::new(CHEAP, 2)?;
        let places = 2 * (QUEUE_PER_THREAD + 1);
        let mut held: Vec<Place> = (0..places).map(|_| h.reserve()).collect::<Result<_, _>>()?;
        // Every place taken: the next login is refused before any work, and so is a hash.
        assert!(matches!(h.reserve(), Err(Error::Unavailable(_))));
        assert!(matches!(
            h.hash(Zeroizing::new("x".into())).await,
            Err(Error::Unavailable(_))
        ));
        // A place given back (a login refused later, say by the lockout) is free again…
        held.pop();
        let place = h.reserve()?;
        assert!(matches!(h.reserve(), Err(Error::Unavailable(_))));
        // …and so is one whose job the pool has finished.
        let v = h.verify(place, Zeroizing::new("x".into()), None).await?;
        assert!(!v.ok);
        let mut again = None;
        for _ in 0..100 {
            // The pool thread gives the place back just after it answers.
            if let Ok(p) = h.reserve() {
                again = Some(p);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(
            again.is_some(),
            "the finished job's place was not given back"
        );
        drop(held);
        drop(again);
        assert_eq!(h.taken.load(Ordering::Acquire), 0);
        Ok(())
    }
}
