//! The hasher's unit tests: results, PHC compatibility, rehash, the queue, priority,
//! and calibration.

use super::*;
use argon2::{PasswordHasher as _, PasswordVerifier as _};
use calibration::MAX_PAD;

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

#[tokio::test]
async fn an_overlap_checks_both_passwords_with_one_salt_and_no_other() -> Result<(), Error> {
    let h = PasswordHasher::new(CHEAP, 2)?;
    let old = h.hash(Zeroizing::new("old password".into())).await?;
    let new = h
        .hash_like(Zeroizing::new("new password".into()), &old)
        .await?;
    let parts = |s: &str| {
        let p = PasswordHash::new(s).map(|p| (p.salt, p.params.to_string(), p.hash));
        p.map_err(|e| Error::Internal(e.to_string()))
    };
    let ((old_salt, old_params, old_out), (new_salt, new_params, new_out)) =
        (parts(&old)?, parts(&new)?);
    assert_eq!(
        (old_salt, &old_params),
        (new_salt, &new_params),
        "shared salt and parameters"
    );
    assert_ne!(old_out, new_out);
    // The library's own verifier accepts the new hash: it is a standard PHC string.
    let parsed = PasswordHash::new(&new).map_err(|e| Error::Internal(e.to_string()))?;
    assert!(
        argon(CHEAP)?
            .verify_password(b"new password", &parsed)
            .is_ok()
    );
    let check = |pw: &str, previous: Option<String>| {
        let (h, new) = (&h, new.clone());
        let pw = Zeroizing::new(pw.to_string());
        async move { h.verify_either(h.reserve()?, pw, Some(new), previous).await }
    };
    let v = check("new password", Some(old.clone())).await?;
    assert_eq!((v.ok, v.previous, v.needs_rehash), (true, false, false));
    let v = check("old password", Some(old.clone())).await?;
    assert_eq!((v.ok, v.previous), (true, true));
    assert!(!check("other password", Some(old.clone())).await?.ok);
    assert!(
        !check("old password", None).await?.ok,
        "no overlap: the old one is refused"
    );
    // A previous hash with another salt is never checked (it was not written by a rotation).
    let unrelated = h.hash(Zeroizing::new("old password".into())).await?;
    assert!(!check("old password", Some(unrelated)).await?.ok);
    Ok(())
}

#[tokio::test]
async fn an_idle_thread_gives_its_work_area_back_and_takes_one_for_the_next_job()
-> Result<(), Error> {
    let h = PasswordHasher::new(CHEAP, 2)?;
    // Polled: the release is due IDLE_RELEASE after a thread's last job.
    let all_released = async |h: &PasswordHasher| {
        let deadline = Instant::now() + IDLE_RELEASE * 40;
        while h.work_areas_held() > 0 {
            assert!(
                Instant::now() < deadline,
                "the work areas were never released"
            );
            tokio::time::sleep(IDLE_RELEASE / 4).await;
        }
    };
    // At start one thread holds the dummy hash's area, no more; idle, it gives it back.
    assert!(h.work_areas_held() <= 1);
    all_released(&h).await;
    let stored = h.hash(Zeroizing::new("right".into())).await?;
    assert!(h.work_areas_held() >= 1);
    all_released(&h).await;
    // The next check takes a fresh area and still gets the right answer.
    let place = h.reserve()?;
    let ok = h
        .verify(place, Zeroizing::new("right".into()), Some(stored.clone()))
        .await?;
    assert!(ok.ok);
    let place = h.reserve()?;
    let wrong = h
        .verify(place, Zeroizing::new("wrong".into()), Some(stored))
        .await?;
    assert!(!wrong.ok);
    assert!(h.work_areas_held() >= 1);
    Ok(())
}

#[tokio::test]
async fn dropping_the_hasher_ends_its_threads_after_the_queued_jobs() -> Result<(), Error> {
    let h = PasswordHasher::new(CHEAP, 1)?;
    let place = h.reserve()?;
    let (reply, answer) = oneshot::channel();
    h.submit(
        place,
        Job::Hash {
            password: Zeroizing::new("queued".into()),
            like: None,
            reply,
        },
    )?;
    drop(h);
    // The job queued before the drop is still answered.
    let hash = answer
        .await
        .map_err(|_| Error::Internal("dropped".into()))??;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    Ok(())
}
