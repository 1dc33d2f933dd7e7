//! Broken fixtures: each rule of the catalog files refused with the file and field named.

use super::*;

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

pub(super) const TYPE: &str = r#"
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
pub(super) fn fixture(types: &[(&str, String)]) -> tempfile::TempDir {
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
