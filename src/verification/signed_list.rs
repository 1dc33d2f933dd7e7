//! Signed lists: the trust list (`/api/v1/trust-list.cose`), the status lists
//! (`/api/v1/status-lists/{id}`) and the index of older licences (`/api/v1/status-index.cose`).
//! Each is a COSE_Sign1 ES256 by the list signer, whose certificate rides in the protected
//! header (`x5chain`) and must chain to the verifier's pinned root. Public keys only.

use chrono::{DateTime, TimeZone, Utc};
use ciborium::value::Value;
use coset::{
    iana, CborSerializable, CoseSign1, Label, RegisteredLabelWithPrivate, TaggedCborSerializable,
};
use serde::{Deserialize, Serialize};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::cert::SignerKey;
use super::trust::{certificate_der_from_pem, TrustList, TrustListSigner};
use crate::domain::status_list::{PackedStatuses, StatusListClaims, StatusListError};

/// COSE header labels: `typ` (RFC 9596) and `x5chain` (RFC 9360).
pub const HEADER_TYP: i64 = 16;
pub const HEADER_X5CHAIN: i64 = 33;
/// `typ` of the signed trust list and of the index of older licences.
pub const TRUST_LIST_TYP: &str = "application/crosscert-trust-list+cbor";
pub const STATUS_INDEX_TYP: &str = "application/crosscert-status-index+cbor";

/// Why a signed list is refused. Each names what a verifier's operator needs to know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("not a COSE_Sign1 ES256 signed list")]
    Encoding,
    #[error("the list's typ is {found:?}, expected {expected}")]
    WrongType { expected: String, found: String },
    #[error("the list carries no signer certificate (x5chain)")]
    NoCertificate,
    #[error("the list signer's certificate does not chain to the pinned root")]
    NotFromRoot,
    #[error("the list signer's certificate is not valid at the list's issue time")]
    CertificateNotValid,
    #[error("the list's signature does not verify (tampered?)")]
    BadSignature,
    #[error("the list's content is unreadable: {0}")]
    Content(String),
    #[error("the pinned root is unusable: {0}")]
    Root(String),
    #[error("rolled back: sequence {found} is lower than the {accepted} already accepted")]
    RolledBack { found: u64, accepted: u64 },
    #[error("rolled back: issued at {found}, before the {held} of the copy already held")]
    IssuedBeforeHeld { found: String, held: String },
    #[error("the list names another root than the pinned one")]
    OtherRoot,
    #[error(transparent)]
    StatusList(#[from] StatusListError),
}

/// A signed list whose signature and signer chain were checked; the payload is trusted.
#[derive(Debug, Clone)]
pub struct VerifiedList {
    pub payload: Vec<u8>,
    pub signer_certificate_der: Vec<u8>,
}

fn header_int(h: &coset::Header, label: i64) -> Option<&Value> {
    h.rest
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, v)| v)
}

/// Checks a signed list against the pinned root (DER): typ, x5chain certificate signed by the
/// root and valid at `at` (the list's own issue time, known only after the signature...
/// so the caller passes a closure that reads it from the payload), ES256 signature.
pub fn verify_signed_list(
    bytes: &[u8],
    root_der: &[u8],
    expected_typ: &str,
    issued_at: impl Fn(&[u8]) -> Option<i64>,
) -> Result<VerifiedList, ListError> {
    let sign1 = CoseSign1::from_tagged_slice(bytes)
        .or_else(|_| CoseSign1::from_slice(bytes))
        .map_err(|_| ListError::Encoding)?;
    let protected = &sign1.protected.header;
    if !protected.crit.is_empty()
        || protected.alg != Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256))
    {
        return Err(ListError::Encoding);
    }
    let typ = header_int(protected, HEADER_TYP)
        .and_then(Value::as_text)
        .unwrap_or("");
    if typ != expected_typ {
        return Err(ListError::WrongType {
            expected: expected_typ.to_owned(),
            found: typ.to_owned(),
        });
    }
    // x5chain: one certificate as a bstr, or an array whose first is the signer's.
    let cert_der = match header_int(protected, HEADER_X5CHAIN) {
        Some(Value::Bytes(b)) => b.clone(),
        Some(Value::Array(a)) => match a.first() {
            Some(Value::Bytes(b)) => b.clone(),
            _ => return Err(ListError::NoCertificate),
        },
        _ => return Err(ListError::NoCertificate),
    };
    let (_, root) =
        X509Certificate::from_der(root_der).map_err(|e| ListError::Root(e.to_string()))?;
    let (_, cert) = X509Certificate::from_der(&cert_der).map_err(|_| ListError::NoCertificate)?;
    cert.verify_signature(Some(root.public_key()))
        .map_err(|_| ListError::NotFromRoot)?;
    let key = SignerKey::from_certificate_der(&cert_der).map_err(|_| ListError::NoCertificate)?;
    if sign1
        .verify_signature(&[], |sig, tbs| {
            if key.verify(tbs, sig) {
                Ok(())
            } else {
                Err(())
            }
        })
        .is_err()
    {
        return Err(ListError::BadSignature);
    }
    let payload = sign1.payload.ok_or(ListError::Encoding)?;
    let at = issued_at(&payload).ok_or_else(|| ListError::Content("no issue time".into()))?;
    let validity = cert.validity();
    if at < validity.not_before.timestamp() || at > validity.not_after.timestamp() {
        return Err(ListError::CertificateNotValid);
    }
    Ok(VerifiedList {
        payload,
        signer_certificate_der: cert_der,
    })
}

fn from_cbor<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ListError> {
    ciborium::de::from_reader(bytes).map_err(|e| ListError::Content(e.to_string()))
}

pub fn to_cbor<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    if ciborium::ser::into_writer(value, &mut out).is_err() {
        out.clear();
    }
    out
}

fn unix(t: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(t, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The payload of `/api/v1/trust-list.cose` (CBOR, text keys; times in Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTrustList {
    /// Grows by one whenever the content (root, signers, their periods and states) changes.
    pub sequence: u64,
    pub issued_at: i64,
    pub expires_at: i64,
    /// The root certificate, PEM (the same root the verifier pins).
    pub root: String,
    pub signers: Vec<TrustListSigner>,
}

impl SignedTrustList {
    /// The JSON trust list's shape, for building a `TrustStore`.
    pub fn to_trust_list(&self) -> TrustList {
        TrustList {
            root: self.root.clone(),
            signers: self.signers.clone(),
            issued_at: unix(self.issued_at),
        }
    }

    pub fn to_cbor(&self) -> Vec<u8> {
        to_cbor(self)
    }

    /// Verifies a signed trust list against `root_der`; the list must also name that root.
    /// `accepted` is the sequence of the last list this verifier took: a lower one is refused.
    pub fn verify(
        bytes: &[u8],
        root_der: &[u8],
        accepted: Option<u64>,
    ) -> Result<SignedTrustList, ListError> {
        let v = verify_signed_list(bytes, root_der, TRUST_LIST_TYP, |p| {
            from_cbor::<SignedTrustList>(p).ok().map(|l| l.issued_at)
        })?;
        let list: SignedTrustList = from_cbor(&v.payload)?;
        let named = certificate_der_from_pem(&list.root).map_err(ListError::Content)?;
        if named != root_der {
            return Err(ListError::OtherRoot);
        }
        if let Some(accepted) = accepted {
            if list.sequence < accepted {
                return Err(ListError::RolledBack {
                    found: list.sequence,
                    accepted,
                });
            }
        }
        Ok(list)
    }

    /// The root a list names, unverified: for pinning on first use only.
    pub fn unverified_root(bytes: &[u8]) -> Result<Vec<u8>, ListError> {
        let sign1 = CoseSign1::from_tagged_slice(bytes)
            .or_else(|_| CoseSign1::from_slice(bytes))
            .map_err(|_| ListError::Encoding)?;
        let payload = sign1.payload.ok_or(ListError::Encoding)?;
        let list: SignedTrustList = from_cbor(&payload)?;
        certificate_der_from_pem(&list.root).map_err(ListError::Content)
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now.timestamp() > self.expires_at
    }
}

/// A verified status list token, inflated.
#[derive(Debug, Clone)]
pub struct StatusList {
    pub claims: StatusListClaims,
    pub statuses: PackedStatuses,
}

impl StatusList {
    pub fn verify(bytes: &[u8], root_der: &[u8]) -> Result<StatusList, ListError> {
        let v = verify_signed_list(bytes, root_der, crate::domain::status_list::TYP, |p| {
            StatusListClaims::from_cbor(p).ok().map(|c| c.iat)
        })?;
        let claims = StatusListClaims::from_cbor(&v.payload)?;
        let statuses = PackedStatuses::inflate(&claims.lst)?;
        Ok(StatusList { claims, statuses })
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now.timestamp() > self.claims.exp
    }

    pub fn issued_at(&self) -> DateTime<Utc> {
        unix(self.claims.iat)
    }
}

/// One licence sealed before status lists: which list and index hold its status. The
/// identifier is not published, only the first 16 bytes of its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    #[serde(with = "serde_bytes_16")]
    pub id_hash: [u8; 16],
    pub list: i64,
    pub idx: u64,
}

/// The payload of `/api/v1/status-index.cose`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusIndex {
    pub issued_at: i64,
    /// The URI of list `n` is `base_uri` + `n`.
    pub base_uri: String,
    /// Every status list the server publishes (what `verifier sync` fetches).
    pub lists: Vec<i64>,
    pub entries: Vec<IndexEntry>,
}

/// The key of an older licence in the status index.
pub fn identifier_hash(identifier: &str) -> [u8; 16] {
    let d = ring::digest::digest(&ring::digest::SHA256, identifier.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&d.as_ref()[..16]);
    out
}

impl StatusIndex {
    pub fn to_cbor(&self) -> Vec<u8> {
        to_cbor(self)
    }

    pub fn verify(bytes: &[u8], root_der: &[u8]) -> Result<StatusIndex, ListError> {
        let v = verify_signed_list(bytes, root_der, STATUS_INDEX_TYP, |p| {
            from_cbor::<StatusIndex>(p).ok().map(|i| i.issued_at)
        })?;
        from_cbor(&v.payload)
    }

    pub fn find(&self, identifier: &str) -> Option<&IndexEntry> {
        let h = identifier_hash(identifier);
        self.entries.iter().find(|e| e.id_hash == h)
    }
}

/// CBOR byte strings for the 16-byte hashes (serde's default would write an array of ints).
mod serde_bytes_16 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 16], D::Error> {
        let v = ciborium::value::Value::deserialize(d)?;
        match v {
            ciborium::value::Value::Bytes(b) if b.len() == 16 => {
                let mut out = [0u8; 16];
                out.copy_from_slice(&b);
                Ok(out)
            }
            _ => Err(serde::de::Error::custom("expected 16 bytes")),
        }
    }
}
