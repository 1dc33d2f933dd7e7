//! Security stock (docs/architecture.md, "Print distribution"): numbered batches of blank sheets registered per hall, every
//! printed or voided sheet, and each hall's inventory. The agent protocol calls
//! `mark_printed` and `void_sheet` inside its own transactions.

use crate::accounts::Staff;
use crate::domain::copy::CopyKind;
use crate::domain::role::Role;
use crate::domain::stock::{SheetSerial, SheetState};
use crate::storage::stock::{self as store, NewBatch, SheetRow};
use crate::storage::{self, audit, halls, DbConnection, StorageError};
use crate::wire::stock::RegisterBatchRequest;
use chrono::{DateTime, Utc};
use serde_json::json;

pub const MAX_BATCH: i64 = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A hall named in a request body that does not exist.
    #[error("hall: no hall with code {0}")]
    UnknownHall(String),
    /// A hall named in the path that does not exist.
    #[error("no hall with code {0}")]
    HallNotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the serials {first}..{last} overlap batch {batch} ({batch_first}, {batch_count} sheets) of hall {hall}")]
    Overlap {
        first: String,
        last: String,
        batch: i64,
        batch_first: String,
        batch_count: i32,
        hall: String,
    },
    #[error("the sheet {serial} is not in the registered stock of hall {hall}")]
    NotInStock { serial: String, hall: String },
    #[error("the sheet {serial} was already {state}")]
    AlreadyUsed { serial: String, state: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for StockError {
    fn from(e: diesel::result::Error) -> Self {
        StockError::Storage(e.into())
    }
}

pub use crate::wire::stock::{BatchView, Inventory};

fn batch_view(b: &store::BatchRow) -> BatchView {
    let last = SheetSerial::parse(&b.first_serial)
        .and_then(|s| s.last_of_batch(i64::from(b.count)))
        .map(|s| s.to_string())
        .unwrap_or_default();
    BatchView {
        id: b.id,
        hall: b.hall.clone(),
        first_serial: b.first_serial.clone(),
        last_serial: last,
        count: b.count,
        created_at: rfc3339(b.created_at),
        created_by: b.created_by.clone(),
    }
}

fn rfc3339(t: chrono::NaiveDateTime) -> String {
    storage::from_db_time(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A batch to register, checked from `{hall, first_serial, count}`.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub hall: String,
    pub first: SheetSerial,
    pub count: i64,
}

impl BatchRequest {
    pub fn from_request(body: &RegisterBatchRequest) -> Result<BatchRequest, StockError> {
        let invalid = |field, message: &str| StockError::Invalid {
            field,
            message: message.to_string(),
        };
        let hall = Some(body.hall.as_str())
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("hall", "is required: a hall code"))?;
        let first = SheetSerial::parse(&body.first_serial).map_err(|e| StockError::Invalid {
            field: "first_serial",
            message: e.to_string(),
        })?;
        let count = Some(body.count)
            .filter(|c| (1..=MAX_BATCH).contains(c))
            .ok_or_else(|| invalid("count", "must be a whole number from 1 to 100000"))?;
        first
            .last_of_batch(count)
            .map_err(|_| StockError::Invalid {
                field: "count",
                message: format!(
                    "{count} sheets from {first} run past the serial's {} digits",
                    first.width()
                ),
            })?;
        Ok(BatchRequest {
            hall: hall.to_string(),
            first,
            count,
        })
    }
}

/// Insert a batch unless it overlaps one of any hall. Call inside a write transaction.
pub fn insert_batch(
    conn: &mut DbConnection,
    req: &BatchRequest,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<BatchView, StockError> {
    let last = req
        .first
        .last_of_batch(req.count)
        .map_err(|e| StockError::Invalid {
            field: "count",
            message: e.to_string(),
        })?;
    store::lock_registration(conn)?;
    let width = req.first.width() as i32;
    if let Some(b) = store::find_overlapping(
        conn,
        req.first.prefix(),
        width,
        req.first.number(),
        last.number(),
    )? {
        return Err(StockError::Overlap {
            first: req.first.to_string(),
            last: last.to_string(),
            batch: b.id,
            batch_first: b.first_serial,
            batch_count: b.count,
            hall: b.hall,
        });
    }
    let row = NewBatch {
        hall: req.hall.clone(),
        first_serial: req.first.to_string(),
        prefix: req.first.prefix().to_string(),
        width,
        first_number: req.first.number(),
        count: req.count as i32,
        created_at: storage::to_db_time(now),
        created_by: actor.to_string(),
    };
    let id = store::insert_batch(conn, &row)?;
    audit::insert_event(
        conn,
        now,
        actor,
        "StockBatchRegistered",
        &format!("hall:{}", req.hall),
        json!({"batch": id, "first_serial": row.first_serial, "last_serial": last.to_string(), "count": req.count}),
    )?;
    Ok(BatchView {
        id,
        hall: row.hall,
        first_serial: row.first_serial,
        last_serial: last.to_string(),
        count: row.count,
        created_at: rfc3339(row.created_at),
        created_by: row.created_by,
    })
}

/// Only administrators register stock. The route asks before it reads the body, so that a
/// refused caller hears 403 whatever it sent.
pub fn may_register(staff: &Staff) -> Result<(), StockError> {
    if staff.role != Role::Admin {
        return Err(StockError::Forbidden(
            "only administrators register security stock".into(),
        ));
    }
    Ok(())
}

/// `POST /api/v1/stock-batches` (admin).
pub fn register_batch(
    conn: &mut DbConnection,
    staff: &Staff,
    body: &RegisterBatchRequest,
    now: DateTime<Utc>,
) -> Result<BatchView, StockError> {
    may_register(staff)?;
    let req = BatchRequest::from_request(body)?;
    storage::write_tx(conn, |conn| {
        if halls::find_hall(conn, &req.hall)?.is_none() {
            return Err(StockError::UnknownHall(req.hall.clone()));
        }
        insert_batch(conn, &req, &staff.username, now)
    })
}

/// `GET /api/v1/halls/{code}/stock`: administrators and the hall's own staff.
pub fn inventory(
    conn: &mut DbConnection,
    staff: &Staff,
    hall: &str,
) -> Result<Inventory, StockError> {
    if halls::find_hall(conn, hall)?.is_none() {
        return Err(StockError::HallNotFound(hall.to_string()));
    }
    if staff.role != Role::Admin && staff.hall_code != hall {
        return Err(StockError::Forbidden(format!(
            "only administrators and staff of hall {hall} see its stock"
        )));
    }
    hall_inventory(conn, hall)
}

pub fn hall_inventory(conn: &mut DbConnection, hall: &str) -> Result<Inventory, StockError> {
    let batches = store::list_batches(conn, hall)?;
    let registered: i64 = batches.iter().map(|b| i64::from(b.count)).sum();
    let printed = store::count_sheets(conn, hall, SheetState::Printed)?;
    let voided = store::count_sheets(conn, hall, SheetState::Voided)?;
    Ok(Inventory {
        hall: hall.to_string(),
        batches: batches.iter().map(batch_view).collect(),
        registered,
        printed,
        voided,
        left: registered - printed - voided,
    })
}

/// What a sheet was taken for.
enum Taken<'a> {
    Printed {
        job_id: &'a str,
        copy: CopyKind,
    },
    Voided {
        job_id: Option<&'a str>,
        reason: &'a str,
    },
}

/// Take a sheet of the hall's registered stock for good (printed or voided). Refused when
/// the serial is not in one of the hall's batches or was taken before; the sheet's primary
/// key decides between two reports racing for one serial. Call inside a write transaction.
fn take_sheet(
    conn: &mut DbConnection,
    hall: &str,
    serial: &str,
    taken: Taken,
    now: DateTime<Utc>,
) -> Result<(), StockError> {
    let parsed = SheetSerial::parse(serial).map_err(|e| StockError::Invalid {
        field: "serial",
        message: format!("{serial:?} {e}"),
    })?;
    let batch = store::find_batch_containing(
        conn,
        hall,
        parsed.prefix(),
        parsed.width() as i32,
        parsed.number(),
    )?
    .ok_or_else(|| StockError::NotInStock {
        serial: serial.to_string(),
        hall: hall.to_string(),
    })?;
    let (state, job_id, copy, reason) = match taken {
        Taken::Printed { job_id, copy } => (SheetState::Printed, Some(job_id), Some(copy), None),
        Taken::Voided { job_id, reason } => (SheetState::Voided, job_id, None, Some(reason)),
    };
    let sheet = SheetRow {
        serial: serial.to_string(),
        hall: hall.to_string(),
        batch_id: batch.id,
        state,
        job_id: job_id.map(str::to_string),
        copy,
        reason: reason.map(str::to_string),
        at: storage::to_db_time(now),
    };
    if store::insert_sheet_if_new(conn, &sheet)? {
        return Ok(());
    }
    let state =
        store::find_sheet(conn, serial)?.map_or_else(|| "used".into(), |s| s.state.to_string());
    Err(StockError::AlreadyUsed {
        serial: serial.to_string(),
        state,
    })
}

/// Record the sheets printed for a job, one per page in order. Call inside the report's
/// write transaction; returns their `SheetPrinted` events, for the caller to record with
/// its own in one insert.
pub fn mark_printed(
    conn: &mut DbConnection,
    hall: &str,
    pages: &[(&str, CopyKind)],
    job_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<audit::Event<'static>>, StockError> {
    let mut events = Vec::with_capacity(pages.len());
    for &(serial, copy) in pages {
        take_sheet(conn, hall, serial, Taken::Printed { job_id, copy }, now)?;
        events.push(audit::Event {
            action: "SheetPrinted",
            subject: format!("sheet:{serial}"),
            details: json!({"hall": hall, "job_id": job_id, "copy": copy.as_str()}),
        });
    }
    Ok(events)
}

/// Void a spoiled (or unaccounted) sheet with its reason. Call inside a write transaction.
pub fn void_sheet(
    conn: &mut DbConnection,
    hall: &str,
    serial: &str,
    reason: &str,
    job_id: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StockError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(StockError::Invalid {
            field: "reason",
            message: "is required (1-500 characters)".into(),
        });
    }
    take_sheet(conn, hall, serial, Taken::Voided { job_id, reason }, now)?;
    audit::insert_event(
        conn,
        now,
        actor,
        "SheetVoided",
        &format!("sheet:{serial}"),
        json!({"hall": hall, "job_id": job_id, "reason": reason}),
    )?;
    Ok(())
}

/// A hall operator voids a spoiled blank sheet of their own hall's stock, with the reason
/// (the web page's form; agents void through the agent protocol). Audited.
pub fn void_blank_sheet(
    conn: &mut DbConnection,
    staff: &Staff,
    serial: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StockError> {
    if staff.role != Role::HallOperator {
        return Err(StockError::Forbidden(
            "only hall operators void sheets of their hall's stock".into(),
        ));
    }
    storage::write_tx(conn, |conn| {
        void_sheet(
            conn,
            &staff.hall_code,
            serial.trim(),
            reason,
            None,
            &staff.username,
            now,
        )
    })
}
