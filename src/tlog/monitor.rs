//! `crosscert log monitor`: fetch the checkpoint and the tiles, check the checkpoint's
//! signature (and cosignatures), recompute the tree from the entries, check it extends the
//! last checkpoint seen, and report the new entries. Any inconsistency is an error.

use super::entry::{self, Entry};
use super::merkle::{self, MemoryTree};
use super::note::{self, Checkpoint, Note, Verifier};
use super::tiles::{self, TileRef};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("fetching {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("the checkpoint: {0}")]
    Checkpoint(String),
    #[error("INCONSISTENT: {0}")]
    Inconsistent(String),
    #[error("the state folder: {0}")]
    State(#[from] std::io::Error),
}

pub struct MonitorReport {
    pub old_size: u64,
    pub size: u64,
    pub cosignatures: usize,
    /// (index, entry) of every entry after the last checkpoint seen.
    pub new_entries: Vec<(u64, Vec<u8>)>,
}

async fn get(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, MonitorError> {
    let fail = |message: String| MonitorError::Fetch {
        url: url.to_string(),
        message,
    };
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(fail(resp.status().to_string()));
    }
    Ok(resp
        .bytes()
        .await
        .map_err(|e| fail(e.to_string()))?
        .to_vec())
}

pub async fn run(
    log_url: &str,
    state_dir: &Path,
    log_key: &Verifier,
    witnesses: &[Verifier],
    quorum: usize,
) -> Result<MonitorReport, MonitorError> {
    let base = log_url.trim_end_matches('/');
    let client = reqwest::Client::new();
    let text = get(&client, &format!("{base}/log/checkpoint")).await?;
    let text = String::from_utf8(text).map_err(|_| MonitorError::Checkpoint("not UTF-8".into()))?;
    let n = Note::parse(&text).map_err(|e| MonitorError::Checkpoint(e.to_string()))?;
    n.verify(log_key)
        .map_err(|e| MonitorError::Checkpoint(e.to_string()))?;
    let c = Checkpoint::parse(&n.body).map_err(|e| MonitorError::Checkpoint(e.to_string()))?;
    if c.origin != log_key.name {
        return Err(MonitorError::Checkpoint(format!(
            "origin {} is not the pinned log {}",
            c.origin, log_key.name
        )));
    }
    let cosignatures = n.count_cosignatures(witnesses);
    if cosignatures < quorum {
        return Err(MonitorError::Checkpoint(format!(
            "{cosignatures} valid cosignatures, {quorum} required"
        )));
    }
    std::fs::create_dir_all(state_dir)?;
    let state_file = state_dir.join("checkpoint");
    let old = match std::fs::read_to_string(&state_file) {
        Ok(t) => Some(Checkpoint::parse(&t).map_err(|e| {
            MonitorError::State(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let old_size = old.as_ref().map(|o| o.size).unwrap_or(0);
    if c.size < old_size {
        return Err(MonitorError::Inconsistent(format!(
            "the log shrank from {old_size} to {} entries",
            c.size
        )));
    }
    let mut tree = MemoryTree::new();
    let mut new_entries = Vec::new();
    let mut tile_index = 0u64;
    while tile_index * tiles::WIDTH < c.size {
        let width = (c.size - tile_index * tiles::WIDTH).min(tiles::WIDTH);
        let entries_tile = TileRef {
            level: None,
            index: tile_index,
            width,
        };
        let hash_tile = TileRef {
            level: Some(0),
            ..entries_tile
        };
        let bundle = get(&client, &format!("{base}/log/tile/{}", entries_tile.path())).await?;
        let hashes = get(&client, &format!("{base}/log/tile/{}", hash_tile.path())).await?;
        let entries = entry::unbundle(&bundle)
            .filter(|e| e.len() as u64 == width)
            .ok_or_else(|| {
                MonitorError::Inconsistent(format!("entry tile {tile_index} is malformed"))
            })?;
        for (i, e) in entries.into_iter().enumerate() {
            let index = tile_index * tiles::WIDTH + i as u64;
            if index == old_size {
                check_old(&mut tree, old.as_ref())?;
            }
            let leaf = merkle::leaf_hash(&e);
            if hashes.get(i * 32..(i + 1) * 32) != Some(&leaf[..]) {
                return Err(MonitorError::Inconsistent(format!(
                    "the hash tile disagrees with entry {index}"
                )));
            }
            tree.push(leaf);
            if index >= old_size {
                new_entries.push((index, e));
            }
        }
        tile_index += 1;
    }
    if c.size == old_size {
        check_old(&mut tree, old.as_ref())?;
    }
    if tree.root() != c.root {
        return Err(MonitorError::Inconsistent(format!(
            "the entries do not hash to the checkpoint's root at size {}",
            c.size
        )));
    }
    let tmp = state_dir.join("checkpoint.tmp");
    std::fs::write(&tmp, &n.body)?;
    std::fs::rename(&tmp, &state_file)?;
    Ok(MonitorReport {
        old_size,
        size: c.size,
        cosignatures,
        new_entries,
    })
}

fn check_old(tree: &mut MemoryTree, old: Option<&Checkpoint>) -> Result<(), MonitorError> {
    if let Some(o) = old {
        if tree.root() != o.root {
            return Err(MonitorError::Inconsistent(format!(
                "the log's first {} entries no longer hash to the checkpoint seen before (a fork or a rewrite)",
                o.size
            )));
        }
    }
    Ok(())
}

/// One line per entry: `index kind time subject sha256`.
pub fn describe(index: u64, data: &[u8]) -> String {
    match Entry::decode(data) {
        Some(e) => format!("{index} {} {} {} {}", e.kind, e.time, e.subject, e.sha256),
        None => format!("{index} (unrecognised entry) {}", hex::encode(data)),
    }
}

/// What an offline proof check found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProofCheck {
    pub index: u64,
    pub tree_size: u64,
    pub cosignatures: usize,
    pub kind: String,
    pub subject: String,
    pub sha256: String,
}

/// Check a tlog-proof file offline: the log's signature, `quorum` cosignatures among
/// `witnesses`, and the entry (from the `extra` line) at its index under the root.
pub fn check_proof(
    text: &str,
    log_key: &Verifier,
    witnesses: &[Verifier],
    quorum: usize,
) -> Result<ProofCheck, String> {
    let proof = note::Proof::parse(text).map_err(|e| e.to_string())?;
    let extra = text
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("extra "))
        .ok_or("the proof carries no entry (extra line)")?;
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .decode(extra)
        .map_err(|_| "the extra line is not base64")?;
    let e = Entry::decode(&data).ok_or("the extra line is not a crosscert log entry")?;
    proof
        .checkpoint
        .verify(log_key)
        .map_err(|e| format!("checkpoint: {e}"))?;
    let c = Checkpoint::parse(&proof.checkpoint.body).map_err(|e| e.to_string())?;
    if c.origin != log_key.name {
        return Err(format!("origin {} is not the pinned log", c.origin));
    }
    let cosignatures = proof.checkpoint.count_cosignatures(witnesses);
    if cosignatures < quorum {
        return Err(format!(
            "{cosignatures} valid cosignatures, {quorum} required"
        ));
    }
    if !merkle::verify_inclusion(
        &merkle::leaf_hash(&data),
        proof.index,
        c.size,
        &proof.path,
        &c.root,
    ) {
        return Err("the inclusion proof does not verify".into());
    }
    Ok(ProofCheck {
        index: proof.index,
        tree_size: c.size,
        cosignatures,
        kind: e.kind,
        subject: e.subject,
        sha256: e.sha256,
    })
}
