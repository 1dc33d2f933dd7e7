//! The page rules ([`super::geometry`]) over the whole catalog: every type's example and a
//! variant with every field at the longest value it allows, in print mode (sheet serials)
//! and as a specimen (copy and specimen markings), every copy. Then poppler's own word boxes
//! for one example of each layout family. Skips (with a note) without the fonts or poppler.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde_json::json;

use super::tests::{fonts, tools, word_boxes};
use super::*;
use crate::catalog::cert_type::FieldKind;
use crate::catalog::layout::BlockRole;
use crate::catalog::{Catalog, CertType};
use crate::documents::{certificate_geometry, render_specimen, CertificateData};
use crate::domain::codes::Identifier;

fn catalog() -> Catalog {
    Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates-certs"))
        .expect("the catalog loads")
}

/// The longest value a field accepts, in wide characters where it is free text.
fn longest_value(kind: FieldKind, max_len: Option<u32>, values: Option<&[String]>) -> String {
    let n = max_len.unwrap_or(1) as usize;
    match kind {
        // 国 is a full em wide, as wide as any hanzi.
        FieldKind::Text | FieldKind::Address | FieldKind::Multiline => "国".repeat(n),
        FieldKind::Date => "2029-12-28".into(),
        FieldKind::Money => "9999999999999.99".into(),
        FieldKind::Phone => "+86-0539-12345678901".into(),
        FieldKind::Enum => values
            .unwrap_or(&[])
            .iter()
            .max_by_key(|v| v.chars().count())
            .cloned()
            .unwrap_or_default(),
        // Fixed length: the example's value is as long as any.
        FieldKind::CreditCode | FieldKind::IdNumber => String::new(),
    }
}

/// The example with every field (and the holder's name) at its longest.
fn longest_record(t: &CertType) -> serde_json::Value {
    let mut record = t.example_json();
    record["holder"]["name"] = json!("国".repeat(100));
    for f in &t.fields {
        let v = longest_value(f.kind, f.effective_max_len(), f.values.as_deref());
        if !v.is_empty() {
            record["fields"][&f.key] = json!(v);
        }
    }
    record
}

/// The longest authority name in the demo register's style.
const LONG_AUTHORITY: &str = "山东省临沂市沂南县市场监督管理局（行政审批服务局）";

fn check(fonts: &Fonts, catalog: &Catalog, t: &CertType, record: &serde_json::Value) -> usize {
    let valid = t
        .validate(record)
        .unwrap_or_else(|e| panic!("{} {}: record refused: {e:?}", t.code, t.name));
    let fields: BTreeMap<String, String> = valid.fields.clone();
    let identifier = Identifier::new(&t.code, "91371302MA3C8KQX75", 999_999_999_999, 999);
    let licence_no = t
        .number
        .format(10u64.pow(t.number.digits.min(18)) - 1)
        .unwrap_or_default();
    let identifier = identifier.to_string();
    let data = CertificateData {
        type_code: &t.code,
        holder_name: &valid.holder_name,
        holder_code: valid.holder_code.as_str(),
        fields: &fields,
        valid_from: valid.valid_from,
        valid_to: valid.valid_to,
        authority_name: LONG_AUTHORITY,
        issued_on: NaiveDate::from_ymd_opt(2026, 12, 28).expect("date"),
        licence_no: &licence_no,
        identifier: &identifier,
        qr_text: "HTTPS://VERIFY.EXAMPLE.CN/V/2KAQGAHDMFZWK5DBMNQW4ZBAMJ2WG23FORSWCZLTORSXIIDWMFWHKZJANFZSA3TPOQQHI4TVMUQGC3TEEBWW64TFEBUGK4TFEBTG64RAORSXG5DJNZTSA5DIMUQFCURAMNXWIZJAONUXUZJAMF2CAYLMNQQGY2LNNF2HGLBAON2WG2BAMFZSA5DINFZSA2LUMVWS4",
    };
    let serials: Vec<String> = (0..t.copies.len())
        .map(|i| format!("LY2600001{i:02}"))
        .collect();
    let mut pages = 0;
    for (mode, serials) in [
        (RenderMode::Print, Some(serials.as_slice())),
        (RenderMode::Specimen, None),
    ] {
        let geometry = certificate_geometry(fonts, catalog, &data, &t.copies, serials, mode)
            .unwrap_or_else(|e| panic!("{} {}: {e}", t.code, t.name));
        for (i, page) in geometry.iter().enumerate() {
            let problems = page.problems();
            assert!(
                problems.is_empty(),
                "{} {} ({} layout), {mode:?} page {}:\n{}",
                t.code,
                t.name,
                t.layout,
                i + 1,
                problems.join("\n")
            );
            let texts = page
                .placed
                .iter()
                .filter(|p| p.kind == geometry::PlacedKind::Text)
                .count();
            assert!(texts > 20, "{}: only {texts} text runs", t.code);
            for kind in [geometry::PlacedKind::Qr, geometry::PlacedKind::Seal] {
                assert_eq!(
                    page.placed.iter().filter(|p| p.kind == kind).count(),
                    1,
                    "{}: {kind:?}",
                    t.code
                );
            }
        }
        pages += geometry.len();
    }
    pages
}

#[test]
fn every_type_keeps_the_page_rules_with_its_example() {
    let Some(fonts) = fonts() else { return };
    let catalog = catalog();
    assert_eq!(catalog.types().len(), 102);
    let pages: usize = catalog
        .types()
        .iter()
        .map(|t| check(fonts, &catalog, t, &t.example_json()))
        .sum();
    assert!(pages >= 2 * 102);
}

#[test]
fn every_type_keeps_the_page_rules_with_its_longest_values() {
    let Some(fonts) = fonts() else { return };
    let catalog = catalog();
    for t in catalog.types() {
        check(fonts, &catalog, t, &longest_record(t));
    }
}

/// The portrait pages fill their writing area: body text of 12 pt or more where the rows
/// fit, the numbers line at 9 pt or more, and the grid reaching down the page.
#[test]
fn portrait_pages_set_their_fields_large_and_fill_the_page() {
    let Some(fonts) = fonts() else { return };
    let catalog = catalog();
    let pt = 25.4 / 72.0;
    let mut short = Vec::new();
    for t in catalog.types() {
        if !matches!(t.layout.as_str(), "portrait_a4" | "qualification") {
            continue;
        }
        let valid = t.validate(&t.example_json()).expect("example");
        let identifier = Identifier::new(&t.code, "91371302MA3C8KQX75", 123, 1).to_string();
        let licence_no = t.number.format(123).unwrap_or_default();
        let data = CertificateData {
            type_code: &t.code,
            holder_name: &valid.holder_name,
            holder_code: valid.holder_code.as_str(),
            fields: &valid.fields,
            valid_from: valid.valid_from,
            valid_to: valid.valid_to,
            authority_name: "临沂市兰山区行政审批服务局",
            issued_on: valid.valid_from,
            licence_no: &licence_no,
            identifier: &identifier,
            qr_text: "HTTPS://VERIFY.EXAMPLE.CN/V/ABC",
        };
        let pages = certificate_geometry(
            fonts,
            &catalog,
            &data,
            &[crate::domain::copy::CopyKind::Original],
            None,
            RenderMode::Electronic,
        )
        .expect("geometry");
        let page = &pages[0];
        let runs = |role: BlockRole| {
            page.placed
                .iter()
                .filter(move |p| p.role == role && p.kind == geometry::PlacedKind::Text)
        };
        let numbers_min = runs(BlockRole::Numbers)
            .map(|p| p.bbox.h)
            .fold(f32::MAX, f32::min);
        assert!(
            numbers_min >= 9.0 * pt - 0.01,
            "{}: numbers at {:.1} pt",
            t.code,
            numbers_min / pt
        );
        let field_sizes: Vec<f32> = runs(BlockRole::Fields).map(|p| p.bbox.h).collect();
        let largest = field_sizes.iter().copied().fold(0.0, f32::max);
        assert!(
            largest >= 12.0 * pt - 0.01,
            "{}: fields at {:.1} pt",
            t.code,
            largest / pt
        );
        // The grid's last row (or the long text under it) ends in the page's lower half.
        let lowest = runs(BlockRole::Fields)
            .chain(runs(BlockRole::LongText))
            .map(|p| p.bbox.bottom())
            .fold(0.0, f32::max);
        // Two fields and a one-line scope (辐射安全许可证) cannot fill a page without rows
        // set absurdly far apart.
        if t.short_fields().count() >= 3 && lowest <= page.height_mm * 0.5 {
            short.push(format!("{} {} ends at {lowest:.0} mm", t.code, t.name));
        }
    }
    assert!(short.is_empty(), "{short:#?}");
}

/// poppler's word boxes (the font's whole ascent and descent, taller than the em box) for
/// one specimen of each layout family: no word within 10 mm of a page edge, the 样本
/// watermark aside.
#[test]
fn no_word_is_within_10_mm_of_a_page_edge_on_any_layout() {
    let (Some(fonts), true) = (fonts(), tools(&["pdftotext"])) else {
        return;
    };
    let catalog = catalog();
    let mm = 72.0 / 25.4;
    let mut seen = std::collections::BTreeSet::new();
    let dir = tempfile::tempdir().expect("tempdir");
    for t in catalog.types() {
        if !seen.insert(t.layout.clone()) {
            continue;
        }
        let layout = catalog.layout(&t.layout).expect("layout");
        let record = t.validate(&t.example_json()).expect("example");
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).expect("date");
        let bytes = render_specimen(
            fonts,
            &catalog,
            t,
            &record,
            "临沂市兰山区行政审批服务局",
            today,
        )
        .expect("render");
        let pdf = dir.path().join(format!("{}.pdf", t.layout));
        std::fs::write(&pdf, bytes).expect("write");
        let words = word_boxes(&pdf);
        let mut checked = 0;
        for (page, x0, y0, x1, y1, word) in &words {
            // The diagonal watermark: its words' boxes are those of rotated glyphs.
            if matches!(word.as_str(), "样本" | "SPECIMEN") {
                continue;
            }
            let edge = (x0 / mm)
                .min(y0 / mm)
                .min(layout.width_mm - x1 / mm)
                .min(layout.height_mm - y1 / mm);
            assert!(
                edge >= 10.0,
                "{} ({}), page {page}: {word:?} is {edge:.1} mm from the edge",
                t.code,
                t.layout
            );
            checked += 1;
        }
        assert!(checked > 20, "{}: {checked} words", t.layout);
    }
    assert_eq!(seen.len(), 6);
}

/// The electronic licence of every type's example as `GET /licences/{id}/pdf` serves it
/// (`electronic::signed_pdf`): a real seal with its status claim in the QR and attached,
/// PDF/A-3b, PAdES-signed by the example signer with its certificate chain. It stays at or
/// under 100 KB with the serif body face.
#[test]
fn every_signed_electronic_licence_stays_at_or_under_100_kb() {
    use crate::domain::seal::{SealClaims, StatusRef};
    use crate::issuance::{generate_example_set, KeySet, Sealer};
    use crate::render::pades::ElectronicParts;

    let Some(fonts) = fonts() else { return };
    let catalog = catalog();
    let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).expect("time");
    let keys_dir = tempfile::tempdir().expect("tempdir");
    generate_example_set(keys_dir.path(), now).expect("example keys");
    let keys = std::sync::Arc::new(KeySet::load(keys_dir.path()).expect("keys"));
    let sealer = Sealer::new(keys);
    let signer = sealer.pdf_signer(now).expect("signer");
    let public_url = "https://zwfw.linyi.gov.cn/crosscert";
    let issuer = "11371300004403123X";
    let mut largest = (0, String::new());
    for (serial, t) in (1u64..).zip(catalog.types()) {
        let valid = t.validate(&t.example_json()).expect("example");
        let licence_no = t.number.format(123).unwrap_or_default();
        let identifier = Identifier::new(&t.code, issuer, serial, 1).to_string();
        let claims = SealClaims {
            iss: issuer.into(),
            iat: now.timestamp(),
            exp: valid.valid_to.map(crate::registration::unix_end_of_day),
            identifier: identifier.clone(),
            licence_no: licence_no.clone(),
            holder_name: valid.holder_name.clone(),
            holder_code_masked: valid.holder_code.public_form(),
            status: Some(StatusRef {
                idx: 99_999,
                uri: crate::registration::status_list_uri(public_url, 12),
            }),
        };
        let cose = sealer.seal(&claims, now).expect("seal");
        let qr = crate::verification::qr_text(public_url, &cose);
        let data = CertificateData {
            type_code: &t.code,
            holder_name: &valid.holder_name,
            holder_code: valid.holder_code.as_str(),
            fields: &valid.fields,
            valid_from: valid.valid_from,
            valid_to: valid.valid_to,
            authority_name: LONG_AUTHORITY,
            issued_on: valid.valid_from,
            licence_no: &licence_no,
            identifier: &identifier,
            qr_text: &qr,
        };
        let parts = ElectronicParts {
            seal_cose: &cose,
            signer_name: signer.name(),
            signed_at: now,
            cms_max_len: signer.max_cms_len().expect("CMS bound"),
        };
        let bytes = crate::documents::render_electronic(fonts, &catalog, &data, &parts, |d| {
            signer.sign_digest(d)
        })
        .expect("render")
        .expect("sign");
        if bytes.len() > largest.0 {
            largest = (bytes.len(), format!("{} {}", t.code, t.name));
        }
    }
    eprintln!(
        "largest signed electronic licence: {} ({} bytes)",
        largest.1, largest.0
    );
    assert!(largest.0 <= 100_000, "{} is {} bytes", largest.1, largest.0);
}
