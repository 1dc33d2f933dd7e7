//! Catalog tests: the real `templates-certs/`, broken fixtures in a tempdir, and every kind
//! of bad record value.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::*;

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

// ---- broken fixtures ----------------------------------------------------------------------

const LAYOUT: &str = r#"
id = "portrait_a4"
name = "竖版A4"
width_mm = 210.0
height_mm = 297.0
[[blocks]]
role = "title"
x_mm = 25.0
y_mm = 20.0
w_mm = 160.0
h_mm = 24.0
[[blocks]]
role = "numbers"
x_mm = 20.0
y_mm = 58.0
w_mm = 130.0
h_mm = 24.0
[[blocks]]
role = "qr"
x_mm = 155.0
y_mm = 52.0
w_mm = 35.0
h_mm = 35.0
[[blocks]]
role = "holder"
x_mm = 20.0
y_mm = 90.0
w_mm = 130.0
h_mm = 20.0
[[blocks]]
role = "fields"
x_mm = 20.0
y_mm = 112.0
w_mm = 170.0
h_mm = 90.0
columns = 1
rows = 3
[[blocks]]
role = "long_text"
x_mm = 20.0
y_mm = 204.0
w_mm = 170.0
h_mm = 36.0
[[blocks]]
role = "issuer"
x_mm = 100.0
y_mm = 248.0
w_mm = 90.0
h_mm = 28.0
[[blocks]]
role = "seal"
x_mm = 124.0
y_mm = 242.0
w_mm = 36.0
h_mm = 36.0
"#;

const TYPE: &str = r#"
code = "11100000000013338W004"
name = "食品经营许可证"
name_en = "Food Business Licence"
domain = "market"
authority = "国家市场监督管理总局"
holder_kind = "organisation"
layout = "portrait_a4"
copies = ["original", "duplicate"]
validity_years = 5

[number]
prefix = "JY"
digits = 14
suffix = ""

[[fields]]
key = "business_form"
label = "主体业态"
kind = "enum"
required = true
values = ["食品销售经营者", "餐饮服务经营者"]

[[fields]]
key = "premises"
label = "经营场所"
kind = "address"
required = true
max_len = 60

[[fields]]
key = "items"
label = "经营项目"
kind = "multiline"
required = false
max_len = 300

[example]
valid_from = "2025-06-18"
valid_to = "2030-06-17"

[example.holder]
name = "临沂市罗庄区福满家超市有限公司"
code = "91371311MA3F5J2R9L"

[example.fields]
business_form = "食品销售经营者"
premises = "山东省临沂市罗庄区湖北路66号"
items = "预包装食品销售"
"#;

/// Writes a fixture catalog: the layout above plus the given type files.
fn fixture(types: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("layouts")).unwrap();
    std::fs::create_dir(dir.path().join("types")).unwrap();
    std::fs::write(dir.path().join("layouts/portrait_a4.toml"), LAYOUT).unwrap();
    for (name, text) in types {
        std::fs::write(dir.path().join("types").join(name), text).unwrap();
    }
    dir
}

/// Loads a fixture that must fail, returning the error text.
fn load_err(types: &[(&str, String)]) -> String {
    let dir = fixture(types);
    match Catalog::load(dir.path()) {
        Ok(_) => panic!("fixture loaded although broken"),
        Err(e) => e.to_string(),
    }
}

fn assert_names(err: &str, file: &str, field: &str) {
    assert!(err.contains(file), "error does not name {file}: {err}");
    assert!(err.contains(field), "error does not name {field}: {err}");
}

#[test]
fn fixture_baseline_loads() {
    let dir = fixture(&[("004-food.toml", TYPE.to_owned())]);
    let c = Catalog::load(dir.path()).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c.types()[0].catalog_no, 4);
}

#[test]
fn unknown_layout_is_refused() {
    let t = TYPE.replace("layout = \"portrait_a4\"", "layout = \"poster\"");
    let err = load_err(&[("004-food.toml", t)]);
    assert_names(&err, "004-food.toml", "layout");
    assert!(err.contains("poster"), "{err}");
}

#[test]
fn duplicate_code_is_refused() {
    let err = load_err(&[
        ("004-food.toml", TYPE.to_owned()),
        ("005-food-again.toml", TYPE.to_owned()),
    ]);
    assert_names(&err, "005-food-again.toml", "code");
    assert!(err.contains("duplicate"), "{err}");
}

#[test]
fn unknown_field_kind_is_refused() {
    let t = TYPE.replace("kind = \"address\"", "kind = \"postcode\"");
    let err = load_err(&[("004-food.toml", t)]);
    assert_names(&err, "004-food.toml", "kind");
    assert!(err.contains("postcode"), "{err}");
}

#[test]
fn example_breaking_its_rules_is_refused() {
    let t = TYPE.replace(
        "business_form = \"食品销售经营者\"",
        "business_form = \"网吧\"",
    );
    let err = load_err(&[("004-food.toml", t)]);
    assert_names(&err, "004-food.toml", "example.fields.business_form");
}

#[test]
fn unknown_key_is_refused() {
    let t = TYPE.replace("validity_years = 5", "validity_years = 5\ncolour = \"red\"");
    let err = load_err(&[("004-food.toml", t)]);
    assert_names(&err, "004-food.toml", "colour");
}

#[test]
fn other_format_rules_are_refused_with_their_field() {
    let cases: Vec<(String, &str)> = vec![
        (
            TYPE.replace("domain = \"market\"", "domain = \"weather\""),
            "domain",
        ),
        (
            TYPE.replace("11100000000013338W004", "11100000000013338X004"),
            "code",
        ),
        (TYPE.replace("digits = 14", "digits = 6"), "number.digits"),
        (
            TYPE.replace(
                "values = [\"食品销售经营者\", \"餐饮服务经营者\"]",
                "values = []",
            ),
            "values",
        ),
        (TYPE.replace("max_len = 60\n", ""), "max_len"),
        (
            TYPE.replace("key = \"premises\"", "key = \"business_form\""),
            "key",
        ),
        (
            TYPE.replace("key = \"premises\"", "key = \"holder\""),
            "key",
        ),
        (
            TYPE.replace("valid_to = \"2030-06-17\"", "valid_to = \"2024-06-17\""),
            "example.valid_to",
        ),
        (
            TYPE.replace(
                "copies = [\"original\", \"duplicate\"]",
                "copies = [\"duplicate\"]",
            ),
            "copies",
        ),
        (
            // four short fields for a grid of three
            TYPE.replace(
                "[example]",
                "[[fields]]\nkey = \"a\"\nlabel = \"甲\"\nkind = \"date\"\n\
                 [[fields]]\nkey = \"b\"\nlabel = \"乙\"\nkind = \"date\"\n[example]",
            ),
            "fields",
        ),
    ];
    for (text, field) in cases {
        let err = load_err(&[("004-food.toml", text)]);
        assert_names(&err, "004-food.toml", field);
    }
}

#[test]
fn layout_rules_are_refused() {
    let cases = [
        // QR too small
        (LAYOUT.replace("w_mm = 35.0\nh_mm = 35.0", "w_mm = 25.0\nh_mm = 25.0"), "qr"),
        // block off the page
        (LAYOUT.replace("x_mm = 100.0", "x_mm = 150.0"), "issuer"),
        // two titles
        (
            format!("{LAYOUT}\n[[blocks]]\nrole = \"title\"\nx_mm = 1.0\ny_mm = 1.0\nw_mm = 1.0\nh_mm = 1.0\n"),
            "title",
        ),
    ];
    for (layout, what) in cases {
        let dir = fixture(&[("004-food.toml", TYPE.to_owned())]);
        std::fs::write(dir.path().join("layouts/portrait_a4.toml"), layout).unwrap();
        let err = Catalog::load(dir.path()).unwrap_err().to_string();
        assert_names(&err, "portrait_a4.toml", what);
    }
}

#[test]
fn bad_toml_names_the_file() {
    let err = load_err(&[("004-food.toml", format!("{TYPE}\n[[["))]);
    assert!(err.contains("004-food.toml"), "{err}");
}

// ---- record validation --------------------------------------------------------------------

fn food_type() -> CertType {
    let dir = fixture(&[("004-food.toml", TYPE.to_owned())]);
    Catalog::load(dir.path()).unwrap().types()[0].clone()
}

fn long_term_type() -> CertType {
    let t = TYPE
        .replace("validity_years = 5", "validity_years = 0")
        .replace("valid_to = \"2030-06-17\"\n", "");
    let dir = fixture(&[("004-food.toml", t)]);
    Catalog::load(dir.path()).unwrap().types()[0].clone()
}

fn person_type() -> CertType {
    let t = TYPE
        .replace("holder_kind = \"organisation\"", "holder_kind = \"person\"")
        .replace("91371311MA3F5J2R9L", "371302198806141233");
    let dir = fixture(&[("004-food.toml", t)]);
    Catalog::load(dir.path()).unwrap().types()[0].clone()
}

/// A type with one field of every short kind, to test the value rules.
fn all_kinds_type() -> CertType {
    let mut t = food_type();
    let add = |key: &str, kind: FieldKind, max_len: Option<u32>| FieldDef {
        key: key.into(),
        label: key.into(),
        kind,
        required: false,
        max_len,
        values: None,
    };
    t.fields = vec![
        FieldDef {
            required: true,
            ..add("name_text", FieldKind::Text, Some(5))
        },
        add("when", FieldKind::Date, None),
        add("capital", FieldKind::Money, None),
        add("partner", FieldKind::CreditCode, None),
        add("person", FieldKind::IdNumber, None),
        add("phone", FieldKind::Phone, None),
        add("address", FieldKind::Address, Some(10)),
        add("notes", FieldKind::Multiline, Some(20)),
        FieldDef {
            values: Some(vec!["甲".into(), "乙".into()]),
            ..add("grade", FieldKind::Enum, None)
        },
    ];
    t
}

fn record(fields: Value) -> Value {
    json!({
        "holder": {"name": "临沂测试有限公司", "code": "91371311MA3F5J2R9L"},
        "fields": fields,
        "valid_from": "2025-01-01",
        "valid_to": "2030-01-01",
    })
}

fn errors_of(t: &CertType, v: &Value) -> Vec<FieldError> {
    match t.validate(v) {
        Ok(r) => panic!("accepted: {r:?}"),
        Err(e) => e,
    }
}

fn assert_refused(t: &CertType, v: Value, field: &str, code: &str) {
    let errs = errors_of(t, &v);
    assert!(
        errs.iter()
            .any(|e| e.field == field && e.code == code && e.message.contains(field)),
        "expected {field}/{code}, got {errs:?}"
    );
}

#[test]
fn a_good_record_of_every_kind_is_accepted() {
    let t = all_kinds_type();
    let r = t
        .validate(&record(json!({
            "name_text": "五个字名称",
            "when": "2024-02-29",
            "capital": "1200.50",
            "partner": "91610800064834709T",
            "person": "11010519491231002x",
            "phone": "0539-8123456",
            "address": "兰山区沂蒙路1号",
            "notes": "第一行\n第二行",
            "grade": "乙",
            "capital_extra": null,
        })))
        .map_err(|e| format!("{e:?}"));
    // `capital_extra` is unknown even when null.
    assert!(r.unwrap_err().contains("fields.capital_extra"));
    let r = t
        .validate(&record(json!({
            "name_text": "五个字名称",
            "person": "11010519491231002x",
            "phone": "+86-13912345678",
            "when": "",
        })))
        .unwrap();
    assert_eq!(r.fields["person"], "11010519491231002X");
    assert!(!r.fields.contains_key("when"), "empty optional kept");
    assert_eq!(r.valid_to, NaiveDate::from_ymd_opt(2030, 1, 1));
    assert!(matches!(r.holder_code, HolderCode::Organisation(_)));
}

#[test]
fn each_bad_value_is_refused_with_its_field() {
    let t = all_kinds_type();
    let ok = || json!({"name_text": "名称"});
    let with = |k: &str, v: Value| {
        let mut f = ok();
        f[k] = v;
        record(f)
    };
    assert_refused(
        &t,
        with("name_text", json!(12)),
        "fields.name_text",
        "wrong_type",
    );
    assert_refused(
        &t,
        with("name_text", json!("六个字的名称")),
        "fields.name_text",
        "too_long",
    );
    assert_refused(
        &t,
        with("name_text", json!("a\tb")),
        "fields.name_text",
        "control_characters",
    );
    assert_refused(
        &t,
        with("grade", json!("丙")),
        "fields.grade",
        "invalid_enum",
    );
    assert_refused(
        &t,
        with("when", json!("2023-02-29")),
        "fields.when",
        "invalid_date",
    );
    assert_refused(
        &t,
        with("when", json!("2024-2-9")),
        "fields.when",
        "invalid_date",
    );
    for bad in ["-5", "1.234", "12,000", "1e5", "1234567890123456", "."] {
        assert_refused(
            &t,
            with("capital", json!(bad)),
            "fields.capital",
            "invalid_money",
        );
    }
    assert_refused(
        &t,
        with("partner", json!("91610800064834709A")),
        "fields.partner",
        "invalid_credit_code",
    );
    assert_refused(
        &t,
        with("person", json!("110105194902300023")),
        "fields.person",
        "invalid_id_number",
    );
    for bad in ["12345", "0539--8123456", "phone-123456", "-05398123456"] {
        assert_refused(
            &t,
            with("phone", json!(bad)),
            "fields.phone",
            "invalid_phone",
        );
    }
    assert_refused(
        &t,
        with("address", json!("一二三四五六七八九十一")),
        "fields.address",
        "too_long",
    );
    assert_refused(
        &t,
        with("notes", json!("a\u{7}b")),
        "fields.notes",
        "control_characters",
    );
    assert_refused(&t, record(json!({})), "fields.name_text", "required");
    assert_refused(
        &t,
        record(json!({"name_text": "  "})),
        "fields.name_text",
        "required",
    );
    assert_refused(
        &t,
        with("colour", json!("red")),
        "fields.colour",
        "unknown_field",
    );
    assert_refused(&t, record(json!(["x"])), "fields", "wrong_type");
}

#[test]
fn holder_and_validity_rules() {
    let t = food_type();
    let good = t.example_json();
    let set = |path: &[&str], v: Value| {
        let mut r = good.clone();
        let mut at = &mut r;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = v;
        r
    };
    assert_refused(
        &t,
        set(&["holder", "code"], json!("91371311MA3F5J2R9M")),
        "holder.code",
        "invalid_credit_code",
    );
    assert_refused(
        &t,
        set(&["holder", "code"], json!(371311)),
        "holder.code",
        "wrong_type",
    );
    assert_refused(
        &t,
        set(&["holder", "name"], json!("")),
        "holder.name",
        "required",
    );
    assert_refused(
        &t,
        set(&["holder", "name"], json!("名".repeat(101))),
        "holder.name",
        "too_long",
    );
    assert_refused(
        &t,
        set(&["holder", "name"], json!("a\nb")),
        "holder.name",
        "control_characters",
    );
    assert_refused(
        &t,
        set(&["valid_from"], Value::Null),
        "valid_from",
        "required",
    );
    assert_refused(
        &t,
        set(&["valid_from"], json!("2025/06/18")),
        "valid_from",
        "invalid_date",
    );
    assert_refused(&t, set(&["valid_to"], Value::Null), "valid_to", "required");
    assert_refused(
        &t,
        set(&["valid_to"], json!("2025-06-17")),
        "valid_to",
        "before_valid_from",
    );
    assert_refused(
        &t,
        set(&["valid_to"], json!("2025-06-18")),
        "valid_to",
        "before_valid_from",
    );

    let lt = long_term_type();
    assert!(lt.validate(&lt.example_json()).unwrap().valid_to.is_none());
    let mut r = lt.example_json();
    r["valid_to"] = json!("2035-01-01");
    assert_refused(&lt, r, "valid_to", "not_allowed");

    let p = person_type();
    let mut r = p.example_json();
    r["holder"]["code"] = json!("91371311MA3F5J2R9L");
    assert_refused(&p, r, "holder.code", "invalid_id_number");
    let ok = p.validate(&p.example_json()).unwrap();
    assert_eq!(ok.holder_code.public_form(), "371***********1233");
}

#[test]
fn all_failing_fields_are_reported_together() {
    let t = food_type();
    let errs = errors_of(
        &t,
        &json!({"holder": {"name": "", "code": "x"}, "fields": {"business_form": "网吧"}, "valid_from": "bad"}),
    );
    let fields: HashSet<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    for f in [
        "holder.name",
        "holder.code",
        "fields.business_form",
        "fields.premises",
        "valid_from",
        "valid_to",
    ] {
        assert!(fields.contains(f), "{f} not reported: {errs:?}");
    }
    assert_refused(&t, json!("not an object"), "record", "wrong_type");
    assert_refused(&t, json!({"holder": "x"}), "holder", "wrong_type");
}

#[test]
fn record_input_deserialises_from_api_json_of_any_shape() {
    let t = food_type();
    let v = json!({"type_code": "x", "holder": {"name": 5}, "fields": [], "valid_to": true});
    let input: RecordInput = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(input, RecordInput::from_value(&v));
    let errs = t.validate_input(&input).unwrap_err();
    assert!(errs
        .iter()
        .any(|e| e.field == "holder.name" && e.code == "wrong_type"));
    assert!(errs
        .iter()
        .any(|e| e.field == "valid_to" && e.code == "wrong_type"));
}

#[test]
fn real_layouts_leave_a_frame_margin_and_do_not_overlap() {
    let c = real();
    for l in c.layouts() {
        // A card has no room for the 15 mm frame of the sheet-sized families.
        let margin = if l.id == "card" { 8.0 } else { 15.0 };
        for b in &l.blocks {
            let m = b
                .x_mm
                .min(b.y_mm)
                .min(l.width_mm - b.x_mm - b.w_mm)
                .min(l.height_mm - b.y_mm - b.h_mm);
            assert!(
                m >= margin,
                "{}: {:?} is {m} mm from the edge",
                l.id,
                b.role
            );
        }
        for (i, a) in l.blocks.iter().enumerate() {
            for b in &l.blocks[i + 1..] {
                // The seal is stamped over the issuer's name and date, as on paper.
                let roles = [a.role, b.role];
                if roles.contains(&BlockRole::Seal) && roles.contains(&BlockRole::Issuer) {
                    continue;
                }
                let overlap = a.x_mm < b.x_mm + b.w_mm
                    && b.x_mm < a.x_mm + a.w_mm
                    && a.y_mm < b.y_mm + b.h_mm
                    && b.y_mm < a.y_mm + a.h_mm;
                assert!(!overlap, "{}: {:?} overlaps {:?}", l.id, a.role, b.role);
            }
        }
    }
}
