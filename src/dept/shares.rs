//! Holder share codes (for banks, employers, landlords: parties outside government), after
//! the UK's right-to-work share codes. Window staff create one at the holder's request for
//! some of the holder's licences and a number of days; a checker needs the code *and* the
//! holder's code, and sees only the shared licences' verified data and current status.
//!
//! - The code: 9 characters from an alphabet without look-alikes (no 0/O, 1/I/L, U), 30^9
//!   ≈ 2·10^13 codes; stored only as an HMAC under the server's pickup-code secret, so a copy
//!   of the database gives no code away.
//! - Every wrong pair (unknown code, wrong holder, expired, revoked) gets the one answer
//!   `DeptError::NoShare`; wrong pairs are counted in the login throttle's table per client
//!   address and per code, so guessing is slow across every server process.
//! - Every lookup that reaches a share is logged on it (staff see them on the share's page).

use super::{parse_holder_code, rfc3339, DeptError};
use crate::accounts::{constant_time_eq, Staff};
use crate::catalog::Catalog;
use crate::distribution::pickup_key::PickupKey;
use crate::domain::licence::LicenceStatus;
use crate::domain::role::Role;
use crate::storage::shares::{self as store, ShareRow};
use crate::storage::{self, audit, licences, login_throttle, to_db_time, DbConnection, DbPool};
use crate::verification::{qr_text, service, TrustStore};
use crate::wire::dept::{
    CreateShareRequest, CreatedShare, ShareLookup, ShareLookupEntry, ShareLookupRequest, ShareView,
    SharedLicence,
};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;

/// No 0/O, 1/I/L, U: what a clerk reads off a slip is what they type.
pub const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const CODE_LEN: usize = 9;
pub const MAX_DAYS: i64 = 90;
pub const MAX_LICENCES: usize = 20;
/// Wrong lookups per client address, and per share code, within the login throttle's window.
pub const IP_LIMIT: i32 = 10;
pub const CODE_LIMIT: i32 = 5;

/// A fresh random code.
pub fn new_code() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..CODE_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// The code as typed (any case, spaces or dashes between groups), or `None` when it cannot
/// be a share code at all.
pub fn normalise_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// `ABC DEF GHJ`: how the slip prints it.
pub fn grouped(code: &str) -> String {
    code.as_bytes()
        .chunks(3)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn code_hash(key: &PickupKey, code: &str) -> String {
    key.seal("share", code)
}

fn refused(field: String, message: impl Into<String>) -> DeptError {
    DeptError::Refused {
        field,
        message: message.into(),
    }
}

/// Create a share for some of the holder's current, valid licences.
pub fn create_share(
    conn: &mut DbConnection,
    key: &PickupKey,
    staff: &Staff,
    req: &CreateShareRequest,
    now: DateTime<Utc>,
) -> Result<CreatedShare, DeptError> {
    if !matches!(staff.role, Role::Admin | Role::Issuer) {
        return Err(DeptError::Forbidden(format!(
            "the role {} may not create shares; window staff (issuer) do",
            staff.role
        )));
    }
    let holder = parse_holder_code("holder_code", &req.holder_code)?;
    let holder = holder.as_str().to_string();
    if !(1..=MAX_DAYS).contains(&req.valid_days) {
        return Err(DeptError::Invalid {
            field: "valid_days",
            message: format!("must be 1-{MAX_DAYS} days, got {}", req.valid_days),
        });
    }
    if req.licence_ids.is_empty() || req.licence_ids.len() > MAX_LICENCES {
        return Err(DeptError::Invalid {
            field: "licence_ids",
            message: format!("name 1-{MAX_LICENCES} of the holder's licences"),
        });
    }
    let today = now.date_naive();
    let mut ids: Vec<String> = Vec::new();
    for (i, id) in req.licence_ids.iter().enumerate() {
        let field = format!("licence_ids[{i}]");
        if ids.contains(id) {
            return Err(refused(field, "is listed twice"));
        }
        let row = licences::find_licence(conn, id)?
            .filter(|r| r.holder_code == holder)
            .ok_or_else(|| refused(field.clone(), format!("the holder has no licence {id}")))?;
        let status = row.status.effective(row.valid_to, today);
        if status != LicenceStatus::Valid {
            return Err(refused(
                field,
                format!("the licence is {status}; only a valid, current licence can be shared"),
            ));
        }
        ids.push(id.clone());
    }
    let expires = now + Duration::days(req.valid_days);
    let ids_json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
    // A collision of two random codes is possible, if unlikely: draw again.
    for _ in 0..5 {
        let code = new_code();
        let row = ShareRow {
            id: uuid::Uuid::new_v4().to_string(),
            code_hash: code_hash(key, &code),
            holder_code: holder.clone(),
            licence_ids: ids_json.clone(),
            created_at: to_db_time(now),
            created_by: staff.username.clone(),
            hall: staff.hall_code.clone(),
            expires_at: to_db_time(expires),
            revoked_at: None,
            revoked_by: None,
        };
        let inserted = storage::write_tx(conn, |conn| {
            store::insert_share(conn, &row)?;
            audit::insert_event(
                conn,
                now,
                &staff.username,
                "ShareCreated",
                &format!("share:{}", row.id),
                serde_json::json!({"holder_code": holder, "licence_ids": ids,
                    "expires_at": rfc3339(row.expires_at)}),
            )?;
            Ok::<_, storage::StorageError>(())
        });
        match inserted {
            Ok(()) => {
                return Ok(CreatedShare {
                    id: row.id,
                    share_code: code,
                    expires_at: rfc3339(row.expires_at),
                    holder_code: holder,
                    licence_ids: ids,
                })
            }
            Err(e) if e.is_unique_violation() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(DeptError::Storage(storage::StorageError::Conflict(
        "could not draw an unused share code; try again".into(),
    )))
}

/// A share as `staff` may see it: administrators every share, others their hall's.
fn visible_share(conn: &mut DbConnection, staff: &Staff, id: &str) -> Result<ShareRow, DeptError> {
    store::find_share(conn, id)?
        .filter(|s| staff.role == Role::Admin || s.hall == staff.hall_code)
        .ok_or_else(|| DeptError::NotFound(format!("no share with id {id}")))
}

fn state_of(s: &ShareRow, now: DateTime<Utc>) -> &'static str {
    if s.revoked_at.is_some() {
        "revoked"
    } else if to_db_time(now) >= s.expires_at {
        "expired"
    } else {
        "active"
    }
}

pub fn share_view(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    now: DateTime<Utc>,
) -> Result<ShareView, DeptError> {
    let s = visible_share(conn, staff, id)?;
    view_of(conn, s, now)
}

fn view_of(
    conn: &mut DbConnection,
    s: ShareRow,
    now: DateTime<Utc>,
) -> Result<ShareView, DeptError> {
    let lookups = store::list_lookups(conn, &s.id)?
        .into_iter()
        .map(|l| ShareLookupEntry {
            at: rfc3339(l.at),
            client_ip: l.client_ip,
            channel: l.channel,
            outcome: l.outcome,
        })
        .collect();
    Ok(ShareView {
        state: state_of(&s, now).to_string(),
        licence_ids: serde_json::from_str(&s.licence_ids).unwrap_or_default(),
        created_at: rfc3339(s.created_at),
        expires_at: rfc3339(s.expires_at),
        revoked_at: s.revoked_at.map(rfc3339),
        id: s.id,
        holder_code: s.holder_code,
        created_by: s.created_by,
        hall: s.hall,
        revoked_by: s.revoked_by,
        lookups,
    })
}

/// Recent shares (newest first) as `staff` may see them, optionally of one holder.
pub fn list_shares(
    conn: &mut DbConnection,
    staff: &Staff,
    holder_code: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<ShareView>, DeptError> {
    let hall = (staff.role != Role::Admin).then_some(staff.hall_code.as_str());
    let rows = store::list_shares(conn, hall, holder_code, 100)?;
    rows.into_iter().map(|s| view_of(conn, s, now)).collect()
}

pub fn revoke_share(
    conn: &mut DbConnection,
    staff: &Staff,
    id: &str,
    now: DateTime<Utc>,
) -> Result<ShareView, DeptError> {
    if !matches!(staff.role, Role::Admin | Role::Issuer) {
        return Err(DeptError::Forbidden(format!(
            "the role {} may not revoke shares",
            staff.role
        )));
    }
    storage::write_tx(conn, |conn| {
        visible_share(conn, staff, id)?;
        if store::revoke_share(conn, id, &staff.username, now)? {
            audit::insert_event(
                conn,
                now,
                &staff.username,
                "ShareRevoked",
                &format!("share:{id}"),
                serde_json::json!({}),
            )?;
        }
        Ok::<_, DeptError>(())
    })?;
    share_view(conn, staff, id, now)
}

/// What a lookup needs, at this moment.
pub struct LookupContext<'a> {
    pub pool: &'a DbPool,
    pub trust: &'a TrustStore,
    pub gate: &'a crate::verification::gate::VerifyGate,
    pub catalog: &'a Catalog,
    pub key: &'a PickupKey,
    pub public_url: &'a str,
    /// The login throttle's window.
    pub window: Duration,
    pub now: DateTime<Utc>,
    pub client_ip: String,
    /// `api` or `page`.
    pub channel: &'static str,
}

/// `POST /api/v1/shares/lookup` and the `/share` page.
pub fn lookup(ctx: &LookupContext<'_>, req: &ShareLookupRequest) -> Result<ShareLookup, DeptError> {
    let code = normalise_code(&req.share_code).ok_or_else(|| DeptError::Invalid {
        field: "share_code",
        message: format!(
            "must be the {CODE_LEN} characters printed on the holder's slip (letters and digits \
             without 0, O, 1, I, L or U)"
        ),
    })?;
    let holder = parse_holder_code("holder_code", &req.holder_code)?;
    let hash = code_hash(ctx.key, &code);
    let ip_key = format!("share ip {}", ctx.client_ip);
    let code_key = format!("share code {}", &hash[hash.len().saturating_sub(32)..]);
    let now = ctx.now;
    let cutoff = now - ctx.window;
    let mut conn = ctx.pool.get().map_err(storage::StorageError::from)?;
    let found = storage::write_tx(&mut conn, |conn| {
        // Counted before anything is checked, atomically: parallel guesses all count.
        let ip = login_throttle::count_attempt(conn, &ip_key, None, now, cutoff)?;
        let by_code = login_throttle::count_attempt(conn, &code_key, None, now, cutoff)?;
        for (counted, limit) in [(&ip, IP_LIMIT), (&by_code, CODE_LIMIT)] {
            if counted.failures > limit {
                let until = storage::from_db_time(counted.window_start) + ctx.window;
                let retry_after_s = (until - now).num_seconds().max(1) as u64;
                return Ok::<_, DeptError>(Err(DeptError::Throttled { retry_after_s }));
            }
        }
        let Some(share) = store::find_by_code_hash(conn, &hash)? else {
            return Ok(Err(DeptError::NoShare));
        };
        let outcome = if !constant_time_eq(share.holder_code.as_bytes(), holder.as_str().as_bytes())
        {
            "wrong_holder"
        } else {
            match state_of(&share, now) {
                "active" => "shown",
                other => other,
            }
        };
        store::insert_lookup(conn, &share.id, &ctx.client_ip, ctx.channel, outcome, now)?;
        if outcome != "shown" {
            return Ok(Err(DeptError::NoShare));
        }
        login_throttle::release_attempt(conn, &ip_key)?;
        login_throttle::release_attempt(conn, &code_key)?;
        Ok(Ok(share))
    })??;
    let ids: Vec<String> = serde_json::from_str(&found.licence_ids).unwrap_or_default();
    let mut rows = Vec::with_capacity(ids.len());
    for id in &ids {
        if let Some(row) = licences::find_licence(&mut conn, id)? {
            rows.push(row);
        }
    }
    drop(conn);
    let today = now.date_naive();
    let mut shared = Vec::with_capacity(rows.len());
    for row in rows {
        let text = qr_text(ctx.public_url, &row.cose);
        let verdict = service::verify_code(ctx.pool, ctx.trust, ctx.gate, ctx.catalog, &text, now)?;
        let status = row.status.effective(row.valid_to, today);
        shared.push(SharedLicence {
            verdict,
            status,
            status_code: status.code().map(str::to_string),
            fields: serde_json::from_str(&row.fields).unwrap_or(serde_json::Value::Null),
        });
    }
    Ok(ShareLookup {
        expires_at: rfc3339(found.expires_at),
        licences: shared,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_unambiguous_alphabet_and_read_back_however_typed() {
        assert_eq!(ALPHABET.len(), 30);
        for bad in b"0O1ILU" {
            assert!(!ALPHABET.contains(bad), "{}", char::from(*bad));
        }
        for _ in 0..200 {
            let code = new_code();
            assert_eq!(code.len(), CODE_LEN);
            assert_eq!(normalise_code(&code).as_deref(), Some(code.as_str()));
            let typed = grouped(&code).to_lowercase();
            assert_eq!(normalise_code(&typed).as_deref(), Some(code.as_str()));
        }
        assert_eq!(normalise_code("ABC-DEF-GH"), None);
        assert_eq!(normalise_code("ABCDEFGH0"), None);
        assert_eq!(grouped("ABCDEFGHJ"), "ABC DEF GHJ");
    }
}
