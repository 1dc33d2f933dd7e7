//! Demo data: the 197 halls of `distribution/demo-halls.toml`, a batch of security stock
//! for each, and a demo administrator.
//! Marked as demo everywhere; never an official register.

use crate::accounts::{self, NewAccount};
use crate::config::Settings;
use crate::distribution::demo::{self as data, DemoHall};
use crate::domain::hall::{Agreement, Authority, Covers, Hall, HallKind};
use crate::domain::role::Role;
use crate::storage::{self, audit, halls, users, DbPool, StorageError};
use chrono::{DateTime, Utc};

/// The city hall: the demo administrator's hall.
pub const CITY_HALL: &str = "371300000";
pub const DEMO_ADMIN: &str = "admin";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo hall file is invalid: {0}")]
    Data(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Account(#[from] accounts::AccountError),
}

impl From<diesel::result::Error> for DemoError {
    fn from(e: diesel::result::Error) -> Self {
        DemoError::Storage(e.into())
    }
}

pub fn demo_hall_list() -> Result<Vec<Hall>, DemoError> {
    let rows = data::demo_halls().map_err(|e| DemoError::Data(e.to_string()))?;
    rows.into_iter().map(to_hall).collect()
}

fn to_hall(d: DemoHall) -> Result<Hall, DemoError> {
    let kind = HallKind::parse(&d.kind)
        .ok_or_else(|| DemoError::Data(format!("hall {}: kind {}", d.code, d.kind)))?;
    Ok(Hall {
        code: d.code,
        name: d.name,
        kind,
        province: d.province,
        city: d.city,
        county: d.county,
        address: d.address,
        lat: d.lat,
        lon: d.lon,
        active: d.active,
        authority: d.authority.map(|a| Authority {
            name: a.name,
            credit_code: a.credit_code,
        }),
        agreement: d.agreement.map(|a| Agreement {
            valid_from: a.valid_from,
            valid_to: a.valid_to,
            covers: match a.covers {
                data::Covers::All => Covers::All,
                data::Covers::List(items) => Covers::List(items),
            },
        }),
    })
}

/// Insert the demo halls that are missing (idempotent). Returns how many were added.
pub fn seed_demo(pool: &DbPool, now: DateTime<Utc>) -> Result<usize, DemoError> {
    let list = demo_hall_list()?;
    let mut conn = pool.get().map_err(StorageError::from)?;
    storage::with_global_lock(&mut conn, |conn| {
        storage::write_tx(conn, |conn| -> Result<usize, DemoError> {
            let mut added = 0;
            for hall in &list {
                crate::distribution::halls::validate_hall(hall)
                    .map_err(|e| DemoError::Data(format!("hall {}: {e}", hall.code)))?;
                if halls::find_hall(conn, &hall.code)?.is_none() {
                    halls::insert_hall(conn, hall, now)?;
                    added += 1;
                }
            }
            if added > 0 {
                audit::insert_event(
                    conn,
                    now,
                    "seed-demo",
                    "DemoHallsLoaded",
                    "demo",
                    serde_json::json!({"added": added}),
                )?;
            }
            seed_demo_stock(conn, &list, now)?;
            Ok(added)
        })
        .map_err(|e| match e {
            DemoError::Storage(s) => s,
            other => StorageError::Migration(other.to_string()),
        })
    })
    .map_err(DemoError::from)
}

/// Demo security stock per hall: this many sheets, serials `<prefix>000001`...
pub const DEMO_STOCK: i32 = 500;

/// The letter prefix of a hall's demo stock: its code's digits as letters (0 -> A, 1 -> B,
/// ...), so 371300000 gives `DHBDAAAAA`.
pub fn demo_stock_prefix(hall_code: &str) -> String {
    hall_code
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => char::from_u32('A' as u32 + c.to_digit(10).unwrap_or(0)),
            c if c.is_ascii_alphabetic() => Some(c.to_ascii_uppercase()),
            _ => None,
        })
        .take(crate::domain::stock::MAX_PREFIX)
        .collect()
}

/// The first serial of a hall's demo stock.
pub fn demo_first_serial(hall_code: &str) -> String {
    format!("{}000001", demo_stock_prefix(hall_code))
}

/// One batch of demo stock for every demo hall that has no stock yet (idempotent). A hall
/// whose prefix would overlap existing stock is left without.
fn seed_demo_stock(
    conn: &mut storage::DbConnection,
    list: &[Hall],
    now: DateTime<Utc>,
) -> Result<(), DemoError> {
    use crate::domain::stock::SheetSerial;
    use crate::storage::stock as store;
    let mut added = 0;
    for hall in list {
        if store::count_batches(conn, &hall.code)? > 0 {
            continue;
        }
        let Ok(first) = SheetSerial::parse(&demo_first_serial(&hall.code)) else {
            continue;
        };
        let last = first.number() + i64::from(DEMO_STOCK) - 1;
        let width = first.width() as i32;
        if store::find_overlapping(conn, first.prefix(), width, first.number(), last)?.is_some() {
            continue;
        }
        store::insert_batch(
            conn,
            &store::NewBatch {
                hall: hall.code.clone(),
                first_serial: first.to_string(),
                prefix: first.prefix().to_string(),
                width,
                first_number: first.number(),
                count: DEMO_STOCK,
                created_at: storage::to_db_time(now),
                created_by: "seed-demo".into(),
            },
        )?;
        added += 1;
    }
    if added > 0 {
        audit::insert_event(
            conn,
            now,
            "seed-demo",
            "DemoStockLoaded",
            "demo",
            serde_json::json!({"batches": added, "sheets_each": DEMO_STOCK}),
        )?;
    }
    Ok(())
}

/// `serve --demo`: on an empty database, load the halls and create `admin`, whose password
/// comes from `CROSSCERT_DEMO_PASSWORD` or is random and printed once.
pub fn seed_for_serve(
    pool: &DbPool,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<(), DemoError> {
    seed_demo(pool, now)?;
    let mut conn = pool.get().map_err(StorageError::from)?;
    if users::find_user_by_name(&mut conn, DEMO_ADMIN)?.is_some() {
        return Ok(());
    }
    let (password, generated) = match std::env::var("CROSSCERT_DEMO_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (accounts::new_token(), true),
    };
    let created = accounts::create_user(
        &mut conn,
        &NewAccount {
            username: DEMO_ADMIN,
            password: &password,
            role: Role::Admin,
            hall_code: CITY_HALL,
        },
        settings.password_hash,
        "seed-demo",
        now,
    );
    match created {
        Ok(_) if generated => {
            // Printed once, on purpose: there is no other way to learn it.
            eprintln!("demo administrator: username {DEMO_ADMIN}, password {password}");
            Ok(())
        }
        Ok(_) => Ok(()),
        // Another process created it at the same moment.
        Err(accounts::AccountError::UsernameTaken(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
