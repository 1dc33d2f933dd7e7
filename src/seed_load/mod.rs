//! `crosscert admin seed-load`: fill a database with N licences and M print jobs for load work,
//! fast, and as consistent as issuance itself would have left it:
//!
//! - every licence is a real seal (the key set's active signer, verified after signing, as
//!   `Sealer::seal` always does), over the catalog's types round robin, with the type's
//!   example record, at a random issuing authority of the register;
//! - serials and licence numbers come from the same counters issuance uses
//!   (`licence_sequences`), identifiers from `Identifier::new`;
//! - each seal names its status-list slot (a random free index of the current list, the next
//!   list opened at the fill limit, as `status_lists::allocate` does);
//! - statuses: about 1% revoked, 0.5% suspended, 2% superseded by a second version (which
//!   has its own seal and slot); the rest valid;
//! - the transparency log gets each version's `issued` entry and each status change's
//!   `status:<status>` entry, numbered and hashed on the way in (so no backfill or
//!   integration is left to the server), and every status list is marked changed.
//!
//! Seals are made on `threads` threads while one connection writes the previous batch
//! (one transaction per batch). Print jobs go through the real queueing service
//! (`distribution::jobs::queue_job`: rules, rendered print document, pickup code, audit).
//! Run it with the server stopped (the serial counters are read once at the start).

pub mod cli;
mod jobs;

use crate::catalog::record::ValidRecord;
use crate::catalog::{Catalog, CertType};
use crate::domain::codes::Identifier;
use crate::domain::licence::LicenceStatus;
use crate::domain::seal::{SealClaims, StatusRef};
use crate::domain::status_list::{CAPACITY, FILL_LIMIT};
use crate::domain::tlog::entry::Entry;
use crate::domain::tlog::merkle;
use crate::issuance::{SealError, Sealer};
use crate::storage::licences::LicenceRow;
use crate::storage::{self, audit, seed as store, DbPool, StorageError};
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use jobs::JobsContext;

/// Licences per write transaction.
const BATCH: usize = 1000;
/// Shares of the stored statuses (of licence chains; a superseded one adds a second version).
const REVOKED: f64 = 0.01;
const SUSPENDED: f64 = 0.005;
const SUPERSEDED: f64 = 0.02;
/// Who the seeded rows name as issuer (`issued_by`) and the audit actor.
pub const ACTOR: &str = "seed-load";

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the register has no active issuing authority: load the halls first (`crosscert seed-demo`)")]
    NoAuthority,
    #[error("no certificate type's example record validates: {0}")]
    NoType(String),
    #[error("sealing failed: {0}")]
    Seal(#[from] SealError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("licence numbers: {0}")]
    Numbers(String),
    #[error("print job for licence {licence}: {message}")]
    Job { licence: String, message: String },
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl From<diesel::result::Error> for SeedError {
    fn from(e: diesel::result::Error) -> Self {
        SeedError::Storage(e.into())
    }
}

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    pub licences: u64,
    pub jobs: u64,
    /// Signing threads.
    pub threads: usize,
    /// Random seed (statuses, authorities, slots); `None`: from the OS.
    pub seed: Option<u64>,
    /// Write up to `codes` QR texts, one per line after their expected status and a tab, a
    /// uniform sample of the seeded licences (`scripts/load-verify.sh` reads it).
    pub codes_out: Option<std::path::PathBuf>,
    pub codes: usize,
}

/// What seeding needs besides the plan.
pub struct SeedContext<'a> {
    pub pool: &'a DbPool,
    pub catalog: &'a Catalog,
    pub sealer: &'a Sealer,
    pub public_url: &'a str,
    pub now: DateTime<Utc>,
}

/// Where seeding is, for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub phase: &'static str,
    pub done: u64,
    pub total: u64,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct SeedSummary {
    pub licences: u64,
    pub valid: u64,
    pub revoked: u64,
    pub suspended: u64,
    pub superseded: u64,
    pub log_entries: u64,
    pub log_size: u64,
    pub status_lists: i64,
    pub jobs: u64,
    pub licence_seconds: f64,
    pub job_seconds: f64,
}

/// One type's fixed part: its validated example record.
struct TypeInfo<'c> {
    cert_type: &'c CertType,
    record: ValidRecord,
    fields: String,
}

/// A licence version planned (before its seal).
struct Planned {
    id: String,
    type_idx: usize,
    auth_idx: usize,
    serial: i64,
    version: i32,
    licence_no: String,
    status: LicenceStatus,
    previous_id: Option<String>,
    superseded_by: Option<String>,
    list_id: i64,
    idx: u64,
}

struct Planner<'a, 'c> {
    types: &'a [TypeInfo<'c>],
    /// (hall code, authority credit code).
    authorities: &'a [(String, String)],
    serials: HashMap<(String, String), i64>,
    /// The counters this batch moved.
    touched: HashSet<(String, String)>,
    list_id: i64,
    taken: HashSet<u64>,
    rng: StdRng,
    next_type: usize,
}

impl Planner<'_, '_> {
    fn slot(&mut self) -> (i64, u64) {
        if self.taken.len() as u64 >= FILL_LIMIT {
            self.list_id += 1;
            self.taken.clear();
        }
        loop {
            let idx = self.rng.gen_range(0..CAPACITY);
            if self.taken.insert(idx) {
                return (self.list_id, idx);
            }
        }
    }

    fn version(
        &mut self,
        chain: (usize, usize, i64, &str),
        version: i32,
        status: LicenceStatus,
        previous_id: Option<String>,
    ) -> Planned {
        let (list_id, idx) = self.slot();
        Planned {
            id: uuid::Uuid::new_v4().to_string(),
            type_idx: chain.0,
            auth_idx: chain.1,
            serial: chain.2,
            version,
            licence_no: chain.3.to_string(),
            status,
            previous_id,
            superseded_by: None,
            list_id,
            idx,
        }
    }

    /// The next licence chain: one version, or two when the first is superseded.
    fn chain(&mut self, room: u64) -> Result<Vec<Planned>, SeedError> {
        let type_idx = self.next_type % self.types.len();
        self.next_type += 1;
        let auth_idx = self.rng.gen_range(0..self.authorities.len());
        let t = self.types[type_idx].cert_type;
        let issuer = self.authorities[auth_idx].1.clone();
        let key = (t.code.clone(), issuer.clone());
        let serial = self.serials.entry(key.clone()).or_insert(0);
        *serial += 1;
        self.touched.insert(key);
        let serial = *serial;
        let licence_no = crate::registration::licence_number(t, &issuer, serial)
            .map_err(|e| SeedError::Numbers(e.to_string()))?;
        let chain = (type_idx, auth_idx, serial, licence_no.as_str());
        let r: f64 = self.rng.gen();
        let status = if r < REVOKED {
            LicenceStatus::Revoked
        } else if r < REVOKED + SUSPENDED {
            LicenceStatus::Suspended
        } else if r < REVOKED + SUSPENDED + SUPERSEDED && room >= 2 {
            LicenceStatus::Superseded
        } else {
            LicenceStatus::Valid
        };
        let mut first = self.version(chain, 1, status, None);
        if status != LicenceStatus::Superseded {
            return Ok(vec![first]);
        }
        let second = self.version(chain, 2, LicenceStatus::Valid, Some(first.id.clone()));
        first.superseded_by = Some(second.id.clone());
        Ok(vec![first, second])
    }
}

fn load_types(catalog: &Catalog) -> Result<Vec<TypeInfo<'_>>, SeedError> {
    let mut out = Vec::new();
    let mut last_error = String::new();
    for t in catalog.types() {
        let mut body = t.example_json();
        if let Some(o) = body.as_object_mut() {
            o.insert(
                "type_code".into(),
                serde_json::Value::String(t.code.clone()),
            );
        }
        match t.validate(&body) {
            Ok(record) => {
                let fields = serde_json::to_string(&record.fields).unwrap_or_else(|_| "{}".into());
                out.push(TypeInfo {
                    cert_type: t,
                    record,
                    fields,
                });
            }
            Err(errors) => {
                last_error = format!(
                    "{}: {}",
                    t.code,
                    errors.first().map(|e| e.message.as_str()).unwrap_or("")
                )
            }
        }
    }
    if out.is_empty() {
        return Err(SeedError::NoType(last_error));
    }
    Ok(out)
}

/// A version sealed, ready to store.
struct Sealed {
    row: LicenceRow,
    slot: store::SlotRow,
}

fn seal_one(
    p: &Planned,
    planner_types: &[TypeInfo<'_>],
    authorities: &[(String, String)],
    ctx: &SeedContext<'_>,
) -> Result<Sealed, SeedError> {
    let info = &planner_types[p.type_idx];
    let (hall, issuer) = &authorities[p.auth_idx];
    let identifier = Identifier::new(
        &info.cert_type.code,
        issuer,
        p.serial as u64,
        p.version as u32,
    )
    .to_string();
    let claims = SealClaims {
        iss: issuer.clone(),
        iat: ctx.now.timestamp(),
        exp: info
            .record
            .valid_to
            .map(crate::registration::unix_end_of_day),
        identifier: identifier.clone(),
        licence_no: p.licence_no.clone(),
        holder_name: info.record.holder_name.clone(),
        holder_code_masked: info.record.holder_code.public_form(),
        status: Some(StatusRef {
            idx: p.idx,
            uri: crate::registration::status_list_uri(ctx.public_url, p.list_id),
        }),
    };
    let cose = ctx.sealer.seal(&claims, ctx.now)?;
    let kid = crate::verification::envelope::Envelope::decode(&cose)
        .ok()
        .and_then(|e| e.kid.map(hex::encode))
        .unwrap_or_default();
    let changed = p.status != LicenceStatus::Valid;
    let row = LicenceRow {
        id: p.id.clone(),
        type_code: info.cert_type.code.clone(),
        issuer_code: issuer.clone(),
        issuing_hall: hall.clone(),
        serial: p.serial,
        version: p.version,
        identifier,
        licence_no: p.licence_no.clone(),
        holder_name: info.record.holder_name.clone(),
        holder_code: info.record.holder_code.as_str().to_string(),
        fields: info.fields.clone(),
        valid_from: info.record.valid_from,
        valid_to: info.record.valid_to,
        status: p.status,
        status_reason: changed.then(|| match p.status {
            LicenceStatus::Superseded => "changed".to_string(),
            _ => format!("{ACTOR}: {}", p.status),
        }),
        status_changed_at: changed.then(|| storage::to_db_time(ctx.now)),
        cose,
        signer_kid: kid,
        issued_at: storage::to_db_time(ctx.now),
        issued_by: ACTOR.to_string(),
        previous_id: p.previous_id.clone(),
        // Set after both versions are stored (the two columns reference each other).
        superseded_by: None,
    };
    Ok(Sealed {
        row,
        slot: (p.list_id, p.idx as i64, p.id.clone()),
    })
}

/// The log entries of a stored version: `issued`, then its status change if any.
fn entries_of(row: &LicenceRow, now: DateTime<Utc>) -> Vec<Entry> {
    let sha = hex::encode(merkle::sha256(&row.cose));
    let mut out = vec![Entry {
        kind: "issued".into(),
        time: now.timestamp(),
        subject: row.identifier.clone(),
        sha256: sha.clone(),
    }];
    if row.status != LicenceStatus::Valid {
        out.push(Entry {
            kind: format!("status:{}", row.status),
            time: now.timestamp(),
            subject: row.identifier.clone(),
            sha256: sha,
        });
    }
    out
}

/// Store one sealed batch in one write transaction.
fn store_batch(
    conn: &mut storage::DbConnection,
    batch: &[(Sealed, Option<String>)],
    serials: &HashMap<(String, String), i64>,
    now: DateTime<Utc>,
) -> Result<u64, SeedError> {
    storage::write_tx(conn, |conn| -> Result<u64, SeedError> {
        // The lists this batch's slots are in (the planner opens the next one at the fill
        // limit; batches may be stored out of order).
        let lists: std::collections::BTreeSet<i64> = batch.iter().map(|(s, _)| s.slot.0).collect();
        for id in lists {
            store::open_list(conn, id, CAPACITY, now)?;
        }
        let rows: Vec<LicenceRow> = batch.iter().map(|(s, _)| s.row.clone()).collect();
        store::insert_licences(conn, &rows)?;
        for (s, superseded_by) in batch {
            if let Some(newer) = superseded_by {
                use crate::storage::schema::licences;
                use diesel::prelude::*;
                diesel::update(licences::table.find(&s.row.id))
                    .set(licences::superseded_by.eq(Some(newer.as_str())))
                    .execute(conn)?;
            }
        }
        let slots: Vec<store::SlotRow> = batch.iter().map(|(s, _)| s.slot.clone()).collect();
        store::insert_slots(conn, &slots)?;
        let entries: Vec<Entry> = rows.iter().flat_map(|r| entries_of(r, now)).collect();
        let size = store::append_integrated(conn, &entries, now)?;
        store::set_serials(conn, serials)?;
        Ok(size)
    })
}

/// A uniform sample of `k` items from a stream (reservoir).
pub(crate) struct Reservoir<T> {
    k: usize,
    seen: u64,
    pub items: Vec<T>,
}

impl<T> Reservoir<T> {
    pub(crate) fn new(k: usize) -> Reservoir<T> {
        Reservoir {
            k,
            seen: 0,
            items: Vec::with_capacity(k.min(1 << 16)),
        }
    }

    pub(crate) fn offer(&mut self, item: T, rng: &mut impl Rng) {
        self.seen += 1;
        if self.items.len() < self.k {
            self.items.push(item);
        } else {
            let j = rng.gen_range(0..self.seen);
            if (j as usize) < self.k {
                self.items[j as usize] = item;
            }
        }
    }
}

/// Seed the licences (and then the print jobs, when `jobs` is given). `progress` is called
/// after every batch.
pub fn seed(
    ctx: &SeedContext<'_>,
    plan: &SeedPlan,
    jobs_ctx: Option<&JobsContext<'_>>,
    progress: &mut dyn FnMut(Progress),
) -> Result<SeedSummary, SeedError> {
    let started = Instant::now();
    let types = load_types(ctx.catalog)?;
    let mut conn = ctx.pool.get().map_err(StorageError::from)?;
    let authorities: Vec<(String, String)> = storage::halls::list_halls(&mut conn)?
        .into_iter()
        .filter(|h| h.active && h.kind.is_issuing())
        .filter_map(|h| h.authority.map(|a| (h.code, a.credit_code)))
        .collect();
    if authorities.is_empty() {
        return Err(SeedError::NoAuthority);
    }
    let (list_id, taken) = store::current_list(&mut conn)?;
    let rng = match plan.seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_entropy(),
    };
    let mut planner = Planner {
        types: &types,
        authorities: &authorities,
        serials: store::last_serials(&mut conn)?,
        touched: HashSet::new(),
        list_id,
        taken,
        rng,
        next_type: 0,
    };
    let mut summary = SeedSummary::default();
    let mut codes: Reservoir<(LicenceStatus, Vec<u8>)> = Reservoir::new(plan.codes);
    let mut valid_ids: Reservoir<(String, String, String)> = Reservoir::new(plan.jobs as usize);
    let threads = plan.threads.max(1);
    let today = ctx.now.date_naive();

    // Planner (a thread) -> signers (threads) -> writer (this thread, one connection), in
    // batches. A failing writer drops its receiver, which ends the signers, whose receiver
    // then drops, which ends the planner.
    type PlanBatch = (Vec<Planned>, HashMap<(String, String), i64>);
    type SignedBatch = (
        Vec<(Sealed, Option<String>)>,
        HashMap<(String, String), i64>,
    );
    let (plan_tx, plan_rx) = mpsc::sync_channel::<PlanBatch>(threads * 2);
    let plan_rx = Arc::new(Mutex::new(plan_rx));
    let (done_tx, done_rx) = mpsc::sync_channel::<Result<SignedBatch, SeedError>>(threads * 2);
    let types_ref = &types;
    let auth_ref = &authorities;
    let total = plan.licences;
    let mut outcome: Result<(), SeedError> = Ok(());
    std::thread::scope(|s| {
        for _ in 0..threads {
            let rx = plan_rx.clone();
            let tx = done_tx.clone();
            s.spawn(move || loop {
                let next = match rx.lock() {
                    Ok(r) => r.recv(),
                    Err(_) => return,
                };
                let Ok((planned, serials)) = next else { return };
                let sealed: Result<Vec<_>, SeedError> = planned
                    .iter()
                    .map(|p| {
                        seal_one(p, types_ref, auth_ref, ctx).map(|s| (s, p.superseded_by.clone()))
                    })
                    .collect();
                if tx.send(sealed.map(|b| (b, serials))).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        drop(plan_rx);
        let planning = s.spawn(move || -> Result<(), SeedError> {
            let mut left = total;
            while left > 0 {
                let mut batch = Vec::with_capacity(BATCH + 1);
                planner.touched.clear();
                while left > 0 && batch.len() < BATCH {
                    let chain = planner.chain(left)?;
                    left -= chain.len() as u64;
                    batch.extend(chain);
                }
                let delta = planner
                    .touched
                    .iter()
                    .filter_map(|k| planner.serials.get(k).map(|v| (k.clone(), *v)))
                    .collect();
                if plan_tx.send((batch, delta)).is_err() {
                    break;
                }
            }
            Ok(())
        });
        // The writer: stores batches as they come (any order: leaves follow storage order).
        let mut wrng = StdRng::from_entropy();
        let mut done = 0u64;
        // Batches may arrive out of order: a counter only ever moves up.
        let mut reached: HashMap<(String, String), i64> = HashMap::new();
        for batch in done_rx {
            let stored = batch.and_then(|(batch, mut serials)| {
                serials.retain(|k, v| match reached.get(k) {
                    Some(r) if *r >= *v => false,
                    _ => {
                        reached.insert(k.clone(), *v);
                        true
                    }
                });
                store_batch(&mut conn, &batch, &serials, ctx.now).map(|size| (batch, size))
            });
            let (batch, size) = match stored {
                Ok(b) => b,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            };
            summary.log_size = size;
            for (s, _) in &batch {
                let row = &s.row;
                summary.log_entries += if row.status == LicenceStatus::Valid {
                    1
                } else {
                    2
                };
                match row.status {
                    LicenceStatus::Revoked => summary.revoked += 1,
                    LicenceStatus::Suspended => summary.suspended += 1,
                    LicenceStatus::Superseded => summary.superseded += 1,
                    _ => {
                        summary.valid += 1;
                        valid_ids.offer(
                            (
                                row.id.clone(),
                                row.issuing_hall.clone(),
                                row.type_code.clone(),
                            ),
                            &mut wrng,
                        );
                    }
                }
                codes.offer(
                    (row.status.effective(row.valid_to, today), row.cose.clone()),
                    &mut wrng,
                );
            }
            done += batch.len() as u64;
            summary.licences = done;
            progress(Progress {
                phase: "licences",
                done,
                total,
                elapsed: started.elapsed(),
            });
        }
        match planning.join() {
            Ok(Err(e)) if outcome.is_ok() => outcome = Err(e),
            Err(_) if outcome.is_ok() => {
                outcome = Err(SeedError::Numbers("the planning thread panicked".into()))
            }
            _ => {}
        }
    });
    outcome?;
    let mut conn = ctx.pool.get().map_err(StorageError::from)?;
    storage::write_tx(&mut conn, |conn| -> Result<(), SeedError> {
        storage::status_lists::note_all_changed(conn, ctx.now)?;
        audit::insert_event(
            conn,
            ctx.now,
            ACTOR,
            "LoadSeeded",
            "licences",
            serde_json::json!({
                "licences": summary.licences, "revoked": summary.revoked,
                "suspended": summary.suspended, "superseded": summary.superseded,
            }),
        )?;
        Ok(())
    })?;
    // The planner's statistics for the tables just filled (PostgreSQL; see the function).
    store::refresh_statistics(&mut conn)?;
    summary.status_lists = storage::status_lists::list_status_lists(&mut conn)?.len() as i64;
    summary.licence_seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &plan.codes_out {
        write_codes(path, &codes.items, ctx.public_url)?;
    }
    if let Some(jctx) = jobs_ctx {
        let t = Instant::now();
        summary.jobs = jobs::queue_jobs(ctx, jctx, &valid_ids.items, threads, progress)?;
        summary.job_seconds = t.elapsed().as_secs_f64();
    }
    Ok(summary)
}

fn write_codes(
    path: &std::path::Path,
    codes: &[(LicenceStatus, Vec<u8>)],
    public_url: &str,
) -> Result<(), SeedError> {
    let mut text = String::new();
    for (status, cose) in codes {
        text.push_str(status.as_str());
        text.push('\t');
        text.push_str(&crate::verification::qr_text(public_url, cose));
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|source| SeedError::Io {
        path: path.display().to_string(),
        source,
    })
}
