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

use crate::domain::hall::HallKind;

/// The data file, embedded so that `--demo` needs nothing on disk.
const DEMO_HALLS_TOML: &str = include_str!("../demo-halls.toml");

/// One hall as written in the demo file; the same shape as the API's hall object.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DemoHall {
    /// 6-digit division code + 3-digit sequence (`000` = the county-level hall).
    pub code: String,
    pub name: String,
    /// A [`HallKind`] as the file spells it (`city`, `district`, `county`, `zone`, `town`,
    /// `partner`); [`DemoHall::hall_kind`] reads it.
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

impl DemoHall {
    /// The kind the file names, if it is one (the loader refuses any other).
    pub fn hall_kind(&self) -> Option<HallKind> {
        HallKind::parse(&self.kind)
    }
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
    let Some(kind) = hall.hall_kind() else {
        return Err(DemoError::UnknownKind {
            code: code.clone(),
            kind: hall.kind.clone(),
        });
    };
    let misplaced = |problem| {
        Err(DemoError::Misplaced {
            code: code.clone(),
            problem,
        })
    };
    let issuing = kind.is_issuing();
    match (issuing, hall.authority.is_some()) {
        (true, false) => return misplaced(Misplacement::AuthorityMissing),
        (false, true) => return misplaced(Misplacement::AuthorityOnNonIssuingHall),
        _ => {}
    }
    match (kind == HallKind::Partner, &hall.agreement) {
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
mod tests;
