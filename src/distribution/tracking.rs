//! The holder's tracking page (issue 24): a random tracking token per job, stored as its
//! SHA-256 (never the pickup code), shown once as `<public url>/T/<token>` (the slip's QR
//! code); what the page and `GET /api/v1/track/{token}` tell; and the counter's search,
//! which finds a job by that URL, its pickup code, its short id or its full id.

use crate::accounts::Staff;
use crate::distribution::jobs::{sha256_hex, JobError, Refusal};
use crate::distribution::pickup_key::PickupKey;
use crate::domain::job::{JobState, Pickup};
use crate::domain::role::Role;
use crate::domain::tracking::{mask_name, parse_mobile, HolderState};
use crate::storage::jobs::{self as store, JobRow};
use crate::storage::{agent_tokens, halls, licences, tracking, DbConnection, StorageError};
use crate::wire::tracking::TrackingStatus;
use rand::RngCore;

/// Hexadecimal characters of a token (128 random bits).
const TOKEN_LEN: usize = 32;

/// A new job's tracking token, its stored hash and its URL.
pub struct NewTracking {
    pub token: String,
    pub hash: String,
    pub url: String,
}

pub fn new_tracking(public_url: &str) -> NewTracking {
    let mut bytes = [0u8; TOKEN_LEN / 2];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    NewTracking {
        hash: token_hash(&token),
        url: format!("{}/T/{token}", public_url.trim_end_matches('/')),
        token,
    }
}

pub fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// The token in a tracking URL as scanned (`.../T/<token>`, any case of `T`) or a bare token;
/// `None` for anything that cannot be one.
pub fn token_from_text(text: &str) -> Option<String> {
    let text = text.trim();
    let token = match text.rfind("/T/").or_else(|| text.rfind("/t/")) {
        Some(i) => &text[i + 3..],
        None => text,
    };
    let token = token.trim_end_matches('/').to_ascii_lowercase();
    (token.len() == TOKEN_LEN && token.chars().all(|c| c.is_ascii_hexdigit())).then_some(token)
}

/// Store the token's hash and the mobile number with the job just inserted (same transaction).
pub fn store_tracking(
    conn: &mut DbConnection,
    job_id: &str,
    tracking: &NewTracking,
    mobile: Option<&str>,
) -> Result<(), StorageError> {
    tracking::set_tracking(conn, job_id, &tracking.hash, mobile)
}

/// `mobile` of a queue request: absent or blank is none; otherwise a mainland China mobile
/// number, else 422 `invalid_mobile` naming the field.
pub fn mobile_of_request(mobile: Option<&str>) -> Result<Option<String>, JobError> {
    match mobile.map(str::trim).filter(|m| !m.is_empty()) {
        None => Ok(None),
        Some(m) => parse_mobile(m).map(Some).ok_or(JobError::Refused {
            rule: Refusal::InvalidMobile,
            message: "mobile: is not a mainland China mobile number (11 digits, 13x-19x)".into(),
        }),
    }
}

/// Whether the holder can collect this job at a self-service kiosk: it was queued for kiosk
/// pickup and its hall still has a kiosk (an unrevoked agent token of kind `kiosk`).
pub fn self_service_possible(conn: &mut DbConnection, job: &JobRow) -> Result<bool, StorageError> {
    Ok(job.pickup == Pickup::Kiosk && agent_tokens::hall_has_kiosk(conn, &job.hall)?)
}

/// What the tracking page shows of the job with this token; `None` for an unknown token.
pub fn track(conn: &mut DbConnection, token: &str) -> Result<Option<TrackingStatus>, StorageError> {
    let Some(token) = token_from_text(token) else {
        return Ok(None);
    };
    let Some(job) = tracking::find_by_token_hash(conn, &token_hash(&token))? else {
        return Ok(None);
    };
    let hall = halls::get_hall(conn, &job.hall)?;
    let holder = licences::find_licence(conn, &job.licence_id)?
        .map(|l| mask_name(&l.holder_name))
        .unwrap_or_default();
    let state = HolderState::of(job.state);
    Ok(Some(TrackingStatus {
        state,
        state_label: state.label_zh().to_string(),
        hall_name: hall.name,
        hall_address: hall.address,
        self_service: self_service_possible(conn, &job)?,
        holder_name: holder,
    }))
}

fn may_see(staff: &Staff, job: &JobRow) -> bool {
    staff.role == Role::Admin || staff.hall_code == job.hall || staff.hall_code == job.issuing_hall
}

/// The printed job of `hall` whose pickup code is `code`, if any (the code is stored only
/// as an HMAC with the job id, so each printed job of the hall is checked).
pub fn printed_job_with_code(
    conn: &mut DbConnection,
    hall: &str,
    code: &str,
    key: &PickupKey,
) -> Result<Option<JobRow>, StorageError> {
    let code = code.trim();
    if code.is_empty() {
        return Ok(None);
    }
    Ok(
        store::list_for_hall(conn, hall, &[JobState::Printed], 100_000)?
            .into_iter()
            .find(|j| key.matches(&j.id, code, &j.pickup_code_hash)),
    )
}

/// The counter's search field: a scanned tracking URL (or token), a pickup code (the
/// operator's own hall's printed job), the 8-character short id shown in the queue, or a
/// full job id. Only jobs the caller may see are found.
pub fn find_for_counter(
    conn: &mut DbConnection,
    staff: &Staff,
    key: &PickupKey,
    text: &str,
) -> Result<JobRow, JobError> {
    let text = text.trim();
    let not_found = || JobError::NotFound(format!("no print job matches {text}"));
    if text.is_empty() {
        return Err(JobError::Invalid {
            field: "q",
            message: "is required: a tracking URL, pickup code or job id".into(),
        });
    }
    if let Some(token) = token_from_text(text) {
        if let Some(job) = tracking::find_by_token_hash(conn, &token_hash(&token))? {
            return Some(job)
                .filter(|j| may_see(staff, j))
                .ok_or_else(not_found);
        }
    }
    if text.len() == 8 && text.chars().all(|c| c.is_ascii_digit()) {
        if let Some(job) = printed_job_with_code(conn, &staff.hall_code, text, key)? {
            return Ok(job);
        }
    }
    if text.len() >= 8 {
        let found: Vec<JobRow> = tracking::find_by_id_prefix(conn, text, 10)?
            .into_iter()
            .filter(|j| may_see(staff, j))
            .collect();
        if let [job] = found.as_slice() {
            return Ok(job.clone());
        }
        if found.len() > 1 {
            return Err(JobError::NotFound(format!(
                "{text} matches several print jobs; type more of the id"
            )));
        }
    }
    Err(not_found())
}

/// The tracking URL as a QR code in SVG, inline in the slip (no XML declaration).
pub fn tracking_qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(url, qrcode::EcLevel::M).ok()?;
    code.render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(160, 160)
        .quiet_zone(true)
        .build()
        .split_once("<svg")
        .map(|(_, rest)| format!("<svg{rest}"))
}
