//! The online verification service behind `GET /api/v1/verify` and the `/V/` page: the offline
//! checks against the server's trust store, then one indexed query for the register row. Holds
//! no private key; blocking (ECDSA and diesel), so callers run it off the async workers.

use chrono::{DateTime, Utc};

use super::gate::VerifyGate;
use super::seal_cache::LazyConn;
use super::trust::TrustStore;
use super::verdict::{check_seal, judge, Verdict};
use crate::catalog::Catalog;
use crate::storage::{DbPool, StorageError};
use std::sync::Arc;

/// The longest code the verify routes judge: a real QR text is under 800 characters; more is
/// refused before any decoding work (`GET /api/v1/verify` answers 400, the page says
/// `bad_encoding`).
pub const MAX_CODE_LEN: usize = 4096;

/// The verdict on `text` at `now`. Only a database failure is an error; any code, however
/// broken, gets a verdict. A connection is taken from `pool` only for a genuine seal, so junk
/// costs no database work. A seal `gate.seals` holds skips the offline checks (they depend
/// on the bytes and the process's trust store only); the register row, with the seal's log
/// entry, comes from `gate.rows` (kept while no status has changed, at most 500 ms behind
/// another process's change) or one statement, and the published checkpoint from `gate.head`
/// (at most a second old, re-read when it would not yet include the entry).
pub fn verify_code(
    pool: &DbPool,
    trust: &TrustStore,
    gate: &VerifyGate,
    catalog: &Catalog,
    text: &str,
    now: DateTime<Utc>,
) -> Result<Verdict, StorageError> {
    if text.len() > MAX_CODE_LEN {
        return Ok(Verdict::bad_encoding(now));
    }
    let key = super::qr::decode_qr_text(text)
        .ok()
        .map(|cose| crate::domain::tlog::merkle::sha256(&cose));
    let cached = key.and_then(|k| gate.seals.get(&k));
    let sealed = match cached {
        Some(s) => {
            metrics::counter!("verify_seal_cache_total", "result" => "hit").increment(1);
            s
        }
        None => match check_seal(text, trust) {
            Ok(sealed) => {
                metrics::counter!("verify_seal_cache_total", "result" => "miss").increment(1);
                let sealed = Arc::new(sealed);
                if let Some(k) = key {
                    gate.seals.insert(k, sealed.clone());
                }
                sealed
            }
            Err(rejection) => return Ok(Verdict::rejected(rejection, now)),
        },
    };
    let seal_sha256 = key.map(hex::encode).unwrap_or_default();
    let (found, log) = {
        let mut conn = LazyConn::new(pool);
        match gate
            .rows
            .find(&mut conn, &sealed.claims.identifier, &seal_sha256)?
        {
            Some(found) => {
                let (row, authority, leaf) = Arc::unwrap_or_clone(found);
                let leaf_index = leaf.and_then(|i| u64::try_from(i).ok());
                let (tree_size, cosigned) = gate.head.get(&mut conn, leaf_index)?;
                let log = super::log_inclusion::inclusion(
                    leaf.is_some(),
                    leaf_index,
                    tree_size,
                    cosigned,
                );
                (Some((row, authority)), log)
            }
            // A genuine seal the register does not hold: what the log says of it.
            None => (
                None,
                super::log_inclusion::lookup(conn.get()?, &sealed.claims.identifier, &seal_sha256)?,
            ),
        }
    };
    let mut verdict = judge(&sealed, found, catalog, now);
    super::log_inclusion::apply(&mut verdict, log);
    Ok(verdict)
}
