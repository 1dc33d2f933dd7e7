//! Reconciliation: what the agent's journal and the server disagree on, and the hall
//! operator's resolution of a job whose outcome is unknown.

use super::*;
use crate::accounts::Staff;
use crate::distribution::jobs::{
    changes, not_found, pages_of, reload, state_of, subject, JobError,
};
use crate::distribution::stock;
use crate::distribution::wakeup;
use crate::domain::job::{transition, JobEvent, JobState};
use crate::domain::role::Role;
use crate::storage::jobs::{self as store, JobChanges, JobRow};
use crate::storage::{self, audit, DbConnection};
use crate::wire::agent as wire;
use crate::wire::agent::ReconcileAction;
use crate::wire::print_jobs::{ResolveOutcome, ResolveRequest};
use chrono::{DateTime, Utc};
use serde_json::json;

/// Agent journal states (the agent's `Step`) after which paper may exist.
const PAPER_MAY_EXIST: [&str; 4] = ["printing", "printed", "reported", "rejected"];
/// Agent states that still owe the server a report.
const OWES_REPORT: [&str; 3] = ["printed", "failed", "reported"];

/// What the agent should do about one job, given its journal state (`None`: the agent did
/// not name the job) and the server's state (`None`: unknown here or another hall's).
fn reconcile_action(agent_state: Option<&str>, server: Option<JobState>) -> ReconcileAction {
    use JobState as S;
    let paper = agent_state.is_some_and(|a| PAPER_MAY_EXIST.contains(&a));
    match (agent_state, server) {
        (_, None) => ReconcileAction::Forget,
        (_, Some(S::NeedsReconciliation)) => ReconcileAction::AskOperator,
        // Still leased: send the report the agent owes; otherwise carry on (or, for a job the
        // agent did not name, leave it to the agent of the hall that holds it).
        (Some(a), Some(S::Leased)) if OWES_REPORT.contains(&a) => ReconcileAction::Report,
        (_, Some(S::Leased)) => ReconcileAction::None,
        // Paper may exist but the server does not count it printed: a person must look at
        // the sheet before anything prints again.
        (Some(_), Some(S::Queued | S::Held | S::Failed | S::Cancelled)) if paper => {
            ReconcileAction::AskOperator
        }
        // The server's record is final for this agent (printed, collected, cancelled, failed,
        // or queued for a fresh claim): drop it from the journal.
        (Some(_), Some(_)) => ReconcileAction::Forget,
        (None, Some(_)) => ReconcileAction::None,
    }
}

/// `POST /api/v1/agent/reconcile` `{jobs: [{id, state}]}`: for each job the agent names, and
/// each of the hall's leased or needs_reconciliation jobs it does not name: `{id,
/// agent_state, server_state, action}` with action `none` (nothing to do), `forget` (drop it
/// from the local journal), `report` (the lease is still yours: send the report) or
/// `ask_operator` (a hall operator must check the paper and resolve the job).
pub fn reconcile(
    conn: &mut DbConnection,
    hall: &str,
    body: &wire::ReconcileRequest,
) -> Result<wire::ReconcileResponse, ProtocolError> {
    let items = &body.jobs;
    if items.len() > MAX_LIST {
        return Err(invalid("jobs", format!("at most {MAX_LIST} jobs")));
    }
    let mut named: Vec<(String, String)> = Vec::with_capacity(items.len());
    for item in items {
        let id = Some(item.id.as_str())
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or_else(|| invalid("jobs", "each entry needs an id (a job id)"))?;
        let state = Some(item.state.as_str())
            .filter(|s| !s.is_empty() && s.len() <= 40)
            .ok_or_else(|| {
                invalid(
                    "jobs",
                    "each entry needs a state (the agent's view, e.g. leased, printing, printed)",
                )
            })?;
        named.push((id.to_string(), state.to_string()));
    }
    let ids: Vec<String> = named.iter().map(|(id, _)| id.clone()).collect();
    let found = store::find_jobs(conn, &ids)?;
    let mut answer = Vec::new();
    for (id, agent_state) in &named {
        let server = found
            .iter()
            .find(|j| &j.id == id && j.hall == hall)
            .map(state_of)
            .transpose()?;
        answer.push(wire::ReconcileItem {
            id: id.clone(),
            agent_state: Some(agent_state.clone()),
            server_state: server,
            action: reconcile_action(Some(agent_state), server),
        });
    }
    let open = [JobState::Leased, JobState::NeedsReconciliation];
    for job in store::list_for_hall(conn, hall, &open, 500)? {
        if ids.contains(&job.id) {
            continue;
        }
        let server = state_of(&job)?;
        answer.push(wire::ReconcileItem {
            id: job.id.clone(),
            agent_state: None,
            server_state: Some(server),
            action: reconcile_action(None, Some(server)),
        });
    }
    Ok(wire::ReconcileResponse { jobs: answer })
}

/// `POST /api/v1/print-jobs/{id}/resolve` `{outcome, sheets?, voided_serials?, no_sheet_taken?,
/// reason?}` by a hall operator of the target hall, for a job in `needs_reconciliation`:
/// - `printed`: `sheets` are the serials printed, one per page, registered and unused ->
///   `printed`; `voided_serials` may list spoiled ones.
/// - `not_printed`: back to `queued` for a reprint. The sheets taken by the lost attempt
///   must be voided in the same call (`voided_serials`); when none was taken the operator
///   says so with `no_sheet_taken: true`. Otherwise 422 `voided_sheets_required`.
pub fn resolve_job(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    body: &ResolveRequest,
    now: DateTime<Utc>,
) -> Result<JobRow, ProtocolError> {
    let printed = body.outcome == ResolveOutcome::Printed;
    let voided = serials_of(
        body.voided_serials.as_deref().unwrap_or_default(),
        "voided_serials",
    )?;
    let sheets = serials_of(body.sheets.as_deref().unwrap_or_default(), "sheets")?;
    let no_sheet_taken = body.no_sheet_taken.unwrap_or(false);
    let reason = optional_reason(body.reason.as_deref())?;
    if let Some(s) = sheets.iter().find(|s| voided.contains(s)) {
        return Err(invalid(
            "voided_serials",
            format!("{s} is also listed as printed"),
        ));
    }
    if printed && sheets.is_empty() {
        return Err(invalid(
            "sheets",
            "a printed resolution lists the printed serials, one per page",
        ));
    }
    if !printed && !sheets.is_empty() {
        return Err(invalid(
            "sheets",
            "not_printed takes no printed sheets: list spoiled ones in voided_serials",
        ));
    }
    if !printed && no_sheet_taken && !voided.is_empty() {
        return Err(invalid(
            "no_sheet_taken",
            "contradicts the voided_serials given",
        ));
    }
    let job = storage::write_tx(conn, |conn| {
        let job = store::lock_job(conn, id)?
            .filter(|j| {
                staff.role == Role::Admin
                    || staff.hall_code == j.hall
                    || staff.hall_code == j.issuing_hall
            })
            .ok_or_else(|| not_found(id))?;
        if staff.role != Role::HallOperator || staff.hall_code != job.hall {
            return Err(ProtocolError::Forbidden(
                "only a hall operator of the job's target hall resolves it".into(),
            ));
        }
        let from = state_of(&job)?;
        let event = if printed {
            JobEvent::ResolvePrinted
        } else {
            JobEvent::ResolveNotPrinted
        };
        // A kiosk job not printed waits held for its holder again.
        let to = job
            .pickup
            .settle(transition(from, event).map_err(JobError::from)?);
        if !printed && voided.is_empty() && !no_sheet_taken {
            return Err(ProtocolError::VoidedSheetsRequired(
                "voided_serials: a reprint needs the sheets of the lost attempt voided in the same call, or no_sheet_taken: true when none was taken".into(),
            ));
        }
        let reason_text = reason.clone().unwrap_or_else(|| "reconciliation".into());
        for serial in &voided {
            stock::void_sheet(
                conn,
                &job.hall,
                serial,
                &reason_text,
                Some(id),
                &staff.username,
                now,
            )?;
        }
        // The report's helper needs a leased job; record the sheets here, under the same
        // rules.
        let mut events = if printed {
            stock::mark_printed(conn, &job.hall, &pages_of(&job, &sheets)?, id, now)?
        } else {
            Vec::new()
        };
        store::update_job(
            conn,
            id,
            from,
            &JobChanges {
                state: Some(to),
                printed_at: printed.then(|| Some(storage::to_db_time(now))),
                ..changes(now)
            },
        )?;
        if to == JobState::Queued {
            wakeup::notify_in_tx(conn, &job.hall)?;
        }
        events.push(audit::Event {
            action: if printed {
                "PrintJobResolvedPrinted"
            } else {
                "PrintJobResolvedNotPrinted"
            },
            subject: subject(id),
            details: json!({"from": from.as_str(), "to": to.as_str(), "sheets": sheets,
                "voided_serials": voided, "no_sheet_taken": no_sheet_taken, "reason": reason}),
        });
        audit::insert_events(conn, now, &staff.username, &events)?;
        Ok(reload(conn, id)?)
    })?;
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(agent: Option<&str>, server: Option<JobState>) -> &'static str {
        reconcile_action(agent, server).as_str()
    }

    #[test]
    fn reconcile_never_tells_an_agent_to_reprint() {
        use JobState as S;
        assert_eq!(action(Some("printed"), Some(S::Queued)), "ask_operator");
        assert_eq!(action(Some("printing"), Some(S::Cancelled)), "ask_operator");
        assert_eq!(action(Some("downloaded"), Some(S::Cancelled)), "forget");
        assert_eq!(action(Some("printed"), Some(S::Leased)), "report");
        assert_eq!(action(Some("failed"), Some(S::Leased)), "report");
        assert_eq!(action(Some("claimed"), Some(S::Leased)), "none");
        assert_eq!(action(Some("printing"), Some(S::Leased)), "none");
        assert_eq!(action(Some("printed"), Some(S::Printed)), "forget");
        assert_eq!(action(Some("claimed"), None), "forget");
        assert_eq!(action(None, Some(S::NeedsReconciliation)), "ask_operator");
        assert_eq!(action(None, Some(S::Leased)), "none");
        for agent in [
            None,
            Some("claimed"),
            Some("printing"),
            Some("printed"),
            Some("x"),
        ] {
            for server in JobState::ALL {
                let a = action(agent, Some(server));
                assert!(["none", "forget", "report", "ask_operator"].contains(&a));
            }
        }
    }
}
