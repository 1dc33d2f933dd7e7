//! The server secret pickup codes are stored under. A pickup code has 8 digits: stored as a
//! bare SHA-256, anyone with a copy of the database would try all 10^8 codes in seconds.
//! Stored as HMAC-SHA256 under this secret, a database copy alone gives nothing away.
//!
//! The secret is a file of at least 32 random bytes in hex, `pickup-secret` in the key folder
//! (`CROSSCERT_PICKUP_SECRET_FILE` to put it elsewhere): every `crosscert serve` process
//! already shares that folder. `crosscert keys gen-example` writes one for the example set.

use ring::hmac;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = crate::issuance::PICKUP_SECRET_FILE;
const PREFIX: &str = "hmac-sha256:";

#[derive(Debug, thiserror::Error)]
pub enum PickupKeyError {
    #[error("the pickup-code secret {path} cannot be read ({reason}); create it with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > {path}")]
    Missing { path: String, reason: String },
    #[error("the pickup-code secret {0} must hold at least 32 bytes written in hex")]
    Invalid(String),
}

pub struct PickupKey(hmac::Key);

impl std::fmt::Debug for PickupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PickupKey(..)")
    }
}

impl PickupKey {
    pub fn from_bytes(secret: &[u8]) -> PickupKey {
        PickupKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    pub fn path_in(keys_dir: &Path) -> PathBuf {
        keys_dir.join(FILE_NAME)
    }

    pub fn load(path: &Path) -> Result<PickupKey, PickupKeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PickupKeyError::Missing {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() >= 32)
            .ok_or_else(|| PickupKeyError::Invalid(path.display().to_string()))?;
        Ok(PickupKey::from_bytes(&bytes))
    }

    /// Write a new random secret (for an example key set); an existing one is kept.
    pub fn generate_file(path: &Path) -> std::io::Result<()> {
        if path.exists() {
            return Ok(());
        }
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        std::fs::write(path, format!("{}\n", hex::encode(bytes)))
    }

    fn message(job_id: &str, code: &str) -> Vec<u8> {
        format!("{job_id}:{code}").into_bytes()
    }

    /// The stored form of a job's pickup code: bound to its job, so equal codes differ.
    pub fn seal(&self, job_id: &str, code: &str) -> String {
        let tag = hmac::sign(&self.0, &Self::message(job_id, code));
        format!("{PREFIX}{}", hex::encode(tag.as_ref()))
    }

    /// Does `code` match the stored form? Rows stored before the secret existed hold a bare
    /// SHA-256 and are still checked as such.
    pub fn matches(&self, job_id: &str, code: &str, stored: &str) -> bool {
        match stored.strip_prefix(PREFIX) {
            Some(tag) => hex::decode(tag)
                .map(|tag| hmac::verify(&self.0, &Self::message(job_id, code), &tag).is_ok())
                .unwrap_or(false),
            None => {
                let legacy = super::jobs::sha256_hex(&Self::message(job_id, code));
                crate::accounts::constant_time_eq(legacy.as_bytes(), stored.as_bytes())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_code_matches_only_under_its_key_and_job() {
        let key = PickupKey::from_bytes(&[7u8; 32]);
        let stored = key.seal("job-1", "12345678");
        assert!(stored.starts_with(PREFIX));
        assert!(key.matches("job-1", "12345678", &stored));
        assert!(!key.matches("job-1", "12345679", &stored));
        assert!(!key.matches("job-2", "12345678", &stored));
        assert!(!PickupKey::from_bytes(&[8u8; 32]).matches("job-1", "12345678", &stored));
        // Not the bare hash a database copy could be brute-forced against.
        assert!(!stored.contains(&super::super::jobs::sha256_hex(b"job-1:12345678")));
        let legacy = super::super::jobs::sha256_hex(b"job-1:12345678");
        assert!(key.matches("job-1", "12345678", &legacy));
    }
}
