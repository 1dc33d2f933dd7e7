//! The loop proper: long-poll for jobs, take each one through download, print and report,
//! and resend owed reports until the server confirms them.

use super::*;

impl Agent {
    pub(super) async fn main_loop(&mut self) -> Result<(), AgentError> {
        let mut claim_backoff = Backoff::default();
        let mut tray_warned = false;
        loop {
            self.flush_reports().await?;
            if self.stop.requested() {
                let owed = self
                    .journal
                    .unfinished()?
                    .iter()
                    .filter(|j| j.step.owes_report())
                    .count();
                if owed > 0 {
                    tracing::warn!(owed, "stopping with unconfirmed reports; they are journaled and resent at the next start");
                }
                return Ok(());
            }
            let due_trust = self
                .trust_fetched_at
                .is_none_or(|t| t.elapsed() >= TRUST_REFRESH);
            if due_trust && !self.refresh_trust().await {
                // Without a trust list no seal can be checked, so nothing may be printed.
                self.stop.sleep(claim_backoff.next_delay()).await;
                continue;
            }
            let unfinished = self.journal.unfinished()?;
            if unfinished.iter().any(|j| j.step == Step::Rejected)
                && self
                    .last_reconcile
                    .is_none_or(|t| t.elapsed() >= RECONCILE_EVERY)
            {
                self.reconcile().await?;
            }
            // Resume a job left between claim and printing by a restart.
            if let Some(job) = unfinished
                .into_iter()
                .find(|j| matches!(j.step, Step::Claimed | Step::Downloaded))
            {
                self.process(job).await?;
                continue;
            }
            if self.journal.blank_count()? == 0 {
                if !tray_warned {
                    tracing::warn!(
                        "the tray is empty: load stock with `crosscert agent stock load`"
                    );
                    tray_warned = true;
                }
                self.stop.sleep(EMPTY_TRAY_POLL).await;
                continue;
            }
            tray_warned = false;
            match self.client.claim(1, self.cfg.wait_s).await {
                Ok(jobs) => {
                    claim_backoff.reset();
                    for job in jobs {
                        match self.journal.record_claim(&job) {
                            Ok(()) => {
                                tracing::info!(job = %job.id, step = "claimed", type_code = %job.type_code, pages = job.copies.len(), lease_until = %job.lease_expires_at, "job claimed");
                            }
                            Err(e @ JournalError::AlreadyInHand(..)) => {
                                tracing::error!(job = %job.id, error = %e, "server handed out a job this agent already holds; not processing it again");
                                continue;
                            }
                            Err(e) => return Err(e.into()),
                        }
                        self.halt_if(&job.id, "claimed").await;
                        if let Some(rec) = self.journal.job(&job.id)? {
                            self.process(rec).await?;
                        }
                    }
                }
                Err(e) => {
                    let d = claim_backoff.next_delay();
                    if e.is_transient() {
                        tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "claim failed");
                    } else {
                        tracing::error!(error = %e, retry_in_ms = d.as_millis() as u64, "claim refused");
                    }
                    self.stop.sleep(d).await;
                }
            }
        }
    }

    /// Take one job from claimed (or downloaded) to a journaled report, then try to send it.
    pub(super) async fn process(&mut self, job: JobRecord) -> Result<(), AgentError> {
        let heartbeat = Heartbeat::start(self.client.clone(), &job);
        let id = job.id.clone();
        // 1. The seal, before anything is fetched or printed: it verifies, and it is the seal
        // of the licence the job is for.
        let claims = match self.check_seal(&job.qr_text).await {
            Ok(claims) => claims,
            Err(refusal) => return self.refuse(&id, &refusal.to_string(), heartbeat).await,
        };
        if claims.identifier != job.licence_identifier {
            let reason = format!(
                "the seal is for licence {:?}, the job for licence {:?}",
                claims.identifier, job.licence_identifier
            );
            return self.refuse(&id, &reason, heartbeat).await;
        }
        // 2. The document.
        let doc_path = self.cfg.state_dir.join("documents").join(spool_name(&id));
        let pdf = match self.fetch_document(&job, &doc_path, &heartbeat).await? {
            Fetched::Ok(pdf) => pdf,
            Fetched::Refused(reason) => return self.refuse(&id, &reason, heartbeat).await,
            Fetched::Stopped => {
                tracing::info!(job = %id, step = %job.step, "stopping before printing; the job is resumed at the next start");
                return Ok(());
            }
            Fetched::LeaseLost(reason) => {
                self.journal.mark_abandoned(&id, &reason)?;
                tracing::warn!(job = %id, step = "abandoned", reason = %reason, "lease lost before printing; nothing printed");
                return Ok(());
            }
        };
        // 2b. What will reach the paper: the QR code read back out of the document itself must
        // be the seal just verified, on every page.
        if let Err(reason) = document_carries_seal(&pdf, &job) {
            let _ = std::fs::remove_file(&doc_path);
            return self.refuse(&id, &reason, heartbeat).await;
        }
        if job.step == Step::Claimed {
            self.journal.mark_downloaded(&id)?;
            tracing::info!(job = %id, step = "downloaded", bytes = pdf.len(), "document checked");
            self.halt_if(&id, "downloaded").await;
        }
        if heartbeat.lost() {
            self.journal
                .mark_abandoned(&id, "lease lost before printing")?;
            tracing::warn!(job = %id, step = "abandoned", "lease lost before printing; nothing printed");
            return Ok(());
        }
        // 3. Reserve sheets and journal `printing` before the printer moves.
        let serials = match self.journal.begin_printing(&id) {
            Ok(s) => s,
            Err(e @ JournalError::OutOfStock { .. }) => {
                return self.refuse(&id, &e.to_string(), heartbeat).await;
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(job = %id, step = "printing", sheets = %serials.join(" "), "printing");
        let printed = print(
            &self.cfg.spool_dir,
            &id,
            &pdf,
            self.cfg.print_command.as_deref(),
        )
        .await;
        match printed {
            Ok(path) => {
                let report = self.journal.mark_printed(&id)?;
                tracing::info!(job = %id, step = "printed", file = %path.display(), sheets = %report.sheets.join(" "), seq = report.seq, "printed");
                self.halt_if(&id, "printed").await;
            }
            Err(e) => {
                let report = self.journal.mark_failed(&id, false, &e.to_string())?;
                tracing::warn!(job = %id, step = "failed", error = %e, seq = report.seq, "print failed; nothing printed");
            }
        }
        let _ = std::fs::remove_file(&doc_path);
        self.send_report(&id).await?;
        drop(heartbeat);
        Ok(())
    }

    /// Nothing printed: journal a `failed` report with `printed_nothing` and send it.
    pub(super) async fn refuse(
        &mut self,
        id: &str,
        reason: &str,
        heartbeat: Heartbeat,
    ) -> Result<(), AgentError> {
        let report = self.journal.mark_failed(id, false, reason)?;
        tracing::warn!(job = %id, step = "failed", reason = %reason, seq = report.seq, "not printing");
        self.send_report(id).await?;
        drop(heartbeat);
        Ok(())
    }

    pub(super) async fn fetch_document(
        &mut self,
        job: &JobRecord,
        doc_path: &Path,
        heartbeat: &Heartbeat,
    ) -> Result<Fetched, AgentError> {
        // A document kept from before a restart is used when it still matches.
        if job.step == Step::Downloaded {
            if let Ok(bytes) = std::fs::read(doc_path) {
                if sha256_hex(&bytes) == job.document_sha256 {
                    return Ok(Fetched::Ok(bytes));
                }
            }
        }
        let mut backoff = Backoff::default();
        let mut mismatches = 0;
        loop {
            if heartbeat.lost() {
                return Ok(Fetched::LeaseLost("lease lost while downloading".into()));
            }
            match self.client.document(&job.id, &job.lease_token).await {
                Ok(bytes) => {
                    let got = sha256_hex(&bytes);
                    if got == job.document_sha256 {
                        let tmp = doc_path.with_extension("part");
                        if let Err(e) = std::fs::write(&tmp, &bytes)
                            .and_then(|_| std::fs::rename(&tmp, doc_path))
                        {
                            // Only a convenience for restarts; the bytes are in hand.
                            tracing::warn!(job = %job.id, error = %e, "cannot keep the document");
                        }
                        return Ok(Fetched::Ok(bytes));
                    }
                    mismatches += 1;
                    tracing::warn!(job = %job.id, expected = %job.document_sha256, got = %got, "document hash mismatch");
                    if mismatches >= 2 {
                        return Ok(Fetched::Refused(format!(
                            "document SHA-256 {got} does not match the claimed {}",
                            job.document_sha256
                        )));
                    }
                }
                Err(e) if e.is_transient() => {
                    self.journal.note_error(&job.id, &e.to_string())?;
                    if self.stop.requested() {
                        // Nothing printed; the journal keeps the job for the next start.
                        return Ok(Fetched::Stopped);
                    }
                    let d = backoff.next_delay();
                    tracing::warn!(job = %job.id, error = %e, retry_in_ms = d.as_millis() as u64, "document download failed");
                    self.stop.sleep(d).await;
                }
                Err(e @ ApiCallError::TooLarge { .. }) => {
                    return Ok(Fetched::Refused(e.to_string()));
                }
                Err(e) => {
                    // 409 stale lease, 404 gone, 422 licence no longer valid: the server took the
                    // job back before anything was printed.
                    return Ok(Fetched::LeaseLost(format!("document refused: {e}")));
                }
            }
        }
    }

    /// Try every owed report whose retry time has come.
    pub(super) async fn flush_reports(&mut self) -> Result<(), AgentError> {
        let owed: Vec<JobRecord> = self
            .journal
            .unfinished()?
            .into_iter()
            .filter(|j| j.step.owes_report())
            .collect();
        let now = Instant::now();
        for job in owed {
            let due = self
                .report_retry
                .get(&job.id)
                .is_none_or(|(at, _)| *at <= now);
            if due {
                self.send_report(&job.id).await?;
            }
        }
        Ok(())
    }

    /// Send a journaled report once; on a transient failure schedule the next try.
    pub(super) async fn send_report(&mut self, id: &str) -> Result<(), AgentError> {
        let Some(job) = self.journal.job(id)? else {
            return Ok(());
        };
        let Some(body) = job.report_body.clone().filter(|_| job.step.owes_report()) else {
            return Ok(());
        };
        self.journal.mark_report_sent(id)?;
        match self.client.report(id, &body).await {
            Ok(()) => {
                self.halt_if(id, "reported").await;
                self.journal.mark_confirmed(id, "report accepted")?;
                self.report_retry.remove(id);
                tracing::info!(job = %id, step = "confirmed", seq = job.report_seq.unwrap_or_default(), outcome = job.outcome.as_deref().unwrap_or("-"), "report confirmed");
            }
            Err(e) if already_applied(&e) => {
                self.journal
                    .mark_confirmed(id, &format!("already applied: {e}"))?;
                self.report_retry.remove(id);
                tracing::info!(job = %id, step = "confirmed", "report was already applied");
            }
            Err(e) if e.is_transient() || matches!(e, ApiCallError::Protocol(_)) => {
                self.journal.note_error(id, &e.to_string())?;
                let entry = self
                    .report_retry
                    .entry(id.to_string())
                    .or_insert_with(|| (Instant::now(), Backoff::default()));
                let d = entry.1.next_delay();
                entry.0 = Instant::now() + d;
                tracing::warn!(job = %id, step = "reported", error = %e, retry_in_ms = d.as_millis() as u64, "report not confirmed; will resend");
            }
            Err(e) => {
                self.journal.mark_rejected(id, &e.to_string())?;
                self.report_retry.remove(id);
                tracing::error!(job = %id, step = "rejected", error = %e, "report refused; a hall operator must resolve the job");
            }
        }
        Ok(())
    }
}

pub(super) enum Fetched {
    Ok(Vec<u8>),
    /// A stop was requested while the server was unreachable.
    Stopped,
    Refused(String),
    LeaseLost(String),
}
