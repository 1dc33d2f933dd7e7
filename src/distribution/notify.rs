//! Text messages to holders (issue 24): the outbox and its delivery.
//!
//! A message is written to `notifications` in the transaction of the change it tells about:
//! [`enqueue_ready_notification`] is called by the transition to `printed`
//! (`jobs::record_printed_locked`), [`enqueue_reminders`] writes the reminder for jobs still
//! uncollected after `reminder_days`. One message of each kind per job (a unique index).
//! Delivery ([`deliver_due`]) runs in every server process: it claims due messages
//! (`storage::notifications::claim_due`: `FOR UPDATE SKIP LOCKED` and a lease), POSTs each to
//! the SMS gateway with the message id as idempotency key, and records sent, or the error and
//! the next attempt (exponential backoff), or gives up after `MAX_DELIVERY_ATTEMPTS`.

use crate::domain::job::{JobState, Pickup};
use crate::domain::tracking::{after_failure, retry_delay_s, DeliveryState, NotificationKind};
use crate::storage::jobs::JobRow;
use crate::storage::notifications::{self as outbox, AttemptOutcome, NotificationRow};
use crate::storage::{self, halls, licences, tracking, DbConnection, DbPool, StorageError};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// How long a claimed message is reserved for the claimer's attempt.
const LEASE_S: i64 = 60;
/// Messages claimed at once.
const BATCH: i64 = 20;

/// What the delivery task needs.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    pub webhook: String,
    /// The first retry's wait; doubled after each failure.
    pub retry_base_s: i64,
}

fn new_row(
    job: &JobRow,
    kind: NotificationKind,
    mobile: String,
    body: String,
    now: DateTime<Utc>,
) -> NotificationRow {
    let at = storage::to_db_time(now);
    NotificationRow {
        id: uuid::Uuid::new_v4().to_string(),
        job_id: job.id.clone(),
        kind,
        mobile,
        body,
        state: DeliveryState::Pending,
        attempts: 0,
        last_error: None,
        next_attempt_at: at,
        lease_until: None,
        created_at: at,
        sent_at: None,
    }
}

/// The hall's name and address and the licence number, for the message text.
fn place_and_licence(
    conn: &mut DbConnection,
    job: &JobRow,
) -> Result<(String, String), StorageError> {
    let hall = halls::get_hall(conn, &job.hall)?;
    let licence_no = licences::find_licence(conn, &job.licence_id)?
        .map(|l| l.licence_no)
        .unwrap_or_default();
    Ok((format!("{}（{}）", hall.name, hall.address), licence_no))
}

/// The job is printed and waits at its hall (or, for self-service, is held for the kiosk
/// from the moment it is queued): if the holder gave a mobile number, write the
/// "ready" message to the outbox. Call in the transaction that moves the job to `printed`.
/// True when a message was written (false: no number, or already written).
pub fn enqueue_ready_notification(
    conn: &mut DbConnection,
    job: &JobRow,
    now: DateTime<Utc>,
) -> Result<bool, StorageError> {
    let Some(mobile) = tracking::mobile_of(conn, &job.id)? else {
        return Ok(false);
    };
    let (place, licence_no) = place_and_licence(conn, job)?;
    let body = match job.pickup {
        Pickup::Counter => {
            format!("您的证照（编号 {licence_no}）已制作完成，请携带领取凭条和证件到{place}领取。")
        }
        Pickup::Kiosk => format!(
            "您的证照（编号 {licence_no}）可以自助领取了：请到{place}的 24 小时自助终端，输入取件码和证件号码，当场打印领取。"
        ),
    };
    outbox::insert_once(
        conn,
        &new_row(job, NotificationKind::Ready, mobile, body, now),
    )
}

/// Write a reminder for every printed (or kiosk-held) job with a mobile number that has waited more than
/// `days` days; each in its own transaction with the check. Returns how many were written.
pub fn enqueue_reminders(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    days: i64,
) -> Result<usize, StorageError> {
    let cutoff = storage::to_db_time(now - Duration::days(days));
    let due = tracking::waiting_with_mobile_before(conn, cutoff, 500)?;
    let mut written = 0;
    for (job, mobile) in due {
        let wrote = storage::write_tx(conn, |conn| -> Result<bool, StorageError> {
            // Read again under the write lock: collected meanwhile means no reminder.
            let Some(job) = crate::storage::jobs::lock_job(conn, &job.id)? else {
                return Ok(false);
            };
            if !matches!(job.state, JobState::Printed | JobState::Held) {
                return Ok(false);
            }
            let (place, licence_no) = place_and_licence(conn, &job)?;
            let body = format!(
                "您的证照（编号 {licence_no}）已制作完成 {days} 天仍未领取，请尽快携带领取凭条和证件到{place}领取。"
            );
            outbox::insert_once(
                conn,
                &new_row(&job, NotificationKind::Reminder, mobile, body, now),
            )
        })?;
        written += usize::from(wrote);
    }
    Ok(written)
}

/// The gateway's request body. `id` is the idempotency key (also sent as the
/// `Idempotency-Key` header): a message retried after a lost answer carries the same id.
#[derive(Debug, Serialize)]
pub struct SmsRequest<'a> {
    pub id: &'a str,
    pub job_id: &'a str,
    pub kind: NotificationKind,
    pub mobile: &'a str,
    pub text: &'a str,
}

/// Send one message; the error as it will be shown to staff.
pub async fn send(
    client: &reqwest::Client,
    webhook: &str,
    row: &NotificationRow,
) -> Result<(), String> {
    let body = SmsRequest {
        id: &row.id,
        job_id: &row.job_id,
        kind: row.kind,
        mobile: &row.mobile,
        text: &row.body,
    };
    let res = client
        .post(webhook)
        .header("Idempotency-Key", &row.id)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("网关无法连接：{e}"))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("网关答复 HTTP {}", res.status().as_u16()))
    }
}

/// What an attempt's result means for the row.
pub fn outcome_of(
    attempts: i32,
    result: Result<(), String>,
    now: DateTime<Utc>,
    retry_base_s: i64,
) -> AttemptOutcome {
    let at = storage::to_db_time(now);
    match result {
        Ok(()) => AttemptOutcome {
            state: DeliveryState::Sent,
            last_error: None,
            next_attempt_at: at,
            sent_at: Some(at),
        },
        Err(e) => AttemptOutcome {
            state: after_failure(attempts),
            last_error: Some(e.chars().take(300).collect()),
            next_attempt_at: storage::to_db_time(
                now + Duration::seconds(retry_delay_s(attempts, retry_base_s)),
            ),
            sent_at: None,
        },
    }
}

/// One round of delivery: claim the due messages, send them, record the outcomes. Returns
/// how many were sent.
pub async fn deliver_due(
    pool: &DbPool,
    client: &reqwest::Client,
    config: &DeliveryConfig,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<usize, StorageError> {
    let claim_pool = pool.clone();
    let at = now();
    let claimed = tokio::task::spawn_blocking(move || {
        let mut conn = claim_pool.get()?;
        storage::write_tx(&mut conn, |conn| {
            outbox::claim_due(
                conn,
                storage::to_db_time(at),
                storage::to_db_time(at + Duration::seconds(LEASE_S)),
                BATCH,
            )
        })
    })
    .await
    .map_err(|e| StorageError::Unavailable(e.to_string()))??;
    let mut sent = 0;
    for row in claimed {
        let result = send(client, &config.webhook, &row).await;
        if result.is_ok() {
            sent += 1;
        } else if let Err(e) = &result {
            tracing::warn!(notification = %row.id, attempts = row.attempts, error = %e, "SMS delivery failed");
        }
        let outcome = outcome_of(row.attempts, result, now(), config.retry_base_s);
        let finish_pool = pool.clone();
        let recorded = tokio::task::spawn_blocking(move || {
            let mut conn = finish_pool.get()?;
            outbox::finish_attempt(&mut conn, &row.id, row.attempts, &outcome)
        })
        .await
        .map_err(|e| StorageError::Unavailable(e.to_string()))??;
        if !recorded {
            tracing::warn!("an SMS attempt finished after its lease: its outcome is dropped");
        }
    }
    Ok(sent)
}

/// A job's messages as staff see them.
pub fn job_notifications(
    conn: &mut DbConnection,
    job_id: &str,
) -> Result<Vec<NotificationRow>, StorageError> {
    outbox::list_for_job(conn, job_id)
}
