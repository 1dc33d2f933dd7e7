//! `crosscert verify --pdf FILE`: an electronic licence file checked offline. The PAdES
//! signature (whole file covered, CMS valid, signer in the trust list), the attached
//! `seal.cose` (genuine, unrevoked signer, sealed in its period), that the seal is the one in
//! the page's QR code (the first page rasterised with poppler's `pdftoppm` when installed,
//! then read like `--image`), and whether seal and signature come from the same signer.

use std::path::Path;

use chrono::Utc;
use serde_json::{json, Value};

use super::bundle::Bundle;
use super::offline::{
    load_trust_store, read_file, read_qr_image, sealed_json, ArgumentError, OfflineArgs, Outcome,
    EXIT_NOT_VERIFIED, EXIT_VALID,
};
use super::pades::{verify_pdf, PdfReport};
use super::qr::{decode_qr_text, qr_text};
use super::trust::TrustStore;
use super::verdict::check_seal;

fn store_for(args: &OfflineArgs) -> Result<TrustStore, ArgumentError> {
    match (&args.trust_list, &args.bundle) {
        (Some(path), None) => load_trust_store(path),
        (None, Some(dir)) => Ok(Bundle::load(dir)
            .map_err(|e| ArgumentError(e.to_string()))?
            .store),
        _ => Err(ArgumentError(
            "--pdf needs --trust-list FILE or --bundle DIR".into(),
        )),
    }
}

/// The text of the QR code on the PDF's first page: `Ok(None)` when `pdftoppm` is missing
/// or the page holds no readable code.
fn page_qr(pdf: &Path) -> Result<Option<String>, String> {
    let dir = std::env::temp_dir().join(format!(
        "crosscert-verify-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let prefix = dir.join("page");
    let mut out = Ok(None);
    // rqrr finds a dense code on a whole page at some resolutions and not at others: a few
    // are tried, the usual first.
    for dpi in ["150", "300", "200"] {
        let status = std::process::Command::new("pdftoppm")
            .args(["-r", dpi, "-png", "-f", "1", "-l", "1", "-singlefile"])
            .arg(pdf)
            .arg(&prefix)
            .stderr(std::process::Stdio::null())
            .status();
        out = match status {
            Ok(s) if s.success() => {
                read_qr_image(&prefix.with_extension("png")).map_err(|e| e.to_string())
            }
            Ok(_) => Err("pdftoppm could not rasterise the page".into()),
            Err(_) => Ok(None),
        };
        if !matches!(out, Ok(None)) || status.is_err() {
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn signature_json(r: &PdfReport) -> Value {
    match &r.signature {
        None => json!({"found": false, "valid": false, "problem": r.signature_problem}),
        Some(s) => json!({
            "found": true,
            "valid": r.signature_valid(),
            "sub_filter": s.sub_filter,
            "covers_whole_file": s.covers_whole_file,
            "signing_time": s.signing_time,
            "cms": match &s.cms { Ok(_) => "ok", Err(e) => e.as_str() },
            "cms_problem": s.cms.as_ref().err().map(ToString::to_string),
            "signer_kid": s.signer_kid.map(hex::encode),
            "signer_subject": s.signer_subject,
            "signer_trusted": s.signer_trusted,
        }),
    }
}

pub(crate) fn check(args: &OfflineArgs) -> Outcome {
    let path = args
        .pdf
        .as_deref()
        .ok_or_else(|| ArgumentError("--pdf FILE is required".into()))?;
    let store = store_for(args)?;
    let bytes = read_file(path, "PDF")?;
    let report = verify_pdf(&bytes, &store);
    let signature_ok = report.signature_valid();

    // The seal through the same offline checks as a scanned code.
    let sealed = report
        .seal_bytes
        .as_ref()
        .map(|cose| check_seal(&qr_text("", cose), &store));
    let seal_ok = matches!(sealed, Some(Ok(_)));
    let qr = page_qr(path);
    let qr_matches = match (&qr, &report.seal_bytes) {
        (Ok(Some(text)), Some(cose)) => Some(decode_qr_text(text).is_ok_and(|c| &c == cose)),
        (Ok(Some(_)), None) => Some(false),
        _ => None,
    };
    let same_signer = report.seal_matches_signer();
    let valid = signature_ok && seal_ok && qr_matches != Some(false);

    let seal_json = json!({
        "attached": report.seal_bytes.is_some(),
        "genuine": seal_ok,
        "licence": sealed.as_ref().and_then(|s| s.as_ref().ok()).map(sealed_json),
        "reason": sealed.as_ref().and_then(|s| s.as_ref().err()).map(|r| r.reason.as_str()),
        "kid": report.seal.as_ref().and_then(|s| s.as_ref().ok()).map(|s| hex::encode(s.kid)),
        "same_signer_as_signature": same_signer,
    });
    let qr_json = json!({
        "checked": qr_matches.is_some(),
        "matches_seal": qr_matches,
        "note": match &qr {
            Ok(Some(_)) => None,
            Ok(None) => Some("no QR code read from the page (is pdftoppm from poppler-utils installed?)".to_string()),
            Err(e) => Some(e.clone()),
        },
    });
    let out = json!({
        "file": path.display().to_string(),
        "valid": valid,
        "signature": signature_json(&report),
        "seal": seal_json,
        "qr": qr_json,
    });
    let summary = if valid {
        format!(
            "VALID: the PDF signature is intact and by a trusted signer; the attached seal is genuine{}{}",
            match qr_matches {
                Some(true) => " and is the page's QR code",
                _ => " (QR code not checked)",
            },
            if same_signer { "" } else { "; note: the seal and the file were signed by different signers" }
        )
    } else if !signature_ok {
        format!(
            "NOT VERIFIED: the PDF signature is invalid ({})",
            report
                .signature
                .as_ref()
                .map(|s| match &s.cms {
                    Err(e) => e.to_string(),
                    Ok(_) if !s.covers_whole_file =>
                        "the signature does not cover the whole file".into(),
                    Ok(_) => "the signer is not in the trust list".into(),
                })
                .or_else(|| report.signature_problem.clone())
                .unwrap_or_default()
        )
    } else if !seal_ok {
        "NOT VERIFIED: the attached seal is missing or not genuine".to_string()
    } else {
        "NOT VERIFIED: the page's QR code is not the attached seal".to_string()
    };
    let code = if valid { EXIT_VALID } else { EXIT_NOT_VERIFIED };
    Ok((out, summary, code))
}
