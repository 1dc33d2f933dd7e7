//! What the verify API and the `/V/` page say about the log: whether the scanned seal has an
//! entry, whether a published checkpoint includes it, and how many witnesses cosigned that
//! checkpoint. A genuine seal without any entry is `not_logged`: every issuance writes its
//! entry in its own transaction, so such a seal did not come through the register.

use super::verdict::{Reason, Verdict};
use crate::storage::{tlog as store, DbConnection, StorageResult};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde::Serialize;

/// Whether a licence's seal is in the transparency log, and how far it is witnessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct LogInclusion {
    /// The seal has an entry in the log (perhaps not yet in a published checkpoint).
    pub recorded: bool,
    /// A published checkpoint includes the entry (`GET /api/v1/log/proof` proves it).
    pub logged: bool,
    pub leaf_index: Option<u64>,
    /// The size of the latest published checkpoint.
    pub tree_size: u64,
    /// Witnesses (partner counties) that cosigned that checkpoint; 0 when not logged.
    pub witnesses: u32,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Nullable<BigInt>)]
    leaf_index: Option<i64>,
}

/// The log's view of the seal with SHA-256 `seal_sha256` (hex) of licence `identifier`.
pub fn lookup(
    conn: &mut DbConnection,
    identifier: &str,
    seal_sha256: &str,
) -> StorageResult<LogInclusion> {
    let found: Option<Found> = diesel::sql_query(
        "SELECT leaf_index FROM tlog_entries WHERE subject = $1 AND sha256 = $2 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind::<Text, _>(identifier)
    .bind::<Text, _>(seal_sha256)
    .get_result(conn)
    .optional()?;
    let (tree_size, cosigned) = store::latest_head(conn)?
        .map(|(size, cosignatures)| (size, cosignatures.max(0) as u32))
        .unwrap_or((0, 0));
    let leaf_index = found.as_ref().and_then(|f| f.leaf_index).map(|i| i as u64);
    Ok(inclusion(found.is_some(), leaf_index, tree_size, cosigned))
}

/// The log's view from the entry found (`recorded`, its leaf index once integrated) and the
/// latest published checkpoint (size, cosignatures).
pub fn inclusion(
    recorded: bool,
    leaf_index: Option<u64>,
    tree_size: u64,
    cosigned: u32,
) -> LogInclusion {
    let logged = leaf_index.is_some_and(|i| i < tree_size);
    LogInclusion {
        recorded,
        logged,
        leaf_index,
        tree_size,
        witnesses: if logged { cosigned } else { 0 },
    }
}

/// Add the log's view to a verdict on a genuine seal; a seal with no entry is `not_logged`
/// (unless the register already refuses it for another reason).
pub fn apply(v: &mut Verdict, log: LogInclusion) {
    if !log.recorded && v.valid {
        v.valid = false;
        v.reason = Some(Reason::NotLogged);
    }
    v.log = Some(log);
}
