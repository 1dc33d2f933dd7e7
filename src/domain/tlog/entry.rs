//! The log's entries: one line of text, no holder data.
//! `crosscert/v1 <kind> <unix time> <subject> <sha256 hex>`.

pub const PREFIX: &str = "crosscert/v1";

/// What an entry records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `issued`, `status:<new status>` or `trust-list`.
    pub kind: String,
    pub time: i64,
    /// A licence identifier, or `trust-list/<sequence>`.
    pub subject: String,
    /// SHA-256 of the seal's COSE bytes or of the trust list, lowercase hex.
    pub sha256: String,
}

impl Entry {
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{PREFIX} {} {} {} {}",
            self.kind, self.time, self.subject, self.sha256
        )
        .into_bytes()
    }

    pub fn decode(data: &[u8]) -> Option<Entry> {
        let text = std::str::from_utf8(data).ok()?;
        let mut parts = text.split(' ');
        if parts.next()? != PREFIX {
            return None;
        }
        let kind = parts.next()?.to_string();
        let time = parts.next()?.parse().ok()?;
        let subject = parts.next()?.to_string();
        let sha256 = parts.next()?.to_string();
        if parts.next().is_some() || sha256.len() != 64 {
            return None;
        }
        Some(Entry {
            kind,
            time,
            subject,
            sha256,
        })
    }
}

/// tlog-tiles entry bundle: each entry as a big-endian u16 length and its bytes.
pub fn bundle(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(&(e.len() as u16).to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

pub fn unbundle(mut data: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 2 {
            return None;
        }
        let n = u16::from_be_bytes([data[0], data[1]]) as usize;
        let e = data.get(2..2 + n)?;
        out.push(e.to_vec());
        data = &data[2 + n..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let e = Entry {
            kind: "issued".into(),
            time: 1_790_000_000,
            subject: "JY-91370000-000001-1".into(),
            sha256: "ab".repeat(32),
        };
        assert_eq!(Entry::decode(&e.encode()), Some(e.clone()));
        let b = bundle(&[e.encode(), b"x".to_vec()]);
        assert_eq!(unbundle(&b), Some(vec![e.encode(), b"x".to_vec()]));
        assert_eq!(unbundle(&[0, 5, 1]), None);
    }
}
