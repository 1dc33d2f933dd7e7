//! Print job states and their transitions (docs/architecture.md, "Print distribution"). Pure: the services and the agent
//! protocol ask `transition` whether a change is allowed and store what it answers, so the
//! rules live in one place and are tested exhaustively here.

use serde::{Deserialize, Serialize};
use std::fmt;

/// After this many failed attempts in which nothing was printed, a job stops being retried.
pub const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    /// A self-service (kiosk) job waiting for its holder: never claimed, only released at
    /// a kiosk of its hall against the pickup code and the holder's code.
    Held,
    Leased,
    Printed,
    Collected,
    Cancelled,
    Failed,
    NeedsReconciliation,
}

impl JobState {
    pub const ALL: [JobState; 8] = [
        JobState::Queued,
        JobState::Held,
        JobState::Leased,
        JobState::Printed,
        JobState::Collected,
        JobState::Cancelled,
        JobState::Failed,
        JobState::NeedsReconciliation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Held => "held",
            JobState::Leased => "leased",
            JobState::Printed => "printed",
            JobState::Collected => "collected",
            JobState::Cancelled => "cancelled",
            JobState::Failed => "failed",
            JobState::NeedsReconciliation => "needs_reconciliation",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// An open job blocks a second job for the same licence. Failed counts as open because
    /// staff may requeue it; only collected and cancelled jobs are closed, so a holder who
    /// lost a collected certificate can have it printed again.
    pub fn is_open(self) -> bool {
        !matches!(self, JobState::Collected | JobState::Cancelled)
    }

    /// The states stored in the partial unique index "one open job per licence" (the
    /// migration spells the same list).
    pub const OPEN: [JobState; 6] = [
        JobState::Queued,
        JobState::Held,
        JobState::Leased,
        JobState::Printed,
        JobState::Failed,
        JobState::NeedsReconciliation,
    ];

    /// No sheet of the job has been (or may have been) printed yet.
    pub fn is_before_printing(self) -> bool {
        matches!(self, JobState::Queued | JobState::Held | JobState::Failed)
    }
}

impl JobState {
    /// The staff pages' name of the state.
    pub fn label_zh(self) -> &'static str {
        match self {
            JobState::Queued => "排队中",
            JobState::Held => "待自助领取",
            JobState::Leased => "打印中",
            JobState::Printed => "已打印待领取",
            JobState::Collected => "已领取",
            JobState::Cancelled => "已取消",
            JobState::Failed => "打印失败",
            JobState::NeedsReconciliation => "待核对",
        }
    }
}

/// How the holder gets the paper: from staff at the counter, or at a self-service kiosk of
/// the hall (the job is then held until the holder releases it there).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Pickup {
    #[default]
    Counter,
    Kiosk,
}

impl Pickup {
    pub const ALL: [Pickup; 2] = [Pickup::Counter, Pickup::Kiosk];

    pub fn as_str(self) -> &'static str {
        match self {
            Pickup::Counter => "counter",
            Pickup::Kiosk => "kiosk",
        }
    }

    pub fn parse(s: &str) -> Option<Pickup> {
        Pickup::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Pickup::Counter => "窗口领取",
            Pickup::Kiosk => "自助领取",
        }
    }

    /// Where a job of this pickup waits to be printed: a counter job in the queue (the
    /// hall's agent claims it), a kiosk job held for its holder.
    pub fn waiting_state(self) -> JobState {
        match self {
            Pickup::Counter => JobState::Queued,
            Pickup::Kiosk => JobState::Held,
        }
    }

    /// The state a transition's answer becomes for a job of this pickup: a kiosk job that
    /// would go back to the queue (a failed attempt with nothing printed, a resolution
    /// "not printed", a requeue) waits held again, so no counter agent ever prints it.
    pub fn settle(self, to: JobState) -> JobState {
        match to {
            JobState::Queued => self.waiting_state(),
            other => other,
        }
    }
}

/// What kind of hall agent a token belongs to: a counter agent claims the hall's queue; a
/// kiosk only releases held jobs against the holder's codes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    #[default]
    Counter,
    Kiosk,
}

impl AgentKind {
    pub const ALL: [AgentKind; 2] = [AgentKind::Counter, AgentKind::Kiosk];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Counter => "counter",
            AgentKind::Kiosk => "kiosk",
        }
    }

    pub fn parse(s: &str) -> Option<AgentKind> {
        AgentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobEvent {
    /// A hall agent claims the job.
    Lease,
    /// The agent reports every page printed.
    ReportPrinted,
    /// The agent reports a failed attempt in which nothing was printed; `attempts` counts
    /// this one.
    AttemptFailed { attempts: u32 },
    /// The agent cannot tell whether a sheet was printed.
    Uncertain,
    /// The lease ran out without a report. Never back to queued: a sheet may exist.
    LeaseExpired,
    /// Reconciliation: the sheets were printed after all.
    ResolvePrinted,
    /// Reconciliation: nothing was printed (any spoiled sheet voided), so it may print again.
    ResolveNotPrinted,
    /// Staff give a failed job another round of attempts.
    Requeue,
    /// The holder collected the certificate.
    Collect,
    /// Staff cancel. Only while nothing is or may be on paper (queued, failed): a leased
    /// job may be printing, and a job needing reconciliation must be resolved first so that
    /// its sheets are accounted for.
    StaffCancel,
    /// The licence left status 01 or was superseded: every job not yet printed stops,
    /// including a leased one (its agent's next call is refused).
    LicenceWithdrawn,
    /// Staff send a queued job to another hall.
    Reroute,
    /// The holder releases a held (self-service) job at a kiosk: the kiosk gets a lease.
    Release,
    /// A kiosk reports every page of a released job printed: the holder takes it at once.
    ReportPrintedAtKiosk,
}

impl JobEvent {
    pub fn name(self) -> &'static str {
        match self {
            JobEvent::Lease => "lease",
            JobEvent::ReportPrinted => "report_printed",
            JobEvent::AttemptFailed { .. } => "attempt_failed",
            JobEvent::Uncertain => "uncertain",
            JobEvent::LeaseExpired => "lease_expired",
            JobEvent::ResolvePrinted => "resolve_printed",
            JobEvent::ResolveNotPrinted => "resolve_not_printed",
            JobEvent::Requeue => "requeue",
            JobEvent::Collect => "collect",
            JobEvent::StaffCancel => "cancel",
            JobEvent::LicenceWithdrawn => "licence_withdrawn",
            JobEvent::Reroute => "reroute",
            JobEvent::Release => "release",
            JobEvent::ReportPrintedAtKiosk => "report_printed_at_kiosk",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {} job cannot {}", .from, .event.name())]
pub struct JobTransitionError {
    pub from: JobState,
    pub event: JobEvent,
}

/// The one table of allowed changes.
pub fn transition(from: JobState, event: JobEvent) -> Result<JobState, JobTransitionError> {
    use JobEvent as E;
    use JobState as S;
    let to = match (from, event) {
        (S::Queued, E::Lease) => S::Leased,
        (S::Leased, E::ReportPrinted) => S::Printed,
        (S::Leased, E::AttemptFailed { attempts }) if attempts >= 1 => {
            if attempts >= MAX_ATTEMPTS {
                S::Failed
            } else {
                S::Queued
            }
        }
        (S::Leased, E::Uncertain | E::LeaseExpired) => S::NeedsReconciliation,
        (S::NeedsReconciliation, E::ResolvePrinted) => S::Printed,
        (S::NeedsReconciliation, E::ResolveNotPrinted) => S::Queued,
        (S::Failed, E::Requeue) => S::Queued,
        (S::Printed, E::Collect) => S::Collected,
        (S::Queued | S::Failed, E::StaffCancel) => S::Cancelled,
        (S::Queued | S::Leased | S::Failed | S::NeedsReconciliation, E::LicenceWithdrawn) => {
            S::Cancelled
        }
        (S::Queued, E::Reroute) => S::Queued,
        (S::Held, E::Release) => S::Leased,
        (S::Leased, E::ReportPrintedAtKiosk) => S::Collected,
        (S::Held, E::StaffCancel | E::LicenceWithdrawn) => S::Cancelled,
        _ => return Err(JobTransitionError { from, event }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobEvent as E;
    use JobState as S;

    fn events() -> Vec<JobEvent> {
        let mut v = vec![
            E::Lease,
            E::ReportPrinted,
            E::Uncertain,
            E::LeaseExpired,
            E::ResolvePrinted,
            E::ResolveNotPrinted,
            E::Requeue,
            E::Collect,
            E::StaffCancel,
            E::LicenceWithdrawn,
            E::Reroute,
            E::Release,
            E::ReportPrintedAtKiosk,
        ];
        for attempts in 0..=MAX_ATTEMPTS + 1 {
            v.push(E::AttemptFailed { attempts });
        }
        v
    }

    /// The whole table, written out independently of `transition`'s match.
    fn expected(from: JobState, event: JobEvent) -> Option<JobState> {
        Some(match (from, event) {
            (S::Queued, E::Lease) => S::Leased,
            (S::Queued, E::StaffCancel) => S::Cancelled,
            (S::Queued, E::LicenceWithdrawn) => S::Cancelled,
            (S::Queued, E::Reroute) => S::Queued,
            (S::Leased, E::ReportPrinted) => S::Printed,
            (S::Leased, E::AttemptFailed { attempts: 1 }) => S::Queued,
            (S::Leased, E::AttemptFailed { attempts: 2 }) => S::Queued,
            (S::Leased, E::AttemptFailed { attempts: 3 }) => S::Failed,
            (S::Leased, E::AttemptFailed { attempts: 4 }) => S::Failed,
            (S::Leased, E::Uncertain) => S::NeedsReconciliation,
            (S::Leased, E::LeaseExpired) => S::NeedsReconciliation,
            (S::Leased, E::LicenceWithdrawn) => S::Cancelled,
            (S::NeedsReconciliation, E::ResolvePrinted) => S::Printed,
            (S::NeedsReconciliation, E::ResolveNotPrinted) => S::Queued,
            (S::NeedsReconciliation, E::LicenceWithdrawn) => S::Cancelled,
            (S::Failed, E::Requeue) => S::Queued,
            (S::Failed, E::StaffCancel) => S::Cancelled,
            (S::Failed, E::LicenceWithdrawn) => S::Cancelled,
            (S::Printed, E::Collect) => S::Collected,
            (S::Held, E::Release) => S::Leased,
            (S::Held, E::StaffCancel) => S::Cancelled,
            (S::Held, E::LicenceWithdrawn) => S::Cancelled,
            (S::Leased, E::ReportPrintedAtKiosk) => S::Collected,
            _ => return None,
        })
    }

    #[test]
    fn every_state_and_event_pair_matches_the_table() {
        let mut allowed = 0;
        for from in JobState::ALL {
            for event in events() {
                match (transition(from, event), expected(from, event)) {
                    (Ok(to), Some(want)) => {
                        assert_eq!(to, want, "{from} + {event:?}");
                        allowed += 1;
                    }
                    (Err(e), None) => {
                        assert_eq!(e, JobTransitionError { from, event });
                        assert!(e.to_string().contains(from.as_str()));
                    }
                    (got, want) => panic!("{from} + {event:?}: got {got:?}, want {want:?}"),
                }
            }
        }
        assert_eq!(allowed, 23);
    }

    #[test]
    fn collected_and_cancelled_are_final() {
        for from in [S::Collected, S::Cancelled] {
            for event in events() {
                assert!(transition(from, event).is_err(), "{from} + {event:?}");
            }
        }
    }

    #[test]
    fn nothing_is_printed_twice_without_reconciliation() {
        // A lease that ends without a report never returns to queued directly.
        assert_eq!(
            transition(S::Leased, E::LeaseExpired),
            Ok(S::NeedsReconciliation)
        );
        for from in JobState::ALL {
            if let Ok(S::Queued) = transition(from, E::LeaseExpired) {
                panic!("{from} goes back to queued on expiry");
            }
        }
    }

    #[test]
    fn the_third_failed_attempt_fails_the_job_and_staff_can_requeue() {
        assert_eq!(
            transition(S::Leased, E::AttemptFailed { attempts: 2 }),
            Ok(S::Queued)
        );
        assert_eq!(
            transition(
                S::Leased,
                E::AttemptFailed {
                    attempts: MAX_ATTEMPTS
                }
            ),
            Ok(S::Failed)
        );
        assert_eq!(transition(S::Failed, E::Requeue), Ok(S::Queued));
        assert!(transition(S::Leased, E::AttemptFailed { attempts: 0 }).is_err());
    }

    #[test]
    fn staff_cannot_cancel_once_a_sheet_may_be_on_paper() {
        for from in [S::Leased, S::Printed, S::NeedsReconciliation, S::Collected] {
            assert!(transition(from, E::StaffCancel).is_err(), "{from}");
        }
        assert!(transition(S::Printed, E::LicenceWithdrawn).is_err());
    }

    #[test]
    fn a_held_job_is_never_leased_by_a_claim_and_a_kiosk_job_never_requeues() {
        assert!(transition(S::Held, E::Lease).is_err());
        assert!(transition(S::Held, E::Reroute).is_err());
        assert!(transition(S::Queued, E::Release).is_err());
        assert_eq!(Pickup::Kiosk.settle(S::Queued), S::Held);
        assert_eq!(Pickup::Kiosk.settle(S::Failed), S::Failed);
        assert_eq!(Pickup::Counter.settle(S::Queued), S::Queued);
        for p in Pickup::ALL {
            assert_eq!(Pickup::parse(p.as_str()), Some(p));
        }
        for k in AgentKind::ALL {
            assert_eq!(AgentKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn states_round_trip_and_open_matches_the_list() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
            assert_eq!(s.is_open(), JobState::OPEN.contains(&s), "{s}");
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.as_str().into())
            );
        }
        assert_eq!(JobState::parse("QUEUED"), None);
        assert_eq!(JobState::parse(""), None);
    }
}
