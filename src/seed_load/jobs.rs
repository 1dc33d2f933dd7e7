//! The print jobs of `seed-load`: each through the real queueing service (rules, the print
//! document rendered, the pickup code's hash, the audit event, the agents' wake-up), for a
//! valid seeded licence, at a hall that routing accepts for its type.

use super::{Progress, SeedContext, SeedError, ACTOR};
use crate::accounts::Staff;
use crate::distribution::jobs::{queue_job, JobContext, JobError};
use crate::domain::role::Role;
use crate::storage::{self, StorageError};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// What queueing jobs needs besides the seeding context.
pub struct JobsContext<'a> {
    pub fonts: &'a crate::render::Fonts,
    pub pickup_key: &'a crate::distribution::pickup_key::PickupKey,
}

/// Halls tried for one job before giving up on it (routing refuses some types at some halls).
const TRIES: usize = 24;

/// Queue one job per licence of `licences` ((id, issuing hall, type code)) on `threads` threads; returns
/// how many were queued.
pub(super) fn queue_jobs(
    ctx: &SeedContext<'_>,
    jctx: &JobsContext<'_>,
    licences: &[(String, String, String)],
    threads: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<u64, SeedError> {
    let halls: Vec<String> = {
        let mut conn = ctx.pool.get().map_err(StorageError::from)?;
        storage::halls::list_halls(&mut conn)?
            .into_iter()
            .filter(|h| h.active)
            .map(|h| h.code)
            .collect()
    };
    let next = AtomicUsize::new(0);
    let queued = AtomicU64::new(0);
    let failure: Mutex<Option<SeedError>> = Mutex::new(None);
    let started = Instant::now();
    let total = licences.len() as u64;
    let (tick_tx, tick_rx) = std::sync::mpsc::channel::<()>();
    let job_ctx = JobContext {
        catalog: ctx.catalog,
        fonts: jctx.fonts,
        public_url: ctx.public_url,
        pickup_key: jctx.pickup_key,
        now: ctx.now,
    };
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            let tick = tick_tx.clone();
            s.spawn(|| {
                let tick = tick;
                let mut rng = rand::rngs::StdRng::from_entropy();
                let mut conn = match ctx.pool.get() {
                    Ok(c) => c,
                    Err(e) => {
                        note(&failure, SeedError::Storage(e.into()));
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((licence_id, issuing_hall, type_code)) = licences.get(i) else {
                        return;
                    };
                    if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    let staff = Staff {
                        user_id: 0,
                        username: ACTOR.to_string(),
                        role: Role::Issuer,
                        hall_code: issuing_hall.clone(),
                    };
                    let mut last = String::new();
                    let mut done = false;
                    for hall in halls.choose_multiple(&mut rng, TRIES) {
                        let body = crate::wire::print_jobs::QueuePrintJobRequest {
                            licence_id: licence_id.clone(),
                            hall: hall.clone(),
                            copies: ctx.catalog.get(type_code).map(|t| t.copies.clone()),
                            mobile: None,
                            pickup: None,
                        };
                        match queue_job(&mut conn, &job_ctx, &staff, &body) {
                            Ok(_) => {
                                done = true;
                                break;
                            }
                            Err(JobError::Refused { message, .. }) => last = message,
                            Err(e) => {
                                last = e.to_string();
                                break;
                            }
                        }
                    }
                    if !done {
                        note(
                            &failure,
                            SeedError::Job {
                                licence: licence_id.clone(),
                                message: last,
                            },
                        );
                        return;
                    }
                    queued.fetch_add(1, Ordering::Relaxed);
                    if tick.send(()).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tick_tx);
        // Progress from this thread (the callback need not be Send).
        let mut n = 0u64;
        for () in tick_rx {
            n += 1;
            if n % 50 == 0 || n == total {
                progress(Progress {
                    phase: "print jobs",
                    done: n,
                    total,
                    elapsed: started.elapsed(),
                });
            }
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(queued.into_inner())
}

fn note(failure: &Mutex<Option<SeedError>>, e: SeedError) {
    if let Ok(mut f) = failure.lock() {
        f.get_or_insert(e);
    }
}
