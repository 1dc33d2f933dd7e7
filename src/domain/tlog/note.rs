//! C2SP signed notes (signed-note), checkpoints (tlog-checkpoint) and cosignatures
//! (tlog-cosignature): text formats, key IDs, verifier keys and signature checks. Signing
//! happens in `issuance::note_key` (the only place holding private keys).

use super::merkle::Hash;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ED25519};

/// Signature type byte of an Ed25519 note signature.
pub const ALG_ED25519: u8 = 0x01;
/// Signature type byte of an Ed25519 cosignature/v1.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("malformed verifier key: {0}")]
    BadKey(&'static str),
    #[error("no valid signature by {0}")]
    Unsigned(String),
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(&'static str),
}

/// `SHA-256(name || "\n" || type || key)[:4]`.
pub fn key_id(name: &str, alg: u8, key: &[u8]) -> [u8; 4] {
    let mut data = Vec::with_capacity(name.len() + 2 + key.len());
    data.extend_from_slice(name.as_bytes());
    data.push(b'\n');
    data.push(alg);
    data.extend_from_slice(key);
    let h = super::merkle::sha256(&data);
    [h[0], h[1], h[2], h[3]]
}

/// A verifier key: a name, a signature type and an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub name: String,
    pub alg: u8,
    pub key: [u8; 32],
}

impl Verifier {
    pub fn id(&self) -> [u8; 4] {
        key_id(&self.name, self.alg, &self.key)
    }

    /// `name+hex(key id)+base64(type || key)`.
    pub fn vkey(&self) -> String {
        let mut k = vec![self.alg];
        k.extend_from_slice(&self.key);
        format!("{}+{}+{}", self.name, hex::encode(self.id()), B64.encode(k))
    }

    pub fn parse(vkey: &str) -> Result<Verifier, NoteError> {
        // Names hold no '+'; base64 keys may.
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadKey("expected name+id+key"));
        };
        if !valid_name(name) {
            return Err(NoteError::BadKey("bad key name"));
        }
        let raw = B64
            .decode(key)
            .map_err(|_| NoteError::BadKey("key is not base64"))?;
        let (alg, k) = raw.split_first().ok_or(NoteError::BadKey("empty key"))?;
        if (*alg != ALG_ED25519 && *alg != ALG_COSIGNATURE_V1) || k.len() != 32 {
            return Err(NoteError::BadKey("not an Ed25519 key"));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(k);
        let v = Verifier {
            name: name.to_string(),
            alg: *alg,
            key,
        };
        if hex::encode(v.id()) != id {
            return Err(NoteError::BadKey("key id does not match"));
        }
        Ok(v)
    }

    /// Does `sig` (the bytes after the key ID) sign `body` under this key?
    fn check(&self, body: &str, sig: &[u8]) -> Option<Option<u64>> {
        let pk = UnparsedPublicKey::new(&ED25519, &self.key);
        match self.alg {
            ALG_ED25519 => {
                (sig.len() == 64 && pk.verify(body.as_bytes(), sig).is_ok()).then_some(None)
            }
            ALG_COSIGNATURE_V1 if sig.len() == 72 => {
                let mut t = [0u8; 8];
                t.copy_from_slice(&sig[..8]);
                let time = u64::from_be_bytes(t);
                let msg = cosignature_message(time, body);
                pk.verify(msg.as_bytes(), &sig[8..])
                    .ok()
                    .map(|_| Some(time))
            }
            _ => None,
        }
    }
}

/// A key name: non-empty, no whitespace, no `+`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// The message a cosignature/v1 signs.
pub fn cosignature_message(time: u64, body: &str) -> String {
    format!("cosignature/v1\ntime {time}\n{body}")
}

/// One signature line: `— name base64(id || signature)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    pub id: [u8; 4],
    pub sig: Vec<u8>,
}

impl Signature {
    pub fn line(&self) -> String {
        let mut b = self.id.to_vec();
        b.extend_from_slice(&self.sig);
        format!("\u{2014} {} {}\n", self.name, B64.encode(b))
    }

    pub fn parse_line(line: &str) -> Result<Signature, NoteError> {
        let rest = line.strip_prefix("\u{2014} ").ok_or(NoteError::Malformed(
            "signature line does not start with an em dash",
        ))?;
        let (name, b) = rest
            .split_once(' ')
            .ok_or(NoteError::Malformed("signature line without a signature"))?;
        let raw = B64
            .decode(b)
            .map_err(|_| NoteError::Malformed("signature is not base64"))?;
        if raw.len() < 5 || !valid_name(name) {
            return Err(NoteError::Malformed("signature too short"));
        }
        let mut id = [0u8; 4];
        id.copy_from_slice(&raw[..4]);
        Ok(Signature {
            name: name.to_string(),
            id,
            sig: raw[4..].to_vec(),
        })
    }
}

/// A signed note: its body (ending in a newline) and signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub body: String,
    pub signatures: Vec<Signature>,
}

impl Note {
    pub fn parse(text: &str) -> Result<Note, NoteError> {
        let split = text
            .find("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let body = &text[..split + 1];
        let sigs = &text[split + 2..];
        if !sigs.ends_with('\n') {
            return Err(NoteError::Malformed("no final newline"));
        }
        let signatures = sigs
            .lines()
            .map(Signature::parse_line)
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.is_empty() {
            return Err(NoteError::Malformed("no signature"));
        }
        Ok(Note {
            body: body.to_string(),
            signatures,
        })
    }

    pub fn text(&self) -> String {
        let mut s = self.body.clone();
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.line());
        }
        s
    }

    /// Verify the signature by `v`. `Ok(Some(time))` for a cosignature, `Ok(None)` for a
    /// plain note signature.
    pub fn verify(&self, v: &Verifier) -> Result<Option<u64>, NoteError> {
        let id = v.id();
        self.signatures
            .iter()
            .filter(|s| s.name == v.name && s.id == id)
            .find_map(|s| v.check(&self.body, &s.sig))
            .ok_or_else(|| NoteError::Unsigned(v.name.clone()))
    }

    /// How many of `witnesses` validly cosign this note.
    pub fn count_cosignatures(&self, witnesses: &[Verifier]) -> usize {
        witnesses.iter().filter(|w| self.verify(w).is_ok()).count()
    }
}

/// A checkpoint body: origin, size, root hash, extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    pub fn parse(body: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        let size = lines.next().unwrap_or_default();
        let root = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(NoteError::BadCheckpoint("empty origin"));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| NoteError::BadCheckpoint("size is not a number"))?;
        let root = decode_hash(root).ok_or(NoteError::BadCheckpoint("bad root hash"))?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

pub fn encode_hash(h: &Hash) -> String {
    B64.encode(h)
}

pub fn decode_hash(s: &str) -> Option<Hash> {
    let raw = B64.decode(s.trim()).ok()?;
    raw.try_into().ok()
}

/// A tlog-proof (`c2sp.org/tlog-proof@v1`): entry index, inclusion proof, checkpoint note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub index: u64,
    pub path: Vec<Hash>,
    pub checkpoint: Note,
}

pub const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

impl Proof {
    pub fn text(&self) -> String {
        let mut s = format!("{PROOF_HEADER}\nindex {}\n", self.index);
        for h in &self.path {
            s.push_str(&encode_hash(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint.text());
        s
    }

    pub fn parse(text: &str) -> Result<Proof, NoteError> {
        let rest = text
            .strip_prefix(PROOF_HEADER)
            .and_then(|r| r.strip_prefix('\n'))
            .ok_or(NoteError::Malformed("not a tlog-proof"))?;
        let (head, note) = rest
            .split_once("\n\n")
            .ok_or(NoteError::Malformed("no checkpoint in the proof"))?;
        let mut lines = head.lines().peekable();
        if lines.peek().is_some_and(|l| l.starts_with("extra ")) {
            lines.next();
        }
        let index = lines
            .next()
            .and_then(|l| l.strip_prefix("index "))
            .and_then(|n| n.parse().ok())
            .ok_or(NoteError::Malformed("no index line"))?;
        let path = lines
            .map(|l| decode_hash(l).ok_or(NoteError::Malformed("bad proof hash")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Proof {
            index,
            path,
            checkpoint: Note::parse(note)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_note_spec_example_verifies() {
        // The example of C2SP signed-note.
        let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
        let text = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
        let v = Verifier::parse(vkey).unwrap();
        assert_eq!(v.vkey(), vkey);
        let note = Note::parse(text).unwrap();
        assert_eq!(note.verify(&v), Ok(None));
        assert_eq!(note.text(), text);
        let mut forged = note.clone();
        forged.body = forged.body.replace("example", "forged");
        assert!(forged.verify(&v).is_err());
    }

    #[test]
    fn checkpoints_and_proofs_round_trip() {
        let c = Checkpoint {
            origin: "example.com/log".into(),
            size: 7,
            root: [9; 32],
        };
        assert_eq!(Checkpoint::parse(&c.body()).unwrap(), c);
        let p = Proof {
            index: 3,
            path: vec![[1; 32], [2; 32]],
            checkpoint: Note {
                body: c.body(),
                signatures: vec![Signature {
                    name: "example.com/log".into(),
                    id: [1, 2, 3, 4],
                    sig: vec![5; 64],
                }],
            },
        };
        assert_eq!(Proof::parse(&p.text()).unwrap(), p);
        assert!(Verifier::parse("a+b").is_err());
    }
}
