//! The transparency log's settings (`CROSSCERT_LOG_ORIGIN`, `CROSSCERT_WITNESSES`,
//! `CROSSCERT_LOG_QUORUM`, `CROSSCERT_LOG_INTERVAL_MS`, or the config file's `[log]`); the log
//! itself is `crate::tlog`, which re-exports these.

use crate::domain::tlog::note::{self, Verifier};
use std::time::Duration;

/// A witness the log asks for cosignatures.
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    pub url: String,
    pub verifier: Verifier,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    /// The checkpoint origin and the log key's name.
    pub origin: String,
    pub witnesses: Vec<WitnessConfig>,
    /// Cosignatures needed before a checkpoint is published (0 without witnesses).
    pub quorum: usize,
    pub interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LogConfigError {
    #[error("CROSSCERT_WITNESSES: {0}")]
    Witnesses(String),
    #[error("CROSSCERT_LOG_QUORUM: {0}")]
    Quorum(String),
    #[error("CROSSCERT_LOG_ORIGIN: {0:?} is not a usable key name (no spaces, no '+')")]
    Origin(String),
}

impl LogConfigError {
    pub fn variable(&self) -> &'static str {
        match self {
            LogConfigError::Witnesses(_) => "CROSSCERT_WITNESSES",
            LogConfigError::Quorum(_) => "CROSSCERT_LOG_QUORUM",
            LogConfigError::Origin(_) => "CROSSCERT_LOG_ORIGIN",
        }
    }
}

/// The default origin: the public URL without its scheme, plus `/log`.
pub fn default_origin(public_url: &str) -> String {
    let host = public_url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(public_url)
        .trim_end_matches('/');
    format!("{host}/log")
}

/// The `[log]` table of the configuration file; the environment wins over it.
///
/// ```toml
/// [log]
/// origin = "verify.example.cn/log"
/// quorum = 3
/// witnesses = ["https://witness.county-a.example VKEY", "https://... VKEY"]
/// ```
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    pub origin: Option<String>,
    pub witnesses: Option<Vec<String>>,
    pub quorum: Option<usize>,
    pub interval_ms: Option<u64>,
}

impl LogSettings {
    /// From the environment only (`from_env`) or with the config file's `[log]` table.
    pub fn from_env(public_url: &str) -> Result<LogSettings, LogConfigError> {
        Self::load(public_url, None)
    }

    /// `CROSSCERT_LOG_ORIGIN`, `CROSSCERT_WITNESSES` ("URL VKEY;URL VKEY;..."),
    /// `CROSSCERT_LOG_QUORUM` (default 3), `CROSSCERT_LOG_INTERVAL_MS` (default 1000), each
    /// over the file's `[log]` value.
    pub fn load(public_url: &str, file: Option<LogFile>) -> Result<LogSettings, LogConfigError> {
        let file = file.unwrap_or_default();
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let origin = var("CROSSCERT_LOG_ORIGIN")
            .or(file.origin)
            .unwrap_or_else(|| default_origin(public_url));
        if !note::valid_name(&origin) {
            return Err(LogConfigError::Origin(origin));
        }
        let witnesses = parse_witnesses(
            &var("CROSSCERT_WITNESSES")
                .or_else(|| file.witnesses.map(|w| w.join(";")))
                .unwrap_or_default(),
        )?;
        let quorum = match var("CROSSCERT_LOG_QUORUM") {
            Some(q) => q
                .trim()
                .parse()
                .map_err(|_| LogConfigError::Quorum(format!("{q:?} is not a number")))?,
            None => file.quorum.unwrap_or(3),
        };
        if !witnesses.is_empty() && quorum > witnesses.len() {
            return Err(LogConfigError::Quorum(format!(
                "{quorum} is more than the {} witnesses configured",
                witnesses.len()
            )));
        }
        let interval = var("CROSSCERT_LOG_INTERVAL_MS")
            .and_then(|v| v.trim().parse().ok())
            .or(file.interval_ms)
            .unwrap_or(1000u64);
        Ok(LogSettings {
            origin,
            quorum: if witnesses.is_empty() { 0 } else { quorum },
            witnesses,
            interval: Duration::from_millis(interval.max(20)),
        })
    }
}

pub fn parse_witnesses(text: &str) -> Result<Vec<WitnessConfig>, LogConfigError> {
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (url, vkey) = item.split_once(char::is_whitespace).ok_or_else(|| {
                LogConfigError::Witnesses(format!("{item:?} is not \"URL VKEY\""))
            })?;
            let verifier = Verifier::parse(vkey.trim())
                .map_err(|e| LogConfigError::Witnesses(format!("{vkey:?}: {e}")))?;
            if verifier.alg != note::ALG_COSIGNATURE_V1 {
                return Err(LogConfigError::Witnesses(format!(
                    "{vkey:?} is not a cosignature (type 0x04) key"
                )));
            }
            Ok(WitnessConfig {
                url: url.trim_end_matches('/').to_string(),
                verifier,
            })
        })
        .collect()
}
