//! Security stock serials (docs/architecture.md, "Print distribution"): letters then digits, e.g. `LY00000001`, counted up in
//! the digits with their width kept (`LY00000099` -> `LY00000100`). Two serials of the same
//! prefix but different widths are different sheets.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What became of a sheet of registered stock: printed on for a job, or voided (spoilt,
/// lost in a failed attempt). A sheet not yet taken has no row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SheetState {
    Printed,
    Voided,
}

impl SheetState {
    pub fn as_str(self) -> &'static str {
        match self {
            SheetState::Printed => "printed",
            SheetState::Voided => "voided",
        }
    }

    pub fn parse(s: &str) -> Option<SheetState> {
        [SheetState::Printed, SheetState::Voided]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for SheetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const MAX_PREFIX: usize = 16;
/// 15 digits still fit an i64 with room for the count on top.
pub const MAX_DIGITS: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SheetSerial {
    prefix: String,
    width: usize,
    number: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialError {
    #[error(
        "must be 1-{MAX_PREFIX} capital letters followed by 1-{MAX_DIGITS} digits, e.g. LY00000001"
    )]
    Shape,
    #[error("the digits of {0} run out before the end of the batch")]
    Overflow(String),
}

impl SheetSerial {
    pub fn parse(s: &str) -> Result<SheetSerial, SerialError> {
        let split = s
            .find(|c: char| !c.is_ascii_uppercase())
            .ok_or(SerialError::Shape)?;
        let (prefix, digits) = s.split_at(split);
        if prefix.is_empty()
            || prefix.len() > MAX_PREFIX
            || digits.is_empty()
            || digits.len() > MAX_DIGITS
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(SerialError::Shape);
        }
        let number = digits.parse().map_err(|_| SerialError::Shape)?;
        Ok(SheetSerial {
            prefix: prefix.to_string(),
            width: digits.len(),
            number,
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn number(&self) -> i64 {
        self.number
    }

    /// The largest number the digits can hold.
    pub fn max_number(&self) -> i64 {
        10i64.pow(self.width as u32) - 1
    }

    /// The last serial of a batch of `count` sheets starting here.
    pub fn last_of_batch(&self, count: i64) -> Result<SheetSerial, SerialError> {
        match self.number.checked_add(count - 1) {
            Some(n) if count >= 1 && n <= self.max_number() => Ok(SheetSerial {
                prefix: self.prefix.clone(),
                width: self.width,
                number: n,
            }),
            _ => Err(SerialError::Overflow(self.to_string())),
        }
    }
}

impl fmt::Display for SheetSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:0w$}", self.prefix, self.number, w = self.width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_letters_then_digits_and_keeps_the_width() {
        let s = SheetSerial::parse("LY00000099").unwrap();
        assert_eq!((s.prefix(), s.width(), s.number()), ("LY", 8, 99));
        assert_eq!(s.last_of_batch(2).unwrap().to_string(), "LY00000100");
        assert_eq!(s.to_string(), "LY00000099");
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            "",
            "LY",
            "00000001",
            "ly00000001",
            "LY0000000A",
            "L-1",
            "LY 1",
            "LY１",
            "ABCDEFGHIJKLMNOPQ1",
            "LY1234567890123456",
        ] {
            assert_eq!(SheetSerial::parse(bad), Err(SerialError::Shape), "{bad}");
        }
    }

    #[test]
    fn a_batch_may_not_run_past_its_digits() {
        let s = SheetSerial::parse("AB98").unwrap();
        assert_eq!(s.last_of_batch(2).unwrap().to_string(), "AB99");
        assert!(s.last_of_batch(3).is_err());
        assert!(s.last_of_batch(0).is_err());
    }

    proptest! {
        #[test]
        fn display_round_trips(prefix in "[A-Z]{1,16}", digits in "[0-9]{1,15}") {
            let text = format!("{prefix}{digits}");
            let s = SheetSerial::parse(&text).unwrap();
            prop_assert_eq!(s.to_string(), text);
        }
    }
}
