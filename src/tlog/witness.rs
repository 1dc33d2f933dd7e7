//! A tlog-witness: `POST /add-checkpoint`. It checks the log's signature and the consistency
//! proof from the size it last cosigned, refuses a rollback (409 with its size) or a fork
//! (422), stores the new checkpoint and answers with its cosignature (tlog-cosignature).
//! One log per witness process; the state is one file in the state folder. Its HTTP side
//! (`crosscert witness serve`) is `routes::witness`.

use super::merkle::{self, Hash};
use super::note::{self, Checkpoint, Note, Verifier};
use crate::issuance::note_key::NoteKey;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What a witness decides about one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// 200 with the cosignature line.
    Cosigned(String),
    /// 409 with the size it last cosigned.
    Conflict(u64),
    BadRequest(&'static str),
    Forbidden,
    UnknownLog,
    Unprocessable(&'static str),
}

pub struct Witness {
    key: NoteKey,
    log: Verifier,
    state_file: PathBuf,
    /// The last cosigned (size, root); the check and the write happen under this lock.
    state: Mutex<(u64, Hash)>,
}

fn read_state(path: &Path) -> std::io::Result<(u64, Hash)> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let c = Checkpoint::parse(&text)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            Ok((c.size, c.root))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((0, merkle::empty_root())),
        Err(e) => Err(e),
    }
}

impl Witness {
    pub fn open(key: NoteKey, log: Verifier, state_dir: &Path) -> std::io::Result<Witness> {
        std::fs::create_dir_all(state_dir)?;
        let state_file = state_dir.join("checkpoint");
        let state = read_state(&state_file)?;
        Ok(Witness {
            key,
            log,
            state_file,
            state: Mutex::new(state),
        })
    }

    pub fn verifier(&self) -> Verifier {
        self.key.cosigner_verifier()
    }

    pub fn add_checkpoint(&self, body: &str, now: u64) -> Answer {
        let Some((head, note_text)) = body.split_once("\n\n") else {
            return Answer::BadRequest("no blank line after the proof");
        };
        let mut lines = head.lines();
        let Some(old) = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return Answer::BadRequest("the first line must be \"old <size>\"");
        };
        let Some(proof) = lines.map(note::decode_hash).collect::<Option<Vec<Hash>>>() else {
            return Answer::BadRequest("a proof line is not a base64 SHA-256 hash");
        };
        let Ok(n) = Note::parse(note_text) else {
            return Answer::BadRequest("the checkpoint is not a signed note");
        };
        let Ok(c) = Checkpoint::parse(&n.body) else {
            return Answer::BadRequest("the note is not a checkpoint");
        };
        if c.origin != self.log.name {
            return Answer::UnknownLog;
        }
        if n.verify(&self.log).is_err() {
            return Answer::Forbidden;
        }
        if old > c.size {
            return Answer::BadRequest("old size is larger than the checkpoint");
        }
        let Ok(mut state) = self.state.lock() else {
            return Answer::Unprocessable("witness state unavailable");
        };
        let (size, root) = *state;
        if old != size {
            return Answer::Conflict(size);
        }
        if c.size == 0 && c.root != merkle::empty_root() {
            return Answer::Unprocessable("an empty tree has the empty root");
        }
        if old == 0 && !proof.is_empty() {
            return Answer::Unprocessable("no proof from the empty tree");
        }
        if old > 0 && !merkle::verify_consistency(old, &root, c.size, &c.root, &proof) {
            return Answer::Unprocessable("the consistency proof does not verify");
        }
        let tmp = self.state_file.with_extension("tmp");
        let written = std::fs::write(&tmp, &n.body)
            .and_then(|_| std::fs::File::open(&tmp).and_then(|f| f.sync_all()))
            .and_then(|_| std::fs::rename(&tmp, &self.state_file));
        if written.is_err() {
            return Answer::Unprocessable("the witness cannot store its state");
        }
        *state = (c.size, c.root);
        Answer::Cosigned(self.key.cosign(&n.body, now).line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::merkle::{leaf_hash, MemoryTree};

    fn request(old: u64, proof: &[Hash], note: &Note) -> String {
        let mut s = format!("old {old}\n");
        for h in proof {
            s.push_str(&note::encode_hash(h));
            s.push('\n');
        }
        s.push('\n');
        s + &note.text()
    }

    #[test]
    fn cosigns_extensions_and_refuses_rollbacks_and_forks() {
        let dir = tempfile::tempdir().unwrap();
        let log = NoteKey::generate(&dir.path().join("log"), "example.org/log").unwrap();
        let wkey = NoteKey::generate_named(&dir.path().join("w"), "w1.example").unwrap();
        let w = Witness::open(wkey, log.note_verifier(), &dir.path().join("state")).unwrap();
        let mut t = MemoryTree::new();
        let checkpoint = |t: &mut MemoryTree| {
            log.sign_note(
                &Checkpoint {
                    origin: "example.org/log".into(),
                    size: t.size(),
                    root: t.root(),
                }
                .body(),
            )
        };
        for i in 0..5u8 {
            t.push(leaf_hash(&[i]));
        }
        let n5 = checkpoint(&mut t);
        let Answer::Cosigned(line) = w.add_checkpoint(&request(0, &[], &n5), 7) else {
            panic!("not cosigned")
        };
        let mut cosigned = n5.clone();
        cosigned
            .signatures
            .push(note::Signature::parse_line(line.trim_end()).unwrap());
        assert_eq!(cosigned.verify(&w.verifier()), Ok(Some(7)));
        // A stale old size: 409 with 5.
        assert_eq!(
            w.add_checkpoint(&request(0, &[], &n5), 7),
            Answer::Conflict(5)
        );
        for i in 5..9u8 {
            t.push(leaf_hash(&[i]));
        }
        let n9 = checkpoint(&mut t);
        let p = merkle::consistency_proof(&mut t, 5, 9).unwrap();
        assert!(matches!(
            w.add_checkpoint(&request(5, &p, &n9), 8),
            Answer::Cosigned(_)
        ));
        // A fork: another tree of size 9 (same size, other root), and one of size 12 that
        // does not extend the cosigned 9.
        let mut fork = MemoryTree::new();
        for i in 100..112u8 {
            fork.push(leaf_hash(&[i]));
        }
        let f12 = checkpoint(&mut fork);
        let fp = merkle::consistency_proof(&mut fork, 9, 12).unwrap();
        assert!(matches!(
            w.add_checkpoint(&request(9, &fp, &f12), 9),
            Answer::Unprocessable(_)
        ));
        // Not signed by the log.
        let other = NoteKey::generate(&dir.path().join("o"), "example.org/log").unwrap();
        let forged = other.sign_note(&n9.body);
        assert_eq!(
            w.add_checkpoint(&request(9, &[], &forged), 9),
            Answer::Forbidden
        );
        // The state survives a restart.
        let w2 = Witness::open(
            NoteKey::load_named(&dir.path().join("w")).unwrap(),
            log.note_verifier(),
            &dir.path().join("state"),
        )
        .unwrap();
        assert_eq!(
            w2.add_checkpoint(&request(0, &[], &n5), 9),
            Answer::Conflict(9)
        );
    }
}
