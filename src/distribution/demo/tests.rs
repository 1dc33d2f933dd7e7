use super::*;
use std::collections::HashMap;

const DOMAIN_KEYS: [&str; 21] = [
    "market",
    "transport",
    "housing",
    "natural_resources",
    "health",
    "education",
    "human_resources",
    "civil_affairs",
    "religion",
    "institutions",
    "culture_tourism",
    "press_publication",
    "radio_tv",
    "film",
    "sport",
    "emergency",
    "ecology",
    "water",
    "agriculture",
    "forestry",
    "public_security",
];

fn halls() -> Vec<DemoHall> {
    demo_halls().expect("the embedded demo register loads")
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

fn partners(halls: &[DemoHall]) -> Vec<(&DemoHall, &DemoAgreement)> {
    halls
        .iter()
        .filter_map(|h| h.agreement.as_ref().map(|a| (h, a)))
        .collect()
}

#[test]
fn file_says_it_is_demo_data() {
    let first = DEMO_HALLS_TOML.lines().next().unwrap_or_default();
    assert!(first.starts_with("# DEMO DATA"), "first line: {first}");
    assert!(first.contains("NOT an official register"));
}

#[test]
fn register_has_197_halls_in_the_expected_kinds() {
    let halls = halls();
    assert_eq!(halls.len(), 197);
    let mut per_kind: HashMap<&str, usize> = HashMap::new();
    for h in &halls {
        *per_kind.entry(h.kind.as_str()).or_default() += 1;
    }
    let expected = [
        ("city", 1),
        ("district", 3),
        ("county", 9),
        ("zone", 4),
        ("town", 156),
        ("partner", 24),
    ];
    assert_eq!(per_kind, expected.into_iter().collect::<HashMap<_, _>>());
    assert!(halls.iter().all(|h| h.active));
}

#[test]
fn codes_are_unique_nine_digit_codes() {
    let halls = halls();
    let codes: HashSet<&str> = halls.iter().map(|h| h.code.as_str()).collect();
    assert_eq!(codes.len(), halls.len());
    assert!(codes
        .iter()
        .all(|c| c.len() == 9 && c.bytes().all(|b| b.is_ascii_digit())));
}

#[test]
fn county_level_halls_end_in_000_and_towns_belong_to_one() {
    let halls = halls();
    let county_level: HashMap<&str, &DemoHall> = halls
        .iter()
        .filter(|h| h.hall_kind() != Some(HallKind::Town))
        .map(|h| {
            assert!(h.code.ends_with("000"), "{} must end in 000", h.code);
            (&h.code[..6], h)
        })
        .collect();
    for town in halls
        .iter()
        .filter(|h| h.hall_kind() == Some(HallKind::Town))
    {
        assert!(!town.code.ends_with("000"), "{}", town.code);
        assert!(town.name.ends_with("便民服务中心"), "{}", town.name);
        let parent = county_level
            .get(&town.code[..6])
            .unwrap_or_else(|| panic!("{} has no county-level hall", town.code));
        assert!(
            matches!(
                parent.hall_kind(),
                Some(HallKind::District | HallKind::County | HallKind::Zone)
            ),
            "{} under a {} hall",
            town.code,
            parent.kind
        );
        assert_eq!(town.county, parent.county, "{}", town.code);
        assert_eq!(town.city, "临沂市");
    }
}

#[test]
fn issuing_halls_match_issue_3() {
    let halls = halls();
    let by_code: HashMap<&str, &DemoHall> = halls.iter().map(|h| (h.code.as_str(), h)).collect();
    let expected = [
        ("371300000", "city", "临沂市行政审批服务局"),
        ("371302000", "district", "临沂市兰山区行政审批服务局"),
        ("371311000", "district", "临沂市罗庄区行政审批服务局"),
        ("371312000", "district", "临沂市河东区行政审批服务局"),
        ("371321000", "county", "沂南县行政审批服务局"),
        ("371322000", "county", "郯城县行政审批服务局"),
        ("371323000", "county", "沂水县行政审批服务局"),
        ("371324000", "county", "兰陵县行政审批服务局"),
        ("371325000", "county", "费县行政审批服务局"),
        ("371326000", "county", "平邑县行政审批服务局"),
        ("371327000", "county", "莒南县行政审批服务局"),
        ("371328000", "county", "蒙阴县行政审批服务局"),
        ("371329000", "county", "临沭县行政审批服务局"),
        ("371371000", "zone", "临沂高新技术产业开发区行政审批服务局"),
        ("371372000", "zone", "临沂经济技术开发区行政审批服务局"),
        ("371373000", "zone", "临沂临港经济开发区行政审批服务局"),
        ("371374000", "zone", "临沂沂河新区行政审批服务局"),
    ];
    for (code, kind, authority) in expected {
        let hall = by_code
            .get(code)
            .unwrap_or_else(|| panic!("{code} missing"));
        assert_eq!(hall.kind, kind, "{code}");
        let auth = hall
            .authority
            .as_ref()
            .expect("issuing hall has an authority");
        assert_eq!(auth.name, authority, "{code}");
        // Government organs: registering authority 1, kind 1 (the full check is the domain
        // parser's; this guards the shape the seeding relies on).
        assert_eq!(auth.credit_code.len(), 18, "{code}");
        assert!(auth.credit_code.starts_with("11"), "{code}");
    }
}

#[test]
fn authorities_exactly_on_issuing_halls_agreements_exactly_on_partners() {
    for h in halls() {
        let issuing = h.hall_kind().is_some_and(HallKind::is_issuing);
        assert_eq!(h.authority.is_some(), issuing, "{}", h.code);
        assert_eq!(
            h.agreement.is_some(),
            h.hall_kind() == Some(HallKind::Partner),
            "{}",
            h.code
        );
    }
}

#[test]
fn partner_agreements_on_2026_11_28() {
    let halls = halls();
    let partners = partners(&halls);
    assert_eq!(partners.len(), 24);
    let now = day("2026-11-28");
    let end_2029 = day("2029-12-31");
    let in_force_all = partners
        .iter()
        .filter(|(_, a)| a.in_force_on(now) && a.in_force_on(end_2029))
        .filter(|(_, a)| a.covers == Covers::All)
        .count();
    assert!(
        in_force_all >= 20,
        "only {in_force_all} cover all through 2029"
    );
    let expired: Vec<_> = partners.iter().filter(|(_, a)| a.valid_to < now).collect();
    assert_eq!(expired.len(), 1);
    assert!(expired[0].1.valid_to.format("%Y").to_string() == "2025");
    let partial: Vec<&Vec<String>> = partners
        .iter()
        .filter(|(_, a)| a.in_force_on(now))
        .filter_map(|(_, a)| match &a.covers {
            Covers::List(items) => Some(items),
            Covers::All => None,
        })
        .collect();
    assert_eq!(partial.len(), 3);
    for items in partial {
        for item in items {
            assert!(
                DOMAIN_KEYS.contains(&item.as_str()),
                "unknown domain {item}"
            );
        }
    }
}

#[test]
fn fixed_partner_codes_used_by_the_example_key_set_are_present() {
    let halls = halls();
    for (code, name) in [("320382000", "邳州市"), ("410381000", "偃师市")] {
        let hall = halls
            .iter()
            .find(|h| h.code == code)
            .unwrap_or_else(|| panic!("{code} missing"));
        assert_eq!(hall.hall_kind(), Some(HallKind::Partner));
        assert_eq!(hall.county, name);
        assert_eq!(hall.name, format!("{name}政务服务中心"));
    }
}

#[test]
fn coordinates_fall_inside_a_plausible_box() {
    // (province, lat range, lon range): generous bounding boxes of each province.
    let boxes = [
        ("山东省", (34.3, 36.4), (117.4, 119.2)), // Linyi only: every non-partner hall
        ("江苏省", (30.7, 35.2), (116.3, 121.9)),
        ("河南省", (31.4, 36.4), (110.3, 116.7)),
        ("安徽省", (29.4, 34.7), (114.9, 119.7)),
        ("河北省", (36.0, 42.7), (113.4, 119.9)),
        ("浙江省", (27.0, 31.2), (118.0, 123.0)),
        ("福建省", (23.5, 28.4), (115.8, 120.7)),
    ];
    for h in halls() {
        if h.hall_kind() != Some(HallKind::Partner) {
            assert_eq!(h.province, "山东省", "{}", h.code);
        } else {
            assert_ne!(h.province, "山东省", "{} is a partner", h.code);
        }
        let (_, (lat0, lat1), (lon0, lon1)) = boxes
            .iter()
            .find(|(p, _, _)| *p == h.province)
            .unwrap_or_else(|| panic!("{}: no box for {}", h.code, h.province));
        assert!(
            (*lat0..=*lat1).contains(&h.lat) && (*lon0..=*lon1).contains(&h.lon),
            "{} {} at {}, {}",
            h.code,
            h.name,
            h.lat,
            h.lon
        );
    }
}

#[test]
fn partner_codes_follow_their_province() {
    // GB/T 2260: the first two digits are the province.
    let prefix = [
        ("江苏省", "32"),
        ("河南省", "41"),
        ("安徽省", "34"),
        ("河北省", "13"),
        ("浙江省", "33"),
        ("福建省", "35"),
    ];
    for h in halls()
        .iter()
        .filter(|h| h.hall_kind() == Some(HallKind::Partner))
    {
        let (_, p) = prefix
            .iter()
            .find(|(name, _)| *name == h.province)
            .unwrap_or_else(|| panic!("{}: unexpected province", h.code));
        assert!(h.code.starts_with(p), "{} in {}", h.code, h.province);
        assert!(h.code.ends_with("000"));
    }
}

const ONE_TOWN: &str = r#"
[[hall]]
code = "371302001"
name = "兰山街道便民服务中心"
kind = "town"
province = "山东省"
city = "临沂市"
county = "兰山区"
address = "山东省临沂市兰山区兰山街道"
lat = 35.06
lon = 118.34
active = true
"#;

const ONE_PARTNER: &str = r#"
[[hall]]
code = "320382000"
name = "邳州市政务服务中心"
kind = "partner"
province = "江苏省"
city = "徐州市"
county = "邳州市"
address = "江苏省徐州市邳州市政务服务中心"
lat = 34.31
lon = 117.96
active = true
[hall.agreement]
valid_from = "2024-01-01"
valid_to = "2029-12-31"
covers = COVERS
"#;

#[test]
fn a_minimal_register_parses() {
    let halls = parse_demo_halls(ONE_TOWN).expect("one town");
    assert_eq!(halls.len(), 1);
    assert_eq!(halls[0].county, "兰山区");
    let partner = parse_demo_halls(&ONE_PARTNER.replace("COVERS", r#"["market", "JY01"]"#))
        .expect("one partner");
    let covers = &partner[0].agreement.as_ref().expect("agreement").covers;
    assert_eq!(covers, &Covers::List(vec!["market".into(), "JY01".into()]));
}

#[test]
fn duplicate_codes_are_refused() {
    let text = format!("{ONE_TOWN}{ONE_TOWN}");
    assert!(matches!(
        parse_demo_halls(&text),
        Err(DemoError::DuplicateCode { code }) if code == "371302001"
    ));
}

#[test]
fn malformed_codes_and_kinds_are_refused() {
    let short = ONE_TOWN.replace("\"371302001\"", "\"37130201\"");
    assert!(matches!(
        parse_demo_halls(&short),
        Err(DemoError::BadCode { .. })
    ));
    let letters = ONE_TOWN.replace("\"371302001\"", "\"37130200A\"");
    assert!(matches!(
        parse_demo_halls(&letters),
        Err(DemoError::BadCode { .. })
    ));
    let kind = ONE_TOWN.replace("\"town\"", "\"village\"");
    assert!(matches!(
        parse_demo_halls(&kind),
        Err(DemoError::UnknownKind { .. })
    ));
}

#[test]
fn authority_on_a_town_or_missing_on_a_county_is_refused() {
    let with_authority =
        format!("{ONE_TOWN}[hall.authority]\nname = \"x\"\ncredit_code = \"11371302MB2921313G\"\n");
    assert!(matches!(
        parse_demo_halls(&with_authority),
        Err(DemoError::Misplaced {
            problem: Misplacement::AuthorityOnNonIssuingHall,
            ..
        })
    ));
    let county = ONE_TOWN.replace("\"town\"", "\"county\"");
    assert!(matches!(
        parse_demo_halls(&county),
        Err(DemoError::Misplaced {
            problem: Misplacement::AuthorityMissing,
            ..
        })
    ));
}

#[test]
fn agreement_rules_are_enforced() {
    let no_agreement = ONE_TOWN.replace("\"town\"", "\"partner\"");
    assert!(matches!(
        parse_demo_halls(&no_agreement),
        Err(DemoError::Misplaced {
            problem: Misplacement::AgreementMissing,
            ..
        })
    ));
    let town_with_agreement = ONE_PARTNER
        .replace("\"partner\"", "\"town\"")
        .replace("COVERS", "\"all\"");
    assert!(matches!(
        parse_demo_halls(&town_with_agreement),
        Err(DemoError::Misplaced {
            problem: Misplacement::AgreementOnNonPartner,
            ..
        })
    ));
    let backwards = ONE_PARTNER
        .replace("2024-01-01", "2030-01-01")
        .replace("COVERS", "\"all\"");
    assert!(matches!(
        parse_demo_halls(&backwards),
        Err(DemoError::AgreementDates { .. })
    ));
}

#[test]
fn covers_accepts_only_all_or_a_non_empty_list() {
    for bad in ["\"everything\"", "[]", "3"] {
        let text = ONE_PARTNER.replace("COVERS", bad);
        assert!(
            matches!(parse_demo_halls(&text), Err(DemoError::Toml(_))),
            "{bad} accepted"
        );
    }
}

#[test]
fn unknown_fields_and_bad_coordinates_are_refused() {
    let typo = ONE_TOWN.replace("active = true", "active = true\nactiv = true");
    assert!(matches!(parse_demo_halls(&typo), Err(DemoError::Toml(_))));
    let off_earth = ONE_TOWN.replace("lat = 35.06", "lat = 135.06");
    assert!(matches!(
        parse_demo_halls(&off_earth),
        Err(DemoError::BadCoordinates { .. })
    ));
    let nan = ONE_TOWN.replace("lat = 35.06", "lat = nan");
    assert!(matches!(
        parse_demo_halls(&nan),
        Err(DemoError::BadCoordinates { .. })
    ));
}

#[test]
fn covers_serializes_as_the_api_spells_it() {
    let all = serde_json::to_value(Covers::All).expect("json");
    assert_eq!(all, serde_json::json!("all"));
    let list = serde_json::to_value(Covers::List(vec!["market".into()])).expect("json");
    assert_eq!(list, serde_json::json!(["market"]));
}
