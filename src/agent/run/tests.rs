use super::*;

#[test]
fn backoff_doubles_to_its_cap_with_jitter_inside_the_ceiling() {
    let mut b = Backoff::default();
    let mut ceilings = Vec::new();
    for _ in 0..10 {
        let c = b.ceiling();
        let d = b.next_delay();
        assert!(d <= c && d >= c / 2, "{d:?} outside [{:?}, {c:?}]", c / 2);
        ceilings.push(c.as_millis());
    }
    assert_eq!(&ceilings[..4], &[500, 1000, 2000, 4000]);
    assert_eq!(*ceilings.last().unwrap(), 30_000);
    b.reset();
    assert_eq!(b.ceiling(), Backoff::BASE);
}

#[test]
fn heartbeats_come_at_a_third_of_the_lease_within_bounds() {
    let now = chrono::Utc::now();
    let at = |s: i64| (now + chrono::Duration::seconds(s)).to_rfc3339();
    assert_eq!(heartbeat_interval(&at(90), now), Duration::from_secs(30));
    assert_eq!(heartbeat_interval(&at(600), now), Duration::from_secs(60));
    assert_eq!(heartbeat_interval(&at(-5), now), Duration::from_secs(1));
    assert_eq!(heartbeat_interval("garbage", now), Duration::from_secs(10));
}

#[test]
fn only_a_409_that_says_already_counts_as_confirmed() {
    let refused = |status, code: &str| ApiCallError::Refused {
        status,
        code: code.into(),
        message: String::new(),
    };
    assert!(already_applied(&refused(409, "already_reported")));
    assert!(!already_applied(&refused(409, "stale_lease")));
    assert!(!already_applied(&refused(400, "already_reported")));
    assert!(!already_applied(&ApiCallError::Transient("x".into())));
}

#[test]
fn reconcile_answers_are_read_as_the_server_writes_them() {
    use crate::domain::job::JobState;
    use crate::wire::agent::{ReconcileAction, ReconcileResponse};
    let a: ReconcileResponse = serde_json::from_value(serde_json::json!({"jobs": [
        {"id": "a", "agent_state": "printing", "server_state": "cancelled", "action": "ask_operator"},
        {"id": "b", "agent_state": null, "server_state": null, "action": "forget"}
    ]}))
    .unwrap();
    assert_eq!(a.jobs[0].server_state, Some(JobState::Cancelled));
    assert_eq!(a.jobs[0].action, ReconcileAction::AskOperator);
    assert_eq!(a.jobs[1].server_state, None);
    assert!(serde_json::from_value::<ReconcileResponse>(serde_json::json!("x")).is_err());
}

#[test]
fn a_second_agent_on_the_same_state_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = lock_state_dir(dir.path()).unwrap();
    assert!(matches!(
        lock_state_dir(dir.path()),
        Err(AgentError::Locked(..))
    ));
    drop(first);
    lock_state_dir(dir.path()).unwrap();
}
