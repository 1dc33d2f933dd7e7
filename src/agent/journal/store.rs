//! The journal's store: the SQLite file, its rows and the job steps written before each act
//! (claim, download, print, report), each in one transaction with its event line.

use super::*;

pub(super) type JobRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    i32,
    Option<String>,
    String,
);

pub(super) type JobColumns = (
    jobs::id,
    jobs::licence_id,
    jobs::type_code,
    jobs::copies,
    jobs::qr_text,
    jobs::lease_token,
    jobs::lease_expires_at,
    jobs::document_sha256,
    jobs::state,
    jobs::outcome,
    jobs::report_seq,
    jobs::report_body,
    jobs::report_attempts,
    jobs::last_error,
    jobs::licence_identifier,
);

pub(super) fn job_columns() -> JobColumns {
    (
        jobs::id,
        jobs::licence_id,
        jobs::type_code,
        jobs::copies,
        jobs::qr_text,
        jobs::lease_token,
        jobs::lease_expires_at,
        jobs::document_sha256,
        jobs::state,
        jobs::outcome,
        jobs::report_seq,
        jobs::report_body,
        jobs::report_attempts,
        jobs::last_error,
        jobs::licence_identifier,
    )
}

pub(super) fn parse_row(r: JobRow) -> Result<JobRecord, JournalError> {
    let step = Step::parse(&r.8).ok_or_else(|| JournalError::Corrupt(format!("step {:?}", r.8)))?;
    let copies: Vec<String> = serde_json::from_str(&r.3)
        .map_err(|_| JournalError::Corrupt(format!("copies {:?}", r.3)))?;
    Ok(JobRecord {
        id: r.0,
        licence_id: r.1,
        type_code: r.2,
        copies,
        qr_text: r.4,
        lease_token: r.5,
        lease_expires_at: r.6,
        document_sha256: r.7,
        step,
        outcome: r.9,
        report_seq: r.10,
        report_body: r.11,
        report_attempts: r.12,
        last_error: r.13,
        licence_identifier: r.14,
    })
}

pub(super) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(super) fn event(
    conn: &mut SqliteConnection,
    job_id: Option<&str>,
    step: &str,
    detail: &str,
) -> Result<(), DieselError> {
    diesel::insert_into(events::table)
        .values((
            events::at.eq(now()),
            events::job_id.eq(job_id),
            events::step.eq(step),
            events::detail.eq(detail),
        ))
        .execute(conn)
        .map(|_| ())
}

pub(super) fn load_job(conn: &mut SqliteConnection, id: &str) -> Result<JobRecord, JournalError> {
    let row: Option<JobRow> = jobs::table
        .find(id)
        .select(job_columns())
        .first(conn)
        .optional()?;
    parse_row(row.ok_or_else(|| JournalError::UnknownJob(id.to_string()))?)
}

/// Move a job to the step `event` leads to, or refuse; returns the new step.
pub(super) fn advance(
    conn: &mut SqliteConnection,
    job: &JobRecord,
    ev: StepEvent,
    detail: &str,
) -> Result<Step, JournalError> {
    let to = job.step.after(ev)?;
    diesel::update(jobs::table.find(&job.id))
        .set((jobs::state.eq(to.as_str()), jobs::updated_at.eq(now())))
        .execute(conn)?;
    event(conn, Some(&job.id), to.as_str(), detail)?;
    Ok(to)
}

pub(super) fn next_seq(conn: &mut SqliteConnection) -> Result<i64, DieselError> {
    let current: Option<i64> = counters::table
        .find("report_seq")
        .select(counters::value)
        .first(conn)
        .optional()?;
    let next = current.unwrap_or(0) + 1;
    diesel::replace_into(counters::table)
        .values((counters::name.eq("report_seq"), counters::value.eq(next)))
        .execute(conn)?;
    Ok(next)
}

pub(super) fn sheets_of(
    conn: &mut SqliteConnection,
    job_id: &str,
    state: Sheet,
) -> Result<Vec<String>, DieselError> {
    sheets::table
        .filter(sheets::job_id.eq(job_id))
        .filter(sheets::state.eq(state.as_str()))
        .order(sheets::page.asc())
        .select(sheets::serial)
        .load(conn)
}

impl Journal {
    /// Open (creating the folder and the file) and migrate the journal in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Journal, JournalError> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| JournalError::CreateDir(state_dir.to_path_buf(), e))?;
        let path = state_dir.join(JOURNAL_FILE);
        let url = path.to_string_lossy().to_string();
        let mut conn = SqliteConnection::establish(&url)
            .map_err(|e| JournalError::Open(path.clone(), e.to_string()))?;
        // FULL: a journaled step must survive a power cut, or a restart could print twice.
        conn.batch_execute(
            "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(|e| JournalError::Open(path.clone(), e.to_string()))?;
        conn.run_pending_migrations(AGENT_MIGRATIONS)
            .map_err(|e| JournalError::Migration(e.to_string()))?;
        Ok(Journal { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `BEGIN IMMEDIATE`: a `status` or `stock` command may run next to the agent; each
    /// writer takes the lock up front instead of failing half-way.
    pub(super) fn write<T>(
        &mut self,
        f: impl FnOnce(&mut SqliteConnection) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        self.conn.immediate_transaction(f)
    }

    pub fn job(&mut self, id: &str) -> Result<Option<JobRecord>, JournalError> {
        match load_job(&mut self.conn, id) {
            Ok(j) => Ok(Some(j)),
            Err(JournalError::UnknownJob(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Jobs not done yet, oldest claim first.
    pub fn unfinished(&mut self) -> Result<Vec<JobRecord>, JournalError> {
        let done = [Step::Confirmed.as_str(), Step::Abandoned.as_str()];
        let rows: Vec<JobRow> = jobs::table
            .filter(jobs::state.ne_all(done))
            .order((jobs::claimed_at.asc(), jobs::id.asc()))
            .select(job_columns())
            .load(&mut self.conn)?;
        rows.into_iter().map(parse_row).collect()
    }

    /// Journal a claimed job before touching it. A job already in hand (not done) is refused:
    /// the caller must not process it a second time.
    pub fn record_claim(&mut self, job: &ClaimedJob) -> Result<(), JournalError> {
        self.write(|conn| {
            let existing = match load_job(conn, &job.id) {
                Ok(existing) => Some(existing),
                Err(JournalError::UnknownJob(_)) => None,
                Err(e) => return Err(e),
            };
            if let Some(existing) = &existing {
                let may_replace = existing.step.is_done() || existing.step == Step::Rejected;
                if !may_replace {
                    return Err(JournalError::AlreadyInHand(job.id.clone(), existing.step));
                }
            }
            let copies = serde_json::to_string(&job.copies)
                .map_err(|e| JournalError::Corrupt(e.to_string()))?;
            let at = now();
            let values = (
                jobs::licence_id.eq(&job.licence_id),
                jobs::licence_identifier.eq(&job.licence_identifier),
                jobs::type_code.eq(&job.type_code),
                jobs::copies.eq(copies),
                jobs::qr_text.eq(&job.qr_text),
                jobs::lease_token.eq(&job.lease_token),
                jobs::lease_expires_at.eq(&job.lease_expires_at),
                jobs::document_sha256.eq(job.document_sha256.to_ascii_lowercase()),
                jobs::state.eq(Step::Claimed.as_str()),
                jobs::report_attempts.eq(0),
                jobs::claimed_at.eq(&at),
                jobs::updated_at.eq(&at),
            );
            if existing.is_some() {
                // Claimed again (the server requeued it after an earlier round was settled):
                // the row is reused because used or in-doubt sheets still point at it.
                diesel::update(jobs::table.find(&job.id))
                    .set((
                        values,
                        jobs::outcome.eq(None::<String>),
                        jobs::report_seq.eq(None::<i64>),
                        jobs::report_body.eq(None::<String>),
                        jobs::last_error.eq(None::<String>),
                    ))
                    .execute(conn)?;
            } else {
                diesel::insert_into(jobs::table)
                    .values((jobs::id.eq(&job.id), values))
                    .execute(conn)?;
            }
            event(
                conn,
                Some(&job.id),
                Step::Claimed.as_str(),
                &format!("lease until {}", job.lease_expires_at),
            )?;
            Ok(())
        })
    }

    pub fn update_lease(&mut self, id: &str, expires_at: &str) -> Result<(), JournalError> {
        diesel::update(jobs::table.find(id))
            .set(jobs::lease_expires_at.eq(expires_at))
            .execute(&mut self.conn)?;
        Ok(())
    }

    pub fn note_error(&mut self, id: &str, error: &str) -> Result<(), JournalError> {
        diesel::update(jobs::table.find(id))
            .set((jobs::last_error.eq(error), jobs::updated_at.eq(now())))
            .execute(&mut self.conn)?;
        Ok(())
    }

    pub fn mark_downloaded(&mut self, id: &str) -> Result<(), JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            advance(
                conn,
                &job,
                StepEvent::Downloaded,
                "document hash and seal checked",
            )?;
            Ok(())
        })
    }

    pub fn mark_abandoned(&mut self, id: &str, reason: &str) -> Result<(), JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            advance(conn, &job, StepEvent::LeaseLost, reason)?;
            Ok(())
        })
    }

    /// Reserve the next sheets of the tray (one per page, in tray order) and journal
    /// `printing`, in one transaction; from the moment this returns paper may exist.
    pub fn begin_printing(&mut self, id: &str) -> Result<Vec<String>, JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            // Checked before reserving, so a refused step leaves the tray untouched.
            job.step.after(StepEvent::StartPrinting)?;
            let needed = job.copies.len();
            let serials: Vec<String> = sheets::table
                .filter(sheets::state.eq(Sheet::Blank.as_str()))
                .order(sheets::position.asc())
                .limit(needed as i64)
                .select(sheets::serial)
                .load(conn)?;
            if serials.len() < needed {
                let left: i64 = sheets::table
                    .filter(sheets::state.eq(Sheet::Blank.as_str()))
                    .count()
                    .get_result(conn)?;
                return Err(JournalError::OutOfStock {
                    needed,
                    left: left as usize,
                });
            }
            for (page, serial) in serials.iter().enumerate() {
                diesel::update(sheets::table.find(serial))
                    .set((
                        sheets::state.eq(Sheet::Reserved.as_str()),
                        sheets::job_id.eq(id),
                        sheets::page.eq(page as i32),
                    ))
                    .execute(conn)?;
            }
            advance(
                conn,
                &job,
                StepEvent::StartPrinting,
                &format!("sheets {}", serials.join(" ")),
            )?;
            Ok(serials)
        })
    }

    /// The print command succeeded: the reserved sheets are used and the `printed` report
    /// (with a fresh sequence number) is journaled, in one transaction.
    pub fn mark_printed(&mut self, id: &str) -> Result<Report, JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            job.step.after(StepEvent::PrintSucceeded)?;
            let serials = sheets_of(conn, id, Sheet::Reserved)?;
            diesel::update(
                sheets::table
                    .filter(sheets::job_id.eq(id))
                    .filter(sheets::state.eq(Sheet::Reserved.as_str())),
            )
            .set(sheets::state.eq(Sheet::Used.as_str()))
            .execute(conn)?;
            let report = Report {
                lease_token: job.lease_token.clone(),
                seq: next_seq(conn)?,
                outcome: Outcome::Printed,
                sheets: serials,
                printed_nothing: None,
                reason: None,
            };
            store_report(conn, id, &report, "printed")?;
            advance(
                conn,
                &job,
                StepEvent::PrintSucceeded,
                &format!("sheets {}", report.sheets.join(" ")),
            )?;
            Ok(report)
        })
    }

    /// Journal a `failed` report. `outcome_unknown` is the restart case (the job was found
    /// `printing`): its sheets go `in_doubt` and `printed_nothing` is left out, so the server
    /// asks an operator. Otherwise nothing was printed and reserved sheets return to the tray.
    pub fn mark_failed(
        &mut self,
        id: &str,
        outcome_unknown: bool,
        reason: &str,
    ) -> Result<Report, JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            let ev = if outcome_unknown {
                StepEvent::OutcomeUnknown
            } else {
                StepEvent::NothingPrinted
            };
            job.step.after(ev)?;
            let reserved = sheets_of(conn, id, Sheet::Reserved)?;
            let target = sheets::table
                .filter(sheets::job_id.eq(id))
                .filter(sheets::state.eq(Sheet::Reserved.as_str()));
            let reason = if outcome_unknown {
                diesel::update(target)
                    .set((
                        sheets::state.eq(Sheet::InDoubt.as_str()),
                        sheets::note.eq(format!("job {id}: outcome unknown")),
                    ))
                    .execute(conn)?;
                format!(
                    "{reason}; sheets possibly printed: {}",
                    if reserved.is_empty() {
                        "none recorded".to_string()
                    } else {
                        reserved.join(" ")
                    }
                )
            } else {
                diesel::update(target)
                    .set((
                        sheets::state.eq(Sheet::Blank.as_str()),
                        sheets::job_id.eq(None::<String>),
                        sheets::page.eq(None::<i32>),
                    ))
                    .execute(conn)?;
                reason.to_string()
            };
            let report = Report {
                lease_token: job.lease_token.clone(),
                seq: next_seq(conn)?,
                outcome: Outcome::Failed,
                sheets: Vec::new(),
                printed_nothing: if outcome_unknown { None } else { Some(true) },
                reason: Some(crate::wire::agent::clip_reason(&reason)),
            };
            store_report(
                conn,
                id,
                &report,
                if outcome_unknown {
                    "unknown"
                } else {
                    "not_printed"
                },
            )?;
            advance(conn, &job, ev, &reason)?;
            Ok(report)
        })
    }

    /// Journal that the report is about to be sent (again).
    pub fn mark_report_sent(&mut self, id: &str) -> Result<(), JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            let to = job.step.after(StepEvent::ReportSent)?;
            diesel::update(jobs::table.find(id))
                .set((
                    jobs::state.eq(to.as_str()),
                    jobs::report_attempts.eq(jobs::report_attempts + 1),
                    jobs::updated_at.eq(now()),
                ))
                .execute(conn)?;
            if job.step != to {
                event(conn, Some(id), to.as_str(), "report sent")?;
            }
            Ok(())
        })
    }

    pub fn mark_confirmed(&mut self, id: &str, detail: &str) -> Result<(), JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            advance(conn, &job, StepEvent::ReportConfirmed, detail)?;
            diesel::update(jobs::table.find(id))
                .set(jobs::last_error.eq(None::<String>))
                .execute(conn)?;
            Ok(())
        })
    }

    pub fn mark_rejected(&mut self, id: &str, error: &str) -> Result<(), JournalError> {
        self.write(|conn| {
            let job = load_job(conn, id)?;
            advance(conn, &job, StepEvent::ReportRefused, error)?;
            diesel::update(jobs::table.find(id))
                .set(jobs::last_error.eq(error))
                .execute(conn)?;
            Ok(())
        })
    }
}

pub(super) fn store_report(
    conn: &mut SqliteConnection,
    id: &str,
    report: &Report,
    outcome: &str,
) -> Result<(), JournalError> {
    let body = serde_json::to_string(report).map_err(|e| JournalError::Corrupt(e.to_string()))?;
    diesel::update(jobs::table.find(id))
        .set((
            jobs::outcome.eq(outcome),
            jobs::report_seq.eq(report.seq),
            jobs::report_body.eq(body),
        ))
        .execute(conn)?;
    Ok(())
}
