//! The tray: numbered blank sheets loaded in order, reserved for a job while it prints, then
//! used, voided or (after a crash while printing) in doubt until an operator resolves the job.

use super::*;

/// A tray sheet's state, as the journal stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sheet {
    Blank,
    Reserved,
    Used,
    InDoubt,
    Voided,
}

impl Sheet {
    const ALL: [Sheet; 5] = [
        Sheet::Blank,
        Sheet::Reserved,
        Sheet::Used,
        Sheet::InDoubt,
        Sheet::Voided,
    ];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Sheet::Blank => "blank",
            Sheet::Reserved => "reserved",
            Sheet::Used => "used",
            Sheet::InDoubt => "in_doubt",
            Sheet::Voided => "voided",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Sheet> {
        Sheet::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// The tray and the jobs in hand, for `agent status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub blank: usize,
    pub next_serial: Option<String>,
    pub last_serial: Option<String>,
    pub reserved: Vec<String>,
    pub in_doubt: Vec<String>,
    pub used: usize,
    pub voided: usize,
    /// Every job not yet done (confirmed or abandoned), oldest first.
    pub jobs: Vec<JobRecord>,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tray: {} blank sheet(s)", self.blank)?;
        if let (Some(n), Some(l)) = (&self.next_serial, &self.last_serial) {
            writeln!(f, "  next: {n}  last: {l}")?;
        }
        writeln!(f, "  used: {}  voided: {}", self.used, self.voided)?;
        if !self.reserved.is_empty() {
            writeln!(f, "  reserved (printing): {}", self.reserved.join(" "))?;
        }
        if !self.in_doubt.is_empty() {
            writeln!(
                f,
                "  in doubt (outcome unknown, awaiting the operator): {}",
                self.in_doubt.join(" ")
            )?;
        }
        let in_hand: Vec<&JobRecord> = self.jobs.iter().filter(|j| !j.step.owes_report()).collect();
        let owed: Vec<&JobRecord> = self.jobs.iter().filter(|j| j.step.owes_report()).collect();
        writeln!(f, "jobs in hand: {}", in_hand.len())?;
        for j in in_hand {
            write!(
                f,
                "  {} {} type {} copies {}",
                j.id,
                j.step,
                j.type_code,
                j.copies.join(",")
            )?;
            if let Some(e) = &j.last_error {
                write!(f, "  ({e})")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "unconfirmed reports: {}", owed.len())?;
        for j in owed {
            write!(
                f,
                "  {} {} outcome {} seq {} attempts {}",
                j.id,
                j.step,
                j.outcome.as_deref().unwrap_or("-"),
                j.report_seq.map(|s| s.to_string()).unwrap_or_default(),
                j.report_attempts
            )?;
            if let Some(e) = &j.last_error {
                write!(f, "  ({e})")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl Journal {
    /// Put `count` numbered blank sheets from `first` at the end of the tray. All or nothing:
    /// a serial already known to the tray (in any state) refuses the whole load.
    pub fn load_stock(&mut self, first: &Serial, count: i64) -> Result<Vec<String>, JournalError> {
        let run: Vec<String> = first.run(count)?.iter().map(|s| s.to_string()).collect();
        self.write(|conn| {
            let last: Option<i64> = sheets::table
                .select(diesel::dsl::max(sheets::position))
                .first(conn)?;
            let mut position = last.unwrap_or(0);
            for serial in &run {
                position += 1;
                let inserted = diesel::insert_into(sheets::table)
                    .values((
                        sheets::serial.eq(serial),
                        sheets::position.eq(position),
                        sheets::state.eq(Sheet::Blank.as_str()),
                    ))
                    .execute(conn);
                match inserted {
                    Ok(_) => {}
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                        return Err(JournalError::AlreadyInTray(serial.clone()))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            event(
                conn,
                None,
                "stock_loaded",
                &format!("{} sheet(s) {}..{}", run.len(), run[0], run[run.len() - 1]),
            )?;
            Ok(run.clone())
        })
    }

    /// May `serial` be voided from here? Blank, in-doubt and unknown sheets may (a spoiled
    /// sheet need not have been loaded); used and reserved ones may not.
    pub fn check_voidable(&mut self, serial: &str) -> Result<(), JournalError> {
        let row: Option<(String, Option<String>)> = sheets::table
            .find(serial)
            .select((sheets::state, sheets::job_id))
            .first(&mut self.conn)
            .optional()?;
        match row.map(|(state, job)| (Sheet::parse(&state), job)) {
            Some((Some(Sheet::Used), job)) => Err(JournalError::SheetUsed(
                serial.to_string(),
                job.unwrap_or_default(),
            )),
            Some((Some(Sheet::Reserved), job)) => Err(JournalError::SheetReserved(
                serial.to_string(),
                job.unwrap_or_default(),
            )),
            _ => Ok(()),
        }
    }

    /// The server accepted the void: the sheet leaves the tray for good.
    pub fn mark_voided(&mut self, serial: &str, reason: &str) -> Result<(), JournalError> {
        let serial = serial.to_string();
        let reason = reason.to_string();
        self.write(move |conn| {
            let updated = diesel::update(sheets::table.find(&serial))
                .set((
                    sheets::state.eq(Sheet::Voided.as_str()),
                    sheets::note.eq(&reason),
                ))
                .execute(conn)?;
            if updated == 0 {
                let last: Option<i64> = sheets::table
                    .select(diesel::dsl::max(sheets::position))
                    .first(conn)?;
                diesel::insert_into(sheets::table)
                    .values((
                        sheets::serial.eq(&serial),
                        sheets::position.eq(last.unwrap_or(0) + 1),
                        sheets::state.eq(Sheet::Voided.as_str()),
                        sheets::note.eq(&reason),
                    ))
                    .execute(conn)?;
            }
            event(conn, None, "sheet_voided", &format!("{serial}: {reason}"))?;
            Ok(())
        })
    }

    pub fn blank_count(&mut self) -> Result<usize, JournalError> {
        let n: i64 = sheets::table
            .filter(sheets::state.eq(Sheet::Blank.as_str()))
            .count()
            .get_result(&mut self.conn)?;
        Ok(n as usize)
    }

    pub fn status(&mut self) -> Result<Status, JournalError> {
        let conn = &mut self.conn;
        let blank: Vec<String> = sheets::table
            .filter(sheets::state.eq(Sheet::Blank.as_str()))
            .order(sheets::position.asc())
            .select(sheets::serial)
            .load(conn)?;
        let by_state =
            |conn: &mut SqliteConnection, s: Sheet| -> Result<Vec<String>, DieselError> {
                sheets::table
                    .filter(sheets::state.eq(s.as_str()))
                    .order(sheets::position.asc())
                    .select(sheets::serial)
                    .load(conn)
            };
        let reserved = by_state(conn, Sheet::Reserved)?;
        let in_doubt = by_state(conn, Sheet::InDoubt)?;
        let used = by_state(conn, Sheet::Used)?.len();
        let voided = by_state(conn, Sheet::Voided)?.len();
        let jobs = self.unfinished()?;
        Ok(Status {
            blank: blank.len(),
            next_serial: blank.first().cloned(),
            last_serial: blank.last().cloned(),
            reserved,
            in_doubt,
            used,
            voided,
            jobs,
        })
    }

    /// Steps journaled for one job, oldest first (tests and `status`).
    pub fn events_of(&mut self, id: &str) -> Result<Vec<String>, JournalError> {
        Ok(events::table
            .filter(events::job_id.eq(id))
            .order(events::id.asc())
            .select(events::step)
            .load(&mut self.conn)?)
    }
}
