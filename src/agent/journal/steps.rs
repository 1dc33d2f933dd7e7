//! The step table: where a job stands in the agent's hands, the events that move it, and what
//! a restart does with each step. One transition function (`Step::after`), tested against a
//! table in `tests.rs`.

use super::*;

/// Where a job stands in this agent's hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Leased; nothing downloaded yet.
    Claimed,
    /// Document stored, its hash and its seal checked.
    Downloaded,
    /// Sheets reserved and the print command started: from here on paper may exist.
    Printing,
    /// The print command succeeded; the `printed` report is journaled, not yet sent.
    Printed,
    /// A `failed` report is journaled, not yet sent (nothing printed, or outcome unknown).
    Failed,
    /// The report was sent at least once; not yet confirmed.
    Reported,
    /// The server confirmed the report. Done.
    Confirmed,
    /// The lease was lost before anything was printed; nothing to report. Done.
    Abandoned,
    /// The server refused the report (e.g. a stale lease): a hall operator resolves it.
    Rejected,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::Claimed,
        Step::Downloaded,
        Step::Printing,
        Step::Printed,
        Step::Failed,
        Step::Reported,
        Step::Confirmed,
        Step::Abandoned,
        Step::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Claimed => "claimed",
            Step::Downloaded => "downloaded",
            Step::Printing => "printing",
            Step::Printed => "printed",
            Step::Failed => "failed",
            Step::Reported => "reported",
            Step::Confirmed => "confirmed",
            Step::Abandoned => "abandoned",
            Step::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether a report is owed to the server.
    pub fn owes_report(self) -> bool {
        matches!(self, Step::Printed | Step::Failed | Step::Reported)
    }

    pub fn is_done(self) -> bool {
        matches!(self, Step::Confirmed | Step::Abandoned)
    }

    /// What a restarted agent does with a job it finds in this step.
    pub fn recovery(self) -> Recovery {
        match self {
            Step::Claimed | Step::Downloaded => Recovery::Resume,
            Step::Printing => Recovery::ReportOutcomeUnknown,
            Step::Printed | Step::Failed | Step::Reported => Recovery::SendReport,
            Step::Rejected => Recovery::AwaitOperator,
            Step::Confirmed | Step::Abandoned => Recovery::Nothing,
        }
    }

    /// The one table of allowed steps.
    pub fn after(self, event: StepEvent) -> Result<Step, StepError> {
        use Step as S;
        use StepEvent as E;
        let to = match (self, event) {
            (S::Claimed, E::Downloaded) => S::Downloaded,
            (S::Downloaded, E::StartPrinting) => S::Printing,
            (S::Printing, E::PrintSucceeded) => S::Printed,
            (S::Claimed | S::Downloaded | S::Printing, E::NothingPrinted) => S::Failed,
            (S::Printing, E::OutcomeUnknown) => S::Failed,
            (S::Claimed | S::Downloaded, E::LeaseLost) => S::Abandoned,
            (S::Printed | S::Failed | S::Reported, E::ReportSent) => S::Reported,
            (S::Printed | S::Failed | S::Reported, E::ReportConfirmed) => S::Confirmed,
            (S::Printed | S::Failed | S::Reported, E::ReportRefused) => S::Rejected,
            (S::Rejected, E::ReportConfirmed) => S::Confirmed,
            _ => return Err(StepError { from: self, event }),
        };
        Ok(to)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepEvent {
    Downloaded,
    StartPrinting,
    PrintSucceeded,
    /// Refused before printing (hash, seal, stock) or the print command failed.
    NothingPrinted,
    /// Found `printing` after a restart: paper may or may not exist.
    OutcomeUnknown,
    LeaseLost,
    ReportSent,
    ReportConfirmed,
    ReportRefused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing is on paper yet: check the lease and carry on.
    Resume,
    /// Never print again; report `failed` without `printed_nothing`.
    ReportOutcomeUnknown,
    /// Resend the journaled report until the server confirms it.
    SendReport,
    /// The server refused the report; listed by `status` and sent to reconcile.
    AwaitOperator,
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a job in step {from} cannot take {event:?}")]
pub struct StepError {
    pub from: Step,
    pub event: StepEvent,
}
