//! Settings: a TOML file plus `CROSSCERT_*` environment variables (API.md, "Configuration").
//! Secrets are never printed: `Debug` is written by hand where a field is sensitive.

use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/crosscert.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

#[derive(Clone, Debug)]
pub struct Settings {
    pub database_url: String,
    pub bind: String,
    /// Full URL with scheme, upper-cased into QR codes.
    pub public_url: String,
    pub keys_dir: PathBuf,
    pub font_dir: Option<PathBuf>,
    pub templates_dir: PathBuf,
    /// Requests per second per client address on the public verify routes; 0 = off.
    pub verify_rate_limit: u32,
    pub json_logs: bool,
    pub pool_size: u32,
    pub session_ttl_minutes: i64,
    pub password_hash: PasswordHashCost,
    pub login: LoginThrottle,
    pub tls: Option<TlsSettings>,
    /// The PKCS#11 token that holds signer keys (`CROSSCERT_PKCS11_*`); `None` = file keys only.
    pub pkcs11: Option<Pkcs11Settings>,
    /// `CROSSCERT_ALLOW_EXAMPLE_KEYS=1`: serve on the example key set without `--demo` (tests).
    pub allow_example_keys: bool,
    pub lists: ListSettings,
}

/// Where the signer keys' token is: the module (a PKCS#11 shared library), the token's label
/// and a file holding the user PIN. Only paths and names: the PIN is read by `issuance` when
/// it opens the token, never kept here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11Settings {
    pub module: PathBuf,
    pub token_label: String,
    pub pin_file: PathBuf,
    /// Sessions kept open for sealing in parallel (`CROSSCERT_PKCS11_SESSIONS`, default 4).
    pub sessions: usize,
}

impl Pkcs11Settings {
    /// From `CROSSCERT_PKCS11_MODULE`, `_TOKEN`, `_PIN_FILE` (all or none) and `_SESSIONS`.
    pub fn from_env() -> Result<Option<Pkcs11Settings>, ConfigError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let module = env("CROSSCERT_PKCS11_MODULE");
        let token = env("CROSSCERT_PKCS11_TOKEN");
        let pin_file = env("CROSSCERT_PKCS11_PIN_FILE");
        let (module, token_label, pin_file) = match (module, token, pin_file) {
            (None, None, None) => return Ok(None),
            (Some(m), Some(t), Some(p)) => (PathBuf::from(m), t, PathBuf::from(p)),
            (m, t, _) => {
                let name = if m.is_none() {
                    "CROSSCERT_PKCS11_MODULE"
                } else if t.is_none() {
                    "CROSSCERT_PKCS11_TOKEN"
                } else {
                    "CROSSCERT_PKCS11_PIN_FILE"
                };
                return Err(ConfigError::Env {
                    name,
                    reason: "is missing: a PKCS#11 token needs CROSSCERT_PKCS11_MODULE, \
                             CROSSCERT_PKCS11_TOKEN and CROSSCERT_PKCS11_PIN_FILE together"
                        .into(),
                });
            }
        };
        let sessions = match env("CROSSCERT_PKCS11_SESSIONS") {
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => n,
                _ => {
                    return Err(ConfigError::Env {
                        name: "CROSSCERT_PKCS11_SESSIONS",
                        reason: format!("{v:?} is not a number of sessions from 1 to 64"),
                    })
                }
            },
            None => 4,
        };
        Ok(Some(Pkcs11Settings {
            module,
            token_label,
            pin_file,
            sessions,
        }))
    }
}

/// The signed trust list and status lists (`published.rs`).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListSettings {
    /// How often each server process asks the database whether a list changed.
    pub refresh_ms: u64,
    /// A status list's `ttl`: how long a verifier may use it before fetching it again.
    pub status_ttl_s: i64,
    /// A status list's lifetime (`exp - iat`).
    pub status_exp_s: i64,
    /// The signed trust list's lifetime (`expires_at - issued_at`).
    pub trust_exp_s: i64,
}

impl Default for ListSettings {
    fn default() -> Self {
        ListSettings {
            refresh_ms: 2_000,
            status_ttl_s: 3_600,
            status_exp_s: 48 * 3_600,
            trust_exp_s: 7 * 86_400,
        }
    }
}

/// argon2id parameters. Production defaults follow OWASP (19 MiB, 2 passes); tests lower them
/// through configuration, never by changing these defaults.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct PasswordHashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordHashCost {
    fn default() -> Self {
        PasswordHashCost {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Failed logins for one account: after `slow_after` failures each answer waits `delay_ms`;
/// after `lock_after` failures the account answers 429 for `lock_minutes`.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct LoginThrottle {
    pub slow_after: i32,
    pub delay_ms: u64,
    pub lock_after: i32,
    pub lock_minutes: i64,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            slow_after: 3,
            delay_ms: 1000,
            lock_after: 5,
            lock_minutes: 15,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// The TOML file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    bind: Option<String>,
    public_url: Option<String>,
    keys_dir: Option<PathBuf>,
    font_dir: Option<PathBuf>,
    templates_dir: Option<PathBuf>,
    verify_rate_limit: Option<u32>,
    json_logs: Option<bool>,
    pool_size: Option<u32>,
    session_ttl_minutes: Option<i64>,
    password_hash: Option<PasswordHashCost>,
    login: Option<LoginThrottle>,
    lists: Option<ListSettings>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("the environment variable {name} is not valid: {reason}")]
    Env { name: &'static str, reason: String },
}

/// Values given on the command line win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub database_url: Option<String>,
    pub bind: Option<String>,
}

impl Settings {
    /// Order: command line, `CROSSCERT_*` (and `DATABASE_URL`), the config file, defaults.
    pub fn load(
        config_file: Option<&Path>,
        overrides: &Overrides,
    ) -> Result<Settings, ConfigError> {
        let file = match config_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str::<FileSettings>(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_path_buf(),
                    source: Box::new(source),
                })?
            }
            None => FileSettings::default(),
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());

        let database_url = overrides
            .database_url
            .clone()
            .or_else(|| env("CROSSCERT_DATABASE_URL"))
            .or_else(|| env("DATABASE_URL"))
            .or(file.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        let bind = overrides
            .bind
            .clone()
            .or_else(|| env("CROSSCERT_BIND"))
            .or(file.bind)
            .unwrap_or_else(|| DEFAULT_BIND.to_string());
        let public_url = env("CROSSCERT_PUBLIC_URL")
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{bind}"));
        let public_url = public_url.trim_end_matches('/').to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError::Env {
                name: "CROSSCERT_PUBLIC_URL",
                reason: format!(
                    "{public_url:?} must be a full URL starting with http:// or https://"
                ),
            });
        }
        let verify_rate_limit = match env("CROSSCERT_VERIFY_RATE_LIMIT") {
            Some(v) => v.trim().parse().map_err(|_| ConfigError::Env {
                name: "CROSSCERT_VERIFY_RATE_LIMIT",
                reason: format!("{v:?} is not a whole number of requests per second"),
            })?,
            None => file.verify_rate_limit.unwrap_or(50),
        };
        let json_logs = match env("CROSSCERT_JSON_LOGS") {
            Some(v) => matches!(v.as_str(), "1" | "true" | "yes"),
            None => file.json_logs.unwrap_or(false),
        };
        Ok(Settings {
            database_url,
            bind,
            public_url,
            keys_dir: env("CROSSCERT_KEYS_DIR")
                .map(PathBuf::from)
                .or(file.keys_dir)
                .unwrap_or_else(|| PathBuf::from("keys-example")),
            font_dir: env("CROSSCERT_FONT_DIR")
                .map(PathBuf::from)
                .or(file.font_dir),
            templates_dir: env("CROSSCERT_TEMPLATES_DIR")
                .map(PathBuf::from)
                .or(file.templates_dir)
                .unwrap_or_else(|| PathBuf::from("templates-certs")),
            verify_rate_limit,
            json_logs,
            pool_size: file.pool_size.unwrap_or(10).max(1),
            session_ttl_minutes: file.session_ttl_minutes.unwrap_or(12 * 60),
            password_hash: file.password_hash.unwrap_or_default(),
            login: file.login.unwrap_or_default(),
            tls: None,
            pkcs11: Pkcs11Settings::from_env()?,
            allow_example_keys: env("CROSSCERT_ALLOW_EXAMPLE_KEYS")
                .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes")),
            lists: file.lists.unwrap_or_default(),
        })
    }
}
