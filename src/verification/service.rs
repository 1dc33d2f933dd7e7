//! The online verification service behind `GET /api/v1/verify` and the `/V/` page: the offline
//! checks against the server's trust store, then one indexed query for the register row. Holds
//! no private key; blocking (ECDSA and diesel), so callers run it off the async workers.

use chrono::{DateTime, Utc};

use super::trust::TrustStore;
use super::verdict::{check_seal, judge, Verdict};
use crate::catalog::Catalog;
use crate::storage::{licences, DbPool, StorageError};

/// The longest code the verify routes judge: a real QR text is under 800 characters; more is
/// refused before any decoding work (`GET /api/v1/verify` answers 400, the page says
/// `bad_encoding`).
pub const MAX_CODE_LEN: usize = 4096;

/// The verdict on `text` at `now`. Only a database failure is an error; any code, however
/// broken, gets a verdict. A connection is taken from `pool` only for a genuine seal, so junk
/// costs no database work.
pub fn verify_code(
    pool: &DbPool,
    trust: &TrustStore,
    catalog: &Catalog,
    text: &str,
    now: DateTime<Utc>,
) -> Result<Verdict, StorageError> {
    if text.len() > MAX_CODE_LEN {
        return Ok(Verdict::bad_encoding(now));
    }
    let sealed = match check_seal(text, trust) {
        Ok(sealed) => sealed,
        Err(rejection) => return Ok(Verdict::rejected(rejection, now)),
    };
    let seal_sha256 = super::qr::decode_qr_text(text)
        .map(|cose| hex::encode(crate::domain::tlog::merkle::sha256(&cose)))
        .unwrap_or_default();
    let (found, log) = {
        let mut conn = pool.get()?;
        let found = licences::find_for_verification(&mut conn, &sealed.claims.identifier)?;
        let log = super::log_inclusion::lookup(&mut conn, &sealed.claims.identifier, &seal_sha256)?;
        (found, log)
    };
    let mut verdict = judge(&sealed, found, catalog, now);
    super::log_inclusion::apply(&mut verdict, log);
    Ok(verdict)
}
