//! Ed25519 keys that sign notes: the transparency log's checkpoint key (`log.key.pem` in the
//! keys directory) and a witness's cosigning key. PKCS#8 PEM files ("PRIVATE KEY").

use crate::domain::tlog::note::{
    cosignature_message, key_id, Note, Signature, Verifier, ALG_COSIGNATURE_V1, ALG_ED25519,
};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::path::{Path, PathBuf};

/// The log key's file name in the keys directory.
pub const LOG_KEY_FILE: &str = "log.key.pem";

#[derive(Debug, thiserror::Error)]
pub enum NoteKeyError {
    #[error("cannot read the key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the key file {0} is not a PKCS#8 Ed25519 private key")]
    NotEd25519(PathBuf),
    #[error("the key name {0:?} is not usable (no spaces, no '+')")]
    BadName(String),
    #[error("the key file {0} has no \"name: NAME\" line")]
    NoName(PathBuf),
    #[error("key generation failed")]
    Generate,
}

/// An Ed25519 key pair with the name its signatures carry.
pub struct NoteKey {
    name: String,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for NoteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteKey").field("name", &self.name).finish()
    }
}

impl NoteKey {
    pub fn load(path: &Path, name: &str) -> Result<NoteKey, NoteKeyError> {
        if !crate::domain::tlog::note::valid_name(name) {
            return Err(NoteKeyError::BadName(name.to_string()));
        }
        let text = std::fs::read_to_string(path).map_err(|source| NoteKeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let pem_start = text.find("-----BEGIN").unwrap_or(0);
        let der = ::pem::parse(&text[pem_start..])
            .ok()
            .filter(|p| p.tag() == "PRIVATE KEY")
            .ok_or_else(|| NoteKeyError::NotEd25519(path.to_path_buf()))?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.contents())
            .map_err(|_| NoteKeyError::NotEd25519(path.to_path_buf()))?;
        Ok(NoteKey {
            name: name.to_string(),
            pair,
        })
    }

    /// A key file that names itself: a `name: NAME` line before the PEM (witness keys).
    pub fn load_named(path: &Path) -> Result<NoteKey, NoteKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| NoteKeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("name: "))
            .map(str::trim)
            .ok_or_else(|| NoteKeyError::NoName(path.to_path_buf()))?;
        Self::load(path, name)
    }

    /// A new self-naming key file (`load_named`).
    pub fn generate_named(path: &Path, name: &str) -> Result<NoteKey, NoteKeyError> {
        Self::write_new(path, name, true)
    }

    /// A new key written to `path` (mode 0600), refusing to overwrite a file.
    pub fn generate(path: &Path, name: &str) -> Result<NoteKey, NoteKeyError> {
        Self::write_new(path, name, false)
    }

    fn write_new(path: &Path, name: &str, named: bool) -> Result<NoteKey, NoteKeyError> {
        if !crate::domain::tlog::note::valid_name(name) {
            return Err(NoteKeyError::BadName(name.to_string()));
        }
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| NoteKeyError::Generate)?;
        let mut text = ::pem::encode(&::pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
        if named {
            text = format!("name: {name}\n{text}");
        }
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            opts.open(path)?.write_all(text.as_bytes())
        };
        write().map_err(|source| NoteKeyError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        Self::load(path, name)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn public(&self) -> [u8; 32] {
        let mut k = [0u8; 32];
        k.copy_from_slice(self.pair.public_key().as_ref());
        k
    }

    /// The verifier key of note signatures (type 0x01): the log's checkpoints.
    pub fn note_verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            alg: ALG_ED25519,
            key: self.public(),
        }
    }

    /// The verifier key of cosignatures (type 0x04): a witness.
    pub fn cosigner_verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            alg: ALG_COSIGNATURE_V1,
            key: self.public(),
        }
    }

    /// Sign `body` as a note.
    pub fn sign_note(&self, body: &str) -> Note {
        let sig = self.pair.sign(body.as_bytes());
        Note {
            body: body.to_string(),
            signatures: vec![Signature {
                name: self.name.clone(),
                id: key_id(&self.name, ALG_ED25519, &self.public()),
                sig: sig.as_ref().to_vec(),
            }],
        }
    }

    /// A cosignature/v1 of a checkpoint `body` at `time` (POSIX seconds).
    pub fn cosign(&self, body: &str, time: u64) -> Signature {
        let sig = self.pair.sign(cosignature_message(time, body).as_bytes());
        let mut bytes = time.to_be_bytes().to_vec();
        bytes.extend_from_slice(sig.as_ref());
        Signature {
            name: self.name.clone(),
            id: key_id(&self.name, ALG_COSIGNATURE_V1, &self.public()),
            sig: bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_and_cosignatures_verify() {
        let dir = tempfile::tempdir().unwrap();
        let log = NoteKey::generate(&dir.path().join("log"), "example.org/log").unwrap();
        let w = NoteKey::generate(&dir.path().join("w"), "witness.example").unwrap();
        assert!(NoteKey::generate(&dir.path().join("w"), "again").is_err());
        let body = "example.org/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let mut note = log.sign_note(body);
        assert_eq!(note.verify(&log.note_verifier()), Ok(None));
        note.signatures.push(w.cosign(body, 1_700_000_000));
        let parsed = Note::parse(&note.text()).unwrap();
        assert_eq!(
            parsed.verify(&w.cosigner_verifier()),
            Ok(Some(1_700_000_000))
        );
        assert!(parsed.verify(&w.note_verifier()).is_err());
        let v = Verifier::parse(&w.cosigner_verifier().vkey()).unwrap();
        assert_eq!(parsed.count_cosignatures(&[v]), 1);
    }
}
