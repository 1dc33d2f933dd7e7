//! The Token Status List (draft-ietf-oauth-status-list, CWT form) as pure data: the 2-bit
//! statuses packed least-significant bit first, the zlib-deflated `lst`, and the CWT claims
//! of a status list token. Signing lives in `issuance`, verifying in `verification`.

use std::io::{Read, Write};

use ciborium::value::{Integer, Value};

use super::licence::LicenceStatus;

/// Bits per status (the draft allows 1, 2, 4 or 8): valid, invalid and suspended need 2.
pub const BITS: u8 = 2;
/// Entries per list. Indexes are drawn at random from the whole range, and a list takes new
/// licences until it is a quarter full, so an index says nothing about order or volume.
pub const CAPACITY: u64 = 1 << 20;
/// How many licences a list takes before a new one is opened.
pub const FILL_LIMIT: u64 = CAPACITY / 4;
/// The CWT `typ` of a status list token (protected header 16) and its media type.
pub const TYP: &str = "application/statuslist+cwt";
/// Largest inflated `lst` a verifier accepts (a 8-bit list of 16 M entries): a zip bomb in
/// a list is refused, not expanded.
pub const MAX_INFLATED: usize = 16 << 20;

/// CWT claim keys (RFC 8392 and the draft's registrations).
const KEY_SUB: i64 = 2;
const KEY_EXP: i64 = 4;
const KEY_IAT: i64 = 6;
const KEY_STATUS_LIST: i64 = 65533;
const KEY_TTL: i64 = 65534;

/// A status as the list carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStatus {
    Valid = 0,
    Invalid = 1,
    Suspended = 2,
}

impl ListStatus {
    /// The list status of a licence's effective status: suspended is 2, anything that ends a
    /// licence (revoked, rescinded, cancelled, superseded, expired) is 1.
    pub fn of(status: LicenceStatus) -> ListStatus {
        match status {
            LicenceStatus::Valid => ListStatus::Valid,
            LicenceStatus::Suspended => ListStatus::Suspended,
            LicenceStatus::Rescinded
            | LicenceStatus::Cancelled
            | LicenceStatus::Expired
            | LicenceStatus::Revoked
            | LicenceStatus::Superseded => ListStatus::Invalid,
        }
    }

    pub fn from_bits(v: u8) -> Option<ListStatus> {
        match v {
            0 => Some(ListStatus::Valid),
            1 => Some(ListStatus::Invalid),
            2 => Some(ListStatus::Suspended),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ListStatus::Valid => "valid",
            ListStatus::Invalid => "invalid",
            ListStatus::Suspended => "suspended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusListError {
    #[error("index {0} is outside the list")]
    OutOfRange(u64),
    #[error("the status list token is not the expected CBOR: {0}")]
    Shape(&'static str),
    #[error("the status list's lst does not inflate")]
    Inflate,
    #[error("the status list uses {0} bits per status; only 2 is understood")]
    Bits(u64),
}

/// The uncompressed list: `CAPACITY * BITS / 8` bytes, entry `i` in byte `i / 4` at bit
/// `2 * (i % 4)` (least significant first, the draft's order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedStatuses {
    bytes: Vec<u8>,
}

impl PackedStatuses {
    pub fn new(capacity: u64) -> PackedStatuses {
        PackedStatuses {
            bytes: vec![0; (capacity as usize).div_ceil(4)],
        }
    }

    pub fn from_bytes(bytes: Vec<u8>) -> PackedStatuses {
        PackedStatuses { bytes }
    }

    pub fn capacity(&self) -> u64 {
        self.bytes.len() as u64 * 4
    }

    pub fn set(&mut self, idx: u64, status: ListStatus) -> Result<(), StatusListError> {
        let byte = self
            .bytes
            .get_mut((idx / 4) as usize)
            .ok_or(StatusListError::OutOfRange(idx))?;
        let shift = (idx % 4) * 2;
        *byte = (*byte & !(0b11 << shift)) | ((status as u8) << shift);
        Ok(())
    }

    /// The raw 2-bit value (3 is undefined by the draft and reported as such).
    pub fn get(&self, idx: u64) -> Result<u8, StatusListError> {
        let byte = self
            .bytes
            .get((idx / 4) as usize)
            .ok_or(StatusListError::OutOfRange(idx))?;
        Ok((byte >> ((idx % 4) * 2)) & 0b11)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// zlib (RFC 1950) at the best compression: the list is built once per change and
    /// fetched by every verifier, so bytes on the wire beat build time.
    pub fn deflate(&self) -> Vec<u8> {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing into a Vec cannot fail.
        if enc.write_all(&self.bytes).is_err() {
            return Vec::new();
        }
        enc.finish().unwrap_or_default()
    }

    pub fn inflate(lst: &[u8]) -> Result<PackedStatuses, StatusListError> {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(lst)
            .take(MAX_INFLATED as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|_| StatusListError::Inflate)?;
        if out.len() > MAX_INFLATED {
            return Err(StatusListError::Inflate);
        }
        Ok(PackedStatuses { bytes: out })
    }
}

/// The claims of a status list token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListClaims {
    /// The list's own URI (where it is fetched).
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// Seconds a verifier may cache the list before fetching it again.
    pub ttl: i64,
    /// zlib-deflated packed statuses.
    pub lst: Vec<u8>,
}

fn int(v: i64) -> Value {
    Value::Integer(Integer::from(v))
}

impl StatusListClaims {
    /// Deterministic CBOR, keys in RFC 8949 §4.2.1 order (2, 4, 6, 65533, 65534).
    pub fn to_cbor(&self) -> Vec<u8> {
        let status_list = Value::Map(vec![
            (Value::Text("lst".into()), Value::Bytes(self.lst.clone())),
            (Value::Text("bits".into()), int(i64::from(BITS))),
        ]);
        let map = Value::Map(vec![
            (int(KEY_SUB), Value::Text(self.sub.clone())),
            (int(KEY_EXP), int(self.exp)),
            (int(KEY_IAT), int(self.iat)),
            (int(KEY_STATUS_LIST), status_list),
            (int(KEY_TTL), int(self.ttl)),
        ]);
        let mut out = Vec::with_capacity(self.lst.len() + 128);
        if ciborium::ser::into_writer(&map, &mut out).is_err() {
            out.clear();
        }
        out
    }

    pub fn from_cbor(bytes: &[u8]) -> Result<StatusListClaims, StatusListError> {
        let shape = StatusListError::Shape;
        let value: Value = ciborium::de::from_reader(bytes).map_err(|_| shape("not CBOR"))?;
        let Value::Map(entries) = value else {
            return Err(shape("claims are not a map"));
        };
        let (mut sub, mut iat, mut exp, mut ttl, mut lst) = (None, None, None, None, None);
        for (k, v) in entries {
            let Some(k) = k.as_integer().and_then(|i| i64::try_from(i).ok()) else {
                continue;
            };
            match k {
                KEY_SUB => sub = v.into_text().ok(),
                KEY_IAT => iat = v.as_integer().and_then(|i| i64::try_from(i).ok()),
                KEY_EXP => exp = v.as_integer().and_then(|i| i64::try_from(i).ok()),
                KEY_TTL => ttl = v.as_integer().and_then(|i| i64::try_from(i).ok()),
                KEY_STATUS_LIST => {
                    let Value::Map(inner) = v else {
                        return Err(shape("status_list is not a map"));
                    };
                    let mut bits = None;
                    for (ik, iv) in inner {
                        match ik.as_text() {
                            Some("bits") => {
                                bits = iv.as_integer().and_then(|i| u64::try_from(i).ok())
                            }
                            Some("lst") => lst = iv.into_bytes().ok(),
                            _ => {}
                        }
                    }
                    match bits {
                        Some(2) => {}
                        Some(b) => return Err(StatusListError::Bits(b)),
                        None => return Err(shape("status_list.bits is missing")),
                    }
                }
                _ => {}
            }
        }
        Ok(StatusListClaims {
            sub: sub.ok_or(shape("sub is missing"))?,
            iat: iat.ok_or(shape("iat is missing"))?,
            exp: exp.ok_or(shape("exp is missing"))?,
            ttl: ttl.unwrap_or(0),
            lst: lst.ok_or(shape("status_list.lst is missing"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_least_significant_bits_first() {
        let mut p = PackedStatuses::new(16);
        p.set(0, ListStatus::Invalid).unwrap();
        p.set(1, ListStatus::Suspended).unwrap();
        p.set(7, ListStatus::Invalid).unwrap();
        // byte 0: idx0 = 01, idx1 = 10 << 2 -> 0b0000_1001; byte 1: idx7 = 01 << 6.
        assert_eq!(&p.as_bytes()[..2], &[0b0000_1001, 0b0100_0000]);
        assert_eq!(p.get(1).unwrap(), 2);
        p.set(1, ListStatus::Valid).unwrap();
        assert_eq!(p.get(1).unwrap(), 0);
        assert_eq!(
            p.set(16, ListStatus::Invalid),
            Err(StatusListError::OutOfRange(16))
        );
    }

    #[test]
    fn claims_round_trip_and_inflate() {
        let mut p = PackedStatuses::new(CAPACITY);
        p.set(123_456, ListStatus::Suspended).unwrap();
        let claims = StatusListClaims {
            sub: "https://x/api/v1/status-lists/1".into(),
            iat: 1,
            exp: 2,
            ttl: 3600,
            lst: p.deflate(),
        };
        let back = StatusListClaims::from_cbor(&claims.to_cbor()).unwrap();
        assert_eq!(back, claims);
        let q = PackedStatuses::inflate(&back.lst).unwrap();
        assert_eq!(q, p);
        assert_eq!(q.get(123_456).unwrap(), 2);
    }

    #[test]
    fn refuses_garbage_lists() {
        assert_eq!(
            PackedStatuses::inflate(b"not zlib"),
            Err(StatusListError::Inflate)
        );
        assert!(StatusListClaims::from_cbor(&[0x80]).is_err());
    }
}
