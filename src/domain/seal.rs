//! The claims sealed into a licence's COSE_Sign1 (docs/architecture.md, "Licences").
//!
//! The map is kept as small as the QR code demands: the licence type and version already sit
//! inside the identifier, so they are not repeated. The CWT issuer (key 1) is omitted whenever it
//! equals the issuer code that the identifier already carries
//! (`1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>`), which saves ~21 bytes
//! (~34 QR characters) on every seal; a decoder restores it from the identifier. An issuer that
//! differs from the identifier's (should never happen, but the type allows it) is written out.

use ciborium::value::{Integer, Value};
use thiserror::Error;

/// CWT claim keys (RFC 8392) and crosscert's private claims (negative keys, one CBOR byte each).
const KEY_ISS: i64 = 1;
const KEY_EXP: i64 = 4;
const KEY_IAT: i64 = 6;
const KEY_IDENTIFIER: i64 = -1;
const KEY_LICENCE_NO: i64 = -2;
const KEY_HOLDER_NAME: i64 = -3;
const KEY_HOLDER_CODE_MASKED: i64 = -4;
/// The Token Status List's `status` claim (draft-ietf-oauth-status-list):
/// `{"status_list": {"idx": n, "uri": "<list URL>"}}`.
const KEY_STATUS: i64 = 65535;

/// The identifier's fixed root arc (docs/architecture.md, "Licences"); the issuer code is the 7th dotted part.
const IDENTIFIER_ROOT: &str = "1.2.156.3005.2.";

/// What a seal asserts about one licence version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealClaims {
    /// Issuer code (the issuing authority's 18-character unified social credit code).
    pub iss: String,
    /// Sealed at (Unix seconds).
    pub iat: i64,
    /// End of validity (Unix seconds); `None` for a long-term (长期) licence.
    pub exp: Option<i64>,
    /// The licence identifier (证照标识).
    pub identifier: String,
    pub licence_no: String,
    pub holder_name: String,
    /// The holder code as printed (personal ID numbers masked).
    pub holder_code_masked: String,
    /// Where the licence's status is published; `None` in seals made before status lists.
    pub status: Option<StatusRef>,
}

/// A licence's entry in a status list: the list's URL and the licence's index in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRef {
    pub idx: u64,
    pub uri: String,
}

impl StatusRef {
    fn to_value(&self) -> Value {
        Value::Map(vec![(
            Value::Text("status_list".into()),
            Value::Map(vec![
                (
                    Value::Text("idx".into()),
                    Value::Integer(Integer::from(self.idx)),
                ),
                (Value::Text("uri".into()), Value::Text(self.uri.clone())),
            ]),
        )])
    }

    fn from_value(v: Value) -> Result<StatusRef, ClaimsError> {
        let wrong = ClaimsError::WrongType("status");
        let Value::Map(outer) = v else {
            return Err(wrong);
        };
        let inner = outer
            .into_iter()
            .find(|(k, _)| k.as_text() == Some("status_list"))
            .map(|(_, v)| v)
            .ok_or(ClaimsError::Missing("status.status_list"))?;
        let Value::Map(inner) = inner else {
            return Err(wrong);
        };
        let (mut idx, mut uri) = (None, None);
        for (k, v) in inner {
            match k.as_text() {
                Some("idx") => idx = v.as_integer().and_then(|i| u64::try_from(i).ok()),
                Some("uri") => uri = v.into_text().ok(),
                _ => {}
            }
        }
        Ok(StatusRef {
            idx: idx.ok_or(ClaimsError::WrongType("status.idx"))?,
            uri: uri.ok_or(ClaimsError::WrongType("status.uri"))?,
        })
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ClaimsError {
    #[error("the claims are not well-formed CBOR")]
    NotCbor,
    #[error("the claims are not a CBOR map")]
    NotAMap,
    #[error("claim key {0} appears twice")]
    DuplicateKey(String),
    #[error("claim {0} is missing")]
    Missing(&'static str),
    #[error("claim {0} has the wrong type")]
    WrongType(&'static str),
    #[error("trailing bytes after the claims map")]
    TrailingBytes,
}

/// The issuer code carried by a well-shaped identifier, if any.
fn issuer_in_identifier(identifier: &str) -> Option<&str> {
    let rest = identifier.strip_prefix(IDENTIFIER_ROOT)?;
    // rest = <type>.<issuer>.<serial>.<version>.<check>
    let mut parts = rest.split('.');
    let _type_code = parts.next()?;
    parts.next().filter(|s| !s.is_empty())
}

impl SealClaims {
    /// Deterministic CBOR: definite lengths, shortest integer forms (ciborium always writes
    /// those) and keys in RFC 8949 §4.2.1 order (bytewise order of their encodings:
    /// 1, 4, 6, 65535, -1, -2, -3, -4), so equal claims always give equal bytes.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut map: Vec<(Value, Value)> = Vec::with_capacity(8);
        let int = |k: i64| Value::Integer(Integer::from(k));
        if issuer_in_identifier(&self.identifier) != Some(self.iss.as_str()) {
            map.push((int(KEY_ISS), Value::Text(self.iss.clone())));
        }
        if let Some(exp) = self.exp {
            map.push((int(KEY_EXP), int(exp)));
        }
        map.push((int(KEY_IAT), int(self.iat)));
        if let Some(status) = &self.status {
            map.push((int(KEY_STATUS), status.to_value()));
        }
        map.push((int(KEY_IDENTIFIER), Value::Text(self.identifier.clone())));
        map.push((int(KEY_LICENCE_NO), Value::Text(self.licence_no.clone())));
        map.push((int(KEY_HOLDER_NAME), Value::Text(self.holder_name.clone())));
        map.push((
            int(KEY_HOLDER_CODE_MASKED),
            Value::Text(self.holder_code_masked.clone()),
        ));
        let mut out = Vec::with_capacity(256);
        // Writing a Value into a Vec cannot fail: the writer is infallible and every value
        // here is serialisable. Fall back to an empty buffer rather than panic regardless.
        if ciborium::ser::into_writer(&Value::Map(map), &mut out).is_err() {
            out.clear();
        }
        out
    }

    /// Parses claims written by [`SealClaims::to_cbor`]. Unknown keys are ignored (CWT
    /// practice, so later versions may add claims); duplicate keys are refused.
    pub fn from_cbor(bytes: &[u8]) -> Result<SealClaims, ClaimsError> {
        let mut reader = bytes;
        let value: Value =
            ciborium::de::from_reader(&mut reader).map_err(|_| ClaimsError::NotCbor)?;
        if !reader.is_empty() {
            return Err(ClaimsError::TrailingBytes);
        }
        let Value::Map(entries) = value else {
            return Err(ClaimsError::NotAMap);
        };

        let mut iss = None;
        let mut exp = None;
        let mut iat = None;
        let mut identifier = None;
        let mut licence_no = None;
        let mut holder_name = None;
        let mut holder_code = None;
        let mut status = None;
        let mut seen: Vec<i128> = Vec::with_capacity(entries.len());

        for (k, v) in entries {
            let Value::Integer(k) = k else {
                continue; // text keys are not ours: ignore like any unknown claim
            };
            let k = i128::from(k);
            if seen.contains(&k) {
                return Err(ClaimsError::DuplicateKey(k.to_string()));
            }
            seen.push(k);
            match i64::try_from(k) {
                Ok(KEY_ISS) => iss = Some(text(v, "iss")?),
                Ok(KEY_EXP) => exp = Some(integer(v, "exp")?),
                Ok(KEY_IAT) => iat = Some(integer(v, "iat")?),
                Ok(KEY_IDENTIFIER) => identifier = Some(text(v, "identifier")?),
                Ok(KEY_LICENCE_NO) => licence_no = Some(text(v, "licence_no")?),
                Ok(KEY_HOLDER_NAME) => holder_name = Some(text(v, "holder_name")?),
                Ok(KEY_HOLDER_CODE_MASKED) => holder_code = Some(text(v, "holder_code_masked")?),
                Ok(KEY_STATUS) => status = Some(StatusRef::from_value(v)?),
                _ => {}
            }
        }

        let identifier = identifier.ok_or(ClaimsError::Missing("identifier"))?;
        let iss = match iss {
            Some(iss) => iss,
            None => issuer_in_identifier(&identifier)
                .ok_or(ClaimsError::Missing("iss"))?
                .to_owned(),
        };
        Ok(SealClaims {
            iss,
            iat: iat.ok_or(ClaimsError::Missing("iat"))?,
            exp,
            identifier,
            licence_no: licence_no.ok_or(ClaimsError::Missing("licence_no"))?,
            holder_name: holder_name.ok_or(ClaimsError::Missing("holder_name"))?,
            holder_code_masked: holder_code.ok_or(ClaimsError::Missing("holder_code_masked"))?,
            status,
        })
    }
}

fn text(v: Value, name: &'static str) -> Result<String, ClaimsError> {
    match v {
        Value::Text(s) => Ok(s),
        _ => Err(ClaimsError::WrongType(name)),
    }
}

fn integer(v: Value, name: &'static str) -> Result<i64, ClaimsError> {
    match v {
        Value::Integer(i) => i64::try_from(i).map_err(|_| ClaimsError::WrongType(name)),
        _ => Err(ClaimsError::WrongType(name)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> SealClaims {
        SealClaims {
            iss: "11220000013544541J".into(),
            iat: 1_767_225_600,
            exp: Some(1_893_456_000),
            identifier: "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
                .into(),
            licence_no: "JY13701020000123".into(),
            holder_name: "临沂市兰山区某某某某某某某某某某某某某某某某科技有限公司".into(),
            holder_code_masked: "91350100M000100Y43".into(),
            status: None,
        }
    }

    #[test]
    fn status_claim_round_trips_in_canonical_place() {
        let mut c = sample();
        c.status = Some(StatusRef {
            idx: 917_503,
            uri: "https://verify.example.cn/api/v1/status-lists/1".into(),
        });
        let bytes = c.to_cbor();
        assert_eq!(SealClaims::from_cbor(&bytes), Ok(c));
        // 65535 (0x19 0xff 0xff) sorts after iat (6) and before the negative keys.
        let at = bytes
            .windows(3)
            .position(|w| w == [0x19, 0xff, 0xff])
            .unwrap();
        let iat = bytes.windows(2).position(|w| w == [0x06, 0x1a]).unwrap();
        assert!(iat < at);
        // {65535: {"status_list": 1}} is refused, not ignored.
        let mut bad = vec![0xa1, 0x19, 0xff, 0xff, 0xa1, 0x6b];
        bad.extend_from_slice(b"status_list");
        bad.push(0x01);
        assert_eq!(
            SealClaims::from_cbor(&bad),
            Err(ClaimsError::WrongType("status"))
        );
    }

    #[test]
    fn round_trips_and_omits_iss_carried_by_the_identifier() {
        let c = sample();
        let bytes = c.to_cbor();
        assert_eq!(SealClaims::from_cbor(&bytes), Ok(c.clone()));
        // Key 1 (0x01 followed by a text header 0x72 = 18 chars) must not be present.
        assert!(!bytes.windows(2).any(|w| w == [0x01, 0x72]));
    }

    #[test]
    fn writes_iss_when_it_differs_from_the_identifier() {
        let mut c = sample();
        c.iss = "91350100M000100Y43".into();
        let bytes = c.to_cbor();
        assert_eq!(SealClaims::from_cbor(&bytes), Ok(c));
    }

    #[test]
    fn long_term_licence_has_no_exp() {
        let mut c = sample();
        c.exp = None;
        let bytes = c.to_cbor();
        assert_eq!(SealClaims::from_cbor(&bytes), Ok(c));
    }

    #[test]
    fn encoding_is_deterministic_with_canonical_key_order() {
        let c = sample();
        assert_eq!(c.to_cbor(), c.clone().to_cbor());
        let bytes = c.to_cbor();
        // map(6) then key 4 (exp), a 4-byte uint
        assert_eq!(&bytes[..3], &[0xa6, 0x04, 0x1a]);
    }

    #[test]
    fn refuses_duplicates_wrong_types_and_garbage() {
        // {6: 1, 6: 2}
        assert!(matches!(
            SealClaims::from_cbor(&[0xa2, 0x06, 0x01, 0x06, 0x02]),
            Err(ClaimsError::DuplicateKey(_))
        ));
        // {6: "x"}
        assert_eq!(
            SealClaims::from_cbor(&[0xa1, 0x06, 0x61, b'x']),
            Err(ClaimsError::WrongType("iat"))
        );
        assert_eq!(SealClaims::from_cbor(&[0x80]), Err(ClaimsError::NotAMap));
        assert_eq!(SealClaims::from_cbor(&[0xff]), Err(ClaimsError::NotCbor));
        let mut bytes = sample().to_cbor();
        bytes.push(0x00);
        assert_eq!(
            SealClaims::from_cbor(&bytes),
            Err(ClaimsError::TrailingBytes)
        );
    }

    #[test]
    fn missing_identifier_is_an_error() {
        // {6: 1}
        assert_eq!(
            SealClaims::from_cbor(&[0xa1, 0x06, 0x01]),
            Err(ClaimsError::Missing("identifier"))
        );
    }
}
