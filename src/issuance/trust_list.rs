//! The public trust list built from the key set: only certificates and periods leave this
//! module, never a private key, so `verification` can be fed without seeing `KeySet`.

use chrono::{DateTime, Utc};

use super::keys::{KeySet, SignerStatus};
use crate::verification::trust::{TrustError, TrustList, TrustListSigner, TrustStore};

impl TrustList {
    /// Every signer of the set (active, retired and revoked alike: their seals must still be
    /// recognised, the revoked ones as `signer_revoked`) with its kid and period, as of `now`.
    pub fn from_keyset(keys: &KeySet, now: DateTime<Utc>) -> TrustList {
        let active_kid = keys.active_signer(now).ok().map(|s| s.kid);
        TrustList {
            root: keys.root_pem().to_owned(),
            signers: keys
                .signers()
                .iter()
                .map(|s| TrustListSigner {
                    kid: hex::encode(s.kid),
                    certificate: s.certificate.pem.clone(),
                    sign_from: s.sign_from,
                    sign_until: s.sign_until,
                    active: active_kid == Some(s.kid)
                        || (s.status == SignerStatus::Active && s.in_period(now)),
                    revoked: s.status == SignerStatus::Revoked,
                })
                .collect(),
            issued_at: now,
        }
    }
}

impl TrustStore {
    /// The server's own store: the trust list it publishes, parsed once.
    pub fn from_keyset(keys: &KeySet, now: DateTime<Utc>) -> Result<TrustStore, TrustError> {
        TrustStore::new(&TrustList::from_keyset(keys, now))
    }
}
