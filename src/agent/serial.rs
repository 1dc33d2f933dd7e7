//! Blank-sheet serials as the agent's tray counts them (docs/architecture.md, "Print distribution"): capital letters then
//! digits, counted up in the digits with their width kept (`LY0099` -> `LY0100`). The server
//! checks membership in its registered batches; here the arithmetic only has to agree with it.

use std::fmt;

const MAX_PREFIX: usize = 16;
/// 15 digits still fit an i64 with room to count on top.
const MAX_DIGITS: usize = 15;
/// One `stock load` inserts at most this many sheets (the server's batch limit).
pub const MAX_LOAD: i64 = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Serial {
    prefix: String,
    width: usize,
    number: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialError {
    #[error("{0:?} is not a sheet serial: 1-16 capital letters then 1-15 digits, e.g. LY00000001")]
    Shape(String),
    #[error("--count must be between 1 and {MAX_LOAD}")]
    Count,
    #[error("the digits of {0} run out before {1} sheets are counted")]
    Overflow(String, i64),
}

impl Serial {
    pub fn parse(s: &str) -> Result<Serial, SerialError> {
        let shape = || SerialError::Shape(s.to_string());
        let split = s
            .find(|c: char| !c.is_ascii_uppercase())
            .ok_or_else(shape)?;
        let (prefix, digits) = s.split_at(split);
        if prefix.is_empty()
            || prefix.len() > MAX_PREFIX
            || digits.is_empty()
            || digits.len() > MAX_DIGITS
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(shape());
        }
        let number = digits.parse().map_err(|_| shape())?;
        Ok(Serial {
            prefix: prefix.to_string(),
            width: digits.len(),
            number,
        })
    }

    /// `count` consecutive serials starting here; refused when the digits would need to grow
    /// (the printed serial on the paper has a fixed width).
    pub fn run(&self, count: i64) -> Result<Vec<Serial>, SerialError> {
        if !(1..=MAX_LOAD).contains(&count) {
            return Err(SerialError::Count);
        }
        let max = 10i64.pow(self.width as u32) - 1;
        match self.number.checked_add(count - 1) {
            Some(last) if last <= max => Ok((self.number..=last)
                .map(|number| Serial {
                    prefix: self.prefix.clone(),
                    width: self.width,
                    number,
                })
                .collect()),
            _ => Err(SerialError::Overflow(self.to_string(), count)),
        }
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:0w$}", self.prefix, self.number, w = self.width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(v: Vec<Serial>) -> Vec<String> {
        v.into_iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn counts_up_in_the_digits_keeping_their_width() {
        let s = Serial::parse("LY0098").unwrap();
        assert_eq!(texts(s.run(3).unwrap()), ["LY0098", "LY0099", "LY0100"]);
        assert_eq!(
            texts(Serial::parse("A0").unwrap().run(2).unwrap()),
            ["A0", "A1"]
        );
    }

    #[test]
    fn refuses_a_run_that_would_need_another_digit() {
        let s = Serial::parse("AB98").unwrap();
        assert_eq!(texts(s.run(2).unwrap()), ["AB98", "AB99"]);
        assert_eq!(
            s.run(3),
            Err(SerialError::Overflow("AB98".into(), 3)),
            "AB100 would be a different sheet shape"
        );
        let wide = Serial::parse("Z999999999999999").unwrap();
        assert!(wide.run(2).is_err());
    }

    #[test]
    fn refuses_counts_outside_one_to_the_batch_limit() {
        let s = Serial::parse("LY00000001").unwrap();
        assert_eq!(s.run(0), Err(SerialError::Count));
        assert_eq!(s.run(-5), Err(SerialError::Count));
        assert_eq!(s.run(MAX_LOAD + 1), Err(SerialError::Count));
        assert_eq!(s.run(MAX_LOAD).unwrap().len(), MAX_LOAD as usize);
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            "",
            "LY",
            "0001",
            "ly0001",
            "LY000A",
            "L-1",
            "LY 1",
            "LY１",
            "ABCDEFGHIJKLMNOPQ1",
            "LY1234567890123456",
            "LY1\n",
        ] {
            assert!(
                matches!(Serial::parse(bad), Err(SerialError::Shape(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn display_round_trips_leading_zeros() {
        for s in ["LY00000001", "A0", "QQ000", "X123456789012345"] {
            assert_eq!(Serial::parse(s).unwrap().to_string(), s);
        }
    }
}
