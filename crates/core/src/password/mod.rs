//! Argon2id password hashing on a pool of threads of its own, with a dummy hash and
//! calibrated timing so that "no such user" costs what "wrong password" does.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::crypto::{ct_eq, random_bytes};
use crate::error::Error;
use crate::metrics::{HASH_DURATION, HASH_QUEUE_DEPTH, HASH_REJECTED, HASH_WAIT};
use crate::policy::PasswordParams;

mod calibration;

use calibration::{Calibration, cost, pad_for};

/// Hashes waiting per pool thread before `Unavailable`.
const QUEUE_PER_THREAD: usize = 64;

/// How long a pool thread keeps its Argon2 work area while no job comes: a stream of
/// logins reuses it, an idle server gives the memory back.
const IDLE_RELEASE: Duration = Duration::from_millis(250);

/// The result of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matched a real user's hash (the current one or the previous one).
    pub ok: bool,
    /// It matched the previous password of an overlap, not the current one.
    pub previous: bool,
    /// The stored hash uses other parameters than the configured ones.
    pub needs_rehash: bool,
    /// How much longer a check with the most expensive parameters in use would have
    /// taken: a failure is answered no sooner (zero for the dummy and the costliest).
    pub pad: Duration,
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
        previous: Option<String>,
        reply: oneshot::Sender<Verified>,
    },
    Hash {
        password: Zeroizing<String>,
        like: Option<String>,
        reply: oneshot::Sender<Result<String, Error>>,
    },
}

/// The parts of a PHC string a check needs.
struct Parsed<'a> {
    argon: Argon2<'static>,
    params: Params,
    salt: &'a [u8],
    expected: &'a [u8],
}

fn parse<'a>(hash: &'a PasswordHash) -> Option<Parsed<'a>> {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return None;
    };
    let params = Params::try_from(hash).ok()?;
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).ok()?;
    let version = Version::try_from(hash.version.unwrap_or(0x13)).ok()?;
    Some(Parsed {
        argon: Argon2::new(algorithm, version, params.clone()),
        params,
        salt: salt.as_ref(),
        expected: expected.as_bytes(),
    })
}

/// The parts every pool thread shares.
struct Shared {
    params: PasswordParams,
    argon: Argon2<'static>,
    calibration: RwLock<Arc<Calibration>>,
}

/// Argon2id password hashing on a fixed pool of threads of its own, so that logins can
/// never starve the async runtime, with a dummy hash for unknown users so that "no such
/// user" costs the same time as "wrong password".
///
/// Stored hashes keep the parameters they were made with until their next successful
/// login, so after a parameter change a check costs what its stored hash says. The
/// hasher is calibrated with the parameters in use (`calibrate`): the dummy hash takes
/// the most expensive of them, and every check of a cheaper hash says how long to wait
/// before answering a failure (`Verified::pad`) so that it takes as long as one of the
/// most expensive — scaled from the check's own measured time, so it follows the load.
///
/// Each pool thread owns one Argon2 work area (19 MiB at the OWASP defaults) and reuses
/// it for every hash while jobs keep coming; after [`IDLE_RELEASE`] without one it frees
/// it, and takes a new one with its next job. Password memory is bounded by threads ×
/// work area. (Allocating it per hash under glibc's allocator kept a retired 19 MiB
/// block in the arena of every thread that ever hashed: RSS grew past 500 MiB under
/// login load, see docs/benchmarks.md. The server's allocator, mimalloc, gives freed
/// blocks of this size back to the system.)
/// The queue in front of the pool is bounded: when it is full the caller is told
/// `Unavailable` at once instead of waiting without end. A login takes its place in the
/// queue ([`PasswordHasher::reserve`]) before anything else, so that under a login flood
/// the logins the pool has no room for are refused before they cost a store lookup.
///
/// Hashes and verifies passwords.
pub struct PasswordHasher {
    shared: Arc<Shared>,
    queue: Arc<Queue>,
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

    /// Hashes `password` with the salt and parameters of the stored hash `like`: during
    /// a credential overlap the old and the new password share them, so that one Argon2
    /// computation checks both and a login costs the same as anyone else's.
    fn hash_like(
        &self,
        password: &[u8],
        like: &str,
        memory: &mut Vec<Block>,
    ) -> Result<String, Error> {
        let failed =
            |e: &dyn std::fmt::Display| Error::Internal(format!("password hashing failed: {e}"));
        let stored = PasswordHash::new(like).map_err(|e| failed(&e))?;
        let parsed = parse(&stored).ok_or_else(|| failed(&"the current hash is unreadable"))?;
        let blocks = parsed.params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let mut out = Zeroizing::new(vec![0u8; parsed.expected.len()]);
        parsed
            .argon
            .hash_password_into_with_memory(password, parsed.salt, &mut out, &mut memory[..blocks])
            .map_err(|e| failed(&e))?;
        let hash = PasswordHash {
            algorithm: stored.algorithm,
            version: stored.version,
            params: stored.params.clone(),
            salt: stored.salt,
            hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
        };
        Ok(hash.to_string())
    }

    fn calibration(&self) -> Arc<Calibration> {
        match self.calibration.read() {
            Ok(c) => Arc::clone(&c),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn verify(
        &self,
        password: &[u8],
        stored: Option<&str>,
        previous: Option<&str>,
        memory: &mut Vec<Block>,
    ) -> Verified {
        let refused = Verified {
            ok: false,
            previous: false,
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
        let current_ok = computed.is_ok() && ct_eq(&out, expected.as_bytes()) && real;
        // The previous password of an overlap shares salt and parameters with the
        // current one (`hash_like`): the same computation checks it. One that does not
        // (never written so) is not checked at all.
        let previous_ok = computed.is_ok()
            && real
            && previous
                .and_then(|p| PasswordHash::new(p).ok())
                .is_some_and(|p| {
                    let same = p.salt == hash.salt
                        && p.params == hash.params
                        && p.algorithm == hash.algorithm
                        && p.version == hash.version;
                    same && p.hash.is_some_and(|h| ct_eq(&out, h.as_bytes()))
                });
        let ok = current_ok || previous_ok;
        let current = hash.algorithm.as_str() == "argon2id"
            && hash.version == Some(0x13)
            && params.m_cost() == self.params.memory_kib
            && params.t_cost() == self.params.iterations
            && params.p_cost() == self.params.parallelism;
        Verified {
            ok,
            previous: previous_ok && !current_ok,
            // Not during an overlap: a new salt would part the two passwords.
            needs_rehash: current_ok && !current && previous.is_none(),
            pad: pad_for(took, cost(&params), calibration.max_cost),
        }
    }
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

/// The jobs waiting for a pool thread: a queue that each thread waits on with a
/// deadline of its own (a channel's receiver behind a mutex would let only one).
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
    /// Work areas the threads hold.
    held: AtomicUsize,
    /// Pool threads still running.
    alive: AtomicUsize,
}

struct QueueState {
    jobs: VecDeque<Queued>,
    /// The hasher was dropped: the threads end once the jobs are done.
    closed: bool,
}

impl Queue {
    fn new(places: usize) -> Self {
        Self {
            state: Mutex::new(QueueState {
                // Room for every place, so that queueing never allocates.
                jobs: VecDeque::with_capacity(places),
                closed: false,
            }),
            ready: Condvar::new(),
            held: AtomicUsize::new(0),
            alive: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // Nothing panics while holding it; if something did, the queue itself is intact.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, job: Queued) -> Result<(), Queued> {
        let mut state = self.lock();
        if state.closed {
            return Err(job);
        }
        state.jobs.push_back(job);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The next job, or `None` once the hasher is dropped and the queue is empty. A
    /// thread that waits longer than [`IDLE_RELEASE`] frees its work area `memory`.
    fn next(&self, memory: &mut Vec<Block>) -> Option<Queued> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            if memory.is_empty() {
                state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let (s, waited) = self
                .ready
                .wait_timeout(state, IDLE_RELEASE)
                .unwrap_or_else(|p| p.into_inner());
            state = s;
            if waited.timed_out() && state.jobs.is_empty() {
                // Freed outside the lock: giving 19 MiB back takes a moment.
                drop(state);
                *memory = Vec::new();
                self.held.fetch_sub(1, Ordering::AcqRel);
                state = self.lock();
            }
        }
    }
}

/// Counts a pool thread as running; when the last one ends (a bug that panicked in
/// all of them), the queue is closed and emptied, so that callers waiting on a job get
/// an error instead of waiting without end.
struct Alive(Arc<Queue>);

impl Alive {
    fn new(queue: &Arc<Queue>) -> Self {
        queue.alive.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(queue))
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        if self.0.alive.fetch_sub(1, Ordering::AcqRel) == 1 {
            let orphans = {
                let mut state = self.0.lock();
                state.closed = true;
                std::mem::take(&mut state.jobs)
            };
            drop(orphans);
        }
    }
}

fn work(shared: Arc<Shared>, queue: Arc<Queue>, mut memory: Vec<Block>) {
    lower_priority();
    while let Some(Queued { job, at, _place }) = queue.next(&mut memory) {
        metrics::gauge!(HASH_QUEUE_DEPTH).decrement(1.0);
        metrics::histogram!(HASH_WAIT).record(at.elapsed().as_secs_f64());
        let started = Instant::now();
        if memory.is_empty() {
            memory = vec![Block::default(); shared.argon.params().block_count()];
            queue.held.fetch_add(1, Ordering::AcqRel);
        }
        let operation = match job {
            Job::Verify {
                password,
                stored,
                previous,
                reply,
            } => {
                let _ = reply.send(shared.verify(
                    password.as_bytes(),
                    stored.as_deref(),
                    previous.as_deref(),
                    &mut memory,
                ));
                "verify"
            }
            Job::Hash {
                password,
                like: None,
                reply,
            } => {
                let _ = reply.send(shared.hash(password.as_bytes(), &mut memory));
                "hash"
            }
            Job::Hash {
                password,
                like: Some(like),
                reply,
            } => {
                let _ = reply.send(shared.hash_like(password.as_bytes(), &like, &mut memory));
                "hash"
            }
        };
        metrics::histogram!(HASH_DURATION, "operation" => operation)
            .record(started.elapsed().as_secs_f64());
    }
}

impl Drop for PasswordHasher {
    fn drop(&mut self) {
        self.queue.close();
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
        let shared = Arc::new(shared);
        let places = threads * (QUEUE_PER_THREAD + 1);
        let queue = Arc::new(Queue::new(places));
        // The first thread starts with the dummy hash's work area (given back if no job
        // comes): freeing it here and allocating another for the first login would hold
        // both until the allocator returns the first to the system.
        let mut first_area = Some(memory);
        for i in 0..threads {
            let (shared, jobs) = (Arc::clone(&shared), Arc::clone(&queue));
            let area = first_area.take().unwrap_or_default();
            if !area.is_empty() {
                queue.held.fetch_add(1, Ordering::AcqRel);
            }
            let alive = Alive::new(&queue);
            let started = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let _alive = alive;
                    work(shared, jobs, area);
                });
            if let Err(e) = started {
                // The threads already started end with the queue.
                queue.close();
                return Err(Error::Internal(format!(
                    "cannot start a password hashing thread: {e}"
                )));
            }
        }
        Ok(Self {
            shared,
            queue,
            taken: Arc::new(AtomicUsize::new(0)),
            places,
        })
    }

    /// How many pool threads hold a work area now.
    #[cfg(test)]
    fn work_areas_held(&self) -> usize {
        self.queue.held.load(Ordering::Acquire)
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
        // The place bounds the queue: it always has room.
        self.queue.push(queued).map_err(|_| {
            depth.decrement(1.0);
            Error::Internal("password hashing threads have stopped".into())
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
        self.verify_either(place, password, stored, None).await
    }

    /// `verify` against the current hash and, during a credential overlap, the previous
    /// one (written by [`hash_like`](Self::hash_like)): one Argon2 computation either way.
    pub async fn verify_either(
        &self,
        place: Place,
        password: Zeroizing<String>,
        stored: Option<String>,
        previous: Option<String>,
    ) -> Result<Verified, Error> {
        let (reply, answer) = oneshot::channel();
        self.submit(
            place,
            Job::Verify {
                password,
                stored,
                previous,
                reply,
            },
        )?;
        answer
            .await
            .map_err(|_| Error::Internal("password check was dropped".into()))
    }

    /// Hashes `password` with the configured parameters.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String, Error> {
        self.hash_job(password, None).await
    }

    /// Hashes `password` with the salt and parameters of `like` (a user's current hash),
    /// for a credential rotation with an overlap (see `verify_either`).
    pub async fn hash_like(
        &self,
        password: Zeroizing<String>,
        like: &str,
    ) -> Result<String, Error> {
        self.hash_job(password, Some(like.to_string())).await
    }

    async fn hash_job(
        &self,
        password: Zeroizing<String>,
        like: Option<String>,
    ) -> Result<String, Error> {
        let place = self.reserve()?;
        let (reply, answer) = oneshot::channel();
        self.submit(
            place,
            Job::Hash {
                password,
                like,
                reply,
            },
        )?;
        answer
            .await
            .map_err(|_| Error::Internal("password hashing was dropped".into()))?
    }
}

#[cfg(test)]
mod tests;
