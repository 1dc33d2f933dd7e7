//! The electronic licence file proves itself (issue 23): on every catalog type the PDF from
//! `GET /api/v1/licences/{id}/pdf` carries a PAdES B-B signature that poppler's `pdfsig`
//! finds valid, covering the whole document, with the root trusted through an NSS database
//! made by `certutil`; `qpdf --check` finds no error; the PDF/A-3b structure is in place
//! (XMP identification, sRGB output intent, embedded fonts, `seal.cose` with relationship
//! `Source`); one changed byte makes both `pdfsig` and `crosscert verify --pdf` refuse it.
//! Needs poppler-utils, qpdf and libnss3-tools (scripts/install-deps.sh).

use crate::helpers::{assert_error, crosscert, spawn_app, TestApp, CITY_HALL, LANSHAN_HALL};
use crate::licences::{business_licence_code, example_body, issue, issuer};
use crosscert::domain::role::Role;
use futures_util::StreamExt;
use serde_json::json;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An NSS database in `dir` that trusts the key set's root for signatures.
fn nss_db(app: &TestApp, dir: &Path) -> PathBuf {
    let db = dir.join("nss");
    std::fs::create_dir_all(&db).unwrap();
    let root = dir.join("root.pem");
    std::fs::write(&root, app.state.sealer.keys().root_pem()).unwrap();
    let ok = Command::new("certutil")
        .args(["-N", "--empty-password", "-d"])
        .arg(format!("sql:{}", db.display()))
        .status()
        .expect("certutil (libnss3-tools)");
    assert!(ok.success());
    let ok = Command::new("certutil")
        .args(["-A", "-n", "crosscert-root", "-t", "CT,C,C", "-i"])
        .arg(&root)
        .arg("-d")
        .arg(format!("sql:{}", db.display()))
        .status()
        .unwrap();
    assert!(ok.success());
    db
}

fn pdfsig(nss: &Path, pdf: &Path) -> String {
    let out = Command::new("pdfsig")
        .arg("-nssdir")
        .arg(format!("sql:{}", nss.display()))
        .arg(pdf)
        .output()
        .expect("pdfsig (poppler-utils)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn qpdf_check(pdf: &Path) -> (bool, String) {
    let out = Command::new("qpdf")
        .arg("--check")
        .arg(pdf)
        .output()
        .expect("qpdf");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn object<'a>(doc: &'a lopdf::Document, o: &'a lopdf::Object) -> &'a lopdf::Object {
    match o {
        lopdf::Object::Reference(id) => doc.get_object(*id).unwrap(),
        other => other,
    }
}

/// PDF/A-3b as ISO 19005-3 asks, checked structurally (no veraPDF package is reachable here).
fn assert_pdfa3b(code: &str, bytes: &[u8], cose: &[u8]) {
    assert!(bytes.starts_with(b"%PDF-1.7\n%"), "{code}: header");
    assert!(
        bytes[10..14].iter().all(|b| *b >= 128),
        "{code}: binary mark"
    );
    let doc = lopdf::Document::load_mem(bytes).unwrap();
    assert!(doc.trailer.get(b"Encrypt").is_err(), "{code}: encrypted");
    assert!(doc.trailer.get(b"ID").is_ok(), "{code}: no file id");
    let catalog = doc.catalog().unwrap();
    // XMP with the PDF/A identification, unfiltered.
    let xmp = object(&doc, catalog.get(b"Metadata").unwrap())
        .as_stream()
        .unwrap();
    assert!(xmp.dict.get(b"Filter").is_err(), "{code}: XMP filtered");
    let xmp = String::from_utf8(xmp.content.clone()).unwrap();
    assert!(xmp.contains("<pdfaid:part>3</pdfaid:part>"), "{code}");
    assert!(
        xmp.contains("<pdfaid:conformance>B</pdfaid:conformance>"),
        "{code}"
    );
    // The information dictionary agrees with the XMP.
    let info = object(&doc, doc.trailer.get(b"Info").unwrap())
        .as_dict()
        .unwrap();
    let title = crosscert::render::pdfa::decode_text(info.get(b"Title").unwrap().as_str().unwrap());
    assert!(xmp.contains(&format!(">{title}</rdf:li>")), "{code}: title");
    for key in [&b"Author"[..], b"Subject", b"Keywords", b"Trapped"] {
        assert!(info.get(key).is_err(), "{code}: Info has no XMP twin");
    }
    // An sRGB output intent with an embedded ICC profile of 3 components.
    let intents = object(&doc, catalog.get(b"OutputIntents").unwrap())
        .as_array()
        .unwrap();
    let intent = object(&doc, &intents[0]).as_dict().unwrap();
    assert_eq!(intent.get(b"S").unwrap().as_name().unwrap(), b"GTS_PDFA1");
    let icc = object(&doc, intent.get(b"DestOutputProfile").unwrap())
        .as_stream()
        .unwrap();
    assert_eq!(icc.dict.get(b"N").unwrap().as_i64().unwrap(), 3);
    let profile = icc
        .decompressed_content()
        .unwrap_or_else(|_| icc.content.clone());
    assert_eq!(&profile[12..20], b"mntrRGB ", "{code}: display RGB profile");
    // Every font embedded; no external reference (no URI action, no remote go-to).
    let mut fonts = 0;
    for o in doc.objects.values() {
        let Ok(d) = o.as_dict() else { continue };
        if d.get(b"Type").and_then(lopdf::Object::as_name).ok() == Some(b"FontDescriptor") {
            fonts += 1;
            assert!(
                d.get(b"FontFile").is_ok()
                    || d.get(b"FontFile2").is_ok()
                    || d.get(b"FontFile3").is_ok(),
                "{code}: a font is not embedded"
            );
        }
        for key in [&b"URI"[..], b"GoToR", b"Launch", b"JavaScript"] {
            assert!(d.get(key).is_err(), "{code}: external reference");
        }
    }
    assert!(fonts >= 1, "{code}: no font");
    // The seal attached, relationship Source, listed in /AF and the name tree.
    let files = crosscert::render::pdfa::embedded_files(&doc);
    assert_eq!(
        files,
        vec![("seal.cose".to_string(), "Source".to_string(), cose.to_vec())],
        "{code}"
    );
    assert!(
        catalog.get(b"Names").is_ok(),
        "{code}: no EmbeddedFiles name tree"
    );
    // The signature widget is printed, over the seal.
    let page = doc.page_iter().next().unwrap();
    let annots = doc
        .get_dictionary(page)
        .unwrap()
        .get(b"Annots")
        .unwrap()
        .as_array()
        .unwrap();
    let widget = object(&doc, &annots[0]).as_dict().unwrap();
    assert_eq!(widget.get(b"F").unwrap().as_i64().unwrap() & 4, 4);
    assert!(widget.get(b"AP").is_ok());
}

fn cose_of(licence: &Value) -> Vec<u8> {
    crosscert::verification::decode_qr_text(licence["qr_text"].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_is_a_signed_pdfa_that_pdfsig_and_qpdf_accept() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let nss = nss_db(&app, dir.path());
    let codes: Vec<String> = app
        .state
        .catalog
        .types()
        .iter()
        .map(|t| t.code.clone())
        .collect();
    assert!(codes.len() >= 102, "{} types", codes.len());
    let mut licences = Vec::new();
    for code in &codes {
        let body = example_body(&app, &token, code).await;
        licences.push((code.clone(), issue(&app, &token, &body).await));
    }
    let app = &app;
    let token = &token;
    let nss = &nss;
    let dir_path = dir.path().to_path_buf();
    let checked: Vec<(usize, String)> = futures_util::stream::iter(licences)
        .map(|(code, licence)| {
            let path = dir_path.join(format!("{code}.pdf"));
            async move {
                let id = licence["id"].as_str().unwrap();
                let res = app
                    .get(&format!("/api/v1/licences/{id}/pdf"), Some(token))
                    .await;
                assert_eq!(res.status(), 200, "{code}");
                let pdf = res.bytes().await.unwrap().to_vec();
                std::fs::write(&path, &pdf).unwrap();
                assert_pdfa3b(&code, &pdf, &cose_of(&licence));
                let nss = nss.clone();
                let (sig, (qpdf_ok, qpdf_out)) =
                    tokio::task::spawn_blocking(move || (pdfsig(&nss, &path), qpdf_check(&path)))
                        .await
                        .unwrap();
                assert!(sig.contains("Signature is Valid"), "{code}: {sig}");
                assert!(sig.contains("Total document signed"), "{code}: {sig}");
                assert!(sig.contains("Certificate is Trusted"), "{code}: {sig}");
                assert!(sig.contains("ETSI.CAdES.detached"), "{code}: {sig}");
                assert!(qpdf_ok, "{code}: {qpdf_out}");
                assert!(!qpdf_out.contains("WARNING"), "{code}: {qpdf_out}");
                (pdf.len(), code)
            }
        })
        .buffer_unordered(2)
        .collect()
        .await;
    assert_eq!(checked.len(), codes.len());
    // What is served stays at or under 100 KB (issue 27), signature and seal included.
    let (largest, code) = checked.iter().max().unwrap();
    eprintln!("largest signed electronic licence served: {code} ({largest} bytes)");
    assert!(*largest <= 100_000, "{code}: {largest} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_changed_byte_makes_pdfsig_and_verify_pdf_refuse_the_file() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let code = business_licence_code(&app);
    let body = example_body(&app, &token, &code).await;
    let licence = issue(&app, &token, &body).await;
    let id = licence["id"].as_str().unwrap();
    let pdf = app
        .get(&format!("/api/v1/licences/{id}/pdf"), Some(&token))
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let dir = tempfile::tempdir().unwrap();
    let nss = nss_db(&app, dir.path());
    let trust = dir.path().join("trust.json");
    let list = app
        .get("/api/v1/trust-list", None)
        .await
        .text()
        .await
        .unwrap();
    std::fs::write(&trust, list).unwrap();

    let good = dir.path().join("good.pdf");
    std::fs::write(&good, &pdf).unwrap();
    let out = crosscert()
        .args(["verify", "--pdf"])
        .arg(&good)
        .arg("--trust-list")
        .arg(&trust)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["valid"], true);
    assert_eq!(report["signature"]["covers_whole_file"], true);
    assert_eq!(report["signature"]["signer_trusted"], true);
    assert_eq!(report["seal"]["genuine"], true);
    assert_eq!(report["seal"]["same_signer_as_signature"], true);
    assert_eq!(
        report["seal"]["licence"]["licence_no"],
        licence["licence_no"]
    );
    assert_eq!(report["qr"]["matches_seal"], true, "{report:#}");

    // One byte inside the first signed range, chosen so the file still parses.
    let text = String::from_utf8_lossy(&pdf);
    let at = text.find("/ByteRange[0 ").unwrap() + "/ByteRange[0 ".len();
    let first_len: usize = text[at..].split(' ').next().unwrap().parse().unwrap();
    let mut bad = pdf.clone();
    // A byte of the page's compressed content stream (after "stream\n" of the first stream).
    let stream_at = text.find("stream\n").unwrap() + "stream\n".len() + 5;
    assert!(stream_at < first_len);
    bad[stream_at] ^= 0x01;
    let bad_path = dir.path().join("bad.pdf");
    std::fs::write(&bad_path, &bad).unwrap();
    let sig = pdfsig(&nss, &bad_path);
    assert!(!sig.contains("Signature is Valid"), "{sig}");
    assert!(
        sig.contains("Signature is Invalid") || sig.contains("Digest Mismatch"),
        "{sig}"
    );
    let out = crosscert()
        .args(["verify", "--pdf"])
        .arg(&bad_path)
        .arg("--trust-list")
        .arg(&trust)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(report["valid"], false);
    assert_eq!(report["signature"]["cms"], "digest_mismatch", "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registration_archive_is_a_signed_pdfa_with_every_version_attached() {
    let app = spawn_app().await;
    let token = issuer(&app).await;
    let body = example_body(&app, &token, &business_licence_code(&app)).await;
    let v1 = issue(&app, &token, &body).await;
    let mut id = v1["id"].as_str().unwrap().to_string();
    for n in 2..=3 {
        let mut changed = body.clone();
        changed["holder"]["name"] = json!(format!("临沂市兰山区鑫源食品有限公司（第{n}次更名）"));
        let res = app
            .post_json(
                &format!("/api/v1/licences/{id}/versions"),
                Some(&token),
                &changed,
            )
            .await;
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["version"], n);
        id = v["id"].as_str().unwrap().to_string();
    }
    let res = app
        .get(&format!("/api/v1/licences/{id}/archive"), Some(&token))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let pdf = res.bytes().await.unwrap().to_vec();
    eprintln!(
        "archive of a licence with three versions: {} bytes",
        pdf.len()
    );

    let dir = tempfile::tempdir().unwrap();
    let nss = nss_db(&app, dir.path());
    let path = dir.path().join("archive.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let sig = pdfsig(&nss, &path);
    assert!(sig.contains("Signature is Valid"), "{sig}");
    assert!(sig.contains("Total document signed"), "{sig}");
    assert!(sig.contains("Certificate is Trusted"), "{sig}");
    let (ok, out) = qpdf_check(&path);
    assert!(ok && !out.contains("WARNING"), "{out}");
    let text = String::from_utf8_lossy(
        &Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    for needle in [
        "电子登记档案",
        "第3次更名",
        "LicenceIssued",
        "LicenceSuperseded",
        "licence-v3.pdf",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }

    // Each version's signed e-licence is attached and verifies on its own.
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    let files = crosscert::render::pdfa::embedded_files(&doc);
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        ["licence-v1.pdf", "licence-v2.pdf", "licence-v3.pdf"]
    );
    let store = app.state.trust.clone();
    for (name, rel, bytes) in &files {
        assert_eq!(rel, "Source");
        let report = crosscert::verification::pades::verify_pdf(bytes, &store);
        assert!(report.signature_valid(), "{name}");
        assert!(matches!(report.seal, Some(Ok(_))), "{name}");
    }
    let report = crosscert::verification::pades::verify_pdf(&pdf, &store);
    assert!(report.signature_valid());

    // Audited; refused to a hall operator of the same hall and to another hall's issuer.
    let events = crosscert::storage::audit::list_events_for(
        &mut app.state.pool.get().unwrap(),
        &format!("licence:{id}"),
    )
    .unwrap();
    assert!(events
        .iter()
        .any(|e| e.action == "LicenceArchiveExported" && e.actor == "wang"));
    let operator = app.staff("liu", Role::HallOperator, LANSHAN_HALL).await;
    let res = app
        .get(&format!("/api/v1/licences/{id}/archive"), Some(&operator))
        .await;
    assert_error(res, 403, "forbidden").await;
    let other = app.staff("sun", Role::Issuer, CITY_HALL).await;
    let res = app
        .get(&format!("/api/v1/licences/{id}/archive"), Some(&other))
        .await;
    assert_eq!(res.status(), 404);
    let admin = app.staff("root", Role::Admin, CITY_HALL).await;
    let res = app
        .get(&format!("/api/v1/licences/{id}/archive"), Some(&admin))
        .await;
    assert_eq!(res.status(), 200);
}
