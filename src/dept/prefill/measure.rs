//! The prefill measurement (issue 25): a holder that has a business licence (企业), the
//! catalog's example of type 001, applies for each of the catalog's other organisation
//! types; what share of that type's required fields does prefill fill? Run it with
//!
//!     cargo test --lib dept::prefill::measure -- --nocapture
//!
//! (or `scripts/prefill-share.sh`). The figures are recorded in docs/no-certificate-city.md;
//! this test fails when they change, so the document cannot drift from the code.

use super::*;
use crate::catalog::Catalog;
use std::path::Path;

fn catalog() -> Catalog {
    Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates-certs")).unwrap()
}

fn row(t: &CertType, id: &str, status: LicenceStatus) -> LicenceRow {
    let fields = serde_json::to_string(&t.example.fields).unwrap();
    LicenceRow {
        id: id.into(),
        type_code: t.code.clone(),
        issuer_code: "X".into(),
        issuing_hall: "371300000".into(),
        serial: 1,
        version: 1,
        identifier: format!("ident-{id}"),
        licence_no: format!("no-{id}"),
        holder_name: t.example.holder.name.clone(),
        holder_code: t.example.holder.code.clone(),
        fields,
        valid_from: NaiveDate::from_ymd_opt(2024, 5, 20).unwrap(),
        valid_to: None,
        status,
        status_reason: None,
        status_changed_at: None,
        cose: Vec::new(),
        signer_kid: String::new(),
        issued_at: chrono::NaiveDateTime::default(),
        issued_by: "test".into(),
        previous_id: None,
        superseded_by: None,
    }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
}

/// (type number, name, filled, required) for every organisation type but 001 itself.
fn shares(catalog: &Catalog) -> Vec<(u32, String, usize, usize)> {
    let bl = catalog.types().iter().find(|t| t.catalog_no == 1).unwrap();
    let rows = vec![row(bl, "bl", LicenceStatus::Valid)];
    catalog
        .types()
        .iter()
        .filter(|t| t.holder_kind == HolderKind::Organisation && t.catalog_no != 1)
        .map(|t| {
            let p = prefill_from(catalog, t, &bl.example.holder.code, &rows, today());
            (
                t.catalog_no,
                t.name.clone(),
                p.required_filled,
                p.required_fields,
            )
        })
        .collect()
}

#[test]
fn prefill_share_for_a_holder_with_a_business_licence() {
    let catalog = catalog();
    let shares = shares(&catalog);
    let ratio = |f: usize, r: usize| if r == 0 { 1.0 } else { f as f64 / r as f64 };
    let mean = shares.iter().map(|(_, _, f, r)| ratio(*f, *r)).sum::<f64>() / shares.len() as f64;
    let below: Vec<String> = shares
        .iter()
        .filter(|(_, _, f, r)| ratio(*f, *r) < 0.5)
        .map(|(no, _, _, _)| format!("{no:03}"))
        .collect();
    for (no, name, f, r) in &shares {
        println!("{no:03} {name}: {f}/{r} = {:.0}%", 100.0 * ratio(*f, *r));
    }
    println!(
        "organisation types: {}; mean share of required fields filled: {:.1}%; below 50%: {} types",
        shares.len(),
        100.0 * mean,
        below.len()
    );
    println!("below 50%: {}", below.join(" "));
    // The same with the holder's name and code counted as two more required fields filled.
    let with_holder = shares
        .iter()
        .map(|(_, _, f, r)| ratio(f + 2, r + 2))
        .sum::<f64>()
        / shares.len() as f64;
    println!(
        "counting holder name and code too: {:.1}%",
        100.0 * with_holder
    );
    let mean_pct = format!("{:.1}", 100.0 * mean);
    assert_eq!(
        (shares.len(), mean_pct.as_str(), below.len()),
        RECORDED,
        "the prefill figures changed: update docs/no-certificate-city.md and RECORDED"
    );
}

/// (organisation types measured, mean %, types below 50%) as docs/no-certificate-city.md says.
const RECORDED: (usize, &str, usize) = (81, "28.3", 63);

#[test]
fn prefill_never_reads_a_withdrawn_or_superseded_licence() {
    let catalog = catalog();
    let bl = catalog.types().iter().find(|t| t.catalog_no == 1).unwrap();
    let food = catalog.types().iter().find(|t| t.catalog_no == 4).unwrap();
    let holder = bl.example.holder.code.clone();
    for status in [
        LicenceStatus::Suspended,
        LicenceStatus::Revoked,
        LicenceStatus::Rescinded,
        LicenceStatus::Cancelled,
        LicenceStatus::Superseded,
    ] {
        let p = prefill_from(&catalog, food, &holder, &[row(bl, "bl", status)], today());
        assert!(p.values.is_empty(), "{status}: {:?}", p.values);
    }
    let mut newer = row(bl, "bl", LicenceStatus::Valid);
    newer.superseded_by = Some("bl2".into());
    assert!(prefill_from(&catalog, food, &holder, &[newer], today())
        .values
        .is_empty());
    let mut expired = row(food, "f", LicenceStatus::Valid);
    expired.holder_code = holder.clone();
    expired.valid_to = NaiveDate::from_ymd_opt(2025, 1, 1);
    assert!(prefill_from(&catalog, food, &holder, &[expired], today())
        .values
        .is_empty());
    // A valid one fills, and names its source.
    let p = prefill_from(
        &catalog,
        food,
        &holder,
        &[row(bl, "bl", LicenceStatus::Valid)],
        today(),
    );
    let lr = p
        .values
        .iter()
        .find(|v| v.field == "fields.legal_representative")
        .unwrap();
    assert_eq!(lr.value, "王建国");
    assert_eq!(lr.source.licence_id, "bl");
    assert_eq!(lr.source.field, "fields.legal_representative");
    assert!(p.values.iter().any(|v| v.field == "fields.domicile"));
    // Another holder's licence is never read.
    let p = prefill_from(
        &catalog,
        food,
        "91371311MA3F5J2R9L",
        &[row(bl, "bl", LicenceStatus::Valid)],
        today(),
    );
    assert!(p.values.is_empty());
}
