//! The signing period as the X.509 PrivateKeyUsagePeriod extension (RFC 5280 4.2.1.4).

use super::*;

/// A signer's signing period: both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningPeriod {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl SigningPeriod {
    /// `--not-before D1 --not-after D2`: from D1 00:00:00 to D2 23:59:59 UTC.
    pub fn from_dates(not_before: &str, not_after: &str) -> Result<SigningPeriod, CeremonyError> {
        let day = |s: &str, option: &'static str| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| input(option, format!("{s:?} is not a date YYYY-MM-DD")))
        };
        let from = day(not_before, "--not-before")?;
        let until = day(not_after, "--not-after")?;
        let from = Utc.from_utc_datetime(&from.and_time(chrono::NaiveTime::MIN));
        let until = Utc.from_utc_datetime(
            &until
                .and_hms_opt(23, 59, 59)
                .ok_or_else(|| input("--not-after", "not a day"))?,
        );
        if from >= until {
            return Err(input("--not-after", "must be after --not-before"));
        }
        Ok(SigningPeriod { from, until })
    }

    /// DER: SEQUENCE { [0] IMPLICIT GeneralizedTime, [1] IMPLICIT GeneralizedTime }.
    pub(super) fn to_der(self) -> Vec<u8> {
        let mut body = Vec::new();
        for (tag, t) in [(0x80u8, self.from), (0x81, self.until)] {
            let text = t.format("%Y%m%d%H%M%SZ").to_string();
            body.push(tag);
            body.push(text.len() as u8);
            body.extend_from_slice(text.as_bytes());
        }
        let mut out = vec![0x30, body.len() as u8];
        out.extend_from_slice(&body);
        out
    }

    pub(super) fn from_der(der: &[u8]) -> Option<SigningPeriod> {
        let body = match der {
            [0x30, len, body @ ..] if *len as usize == body.len() => body,
            _ => return None,
        };
        let time = |tag: u8, b: &[u8]| -> Option<(DateTime<Utc>, usize)> {
            match b {
                [t, 15, rest @ ..] if *t == tag && rest.len() >= 15 => {
                    let text = std::str::from_utf8(&rest[..15]).ok()?;
                    let naive =
                        chrono::NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%SZ").ok()?;
                    Some((Utc.from_utc_datetime(&naive), 17))
                }
                _ => None,
            }
        };
        let (from, used) = time(0x80, body)?;
        let (until, used2) = time(0x81, &body[used..])?;
        (used + used2 == body.len() && from < until).then_some(SigningPeriod { from, until })
    }

    pub(super) fn extension(self) -> CustomExtension {
        CustomExtension::from_oid_content(PKUP_OID, self.to_der())
    }
}

/// The signing period a signer certificate carries.
pub fn period_of_certificate(der: &[u8]) -> Option<SigningPeriod> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == PKUP_OID_STR)?;
    SigningPeriod::from_der(ext.value)
}
