//! The verdict on a scanned code (docs/architecture.md, "Verification"). One pipeline, in a fixed order, so that exactly
//! one reason explains a refusal: decode -> signer by kid -> signature -> signer not revoked ->
//! claims -> seal made inside the signer's signing period (all offline, [`check_seal`]); then,
//! online only, the register: the licence row, its agreement with the seal, its status and its
//! validity ([`judge`]).
//!
//! A genuine seal whose identifier the register does not hold, or whose row disagrees with
//! the sealed claims (identifier, number, holder), gets the reason `unknown_licence`: none of
//! the reasons of docs/architecture.md ("Verification") is true of it (the seal is authentic, the licence is neither revoked nor
//! expired, and the register cannot vouch for it), and a verifier must never see `valid`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Serialize, Serializer};

use super::cert::Kid;
use super::envelope::EnvelopeError;
use super::qr::decode_qr_text;
use super::trust::TrustStore;
use crate::catalog::cert_type::HolderKind;
use crate::catalog::Catalog;
use crate::domain::licence::LicenceStatus;
use crate::domain::seal::SealClaims;
use crate::storage::licences::VerifyRow;

/// Why a code is not a valid licence. Exactly one per refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    BadEncoding,
    UnknownSigner,
    BadSignature,
    SignerRevoked,
    SealedOutsideSigningPeriod,
    NotYetValid,
    Expired,
    Suspended,
    Rescinded,
    Cancelled,
    Revoked,
    Superseded,
    /// A genuine seal the register cannot match (see the module doc).
    UnknownLicence,
    /// A genuine seal with no entry in the transparency log: not issued through the register.
    NotLogged,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadEncoding => "bad_encoding",
            Reason::UnknownSigner => "unknown_signer",
            Reason::BadSignature => "bad_signature",
            Reason::SignerRevoked => "signer_revoked",
            Reason::SealedOutsideSigningPeriod => "sealed_outside_signing_period",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Expired => "expired",
            Reason::Suspended => "suspended",
            Reason::Rescinded => "rescinded",
            Reason::Cancelled => "cancelled",
            Reason::Revoked => "revoked",
            Reason::Superseded => "superseded",
            Reason::UnknownLicence => "unknown_licence",
            Reason::NotLogged => "not_logged",
        }
    }

    /// The reason in plain Chinese, for the verification page.
    pub fn label_zh(self) -> &'static str {
        match self {
            Reason::BadEncoding => "无法识别：这不是本系统签发的电子证照二维码，或二维码已损坏",
            Reason::UnknownSigner => "签章不是由本系统认可的签发密钥做出的",
            Reason::BadSignature => "签章验证失败：二维码内容可能被篡改或伪造",
            Reason::SignerRevoked => "签章所用的签发密钥已被吊销，此签章不再可信",
            Reason::SealedOutsideSigningPeriod => "签章时间不在签发密钥的使用期内，此签章不可信",
            Reason::NotYetValid => "证照尚未生效",
            Reason::Expired => "证照已超过有效期限（失效）",
            Reason::Suspended => "证照已被暂扣",
            Reason::Rescinded => "证照已被撤销",
            Reason::Cancelled => "证照已被注销",
            Reason::Revoked => "证照已被吊销",
            Reason::Superseded => "证照已变更，此版本已被新版本取代",
            Reason::UnknownLicence => "签章真实，但登记系统中没有与之相符的证照",
            Reason::NotLogged => "签章真实，但未记入透明日志：此证照不是经正常签发流程产生的",
        }
    }

    /// The reason a licence status gives, `None` for a valid one.
    fn of_status(status: LicenceStatus) -> Option<Reason> {
        match status {
            LicenceStatus::Valid => None,
            LicenceStatus::Suspended => Some(Reason::Suspended),
            LicenceStatus::Rescinded => Some(Reason::Rescinded),
            LicenceStatus::Cancelled => Some(Reason::Cancelled),
            LicenceStatus::Expired => Some(Reason::Expired),
            LicenceStatus::Revoked => Some(Reason::Revoked),
            LicenceStatus::Superseded => Some(Reason::Superseded),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A seal that passed every offline check: a genuine signature by a trusted, unrevoked
/// signer, made inside its signing period, over well-formed claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedLicence {
    pub kid: Kid,
    pub claims: SealClaims,
}

/// Why the offline checks refused a code; `kid` is set once a trusted signer was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub kid: Option<Kid>,
}

impl Rejection {
    fn new(reason: Reason, kid: Option<Kid>) -> Rejection {
        Rejection { reason, kid }
    }
}

impl From<EnvelopeError> for Rejection {
    fn from(e: EnvelopeError) -> Rejection {
        let reason = match e {
            EnvelopeError::BadEncoding => Reason::BadEncoding,
            EnvelopeError::UnknownSigner => Reason::UnknownSigner,
            EnvelopeError::BadSignature => Reason::BadSignature,
        };
        Rejection::new(reason, None)
    }
}

/// The offline part of the pipeline: everything a trust list alone can tell.
///
/// A revoked signer is refused before its claims are read: whoever holds a compromised key
/// can write any `iat`, so "sealed outside the signing period" would be the weaker truth.
pub fn check_seal(text: &str, trust: &TrustStore) -> Result<SealedLicence, Rejection> {
    let cose = decode_qr_text(text)?;
    let seal = trust.verify_cose(&cose)?;
    let kid = Some(seal.kid);
    if seal.revoked {
        return Err(Rejection::new(Reason::SignerRevoked, kid));
    }
    // A genuine signature over claims we cannot read is still not a licence we can name.
    let claims = SealClaims::from_cbor(&seal.payload)
        .map_err(|_| Rejection::new(Reason::BadEncoding, kid))?;
    match DateTime::<Utc>::from_timestamp(claims.iat, 0) {
        Some(iat) if iat >= seal.sign_from && iat <= seal.sign_until => {}
        _ => return Err(Rejection::new(Reason::SealedOutsideSigningPeriod, kid)),
    }
    Ok(SealedLicence {
        kid: seal.kid,
        claims,
    })
}

/// Public pages show a personal ID number as its first 3 and last 4 characters with stars
/// between (the form `ResidentId::masked` prints); shorter codes are starred whole.
pub fn mask_personal_code(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let n = chars.len();
    if n <= 7 {
        return "*".repeat(n);
    }
    let mut out = String::with_capacity(n + 8);
    out.extend(&chars[..3]);
    out.extend(std::iter::repeat_n('*', n - 7));
    out.extend(&chars[n - 4..]);
    out
}

/// The holder code as the paper prints it: an organisation's credit code in full, anything
/// else (a person, or a type the catalog no longer knows) masked.
fn public_holder_code(kind: Option<HolderKind>, code: &str) -> String {
    match kind {
        Some(HolderKind::Organisation) => code.to_owned(),
        _ => mask_personal_code(code),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HolderSummary {
    pub name: String,
    /// Masked for a person.
    pub code: String,
}

/// What the paper should show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LicenceSummary {
    pub identifier: String,
    pub licence_no: String,
    pub version: i32,
    pub type_code: String,
    pub type_name: Option<String>,
    pub holder: HolderSummary,
    pub issuing_authority: Option<String>,
    pub issuer_code: String,
    pub valid_from: NaiveDate,
    /// `None`: long-term (长期).
    pub valid_to: Option<NaiveDate>,
}

/// The answer of `GET /api/v1/verify` and of the verification page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Verdict {
    /// The seal is genuine (trusted, unrevoked signer, inside its period), whatever the status.
    pub authentic: bool,
    /// The licence status name, or `unknown` when it cannot be known.
    #[serde(serialize_with = "status_name")]
    #[schema(value_type = String)]
    pub status: Option<LicenceStatus>,
    /// `None` exactly when the licence is valid.
    pub reason: Option<Reason>,
    pub licence: Option<LicenceSummary>,
    /// Lower-case hex, once a trusted signer made the signature.
    pub signer_kid: Option<String>,
    #[serde(serialize_with = "rfc3339_secs")]
    pub checked_at: DateTime<Utc>,
    /// Authentic and currently valid: `reason` is null.
    pub valid: bool,
    /// The transparency log's view of a genuine seal (online verification only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<super::log_inclusion::LogInclusion>,
}

fn status_name<S: Serializer>(s: &Option<LicenceStatus>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.map_or("unknown", LicenceStatus::as_str))
}

fn rfc3339_secs<S: Serializer>(t: &DateTime<Utc>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

impl Verdict {
    /// A code the offline checks refused: not authentic, status unknown, nothing to show.
    pub fn rejected(r: Rejection, now: DateTime<Utc>) -> Verdict {
        Verdict {
            authentic: false,
            status: None,
            reason: Some(r.reason),
            licence: None,
            signer_kid: r.kid.map(hex::encode),
            checked_at: now,
            valid: false,
            log: None,
        }
    }

    /// A code that could not be judged at all because of its size (the page's guard).
    pub fn bad_encoding(now: DateTime<Utc>) -> Verdict {
        Verdict::rejected(Rejection::new(Reason::BadEncoding, None), now)
    }
}

/// Whether the stored row is the licence the seal speaks of. A difference means the
/// database or the seal is wrong; either way the register cannot vouch for the paper.
fn row_matches_seal(row: &VerifyRow, claims: &SealClaims, public_code: &str) -> bool {
    row.identifier == claims.identifier
        && row.licence_no == claims.licence_no
        && row.holder_name == claims.holder_name
        && public_code == claims.holder_code_masked
}

/// The online part of the pipeline: a genuine seal judged against its register row (`found`,
/// with the issuing authority's name), on `now`'s date.
pub fn judge(
    sealed: &SealedLicence,
    found: Option<(VerifyRow, Option<String>)>,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Verdict {
    let unknown = |kid: Kid| Verdict {
        authentic: true,
        status: None,
        reason: Some(Reason::UnknownLicence),
        licence: None,
        signer_kid: Some(hex::encode(kid)),
        checked_at: now,
        valid: false,
        log: None,
    };
    let Some((row, authority)) = found else {
        tracing::warn!(identifier = %sealed.claims.identifier, "genuine seal for a licence the register does not hold");
        return unknown(sealed.kid);
    };
    let cert_type = catalog.get(&row.type_code);
    let public_code = public_holder_code(cert_type.map(|t| t.holder_kind), &row.holder_code);
    if !row_matches_seal(&row, &sealed.claims, &public_code) {
        tracing::error!(identifier = %row.identifier, "the register row disagrees with its genuine seal");
        return unknown(sealed.kid);
    }
    // An unknown stored status never gets here: the row does not deserialize.
    let stored = row.status;
    // The same date rule as the licence API, so both always agree on `expired`.
    let today = now.date_naive();
    let status = stored.effective(row.valid_to, today);
    let reason = match Reason::of_status(status) {
        None if row.valid_from > today => Some(Reason::NotYetValid),
        other => other,
    };
    Verdict {
        authentic: true,
        status: Some(status),
        reason,
        licence: Some(LicenceSummary {
            identifier: row.identifier,
            licence_no: row.licence_no,
            version: row.version,
            type_name: cert_type.map(|t| t.name.clone()),
            type_code: row.type_code,
            holder: HolderSummary {
                name: row.holder_name,
                code: public_code,
            },
            issuing_authority: authority,
            issuer_code: row.issuer_code,
            valid_from: row.valid_from,
            valid_to: row.valid_to,
        }),
        signer_kid: Some(hex::encode(sealed.kid)),
        checked_at: now,
        valid: reason.is_none(),
        log: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_first_three_and_last_four() {
        assert_eq!(
            mask_personal_code("11010519491231002X"),
            "110***********002X"
        );
        assert_eq!(mask_personal_code("1234567"), "*******");
        assert_eq!(mask_personal_code("12345678"), "123*5678");
        assert_eq!(mask_personal_code(""), "");
    }

    #[test]
    fn mask_agrees_with_the_resident_id_form_sealed_into_claims() {
        let id = crate::domain::codes::ResidentId::parse("440524188001010014").unwrap();
        assert_eq!(mask_personal_code(id.as_str()), id.masked());
    }

    #[test]
    fn reasons_serialise_as_design_names() {
        for r in [
            Reason::BadEncoding,
            Reason::SealedOutsideSigningPeriod,
            Reason::NotYetValid,
            Reason::UnknownLicence,
        ] {
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::json!(r.as_str())
            );
        }
    }

    #[test]
    fn broken_texts_are_bad_encoding_without_a_signer() {
        let store = TrustStore::empty();
        for text in ["", "HTTPS://X/V/", "not base32 !", "MZXW6"] {
            assert_eq!(
                check_seal(text, &store),
                Err(Rejection::new(Reason::BadEncoding, None)),
                "{text:?}"
            );
        }
    }
}
