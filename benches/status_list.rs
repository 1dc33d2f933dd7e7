//! The status list at the scale: 200,000 licences with 1% revoked and 0.5% suspended,
//! at random indexes of one list, in a SQLite database (or PostgreSQL with `PG_URL`, a
//! database this bench may fill). Prints the signed list's size on the wire and the time of a
//! rebuild as the server does it (query the non-valid licences, pack, deflate, sign).
//!
//!     cargo bench --bench status_list
//!
//! Configuration by environment: LICENCES (200000), REVOKED_PERMILLE (10),
//! SUSPENDED_PERMILLE (5), RUNS (10), PG_URL (optional).

use std::time::Instant;

use chrono::Utc;
use crosscert::config::ListSettings;
use crosscert::domain::licence::LicenceStatus;
use crosscert::domain::status_list::CAPACITY;
use crosscert::issuance::KeySet;
use crosscert::storage::licences::LicenceRow;
use crosscert::storage::schema::{licences, status_list_entries};
use crosscert::storage::status_lists::list_status_lists;
use diesel::prelude::*;
use rand::seq::index::sample;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = env_num("LICENCES", 200_000) as usize;
    let revoked = n * env_num("REVOKED_PERMILLE", 10) as usize / 1000;
    let suspended = n * env_num("SUSPENDED_PERMILLE", 5) as usize / 1000;
    let runs = env_num("RUNS", 10).max(1);
    let dir = tempfile::tempdir()?;
    let url = std::env::var("PG_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let pool = crosscert::storage::connect(&url, 2)?;
    crosscert::storage::run_migrations(&pool)?;
    let now = Utc::now();
    crosscert::demo::seed_demo(&pool, now)?;
    let keys = KeySet::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/keys-example"
    )))?;
    let mut conn = pool.get()?;

    eprintln!("filling: {n} licences, {revoked} revoked, {suspended} suspended, random indexes of 1 list of {CAPACITY}");
    let started = Instant::now();
    let idx = sample(&mut rand::thread_rng(), CAPACITY as usize, n);
    crosscert::storage::write_tx(&mut conn, |conn| -> Result<(), diesel::result::Error> {
        // The migration opens list 1; the bench only makes sure of its capacity.
        diesel::sql_query("UPDATE status_lists SET capacity = $1 WHERE id = 1")
            .bind::<diesel::sql_types::BigInt, _>(CAPACITY as i64)
            .execute(conn)?;
        let mut rows = Vec::with_capacity(1);
        let mut entries = Vec::with_capacity(1);
        for (i, idx) in idx.iter().enumerate() {
            let status = if i < revoked {
                LicenceStatus::Revoked
            } else if i < revoked + suspended {
                LicenceStatus::Suspended
            } else {
                LicenceStatus::Valid
            };
            let id = format!("bench-{i:07}");
            rows.push(LicenceRow {
                id: id.clone(),
                type_code: "BENCH".into(),
                issuer_code: "11371302MB0000000X".into(),
                issuing_hall: "371302000".into(),
                serial: i as i64,
                version: 1,
                identifier: format!("bench.{i}"),
                licence_no: format!("B{i:09}"),
                holder_name: "基准测试".into(),
                holder_code: "91350100M000100Y43".into(),
                fields: "{}".into(),
                valid_from: now.date_naive(),
                valid_to: None,
                status,
                status_reason: None,
                status_changed_at: None,
                cose: vec![0],
                signer_kid: String::new(),
                issued_at: now.naive_utc(),
                issued_by: "bench".into(),
                previous_id: None,
                superseded_by: None,
            });
            entries.push((
                status_list_entries::list_id.eq(1i64),
                status_list_entries::idx.eq(idx as i64),
                status_list_entries::licence_id.eq(id),
                status_list_entries::legacy.eq(false),
            ));
            // One row at a time: batch inserts do not compile through the MultiConnection.
            for row in rows.drain(..) {
                diesel::insert_into(licences::table)
                    .values(&row)
                    .execute(conn)?;
            }
            for entry in entries.drain(..) {
                diesel::insert_into(status_list_entries::table)
                    .values(entry)
                    .execute(conn)?;
            }
        }
        Ok(())
    })?;
    eprintln!("filled in {:.1} s", started.elapsed().as_secs_f64());

    let list = list_status_lists(&mut conn)?
        .into_iter()
        .next()
        .ok_or("no list")?;
    let settings = ListSettings::default();
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let doc = crosscert::published::build_status_list(
            &mut conn,
            &keys,
            &list,
            "https://verify.example.cn/api/v1/status-lists/1".into(),
            now,
            &settings,
        )?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        size = doc.bytes.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "status list: {n} licences ({revoked} revoked, {suspended} suspended) in {CAPACITY} entries: {size} bytes signed (COSE_Sign1 + CWT), rebuild median {:.1} ms, min {:.1} ms, max {:.1} ms over {runs} runs ({})",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" }
    );
    Ok(())
}
