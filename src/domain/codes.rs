//! Checkable codes (docs/architecture.md, "Checkable codes"): unified social credit code, resident ID number, and the
//! licence identifier's MOD 37,36 check character.
//!
//! Each code is parsed once into a type with a private field; holding the type is the proof
//! that every check passed, so later code never re-checks a string.

use chrono::NaiveDate;
use std::fmt;
use thiserror::Error;

/// Why a code was refused. Messages are plain English for API error bodies.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodeError {
    #[error("unified social credit code must be 18 characters, got {0}")]
    CreditCodeLength(usize),
    #[error("unified social credit code contains {0:?}, which is not one of 0-9 and A-Y without I, O, S, V, Z")]
    CreditCodeCharacter(char),
    #[error("unified social credit code check character is wrong (expected {expected:?})")]
    CreditCodeCheck { expected: char },
    #[error("organisation code inside the unified social credit code (characters 9-17) has a wrong check character (expected {expected:?})")]
    OrganisationCodeCheck { expected: char },
    #[error("resident ID number must be 18 characters, got {0}")]
    ResidentIdLength(usize),
    #[error("resident ID number must be 17 digits followed by a digit or X")]
    ResidentIdCharacter,
    #[error("resident ID number carries an impossible birth date {0:?}")]
    ResidentIdBirthDate(String),
    #[error("resident ID number check character is wrong (expected {expected:?})")]
    ResidentIdCheck { expected: char },
    #[error("identifier body contains {0:?}; only 0-9 and A-Z are allowed")]
    IdentifierCharacter(char),
    #[error("identifier body is empty")]
    IdentifierEmpty,
    #[error("identifier must start with 1.2.156.3005.2.")]
    IdentifierRoot,
    #[error("identifier must have type code, issuer code, serial, version and check character separated by dots")]
    IdentifierParts,
    #[error("identifier serial must be a decimal number")]
    IdentifierSerial,
    #[error("identifier version must be three digits")]
    IdentifierVersion,
    #[error("identifier check character is wrong (expected {expected:?})")]
    IdentifierCheck { expected: char },
}

/// GB 32100 alphabet: the 31 characters allowed, their index is their value.
const CREDIT_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECKS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

fn credit_value(c: char) -> Option<u32> {
    CREDIT_ALPHABET.find(c).map(|i| i as u32)
}

/// 0-9A-Z valued 0..35, used by GB 11714 and MOD 37,36.
fn alnum_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        'A'..='Z' => Some(c as u32 - 'A' as u32 + 10),
        _ => None,
    }
}

fn alnum_char(v: u32) -> char {
    // Callers only pass 0..36; anything else is a logic error we map to '?' rather than panic.
    match v {
        0..=9 => char::from_digit(v, 10).unwrap_or('?'),
        10..=35 => char::from_u32('A' as u32 + v - 10).unwrap_or('?'),
        _ => '?',
    }
}

/// The GB 32100 check character for the first 17 characters (all already in the alphabet).
fn credit_check_char(first17: &[char]) -> Option<char> {
    let mut sum = 0u32;
    for (c, w) in first17.iter().zip(CREDIT_WEIGHTS) {
        sum += credit_value(*c)? * w;
    }
    let v = (31 - sum % 31) % 31;
    CREDIT_ALPHABET.chars().nth(v as usize)
}

/// The GB 11714 check character of an organisation code's first eight characters.
fn org_check_char(first8: &[char]) -> Option<char> {
    let mut sum = 0u32;
    for (c, w) in first8.iter().zip(ORG_WEIGHTS) {
        sum += alnum_value(*c)? * w;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        v => char::from_digit(v, 10)?,
    })
}

/// An 18-character unified social credit code (统一社会信用代码) with both checks passed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnifiedCreditCode(String);

impl UnifiedCreditCode {
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 18 {
            return Err(CodeError::CreditCodeLength(chars.len()));
        }
        if let Some(bad) = chars.iter().find(|c| credit_value(**c).is_none()) {
            return Err(CodeError::CreditCodeCharacter(*bad));
        }
        let expected = credit_check_char(&chars[..17]).ok_or(CodeError::CreditCodeLength(0))?;
        if chars[17] != expected {
            return Err(CodeError::CreditCodeCheck { expected });
        }
        // The embedded organisation code (chars 8..=16) carries its own check in char 16.
        let org_expected =
            org_check_char(&chars[8..16]).ok_or(CodeError::CreditCodeCharacter(chars[8]))?;
        if chars[16] != org_expected {
            return Err(CodeError::OrganisationCodeCheck {
                expected: org_expected,
            });
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 6-digit administrative region code (characters 3-8, 1-based).
    pub fn region(&self) -> &str {
        // All characters are ASCII, so byte offsets are character offsets.
        &self.0[2..8]
    }
}

impl fmt::Display for UnifiedCreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An 18-character resident identity card number (居民身份证号码), check and birth date passed.
/// A lower-case `x` is accepted and stored as `X`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResidentId {
    value: String,
    birth_date: NaiveDate,
}

impl ResidentId {
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 18 {
            return Err(CodeError::ResidentIdLength(chars.len()));
        }
        let last = chars[17].to_ascii_uppercase();
        if !chars[..17].iter().all(|c| c.is_ascii_digit())
            || !(last.is_ascii_digit() || last == 'X')
        {
            return Err(CodeError::ResidentIdCharacter);
        }
        // ASCII only from here, so byte slicing is safe.
        let birth = &s[6..14];
        let birth_date = NaiveDate::parse_from_str(birth, "%Y%m%d")
            .map_err(|_| CodeError::ResidentIdBirthDate(birth.to_owned()))?;
        let sum: u32 = chars[..17]
            .iter()
            .zip(ID_WEIGHTS)
            .map(|(c, w)| (*c as u32 - '0' as u32) * w)
            .sum();
        let expected = ID_CHECKS[(sum % 11) as usize];
        if last != expected {
            return Err(CodeError::ResidentIdCheck { expected });
        }
        let mut value: String = chars[..17].iter().collect();
        value.push(last);
        Ok(Self { value, birth_date })
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// The form printed on public pages: first 3 and last 4 characters, 11 stars between.
    pub fn masked(&self) -> String {
        format!(
            "{}{}{}",
            &self.value[..3],
            "*".repeat(11),
            &self.value[14..]
        )
    }
}

impl fmt::Display for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// ISO 7064 MOD 37,36 check character over `body` (dots already removed; 0-9A-Z only).
pub fn identifier_check_char(body: &str) -> Result<char, CodeError> {
    if body.is_empty() {
        return Err(CodeError::IdentifierEmpty);
    }
    let mut p: u32 = 36;
    for c in body.chars() {
        let v = alnum_value(c).ok_or(CodeError::IdentifierCharacter(c))?;
        p = (p + v) % 36;
        if p == 0 {
            p = 36;
        }
        p = (2 * p) % 37;
    }
    Ok(alnum_char((37 - p) % 36))
}

/// The root arc every licence identifier (证照标识) starts with.
pub const IDENTIFIER_ROOT: &str = "1.2.156.3005.2.";

/// A licence identifier `1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identifier {
    type_code: String,
    issuer_code: String,
    serial: u64,
    version: u32,
    text: String,
}

impl Identifier {
    /// Builds an identifier from parts the caller already trusts (a catalog type code and a
    /// parsed issuer credit code); `version` is printed as three digits, so it must stay
    /// below 1000 for `parse` to read the result back. Any character outside 0-9A-Z is dropped from the check
    /// input, which cannot happen for those inputs; `parse` is the checking path.
    pub fn new(type_code: &str, issuer_code: &str, serial: u64, version: u32) -> Identifier {
        let body = format!("{type_code}{issuer_code}{serial}{version:03}");
        let clean: String = body.chars().filter(|c| alnum_value(*c).is_some()).collect();
        let check = identifier_check_char(&clean).unwrap_or('0');
        let text =
            format!("{IDENTIFIER_ROOT}{type_code}.{issuer_code}.{serial}.{version:03}.{check}");
        Identifier {
            type_code: type_code.to_owned(),
            issuer_code: issuer_code.to_owned(),
            serial,
            version,
            text,
        }
    }

    pub fn parse(s: &str) -> Result<Identifier, CodeError> {
        let rest = s
            .strip_prefix(IDENTIFIER_ROOT)
            .ok_or(CodeError::IdentifierRoot)?;
        let parts: Vec<&str> = rest.split('.').collect();
        let [type_code, issuer_code, serial, version, check] = parts[..] else {
            return Err(CodeError::IdentifierParts);
        };
        if type_code.is_empty() || issuer_code.is_empty() || check.chars().count() != 1 {
            return Err(CodeError::IdentifierParts);
        }
        if serial.is_empty() || !serial.chars().all(|c| c.is_ascii_digit()) {
            return Err(CodeError::IdentifierSerial);
        }
        let serial_n: u64 = serial.parse().map_err(|_| CodeError::IdentifierSerial)?;
        // Only the canonical decimal form, so one identifier has exactly one spelling.
        if serial_n.to_string() != serial {
            return Err(CodeError::IdentifierSerial);
        }
        if version.len() != 3 || !version.chars().all(|c| c.is_ascii_digit()) {
            return Err(CodeError::IdentifierVersion);
        }
        let version_n: u32 = version.parse().map_err(|_| CodeError::IdentifierVersion)?;
        let body = format!("{type_code}{issuer_code}{serial}{version}");
        let expected = identifier_check_char(&body)?;
        if !check.starts_with(expected) {
            return Err(CodeError::IdentifierCheck { expected });
        }
        Ok(Identifier {
            type_code: type_code.to_owned(),
            issuer_code: issuer_code.to_owned(),
            serial: serial_n,
            version: version_n,
            text: s.to_owned(),
        })
    }

    pub fn type_code(&self) -> &str {
        &self.type_code
    }

    pub fn issuer_code(&self) -> &str {
        &self.issuer_code
    }

    pub fn serial(&self) -> u64 {
        self.serial
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn design_examples_pass() {
        for ok in ["91350100M000100Y43", "91610800064834709T"] {
            let c = UnifiedCreditCode::parse(ok).unwrap();
            assert_eq!(c.as_str(), ok);
        }
        assert_eq!(
            UnifiedCreditCode::parse("91350100M000100Y43")
                .unwrap()
                .region(),
            "350100"
        );
        let id = ResidentId::parse("11010519491231002x").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.masked(), "110***********002X");
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        ResidentId::parse("440524188001010014").unwrap();
    }

    #[test]
    fn design_identifier_example_passes() {
        let s = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F";
        assert_eq!(
            identifier_check_char("11100000000013338W03211220000013544541J2430599001").unwrap(),
            'F'
        );
        let id = Identifier::parse(s).unwrap();
        assert_eq!(id.type_code(), "11100000000013338W032");
        assert_eq!(id.issuer_code(), "11220000013544541J");
        assert_eq!(id.serial(), 2430599);
        assert_eq!(id.version(), 1);
        assert_eq!(id.to_string(), s);
        let built = Identifier::new("11100000000013338W032", "11220000013544541J", 2430599, 1);
        assert_eq!(built.to_string(), s);
    }

    #[test]
    fn specific_refusals() {
        // Main check right, embedded organisation-code check wrong (should be 7).
        assert_eq!(
            UnifiedCreditCode::parse("91371302MA3C8KQX0F"),
            Err(CodeError::OrganisationCodeCheck { expected: '7' })
        );
        assert!(UnifiedCreditCode::parse("91371302MA3C8KQX75").is_ok());
        assert_eq!(
            UnifiedCreditCode::parse("91350100M000100Y4"),
            Err(CodeError::CreditCodeLength(17))
        );
        assert!(matches!(
            UnifiedCreditCode::parse("91350100M000100Y4I"),
            Err(CodeError::CreditCodeCharacter('I'))
        ));
        assert!(matches!(
            ResidentId::parse("110105194902300023"),
            Err(CodeError::ResidentIdBirthDate(_))
        ));
        assert!(matches!(
            Identifier::parse("1.2.156.3005.3.A.B.1.001.X"),
            Err(CodeError::IdentifierRoot)
        ));
        assert!(matches!(
            Identifier::parse("1.2.156.3005.2.A.B.01.001.X"),
            Err(CodeError::IdentifierSerial)
        ));
        assert!(matches!(
            Identifier::parse("1.2.156.3005.2.A.B.1.1.X"),
            Err(CodeError::IdentifierVersion)
        ));
    }

    const CREDIT_CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

    /// A valid credit code built from a 16-character stem: the org check at index 16, then the
    /// main check. Stems whose org check is not in the GB 32100 alphabet (it never is: 0-9/X
    /// only) always fit, so every stem yields a valid code.
    fn build_credit(stem: &[u8]) -> String {
        let mut chars: Vec<char> = stem.iter().map(|b| *b as char).collect();
        let org = org_check_char(&chars[8..16]).unwrap();
        chars.push(org);
        let check = credit_check_char(&chars).unwrap();
        chars.push(check);
        chars.into_iter().collect()
    }

    fn credit_stem() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(proptest::sample::select(CREDIT_CHARS), 16)
    }

    fn build_resident(region: u32, date: NaiveDate, seq: u32) -> String {
        let body = format!("{region:06}{}{seq:03}", date.format("%Y%m%d"));
        let sum: u32 = body
            .chars()
            .zip(ID_WEIGHTS)
            .map(|(c, w)| c.to_digit(10).unwrap() * w)
            .sum();
        format!("{body}{}", ID_CHECKS[(sum % 11) as usize])
    }

    fn resident() -> impl Strategy<Value = String> {
        (110000u32..660000, 0i64..50000, 0u32..1000).prop_map(|(region, days, seq)| {
            let date = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(days);
            build_resident(region, date, seq)
        })
    }

    /// Every printable ASCII character, so one-character changes cover wrong alphabets too.
    fn any_char() -> impl Strategy<Value = char> {
        (0x21u8..0x7f).prop_map(|b| b as char)
    }

    fn replace_at(s: &str, i: usize, c: char) -> String {
        s.chars()
            .enumerate()
            .map(|(j, d)| if j == i { c } else { d })
            .collect()
    }

    proptest! {
        #[test]
        fn generated_credit_codes_are_accepted(stem in credit_stem()) {
            let code = build_credit(&stem);
            let parsed = UnifiedCreditCode::parse(&code);
            prop_assert!(parsed.is_ok(), "{code}: {parsed:?}");
        }

        #[test]
        fn one_char_change_of_credit_code_is_refused(
            stem in credit_stem(), i in 0usize..18, c in any_char()
        ) {
            let code = build_credit(&stem);
            let original = code.chars().nth(i).unwrap();
            prop_assume!(c != original);
            let changed = replace_at(&code, i, c);
            prop_assert!(UnifiedCreditCode::parse(&changed).is_err(), "{changed} accepted");
        }

        #[test]
        fn generated_resident_ids_are_accepted(id in resident()) {
            match ResidentId::parse(&id) {
                Ok(parsed) => prop_assert_eq!(parsed.as_str(), id.as_str()),
                Err(e) => prop_assert!(false, "{id}: {e}"),
            }
        }

        #[test]
        fn one_char_change_of_resident_id_is_refused(
            id in resident(), i in 0usize..18, c in any_char()
        ) {
            let original = id.chars().nth(i).unwrap();
            // Changing the case of a final X is a normalisation, not a change.
            prop_assume!(c.to_ascii_uppercase() != original);
            let changed = replace_at(&id, i, c);
            prop_assert!(ResidentId::parse(&changed).is_err(), "{changed} accepted");
        }

        #[test]
        fn generated_identifiers_round_trip(
            type_stem in credit_stem(), seq in 0u32..1000, issuer_stem in credit_stem(),
            serial in any::<u64>(), version in 0u32..1000
        ) {
            let type_code = format!("{}{seq:03}", build_credit(&type_stem));
            let issuer = build_credit(&issuer_stem);
            let id = Identifier::new(&type_code, &issuer, serial, version);
            let parsed = Identifier::parse(id.as_str());
            prop_assert_eq!(parsed, Ok(id));
        }

        #[test]
        fn one_char_change_of_identifier_is_refused(
            type_stem in credit_stem(), issuer_stem in credit_stem(),
            serial in 1u64..1_000_000_000, version in 1u32..1000,
            pick in any::<prop::sample::Index>(), c in any_char()
        ) {
            let type_code = format!("{}001", build_credit(&type_stem));
            let issuer = build_credit(&issuer_stem);
            let text = Identifier::new(&type_code, &issuer, serial, version).to_string();
            let i = pick.index(text.chars().count());
            let original = text.chars().nth(i).unwrap();
            prop_assume!(c != original);
            let changed = replace_at(&text, i, c);
            prop_assert!(Identifier::parse(&changed).is_err(), "{changed} accepted");
        }
    }
}
