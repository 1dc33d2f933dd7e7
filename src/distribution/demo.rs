//! The demo hall register (`demo-halls.toml`, compiled into the binary): the city hall, its
//! districts, counties, zones, 156 town and street centres and 24 out-of-province partners, as
//! loaded by `serve --demo` and `seed-demo`. DEMO DATA, not an official register.
//!
//! The loader checks the structural rules a seeding run would otherwise trip over halfway
//! (unique 9-digit codes, authorities only on issuing halls, agreements only on partners), so a
//! broken edit of the data file fails here, with the hall named, not in the database.

use std::collections::HashSet;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize, Serializer};

/// The data file, embedded so that `--demo` needs nothing on disk.
const DEMO_HALLS_TOML: &str = include_str!("demo-halls.toml");

/// Hall kinds that are also issuing authorities (DESIGN §3).
pub const ISSUING_KINDS: [&str; 4] = ["city", "district", "county", "zone"];
/// Every hall kind the register may use.
pub const HALL_KINDS: [&str; 6] = ["city", "district", "county", "zone", "town", "partner"];

/// One hall as written in the demo file; the same shape as the API's hall object.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DemoHall {
    /// 6-digit division code + 3-digit sequence (`000` = the county-level hall).
    pub code: String,
    pub name: String,
    /// One of [`HALL_KINDS`].
    pub kind: String,
    pub province: String,
    pub city: String,
    /// County or district name; empty for the city hall.
    pub county: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub active: bool,
    /// Present exactly on issuing halls (city, district, county, zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<DemoAuthority>,
    /// Present exactly on partner halls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<DemoAgreement>,
}

/// The issuing authority behind an issuing hall.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DemoAuthority {
    pub name: String,
    /// 18-character unified social credit code; parsed by the domain type at seeding.
    pub credit_code: String,
}

/// A partner hall's agreement: in force on `valid_from..=valid_to`, for what it covers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DemoAgreement {
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub covers: Covers,
}

impl DemoAgreement {
    /// Whether the agreement is in force on `day` (both ends inclusive).
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.valid_from <= day && day <= self.valid_to
    }
}

/// What an agreement covers: the string `"all"`, or a list of domain keys and type codes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawCovers")]
pub enum Covers {
    All,
    List(Vec<String>),
}

/// The two spellings the file may use; any other word is refused rather than read as "all".
#[derive(Deserialize)]
#[serde(untagged)]
enum RawCovers {
    Word(String),
    List(Vec<String>),
}

impl TryFrom<RawCovers> for Covers {
    type Error = String;

    fn try_from(raw: RawCovers) -> Result<Self, Self::Error> {
        match raw {
            RawCovers::Word(w) if w == "all" => Ok(Covers::All),
            RawCovers::Word(w) => Err(format!("covers must be \"all\" or a list, not {w:?}")),
            // An empty list would be an agreement that covers nothing: almost surely a typo.
            RawCovers::List(items) if items.is_empty() => {
                Err("covers must not be an empty list".to_owned())
            }
            RawCovers::List(items) => Ok(Covers::List(items)),
        }
    }
}

impl Serialize for Covers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Covers::All => serializer.serialize_str("all"),
            Covers::List(items) => items.serialize(serializer),
        }
    }
}

/// Why the demo register could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo halls file is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("hall code {code:?} is not 9 digits")]
    BadCode { code: String },
    #[error("hall code {code} appears more than once")]
    DuplicateCode { code: String },
    #[error("hall {code} has unknown kind {kind:?}")]
    UnknownKind { code: String, kind: String },
    #[error("hall {code}: {problem}")]
    Misplaced { code: String, problem: Misplacement },
    #[error("hall {code}: agreement ends ({valid_to}) before it starts ({valid_from})")]
    AgreementDates {
        code: String,
        valid_from: NaiveDate,
        valid_to: NaiveDate,
    },
    #[error("hall {code}: coordinates {lat}, {lon} are not a place on Earth")]
    BadCoordinates { code: String, lat: f64, lon: f64 },
}

/// An authority or agreement on the wrong kind of hall, or missing where required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misplacement {
    AuthorityMissing,
    AuthorityOnNonIssuingHall,
    AgreementMissing,
    AgreementOnNonPartner,
}

impl fmt::Display for Misplacement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Misplacement::AuthorityMissing => "an issuing hall needs an authority",
            Misplacement::AuthorityOnNonIssuingHall => {
                "only city, district, county and zone halls have an authority"
            }
            Misplacement::AgreementMissing => "a partner hall needs an agreement",
            Misplacement::AgreementOnNonPartner => "only partner halls have an agreement",
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoFile {
    hall: Vec<DemoHall>,
}

/// The embedded demo register, checked.
pub fn demo_halls() -> Result<Vec<DemoHall>, DemoError> {
    parse_demo_halls(DEMO_HALLS_TOML)
}

/// Parses and checks a register in the demo file's format (`[[hall]]` tables).
pub fn parse_demo_halls(text: &str) -> Result<Vec<DemoHall>, DemoError> {
    let file: DemoFile = toml::from_str(text)?;
    let mut seen = HashSet::with_capacity(file.hall.len());
    for hall in &file.hall {
        check_hall(hall)?;
        if !seen.insert(hall.code.as_str()) {
            return Err(DemoError::DuplicateCode {
                code: hall.code.clone(),
            });
        }
    }
    Ok(file.hall)
}

fn check_hall(hall: &DemoHall) -> Result<(), DemoError> {
    let code = &hall.code;
    if code.len() != 9 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DemoError::BadCode { code: code.clone() });
    }
    if !HALL_KINDS.contains(&hall.kind.as_str()) {
        return Err(DemoError::UnknownKind {
            code: code.clone(),
            kind: hall.kind.clone(),
        });
    }
    let misplaced = |problem| {
        Err(DemoError::Misplaced {
            code: code.clone(),
            problem,
        })
    };
    let issuing = ISSUING_KINDS.contains(&hall.kind.as_str());
    match (issuing, hall.authority.is_some()) {
        (true, false) => return misplaced(Misplacement::AuthorityMissing),
        (false, true) => return misplaced(Misplacement::AuthorityOnNonIssuingHall),
        _ => {}
    }
    match (hall.kind == "partner", &hall.agreement) {
        (true, None) => return misplaced(Misplacement::AgreementMissing),
        (false, Some(_)) => return misplaced(Misplacement::AgreementOnNonPartner),
        (true, Some(agreement)) if agreement.valid_to < agreement.valid_from => {
            return Err(DemoError::AgreementDates {
                code: code.clone(),
                valid_from: agreement.valid_from,
                valid_to: agreement.valid_to,
            });
        }
        _ => {}
    }
    // NaN fails both range checks, so it is refused too.
    if !((-90.0..=90.0).contains(&hall.lat) && (-180.0..=180.0).contains(&hall.lon)) {
        return Err(DemoError::BadCoordinates {
            code: code.clone(),
            lat: hall.lat,
            lon: hall.lon,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
            .filter(|h| h.kind != "town")
            .map(|h| {
                assert!(h.code.ends_with("000"), "{} must end in 000", h.code);
                (&h.code[..6], h)
            })
            .collect();
        for town in halls.iter().filter(|h| h.kind == "town") {
            assert!(!town.code.ends_with("000"), "{}", town.code);
            assert!(town.name.ends_with("便民服务中心"), "{}", town.name);
            let parent = county_level
                .get(&town.code[..6])
                .unwrap_or_else(|| panic!("{} has no county-level hall", town.code));
            assert!(
                ["district", "county", "zone"].contains(&parent.kind.as_str()),
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
        let by_code: HashMap<&str, &DemoHall> =
            halls.iter().map(|h| (h.code.as_str(), h)).collect();
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
            let issuing = ISSUING_KINDS.contains(&h.kind.as_str());
            assert_eq!(h.authority.is_some(), issuing, "{}", h.code);
            assert_eq!(h.agreement.is_some(), h.kind == "partner", "{}", h.code);
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
            assert_eq!(hall.kind, "partner");
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
            if h.kind != "partner" {
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
        for h in halls().iter().filter(|h| h.kind == "partner") {
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
        let with_authority = format!(
            "{ONE_TOWN}[hall.authority]\nname = \"x\"\ncredit_code = \"11371302MB2921313G\"\n"
        );
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
}
