//! Queueing a print job: the rules, the document rendered once, the pickup code shown once.

#[allow(unused_imports)]
use super::*;

/// The new job and its pickup code, which is shown this once and stored only as a hash.
pub struct QueuedJob {
    pub job: PrintJobSummary,
    pub pickup_code: String,
    /// `<public url>/T/<token>`, shown once (only the token's hash is stored).
    pub tracking_url: String,
}

fn new_pickup_code() -> String {
    format!("{:08}", rand::rngs::OsRng.gen_range(0..100_000_000u32))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// `POST /api/v1/print-jobs`. The rules are checked, the document rendered outside the
/// writing transaction (rendering takes a while; SQLite has one writer), then everything is
/// checked again under the licence's lock and the job stored with its audit event.
pub fn queue_job(
    conn: &mut DbConnection,
    ctx: &JobContext<'_>,
    staff: &Staff,
    body: &QueuePrintJobRequest,
) -> Result<QueuedJob, JobError> {
    let req = QueueRequest::from_request(body)?;
    let today = ctx.now.date_naive();
    let licence = licence_for_issuer(conn, staff, &req.licence_id, false)?;
    check_queueable(conn, ctx.catalog, &licence, &req, today)?;
    let document = crate::registration::render_licence(
        conn,
        ctx.fonts,
        ctx.catalog,
        ctx.public_url,
        &licence,
        &req.copies,
        None,
        crate::render::RenderMode::Print,
    )?;
    let document_sha256 = sha256_hex(&document);
    let id = uuid::Uuid::new_v4().to_string();
    let pickup_code = new_pickup_code();
    let tracking = crate::distribution::tracking::new_tracking(ctx.public_url);
    let now = storage::to_db_time(ctx.now);
    let job = NewJob {
        id: id.clone(),
        licence_id: licence.id.clone(),
        hall: req.hall.clone(),
        issuing_hall: licence.issuing_hall.clone(),
        state: req.pickup.waiting_state(),
        copies: json!(req.copies).to_string(),
        document,
        document_sha256: document_sha256.clone(),
        pickup_code_hash: ctx.pickup_key.seal(&id, &pickup_code),
        created_by: staff.username.clone(),
        created_at: now,
        updated_at: now,
        pickup: req.pickup,
    };
    let row = storage::write_tx(conn, |conn| {
        let licence = licence_for_issuer(conn, staff, &req.licence_id, true)?;
        check_queueable(conn, ctx.catalog, &licence, &req, today)?;
        store::insert_job(conn, &job).map_err(|e| {
            if e.is_unique_violation() {
                refused(
                    Refusal::JobExists,
                    "the licence already has an open print job",
                )
            } else {
                e.into()
            }
        })?;
        crate::distribution::tracking::store_tracking(conn, &id, &tracking, req.mobile.as_deref())?;
        audit::insert_event(
            conn,
            ctx.now,
            &staff.username,
            "PrintJobQueued",
            &subject(&id),
            json!({
                "licence_id": job.licence_id, "hall": job.hall, "issuing_hall": job.issuing_hall,
                "copies": req.copies, "document_sha256": document_sha256, "pickup": req.pickup.as_str(),
            }),
        )?;
        // Other server processes' waiting agents of the hall (delivered on commit).
        crate::distribution::wakeup::notify_in_tx(conn, &job.hall)?;
        let row = reload(conn, &id)?;
        // A self-service job can be collected at the kiosk from now on: the holder's
        // "ready" message goes in this same transaction.
        if row.state == crate::domain::job::JobState::Held {
            crate::distribution::notify::enqueue_ready_notification(conn, &row, ctx.now)?;
        }
        Ok::<_, JobError>(row)
    })?;
    Ok(QueuedJob {
        job: summary(&row)?,
        pickup_code,
        tracking_url: tracking.url,
    })
}
