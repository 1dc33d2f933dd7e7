//! The trust list the agent checks every job's seal against, cached in the state folder.
//!
//! The root is pinned on first use: a later list from the server is accepted only when it has
//! the same root (new or revoked signers are how keys rotate; a new root is not). Otherwise a
//! compromised or misconfigured server could make the agent print forgeries. Replacing the
//! root is an operator's act: delete `trust-list.json` from the state folder.

use std::path::{Path, PathBuf};

use crate::domain::seal::SealClaims;
use crate::domain::status_list::ListStatus;
use crate::verification::signed_list::{ListError, SignedTrustList, StatusList};
use crate::verification::{decode_qr_text, TrustList, TrustStore};

pub const TRUST_FILE: &str = "trust-list.json";
/// The signed trust list last accepted: its sequence is the floor for the next one.
pub const SIGNED_TRUST_FILE: &str = "trust-list.cose";

#[derive(Debug, thiserror::Error)]
pub enum TrustUpdateError {
    #[error("the server's trust list is unusable: {0}")]
    Unusable(String),
    #[error("the server's trust list has another root than the cached one; keeping the cached list (delete {0} to accept a new root)")]
    RootChanged(PathBuf),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("the cached trust list {0} is unreadable: {1}")]
    Cache(PathBuf, String),
    #[error("the server's signed trust list is refused: {0}")]
    Refused(String),
    #[error("the server's signed trust list is stale: {0}; keeping the cached list")]
    Stale(String),
}

/// Why a job's seal is refused; the text goes into the `failed` report's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealRefusal {
    #[error("seal does not verify: {0}")]
    Envelope(String),
    #[error("seal does not verify: signer revoked")]
    SignerRevoked,
    #[error("seal does not verify: claims unreadable ({0})")]
    Claims(String),
    #[error("seal does not verify: sealed outside the signer's signing period")]
    OutsideSigningPeriod,
    #[error("licence is {0} in the current status list")]
    StatusNotValid(&'static str),
    #[error("licence status unknown: {0}")]
    StatusUnknown(String),
}

pub fn cache_path(state_dir: &Path) -> PathBuf {
    state_dir.join(TRUST_FILE)
}

/// The cached list, if any. A cache that exists but does not parse is an error, not "none":
/// silently dropping it would un-pin the root.
pub fn load_cached(state_dir: &Path) -> Result<Option<(TrustList, TrustStore)>, TrustUpdateError> {
    let path = cache_path(state_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TrustUpdateError::Cache(path, e.to_string())),
    };
    let list = TrustList::from_json(&text)
        .map_err(|e| TrustUpdateError::Cache(path.clone(), e.to_string()))?;
    let store = TrustStore::new(&list).map_err(|e| TrustUpdateError::Cache(path, e.to_string()))?;
    Ok(Some((list, store)))
}

fn root_der(list: &TrustList) -> Option<Vec<u8>> {
    ::pem::parse(&list.root).ok().map(|p| p.into_contents())
}

/// Check a freshly fetched list against the pinned root and, when acceptable, cache it.
pub fn accept(
    state_dir: &Path,
    cached: Option<&TrustList>,
    fetched_json: &str,
) -> Result<(TrustList, TrustStore), TrustUpdateError> {
    let list = TrustList::from_json(fetched_json)
        .map_err(|e| TrustUpdateError::Unusable(e.to_string()))?;
    let store = TrustStore::new(&list).map_err(|e| TrustUpdateError::Unusable(e.to_string()))?;
    if let Some(cached) = cached {
        if root_der(cached).is_none() || root_der(cached) != root_der(&list) {
            return Err(TrustUpdateError::RootChanged(cache_path(state_dir)));
        }
        if cached == &list {
            return Ok((list, store));
        }
    }
    let path = cache_path(state_dir);
    let text = list
        .to_json()
        .map_err(|e| TrustUpdateError::Unusable(e.to_string()))?;
    let tmp = path.with_extension("json.part");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| TrustUpdateError::Write(path.clone(), e))?;
    Ok((list, store))
}

/// Check a fetched signed trust list (`/api/v1/trust-list.cose`): signed by a list signer
/// that chains to the pinned root (the cached list's; on first use the list's own), not
/// expired, and a sequence not below the one accepted last. When acceptable, cache it (the
/// JSON form keeps the pin, the COSE form the sequence).
pub fn accept_signed(
    state_dir: &Path,
    cached: Option<&TrustList>,
    fetched: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(TrustList, TrustStore), TrustUpdateError> {
    let root = match cached {
        Some(c) => root_der(c).ok_or_else(|| {
            TrustUpdateError::Cache(
                cache_path(state_dir),
                "the pinned root is unreadable".into(),
            )
        })?,
        None => SignedTrustList::unverified_root(fetched)
            .map_err(|e| TrustUpdateError::Unusable(e.to_string()))?,
    };
    let signed_path = state_dir.join(SIGNED_TRUST_FILE);
    let accepted = std::fs::read(&signed_path)
        .ok()
        .and_then(|b| SignedTrustList::verify(&b, &root, None).ok())
        .map(|l| l.sequence);
    let signed = match SignedTrustList::verify(fetched, &root, accepted) {
        Ok(l) => l,
        Err(ListError::OtherRoot | ListError::NotFromRoot) if cached.is_some() => {
            return Err(TrustUpdateError::RootChanged(cache_path(state_dir)))
        }
        Err(e) => return Err(TrustUpdateError::Refused(e.to_string())),
    };
    if signed.is_expired(now) {
        return Err(TrustUpdateError::Stale(format!(
            "it expired at {}",
            chrono::DateTime::<chrono::Utc>::from_timestamp(signed.expires_at, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        )));
    }
    let list = signed.to_trust_list();
    let store = TrustStore::new(&list).map_err(|e| TrustUpdateError::Unusable(e.to_string()))?;
    let path = cache_path(state_dir);
    let text = list
        .to_json()
        .map_err(|e| TrustUpdateError::Unusable(e.to_string()))?;
    for (target, bytes) in [(&path, text.as_bytes()), (&signed_path, fetched)] {
        let tmp = target.with_extension("part");
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, target))
            .map_err(|e| TrustUpdateError::Write(target.clone(), e))?;
    }
    Ok((list, store))
}

/// What the status list says of a licence: refuse anything but a valid status in a list that
/// has not expired.
pub fn judge_status(
    list: &StatusList,
    uri: &str,
    idx: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), SealRefusal> {
    if list.claims.sub != uri {
        return Err(SealRefusal::StatusUnknown(format!(
            "the server's list is {}, the seal names {uri}",
            list.claims.sub
        )));
    }
    if list.is_expired(now) {
        return Err(SealRefusal::StatusUnknown(format!(
            "the status list {uri} has expired"
        )));
    }
    match list.statuses.get(idx).ok().and_then(ListStatus::from_bits) {
        Some(ListStatus::Valid) => Ok(()),
        Some(ListStatus::Invalid) => Err(SealRefusal::StatusNotValid("invalid")),
        Some(ListStatus::Suspended) => Err(SealRefusal::StatusNotValid("suspended")),
        None => Err(SealRefusal::StatusUnknown(format!(
            "index {idx} of {uri} holds no defined status"
        ))),
    }
}

/// The pinned root's DER, from a trust list.
pub fn pinned_root_der(list: &TrustList) -> Option<Vec<u8>> {
    root_der(list)
}

/// Verify a job's seal (its QR text) as a verifier would, minus the licence status (the
/// server checks that at claim and document time).
pub fn check_seal(store: &TrustStore, qr_text: &str) -> Result<SealClaims, SealRefusal> {
    let cose = decode_qr_text(qr_text).map_err(|e| SealRefusal::Envelope(e.to_string()))?;
    let seal = store
        .verify_cose(&cose)
        .map_err(|e| SealRefusal::Envelope(e.to_string()))?;
    if seal.revoked {
        return Err(SealRefusal::SignerRevoked);
    }
    let claims =
        SealClaims::from_cbor(&seal.payload).map_err(|e| SealRefusal::Claims(e.to_string()))?;
    let from = seal.sign_from.timestamp();
    let until = seal.sign_until.timestamp();
    if claims.iat < from || claims.iat > until {
        return Err(SealRefusal::OutsideSigningPeriod);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issuance::{generate_example_set, KeySet, Sealer};
    use crate::verification::qr_text;
    use chrono::{DateTime, TimeZone, Utc};
    use std::sync::Arc;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).single().unwrap()
    }

    fn key_set() -> (tempfile::TempDir, Arc<KeySet>) {
        let dir = tempfile::tempdir().unwrap();
        generate_example_set(dir.path(), now()).unwrap();
        let keys = Arc::new(KeySet::load(dir.path()).unwrap());
        (dir, keys)
    }

    fn seal(keys: &Arc<KeySet>) -> String {
        let claims = SealClaims {
            iss: "11220000013544541J".into(),
            iat: now().timestamp(),
            exp: None,
            identifier: "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
                .into(),
            licence_no: "JY12345678901234".into(),
            holder_name: "临沂测试有限公司".into(),
            holder_code_masked: "91350100M000100Y43".into(),
            status: None,
        };
        let cose = Sealer::new(keys.clone()).seal(&claims, now()).unwrap();
        qr_text("https://verify.example.cn", &cose)
    }

    fn list_json(keys: &KeySet) -> String {
        TrustList::from_keyset(keys, now()).to_json().unwrap()
    }

    #[test]
    fn a_genuine_seal_passes_and_a_foreign_or_broken_one_does_not() {
        let (_a, ours) = key_set();
        let (_b, foreign) = key_set();
        let state = tempfile::tempdir().unwrap();
        let (_, store) = accept(state.path(), None, &list_json(&ours)).unwrap();
        let claims = check_seal(&store, &seal(&ours)).unwrap();
        assert_eq!(claims.licence_no, "JY12345678901234");
        assert!(matches!(
            check_seal(&store, &seal(&foreign)),
            Err(SealRefusal::Envelope(_))
        ));
        assert!(matches!(
            check_seal(&store, "HTTPS://X/V/NOT-BASE32!"),
            Err(SealRefusal::Envelope(_))
        ));
        // One character changed in the Base32 payload.
        let mut text = seal(&ours).into_bytes();
        let i = text.len() - 10;
        text[i] = if text[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(text).unwrap();
        assert!(check_seal(&store, &tampered).is_err());
    }

    #[test]
    fn the_cached_root_is_pinned_against_a_server_that_changes_it() {
        let (_a, ours) = key_set();
        let (_b, foreign) = key_set();
        let state = tempfile::tempdir().unwrap();
        let (first, _) = accept(state.path(), None, &list_json(&ours)).unwrap();
        let (cached, _) = load_cached(state.path()).unwrap().unwrap();
        assert_eq!(cached, first);
        assert!(matches!(
            accept(state.path(), Some(&cached), &list_json(&foreign)),
            Err(TrustUpdateError::RootChanged(_))
        ));
        // The cache still holds our list, not the foreign one.
        let (still, _) = load_cached(state.path()).unwrap().unwrap();
        assert_eq!(still, first);
        // A newer list under the same root (e.g. a signer revoked) replaces it.
        let mut newer = first.clone();
        newer.issued_at += chrono::Duration::hours(1);
        newer.signers[0].revoked = true;
        let (updated, _) = accept(state.path(), Some(&cached), &newer.to_json().unwrap()).unwrap();
        assert_eq!(load_cached(state.path()).unwrap().unwrap().0, updated);
        assert!(matches!(
            accept(state.path(), Some(&cached), "{\"root\": 1}"),
            Err(TrustUpdateError::Unusable(_))
        ));
    }

    fn signed(keys: &KeySet, sequence: u64, issued_at: DateTime<Utc>) -> Vec<u8> {
        use crate::verification::signed_list::TRUST_LIST_TYP;
        let list = TrustList::from_keyset(keys, issued_at);
        let content = SignedTrustList {
            sequence,
            issued_at: issued_at.timestamp(),
            expires_at: issued_at.timestamp() + 7 * 86_400,
            root: list.root,
            signers: list.signers,
        };
        keys.list_signer()
            .unwrap()
            .sign(TRUST_LIST_TYP, content.to_cbor(), issued_at)
            .unwrap()
    }

    #[test]
    fn the_signed_trust_list_pins_its_root_and_refuses_rollback_staleness_and_tampering() {
        let (_a, ours) = key_set();
        let (_b, foreign) = key_set();
        let state = tempfile::tempdir().unwrap();
        let (first, store) =
            accept_signed(state.path(), None, &signed(&ours, 2, now()), now()).unwrap();
        check_seal(&store, &seal(&ours)).unwrap();
        let cached = load_cached(state.path()).unwrap().unwrap().0;
        assert_eq!(cached, first);
        // Sequence 1 after 2: rolled back.
        assert!(matches!(
            accept_signed(state.path(), Some(&cached), &signed(&ours, 1, now()), now()),
            Err(TrustUpdateError::Refused(m)) if m.contains("rolled back")
        ));
        // Another root's list, however well signed.
        assert!(matches!(
            accept_signed(
                state.path(),
                Some(&cached),
                &signed(&foreign, 9, now()),
                now()
            ),
            Err(TrustUpdateError::RootChanged(_))
        ));
        // Expired: stale, kept out.
        let later = now() + chrono::Duration::days(8);
        assert!(matches!(
            accept_signed(state.path(), Some(&cached), &signed(&ours, 3, now()), later),
            Err(TrustUpdateError::Stale(_))
        ));
        // One flipped byte.
        let mut bad = signed(&ours, 3, now());
        let n = bad.len();
        bad[n - 90] ^= 1;
        assert!(accept_signed(state.path(), Some(&cached), &bad, now()).is_err());
        // The same sequence again, or a higher one, is taken.
        accept_signed(state.path(), Some(&cached), &signed(&ours, 2, now()), now()).unwrap();
        accept_signed(state.path(), Some(&cached), &signed(&ours, 3, now()), now()).unwrap();
    }

    #[test]
    fn only_a_valid_entry_of_a_current_list_lets_a_job_print() {
        use crate::domain::status_list::{PackedStatuses, StatusListClaims, TYP};
        let (_a, keys) = key_set();
        let root = ::pem::parse(keys.root_pem()).unwrap().into_contents();
        let uri = "https://verify.example.cn/api/v1/status-lists/1";
        let mut packed = PackedStatuses::new(64);
        packed.set(5, ListStatus::Invalid).unwrap();
        packed.set(6, ListStatus::Suspended).unwrap();
        let claims = StatusListClaims {
            sub: uri.into(),
            iat: now().timestamp(),
            exp: now().timestamp() + 3600,
            ttl: 60,
            lst: packed.deflate(),
        };
        let bytes = keys
            .list_signer()
            .unwrap()
            .sign(TYP, claims.to_cbor(), now())
            .unwrap();
        let list = StatusList::verify(&bytes, &root).unwrap();
        assert_eq!(judge_status(&list, uri, 4, now()), Ok(()));
        assert_eq!(
            judge_status(&list, uri, 5, now()),
            Err(SealRefusal::StatusNotValid("invalid"))
        );
        assert_eq!(
            judge_status(&list, uri, 6, now()),
            Err(SealRefusal::StatusNotValid("suspended"))
        );
        // Outside the list, another list's URL, or an expired list: unknown, refused.
        assert!(matches!(
            judge_status(&list, uri, 64, now()),
            Err(SealRefusal::StatusUnknown(_))
        ));
        assert!(matches!(
            judge_status(&list, "https://x/api/v1/status-lists/2", 4, now()),
            Err(SealRefusal::StatusUnknown(_))
        ));
        assert!(matches!(
            judge_status(&list, uri, 4, now() + chrono::Duration::hours(2)),
            Err(SealRefusal::StatusUnknown(_))
        ));
    }

    #[test]
    fn a_corrupt_cache_is_an_error_not_an_empty_pin() {
        let state = tempfile::tempdir().unwrap();
        assert!(load_cached(state.path()).unwrap().is_none());
        std::fs::write(cache_path(state.path()), "not json").unwrap();
        assert!(matches!(
            load_cached(state.path()),
            Err(TrustUpdateError::Cache(..))
        ));
    }
}
