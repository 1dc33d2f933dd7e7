//! Record validation: every field kind, its bad values, the holder and validity rules.

use super::fixtures::{fixture, TYPE};
use super::*;

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
