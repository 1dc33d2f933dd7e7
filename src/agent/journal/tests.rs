use super::*;

fn claimed(id: &str, pages: usize) -> ClaimedJob {
    let copies = [
        crate::domain::copy::CopyKind::Original,
        crate::domain::copy::CopyKind::Duplicate,
    ][..pages]
        .to_vec();
    ClaimedJob {
        id: id.into(),
        licence_id: format!("lic-{id}"),
        licence_identifier: format!("ident-{id}"),
        type_code: "001".into(),
        copies,
        qr_text: "HTTPS://X/V/AAAA".into(),
        lease_token: format!("lease-{id}"),
        lease_expires_at: "2030-01-01T00:00:00Z".into(),
        document_sha256: "AB".repeat(32),
    }
}

fn journal() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("state")).unwrap();
    (dir, j)
}

fn load(j: &mut Journal, first: &str, n: i64) {
    j.load_stock(&Serial::parse(first).unwrap(), n).unwrap();
}

#[test]
fn every_step_pair_is_decided_by_the_table() {
    use Step as S;
    use StepEvent as E;
    let events = [
        E::Downloaded,
        E::StartPrinting,
        E::PrintSucceeded,
        E::NothingPrinted,
        E::OutcomeUnknown,
        E::LeaseLost,
        E::ReportSent,
        E::ReportConfirmed,
        E::ReportRefused,
    ];
    let allowed = [
        (S::Claimed, E::Downloaded, S::Downloaded),
        (S::Downloaded, E::StartPrinting, S::Printing),
        (S::Printing, E::PrintSucceeded, S::Printed),
        (S::Claimed, E::NothingPrinted, S::Failed),
        (S::Downloaded, E::NothingPrinted, S::Failed),
        (S::Printing, E::NothingPrinted, S::Failed),
        (S::Printing, E::OutcomeUnknown, S::Failed),
        (S::Claimed, E::LeaseLost, S::Abandoned),
        (S::Downloaded, E::LeaseLost, S::Abandoned),
        (S::Printed, E::ReportSent, S::Reported),
        (S::Failed, E::ReportSent, S::Reported),
        (S::Reported, E::ReportSent, S::Reported),
        (S::Printed, E::ReportConfirmed, S::Confirmed),
        (S::Failed, E::ReportConfirmed, S::Confirmed),
        (S::Reported, E::ReportConfirmed, S::Confirmed),
        (S::Rejected, E::ReportConfirmed, S::Confirmed),
        (S::Printed, E::ReportRefused, S::Rejected),
        (S::Failed, E::ReportRefused, S::Rejected),
        (S::Reported, E::ReportRefused, S::Rejected),
    ];
    for from in Step::ALL {
        for ev in events {
            let expected = allowed
                .iter()
                .find(|(f, e, _)| *f == from && *e == ev)
                .map(|(_, _, t)| *t);
            assert_eq!(from.after(ev).ok(), expected, "{from} + {ev:?}");
        }
    }
    // A lost lease never forgets paper: once printing, it is not "abandoned".
    for from in [S::Printing, S::Printed, S::Failed, S::Reported] {
        assert!(from.after(E::LeaseLost).is_err());
    }
}

#[test]
fn restart_decisions_never_print_a_job_that_may_be_on_paper() {
    assert_eq!(Step::Claimed.recovery(), Recovery::Resume);
    assert_eq!(Step::Downloaded.recovery(), Recovery::Resume);
    assert_eq!(Step::Printing.recovery(), Recovery::ReportOutcomeUnknown);
    for s in [Step::Printed, Step::Failed, Step::Reported] {
        assert_eq!(s.recovery(), Recovery::SendReport, "{s}");
    }
    assert_eq!(Step::Rejected.recovery(), Recovery::AwaitOperator);
    assert_eq!(Step::Confirmed.recovery(), Recovery::Nothing);
    assert_eq!(Step::Abandoned.recovery(), Recovery::Nothing);
    for s in Step::ALL {
        assert_eq!(Step::parse(s.as_str()), Some(s));
    }
}

#[test]
fn a_printed_job_uses_the_next_sheets_and_journals_its_report_before_sending() {
    let (_d, mut j) = journal();
    load(&mut j, "LY0001", 3);
    j.record_claim(&claimed("a", 2)).unwrap();
    j.mark_downloaded("a").unwrap();
    assert_eq!(j.begin_printing("a").unwrap(), ["LY0001", "LY0002"]);
    let r = j.mark_printed("a").unwrap();
    assert_eq!(r.sheets, ["LY0001", "LY0002"]);
    assert_eq!(r.outcome, Outcome::Printed);
    assert_eq!(r.lease_token, "lease-a");
    let job = j.job("a").unwrap().unwrap();
    assert_eq!(job.step, Step::Printed);
    let stored: Report = serde_json::from_str(job.report_body.as_deref().unwrap()).unwrap();
    assert_eq!(stored, r);
    j.mark_report_sent("a").unwrap();
    j.mark_report_sent("a").unwrap();
    let job = j.job("a").unwrap().unwrap();
    assert_eq!((job.step, job.report_attempts), (Step::Reported, 2));
    j.mark_confirmed("a", "200").unwrap();
    let st = j.status().unwrap();
    assert_eq!((st.blank, st.used), (1, 2));
    assert_eq!(st.next_serial.as_deref(), Some("LY0003"));
    assert!(st.jobs.is_empty());
    assert_eq!(
        j.events_of("a").unwrap(),
        [
            "claimed",
            "downloaded",
            "printing",
            "printed",
            "reported",
            "confirmed"
        ]
    );
}

#[test]
fn sequence_numbers_grow_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let first = {
        let mut j = Journal::open(&state).unwrap();
        load(&mut j, "A1", 5);
        j.record_claim(&claimed("a", 1)).unwrap();
        j.mark_failed("a", false, "seal does not verify")
            .unwrap()
            .seq
    };
    let mut j = Journal::open(&state).unwrap();
    j.record_claim(&claimed("b", 1)).unwrap();
    let second = j.mark_failed("b", false, "x").unwrap().seq;
    assert!(second > first);
}

#[test]
fn a_job_found_printing_after_a_restart_is_reported_unknown_and_its_sheets_held() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    {
        let mut j = Journal::open(&state).unwrap();
        load(&mut j, "LY01", 4);
        j.record_claim(&claimed("a", 1)).unwrap();
        j.mark_downloaded("a").unwrap();
        j.begin_printing("a").unwrap();
        // crash here: the connection is dropped mid-job
    }
    let mut j = Journal::open(&state).unwrap();
    let job = j.job("a").unwrap().unwrap();
    assert_eq!(job.step.recovery(), Recovery::ReportOutcomeUnknown);
    // Printing again is refused by the table itself.
    assert!(matches!(j.begin_printing("a"), Err(JournalError::Step(_))));
    let r = j
        .mark_failed("a", true, "agent restarted while printing")
        .unwrap();
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.printed_nothing, None, "the server must ask an operator");
    assert!(r.reason.as_deref().unwrap().contains("LY01"));
    let json = serde_json::to_value(&r).unwrap();
    assert!(json.get("printed_nothing").is_none());
    let st = j.status().unwrap();
    assert_eq!(st.in_doubt, ["LY01"]);
    assert_eq!(st.blank, 3);
    assert_eq!(
        st.next_serial.as_deref(),
        Some("LY02"),
        "a doubtful sheet is never reused"
    );
}

#[test]
fn a_failed_print_command_returns_its_sheets_to_the_tray() {
    let (_d, mut j) = journal();
    load(&mut j, "B10", 2);
    j.record_claim(&claimed("a", 2)).unwrap();
    j.mark_downloaded("a").unwrap();
    j.begin_printing("a").unwrap();
    let r = j.mark_failed("a", false, "print command exit 1").unwrap();
    assert_eq!(r.printed_nothing, Some(true));
    let st = j.status().unwrap();
    assert_eq!((st.blank, st.next_serial.as_deref()), (2, Some("B10")));
}

#[test]
fn an_empty_tray_refuses_to_start_printing_and_changes_nothing() {
    let (_d, mut j) = journal();
    load(&mut j, "C1", 1);
    j.record_claim(&claimed("a", 2)).unwrap();
    j.mark_downloaded("a").unwrap();
    assert!(matches!(
        j.begin_printing("a"),
        Err(JournalError::OutOfStock { needed: 2, left: 1 })
    ));
    assert_eq!(j.job("a").unwrap().unwrap().step, Step::Downloaded);
    assert_eq!(j.blank_count().unwrap(), 1);
}

#[test]
fn a_job_in_hand_is_not_taken_twice_but_a_finished_one_may_come_back() {
    let (_d, mut j) = journal();
    load(&mut j, "D1", 5);
    j.record_claim(&claimed("a", 1)).unwrap();
    assert!(matches!(
        j.record_claim(&claimed("a", 1)),
        Err(JournalError::AlreadyInHand(_, Step::Claimed))
    ));
    j.mark_downloaded("a").unwrap();
    j.begin_printing("a").unwrap();
    assert!(matches!(
        j.record_claim(&claimed("a", 1)),
        Err(JournalError::AlreadyInHand(_, Step::Printing))
    ));
    j.mark_failed("a", false, "x").unwrap();
    j.mark_confirmed("a", "ok").unwrap();
    // Requeued by the server after a not-printed attempt: claimed afresh.
    j.record_claim(&claimed("a", 1)).unwrap();
    assert_eq!(j.job("a").unwrap().unwrap().step, Step::Claimed);
}

#[test]
fn loading_is_all_or_nothing_and_voiding_respects_used_sheets() {
    let (_d, mut j) = journal();
    load(&mut j, "E08", 3); // E08 E09 E10
    assert!(matches!(
        j.load_stock(&Serial::parse("E05").unwrap(), 4),
        Err(JournalError::AlreadyInTray(s)) if s == "E08"
    ));
    assert_eq!(j.blank_count().unwrap(), 3, "E05..E07 were not kept");
    assert!(matches!(
        j.load_stock(&Serial::parse("E98").unwrap(), 3),
        Err(JournalError::Serial(SerialError::Overflow(..)))
    ));
    j.check_voidable("E09").unwrap();
    j.mark_voided("E09", "jammed").unwrap();
    j.record_claim(&claimed("a", 2)).unwrap();
    j.mark_downloaded("a").unwrap();
    assert_eq!(j.begin_printing("a").unwrap(), ["E08", "E10"]);
    assert!(matches!(
        j.check_voidable("E08"),
        Err(JournalError::SheetReserved(..))
    ));
    j.mark_printed("a").unwrap();
    assert!(matches!(
        j.check_voidable("E10"),
        Err(JournalError::SheetUsed(..))
    ));
    // A sheet the tray never held may still be voided (and is remembered).
    j.check_voidable("Z1").unwrap();
    j.mark_voided("Z1", "found spoiled").unwrap();
    let st = j.status().unwrap();
    assert_eq!((st.blank, st.used, st.voided), (0, 2, 2));
    assert!(st.to_string().contains("unconfirmed reports: 1"));
}

#[test]
fn the_journal_runs_with_synchronous_full_and_wal() {
    let (_d, mut j) = journal();
    #[derive(QueryableByName)]
    struct Sync {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        synchronous: i32,
    }
    let s: Sync = diesel::sql_query("PRAGMA synchronous")
        .get_result(&mut j.conn)
        .unwrap();
    assert_eq!(s.synchronous, 2, "FULL");
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }
    let m: Mode = diesel::sql_query("PRAGMA journal_mode")
        .get_result(&mut j.conn)
        .unwrap();
    assert_eq!(m.journal_mode, "wal");
}
