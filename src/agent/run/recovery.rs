//! After a restart: what the journal holds is finished or reported, and the server is told
//! (reconcile) what this agent has in hand.

use super::*;

impl Agent {
    /// Journal-driven restart: unknown outcomes are reported as such, owed reports resent,
    /// jobs not yet printing resumed; then tell the server what this agent holds.
    pub(super) async fn recover(&mut self) -> Result<(), AgentError> {
        let jobs = self.journal.unfinished()?;
        if jobs.is_empty() {
            return Ok(());
        }
        tracing::info!(
            count = jobs.len(),
            "journal holds unfinished jobs; recovering"
        );
        for job in &jobs {
            if job.step.recovery() == Recovery::ReportOutcomeUnknown {
                self.journal.mark_failed(
                    &job.id,
                    true,
                    "the agent stopped while printing; whether the sheets were printed is unknown",
                )?;
                tracing::warn!(job = %job.id, step = "failed", "outcome unknown after restart: not printing again; operator must reconcile");
            }
        }
        self.reconcile().await?;
        Ok(())
    }

    /// `POST /api/v1/agent/reconcile` with every unfinished job and its journal step. Jobs the
    /// server has settled elsewhere (cancelled, resolved by an operator) are closed here.
    pub(super) async fn reconcile(&mut self) -> Result<(), AgentError> {
        let jobs = self.journal.unfinished()?;
        if jobs.is_empty() {
            return Ok(());
        }
        let entries: Vec<ReconcileEntry> = jobs
            .iter()
            .map(|j| ReconcileEntry {
                id: j.id.clone(),
                state: j.step.as_str().to_string(),
            })
            .collect();
        self.last_reconcile = Some(Instant::now());
        match self.client.reconcile(&entries).await {
            Ok(answer) => {
                tracing::info!(answer = ?answer, "reconciled with the server");
                for item in &answer.jobs {
                    let Some(job) = jobs.iter().find(|j| j.id == item.id) else {
                        continue;
                    };
                    // No server state: unknown there or another hall's; nothing to settle.
                    if let Some(server_state) = item.server_state {
                        self.apply_server_state(job, server_state)?;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reconcile failed; will retry"),
        }
        Ok(())
    }

    pub(super) fn apply_server_state(
        &mut self,
        job: &JobRecord,
        server_state: crate::domain::job::JobState,
    ) -> Result<(), AgentError> {
        use crate::domain::job::JobState as S;
        match (job.step, server_state) {
            // Not printed here and no longer ours on the server: let it go.
            (Step::Claimed | Step::Downloaded, s) if s != S::Leased => {
                let s = server_state.as_str();
                self.journal
                    .mark_abandoned(&job.id, &format!("the server has it {s}"))?;
                tracing::info!(job = %job.id, step = "abandoned", server_state = s, "job settled on the server before printing");
            }
            // An operator settled a refused report.
            (
                Step::Rejected,
                S::Printed | S::Collected | S::Cancelled | S::Queued | S::Held | S::Failed,
            ) => {
                self.journal.mark_confirmed(
                    &job.id,
                    &format!("settled on the server: {}", server_state.as_str()),
                )?;
                tracing::info!(job = %job.id, step = "confirmed", server_state = server_state.as_str(), "settled by the hall operator");
            }
            _ => {}
        }
        Ok(())
    }
}
