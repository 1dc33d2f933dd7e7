//! Catalog tests: the real `templates-certs/`, broken fixtures in a tempdir, and every kind
//! of bad record value.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::*;

mod fixtures;
mod records;

fn real_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates-certs")
}

fn real() -> Catalog {
    match Catalog::load(&real_dir()) {
        Ok(c) => c,
        Err(e) => panic!("templates-certs does not load: {e}"),
    }
}

#[test]
fn real_catalog_loads_with_all_layouts() {
    let c = real();
    assert!(!c.is_empty());
    for id in [
        "landscape_a3",
        "portrait_a4",
        "landscape_a4",
        "qualification",
        "registration",
        "card",
    ] {
        assert!(c.layout(id).is_some(), "layout {id} missing");
    }
    let nos: Vec<u32> = c.types().iter().map(|t| t.catalog_no).collect();
    let mut sorted = nos.clone();
    sorted.sort();
    assert_eq!(nos, sorted, "types() must be in catalog-number order");
    for t in c.types() {
        assert_eq!(c.get(&t.code).map(|x| &x.code), Some(&t.code));
    }
    assert!(c.get("no-such-code").is_none());
}

#[test]
fn catalog_has_102_types_with_unique_codes() {
    let c = real();
    assert_eq!(c.len(), 102);
    let codes: HashSet<&str> = c.types().iter().map(|t| t.code.as_str()).collect();
    assert_eq!(codes.len(), 102);
    let nos: Vec<u32> = c.types().iter().map(|t| t.catalog_no).collect();
    assert_eq!(nos, (1..=102).collect::<Vec<u32>>());
    assert!(c.types().iter().any(|t| t.name.starts_with("营业执照")));
    assert!(c.types().iter().any(|t| t.name == "道路运输经营许可证"));
}

#[test]
fn every_example_validates_and_covers_2026_11_28() {
    let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
    for t in real().types() {
        let rec = match t.validate(&t.example_json()) {
            Ok(r) => r,
            Err(e) => panic!("{}: example refused: {e:?}", t.code),
        };
        assert!(rec.valid_from <= today, "{}: starts after today", t.name);
        match rec.valid_to {
            Some(to) => assert!(to >= today, "{}: expired", t.name),
            None => assert!(t.validity.is_long_term(), "{}", t.name),
        }
    }
}

#[test]
fn business_licence_is_what_the_brief_describes() {
    let c = real();
    let t = c.get("11100000000013338W001").expect("营业执照 present");
    assert_eq!(t.name, "营业执照（企业）");
    let scope = t.field("business_scope").unwrap();
    assert_eq!(scope.kind, FieldKind::Multiline);
    assert_eq!(scope.max_len, Some(2000));
    let han = t.example.fields["business_scope"]
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .count();
    assert!(han >= 800, "经营范围 example has {han} Chinese characters");
    let layout = c.layout(&t.layout).unwrap();
    assert_eq!((layout.width_mm, layout.height_mm), (420.0, 297.0));
}

#[test]
fn api_shapes_have_the_documented_keys() {
    let c = real();
    let t = c
        .get("11100000000013338W004")
        .expect("食品经营许可证 present");
    let s = serde_json::to_value(t.summary()).unwrap();
    let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "code",
        "name",
        "name_en",
        "domain",
        "holder_kind",
        "layout",
        "copies",
    ] {
        assert!(keys.contains(&k), "summary lacks {k}");
    }
    assert_eq!(s["copies"], json!(["original", "duplicate"]));
    let d = serde_json::to_value(t.detail()).unwrap();
    assert_eq!(d["code"], json!("11100000000013338W004"));
    let form = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "business_form")
        .unwrap();
    assert_eq!(form["kind"], json!("enum"));
    assert!(form["values"].is_array());
    assert_eq!(d["example"], t.example_json());
    assert!(t.number.matches("JY13713110001234"));
    assert_eq!(t.number.format(42).unwrap(), "JY00000000000042");
}

#[test]
fn long_term_example_has_null_valid_to() {
    let c = real();
    let t = c.get("11100000000013338W001").unwrap();
    assert!(t.validity.is_long_term());
    assert_eq!(t.example_json()["valid_to"], Value::Null);
}
