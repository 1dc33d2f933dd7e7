//! `crosscert verify`: the offline verifier. Reads a trust-list JSON (the file
//! `GET /api/v1/trust-list` serves) and a QR text or a PNG photo of the code, and says whether
//! the seal is genuine. Offline the licence status is unknown (suspension and revocation live
//! on the server); only the expiry sealed into the code is checked. Loads no font, catalog or
//! database, so it starts in milliseconds.
//!
//! Exit codes (docs/architecture.md, "Verification"): 0 authentic and valid as far as known, 1 anything that does not
//! verify (a code that does not decode included), 2 unusable arguments.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::bundle::Bundle;
use super::envelope::verify_envelope_with_key;
use super::trust::{certificate_der_from_pem, TrustList, TrustStore};
use super::verdict::{check_seal, Reason, SealedLicence};
use super::SignerKey;
use crate::domain::codes::Identifier;
use crate::domain::status_list::ListStatus;

pub const EXIT_VALID: u8 = 0;
pub const EXIT_NOT_VERIFIED: u8 = 1;
pub const EXIT_BAD_ARGUMENTS: u8 = 2;

/// What the command line gave (clap's parsing stays in `main.rs`).
#[derive(Debug, Clone, Default)]
pub struct OfflineArgs {
    pub code: Option<String>,
    pub image: Option<PathBuf>,
    pub trust_list: Option<PathBuf>,
    pub cose_hex: Option<String>,
    pub cert: Option<PathBuf>,
    /// A bundle folder from `crosscert verifier sync`: signed trust list and status lists.
    pub bundle: Option<PathBuf>,
    /// A licence PDF to check (`--pdf`): its PAdES signature and its attached seal.
    pub pdf: Option<PathBuf>,
}

/// An argument the command cannot use (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ArgumentError(pub(crate) String);

/// Runs the command: the verdict as JSON on stdout, one human line on stderr; the exit code.
pub fn run(args: &OfflineArgs) -> u8 {
    let outcome = if args.pdf.is_some() {
        super::pdf_check::check(args)
    } else if args.cose_hex.is_some() {
        envelope_only(args)
    } else if args.bundle.is_some() {
        with_bundle(args, Utc::now())
    } else {
        with_trust_list(args, Utc::now())
    };
    match outcome {
        Ok((report, summary, code)) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{report:#}");
            let _ = out.flush();
            eprintln!("{summary}");
            code
        }
        Err(e) => {
            eprintln!("crosscert verify: {e}");
            EXIT_BAD_ARGUMENTS
        }
    }
}

pub(crate) type Outcome = Result<(Value, String, u8), ArgumentError>;

pub(crate) fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, ArgumentError> {
    std::fs::read(path)
        .map_err(|e| ArgumentError(format!("cannot read the {what} {}: {e}", path.display())))
}

pub(crate) fn load_trust_store(path: &Path) -> Result<TrustStore, ArgumentError> {
    let bytes = read_file(path, "trust list")?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ArgumentError(format!("{}: the trust list is not UTF-8", path.display())))?;
    let list = TrustList::from_json(&text)
        .map_err(|e| ArgumentError(format!("{}: {e}", path.display())))?;
    TrustStore::new(&list).map_err(|e| ArgumentError(format!("{}: {e}", path.display())))
}

/// The text of the first QR code found in a PNG (or other format `image` reads): `Err` when
/// the file cannot be read as an image, `Ok(None)` when it holds no readable QR code.
///
/// `rqrr` (a port of quirc, about a millisecond a page) is asked first. It finds a dense code
/// (version 16 and up: a business licence's seal with its status claim) on a whole 150 dpi
/// page only now and then, so then `rxing` (ZXing's reader, slower and sturdier) reads it.
pub fn read_qr_image(path: &Path) -> Result<Option<String>, ArgumentError> {
    let unreadable =
        |e: String| ArgumentError(format!("cannot read the image {}: {e}", path.display()));
    let img = image::ImageReader::open(path)
        .map_err(|e| unreadable(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| unreadable(e.to_string()))?
        .decode()
        .map_err(|e| unreadable(e.to_string()))?
        .to_luma8();
    let (w, h) = img.dimensions();
    let mut first = None;
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
            img.get_pixel(x as u32, y as u32).0[0]
        });
    for grid in prepared.detect_grids() {
        if let Ok((_, text)) = grid.decode() {
            // A page may carry other codes; the seal's is the one with a `/V/` path.
            if is_seal_text(&text) {
                return Ok(Some(text));
            }
            first.get_or_insert(text);
        }
    }
    let mut hints = rxing::DecodeHints::default();
    if let Ok(found) = rxing::helpers::detect_in_luma_with_hints(
        img.into_raw(),
        w,
        h,
        Some(rxing::BarcodeFormat::QR_CODE),
        &mut hints,
    ) {
        let text = found.getText().to_owned();
        if is_seal_text(&text) || first.is_none() {
            return Ok(Some(text));
        }
    }
    Ok(first)
}

fn is_seal_text(text: &str) -> bool {
    text.to_ascii_uppercase().contains("/V/")
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) fn sealed_json(s: &SealedLicence) -> Value {
    let c = &s.claims;
    let id = Identifier::parse(&c.identifier).ok();
    json!({
        "identifier": c.identifier,
        "type_code": id.as_ref().map(|i| i.type_code().to_owned()),
        "version": id.as_ref().map(|i| i.version()),
        "licence_no": c.licence_no,
        "holder": {"name": c.holder_name, "code": c.holder_code_masked},
        "issuer_code": c.iss,
        "sealed_at": DateTime::<Utc>::from_timestamp(c.iat, 0).map(rfc3339),
        "valid_until": c.exp.and_then(|e| DateTime::<Utc>::from_timestamp(e, 0)).map(rfc3339),
    })
}

fn scanned_text(args: &OfflineArgs) -> Result<Option<String>, ArgumentError> {
    match (&args.code, &args.image) {
        (Some(code), None) => Ok(Some(code.clone())),
        (None, Some(image)) => read_qr_image(image),
        _ => Err(ArgumentError(
            "give either the QR text or --image PNG, not both".into(),
        )),
    }
}

/// Where the bundle says a licence's status is, and what it is.
enum BundleStatus {
    Known {
        status: ListStatus,
        as_of: DateTime<Utc>,
        expires: DateTime<Utc>,
        uri: String,
        idx: u64,
    },
    Unknown(String),
}

fn bundle_status(bundle: &Bundle, sealed: &SealedLicence, now: DateTime<Utc>) -> BundleStatus {
    let (uri, idx) = match &sealed.claims.status {
        Some(s) => (s.uri.clone(), s.idx),
        None => match bundle
            .index
            .as_ref()
            .and_then(|i| i.find(&sealed.claims.identifier).map(|e| (i, e)))
        {
            Some((i, e)) => (format!("{}{}", i.base_uri, e.list), e.idx),
            None => {
                return BundleStatus::Unknown(
                    "the bundle holds no status for this licence (sync again)".into(),
                )
            }
        },
    };
    let Some(id) = uri.rsplit('/').next().and_then(|s| s.parse::<i64>().ok()) else {
        return BundleStatus::Unknown(format!("the seal's status list {uri} is not one of ours"));
    };
    let list = match bundle.status_list(id) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return BundleStatus::Unknown(format!(
                "the bundle lacks the status list {uri} (sync again)"
            ))
        }
        Err(e) => {
            return BundleStatus::Unknown(format!("the bundle's status list is refused: {e}"))
        }
    };
    if list.claims.sub != uri {
        return BundleStatus::Unknown(format!(
            "the bundle's list {} is not the seal's {uri}",
            list.claims.sub
        ));
    }
    if list.is_expired(now) {
        return BundleStatus::Unknown(format!(
            "the status list expired at {} (stale): sync again",
            rfc3339(DateTime::<Utc>::from_timestamp(list.claims.exp, 0).unwrap_or(now))
        ));
    }
    let status = match list.statuses.get(idx).ok().and_then(ListStatus::from_bits) {
        Some(s) => s,
        None => {
            return BundleStatus::Unknown(format!("index {idx} has no defined status in {uri}"))
        }
    };
    BundleStatus::Known {
        status,
        as_of: list.issued_at(),
        expires: DateTime::<Utc>::from_timestamp(list.claims.exp, 0).unwrap_or(now),
        uri,
        idx,
    }
}

/// `--bundle DIR`: authenticity from the bundle's signed trust list, status from its signed
/// status lists. Exit 0 only for a genuine seal whose current list says valid.
fn with_bundle(args: &OfflineArgs, now: DateTime<Utc>) -> Outcome {
    let dir = args
        .bundle
        .as_deref()
        .ok_or_else(|| ArgumentError("--bundle DIR is required".into()))?;
    let bundle = Bundle::load(dir).map_err(|e| ArgumentError(e.to_string()))?;
    let text = scanned_text(args)?;
    let trust_stale = bundle.trust_list.is_expired(now);
    let trust_note = trust_stale.then(|| {
        format!(
            "the trust list expired at {} (stale): sync again",
            rfc3339(
                DateTime::<Utc>::from_timestamp(bundle.trust_list.expires_at, 0).unwrap_or(now)
            )
        )
    });
    let checked = match &text {
        Some(text) => check_seal(text, &bundle.store),
        None => Err(super::verdict::Rejection {
            reason: Reason::BadEncoding,
            kid: None,
        }),
    };
    let sealed = match checked {
        Err(r) => {
            return Ok((
                json!({
                    "authentic": false, "valid": false, "status": "unknown",
                    "reason": r.reason.as_str(), "signer_kid": r.kid.map(hex::encode),
                    "checked_at": rfc3339(now), "licence": Value::Null,
                    "trust_list_sequence": bundle.trust_list.sequence,
                    "note": if text.is_none() { Some("no readable QR code in the image".to_owned()) } else { trust_note },
                }),
                format!("NOT VERIFIED: {}", r.reason),
                EXIT_NOT_VERIFIED,
            ))
        }
        Ok(s) => s,
    };
    let kid = hex::encode(sealed.kid);
    let expired = sealed.claims.exp.is_some_and(|exp| now.timestamp() > exp);
    let found = bundle_status(&bundle, &sealed, now);
    let (status, reason, as_of, list_json, mut note) = match &found {
        BundleStatus::Known {
            status,
            as_of,
            expires,
            uri,
            idx,
        } => {
            let (status, reason) = match (*status, expired) {
                (_, true) => ("invalid", Some(Reason::Expired.as_str())),
                (ListStatus::Valid, false) => ("valid", None),
                (ListStatus::Suspended, false) => ("suspended", Some(Reason::Suspended.as_str())),
                // The list's 2 bits do not say which of revoked, rescinded, cancelled or
                // superseded ended the licence.
                (ListStatus::Invalid, false) => ("invalid", Some("invalid")),
            };
            (
                status,
                reason,
                Some(*as_of),
                json!({"uri": uri, "idx": idx, "status_as_of": rfc3339(*as_of), "expires_at": rfc3339(*expires)}),
                None,
            )
        }
        BundleStatus::Unknown(why) => (
            if expired { "invalid" } else { "unknown" },
            Some(if expired {
                Reason::Expired.as_str()
            } else {
                "status_unknown"
            }),
            None,
            Value::Null,
            Some(why.clone()),
        ),
    };
    if trust_stale {
        note = trust_note;
    }
    let listed_valid = !expired
        && matches!(
            &found,
            BundleStatus::Known {
                status: ListStatus::Valid,
                ..
            }
        );
    let unknown = !expired && matches!(&found, BundleStatus::Unknown(_));
    let valid = listed_valid && !trust_stale;
    let as_of_text = as_of
        .map(|t| format!("status as of {}", rfc3339(t)))
        .unwrap_or_else(|| "status unknown".into());
    let summary = match (valid, &note) {
        (true, _) => format!("authentic seal by signer {kid}; VALID ({as_of_text})"),
        (false, Some(n)) => format!(
            "authentic seal by signer {kid}; {} ({as_of_text}): {n}",
            if unknown {
                "status UNKNOWN".to_owned()
            } else {
                format!("NOT VALID: {}", reason.unwrap_or(status))
            }
        ),
        (false, None) => format!(
            "authentic seal by signer {kid}; NOT VALID: {} ({as_of_text})",
            reason.unwrap_or(status)
        ),
    };
    Ok((
        json!({
            "authentic": true, "valid": valid, "status": status, "reason": reason,
            "signer_kid": kid, "checked_at": rfc3339(now), "licence": sealed_json(&sealed),
            "status_as_of": as_of.map(rfc3339), "status_list": list_json,
            "trust_list_sequence": bundle.trust_list.sequence, "note": note,
        }),
        summary,
        if valid { EXIT_VALID } else { EXIT_NOT_VERIFIED },
    ))
}

fn with_trust_list(args: &OfflineArgs, now: DateTime<Utc>) -> Outcome {
    let path = args.trust_list.as_deref().ok_or_else(|| {
        ArgumentError("--trust-list FILE is required (save it from GET /api/v1/trust-list)".into())
    })?;
    let store = load_trust_store(path)?;
    let text = scanned_text(args)?;
    let checked = match &text {
        Some(text) => check_seal(text, &store),
        None => Err(super::verdict::Rejection {
            reason: Reason::BadEncoding,
            kid: None,
        }),
    };
    let note =
        "offline: the status (suspended, revoked, superseded...) is known only to the server";
    Ok(match checked {
        Err(r) => (
            json!({
                "authentic": false, "valid": false, "status": "unknown",
                "reason": r.reason.as_str(), "signer_kid": r.kid.map(hex::encode),
                "checked_at": rfc3339(now), "licence": Value::Null,
                "note": if text.is_none() { "no readable QR code in the image" } else { note },
            }),
            format!("NOT VERIFIED: {}", r.reason),
            EXIT_NOT_VERIFIED,
        ),
        Ok(sealed) => {
            // The seal's `exp` is the end of the last valid day: past it, the licence is
            // expired whatever the server would add.
            let expired = sealed.claims.exp.is_some_and(|exp| now.timestamp() > exp);
            let reason = expired.then_some(Reason::Expired);
            let kid = hex::encode(sealed.kid);
            let summary = match reason {
                Some(r) => format!("authentic seal by signer {kid}, but NOT VALID: {r}"),
                None => format!(
                    "authentic seal by signer {kid}; status unknown offline (suspension and revocation need the server)"
                ),
            };
            (
                json!({
                    "authentic": true, "valid": reason.is_none(), "status": "unknown",
                    "reason": reason.map(Reason::as_str), "signer_kid": kid,
                    "checked_at": rfc3339(now), "licence": sealed_json(&sealed), "note": note,
                }),
                summary,
                if reason.is_none() {
                    EXIT_VALID
                } else {
                    EXIT_NOT_VERIFIED
                },
            )
        }
    })
}

/// `--cose-hex HEX --cert FILE.pem`: kid (when present) and signature only; no claims, no
/// clock.
fn envelope_only(args: &OfflineArgs) -> Outcome {
    let (Some(hex_text), Some(cert_path)) = (&args.cose_hex, &args.cert) else {
        return Err(ArgumentError("--cose-hex needs --cert FILE.pem".into()));
    };
    let pem = read_file(cert_path, "certificate")?;
    let pem = String::from_utf8_lossy(&pem);
    let der = certificate_der_from_pem(&pem)
        .map_err(|e| ArgumentError(format!("{}: {e}", cert_path.display())))?;
    let key = SignerKey::from_certificate_der(&der)
        .map_err(|e| ArgumentError(format!("{}: {e}", cert_path.display())))?;
    let compact: String = hex_text.chars().filter(|c| !c.is_whitespace()).collect();
    let result = match hex::decode(&compact) {
        Ok(cose) => verify_envelope_with_key(&cose, &key).map_err(Reason::from_envelope),
        Err(_) => Err(Reason::BadEncoding),
    };
    let kid = hex::encode(key.kid());
    Ok(match result {
        Ok(()) => (
            json!({"authentic": true, "reason": Value::Null, "signer_kid": kid}),
            format!("the COSE_Sign1 signature verifies with the certificate (kid {kid})"),
            EXIT_VALID,
        ),
        Err(r) => (
            json!({"authentic": false, "reason": r.as_str(), "signer_kid": Value::Null}),
            format!("NOT VERIFIED: {r}"),
            EXIT_NOT_VERIFIED,
        ),
    })
}

impl Reason {
    fn from_envelope(e: super::EnvelopeError) -> Reason {
        super::verdict::Rejection::from(e).reason
    }
}
