//! Settings: a TOML file plus `CROSSCERT_*` environment variables (README.md, "Configuration").
//! Secrets are never printed: `Debug` is written by hand where a field is sensitive.

pub mod log_settings;

use crate::domain::role::Role;
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
    /// The pickup-code secret (default: `pickup-secret` in `keys_dir`).
    pub pickup_secret_file: Option<PathBuf>,
    pub font_dir: Option<PathBuf>,
    pub templates_dir: PathBuf,
    /// Requests per second per client address on the public verify routes; 0 = off.
    pub verify_rate_limit: u32,
    pub json_logs: bool,
    pub pool_size: u32,
    pub session_ttl_minutes: i64,
    /// A session unused this long ends (on top of `session_ttl_minutes`).
    pub session_idle_minutes: i64,
    pub password_hash: PasswordHashCost,
    /// Password hashes computed at once (default: the number of cores).
    pub hash_concurrency: usize,
    pub login: LoginThrottle,
    /// Peers whose `X-Forwarded-For` is believed (`CROSSCERT_TRUSTED_PROXIES`, CIDRs).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Roles that must sign in with a second factor; `None`: the default (admin and
    /// issuer, none with `--demo`), decided at start.
    pub require_totp_for: Option<Vec<Role>>,
    pub tls: Option<TlsSettings>,
    /// The PKCS#11 token that holds signer keys (`CROSSCERT_PKCS11_*`); `None` = file keys only.
    pub pkcs11: Option<Pkcs11Settings>,
    /// `CROSSCERT_ALLOW_EXAMPLE_KEYS=1`: serve on the example key set without `--demo` (tests).
    pub allow_example_keys: bool,
    pub lists: ListSettings,
    /// The transparency log: origin, witnesses, quorum (`CROSSCERT_LOG_*`, `CROSSCERT_WITNESSES`).
    pub log: log_settings::LogSettings,
    /// Text messages to holders (`[notify]`, `CROSSCERT_SMS_WEBHOOK`, `CROSSCERT_REMINDER_DAYS`).
    pub notify: NotifySettings,
}

/// Text messages to holders: where to deliver them and when to remind.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// The SMS gateway's URL (POST, JSON); none: messages wait in the outbox, undelivered.
    pub sms_webhook: Option<String>,
    /// A printed job still uncollected after this many days gets a reminder.
    pub reminder_days: i64,
    /// How often each server process looks for messages to send and reminders to write.
    pub poll_ms: u64,
    /// The first retry's wait after a failed delivery, doubled after each further failure.
    pub retry_base_s: i64,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            sms_webhook: None,
            reminder_days: 7,
            poll_ms: 5_000,
            retry_base_s: 30,
        }
    }
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

/// Login throttling. Per (username, client address): after `pair_limit` failures within
/// `window_minutes` that pair answers 429 without a password check until the window ends.
/// Per client address: `ip_limit` failures in the window, whatever the usernames. Per
/// account, from any address: after `account_brake_after` failures in the window, at most
/// one attempt every `account_brake_seconds` (a brake, never a lock). A login waits at most
/// `hash_wait_ms` for a hashing slot, then answers 503.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginThrottle {
    pub pair_limit: i32,
    pub window_minutes: i64,
    pub ip_limit: i32,
    pub account_brake_after: i32,
    pub account_brake_seconds: i64,
    pub hash_wait_ms: u64,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            pair_limit: 5,
            window_minutes: 15,
            ip_limit: 50,
            account_brake_after: 20,
            account_brake_seconds: 5,
            hash_wait_ms: 2000,
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
    pickup_secret_file: Option<PathBuf>,
    font_dir: Option<PathBuf>,
    templates_dir: Option<PathBuf>,
    verify_rate_limit: Option<u32>,
    json_logs: Option<bool>,
    pool_size: Option<u32>,
    session_ttl_minutes: Option<i64>,
    session_idle_minutes: Option<i64>,
    password_hash: Option<PasswordHashCost>,
    hash_concurrency: Option<usize>,
    trusted_proxies: Option<Vec<String>>,
    require_totp_for: Option<Vec<String>>,
    login: Option<LoginThrottle>,
    lists: Option<ListSettings>,
    log: Option<log_settings::LogFile>,
    notify: Option<NotifySettings>,
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
        let session_idle_minutes = match env("CROSSCERT_SESSION_IDLE_MINUTES") {
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|m| *m > 0)
                .ok_or_else(|| ConfigError::Env {
                    name: "CROSSCERT_SESSION_IDLE_MINUTES",
                    reason: format!("{v:?} is not a positive whole number of minutes"),
                })?,
            None => file.session_idle_minutes.unwrap_or(30),
        };
        let trusted_proxies = match env("CROSSCERT_TRUSTED_PROXIES") {
            Some(v) => parse_cidrs(v.split(',').map(str::to_string).collect())?,
            None => parse_cidrs(file.trusted_proxies.unwrap_or_default())?,
        };
        let require_totp_for = match env("CROSSCERT_REQUIRE_TOTP_FOR") {
            Some(v) => Some(parse_roles(v.split(',').map(str::to_string).collect())?),
            // Set but empty: nobody is required to.
            None if std::env::var("CROSSCERT_REQUIRE_TOTP_FOR").is_ok() => Some(Vec::new()),
            None => file.require_totp_for.map(parse_roles).transpose()?,
        };
        let json_logs = match env("CROSSCERT_JSON_LOGS") {
            Some(v) => matches!(v.as_str(), "1" | "true" | "yes"),
            None => file.json_logs.unwrap_or(false),
        };
        let mut notify = file.notify.unwrap_or_default();
        if let Some(url) = env("CROSSCERT_SMS_WEBHOOK") {
            notify.sms_webhook = Some(url);
        }
        if let Some(url) = &notify.sms_webhook {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Env {
                    name: "CROSSCERT_SMS_WEBHOOK",
                    reason: format!("{url:?} must be a full URL starting with http:// or https://"),
                });
            }
        }
        if let Some(v) = env("CROSSCERT_REMINDER_DAYS") {
            notify.reminder_days =
                v.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|d| *d > 0)
                    .ok_or_else(|| ConfigError::Env {
                        name: "CROSSCERT_REMINDER_DAYS",
                        reason: format!("{v:?} is not a positive whole number of days"),
                    })?;
        }
        let log = log_settings::LogSettings::load(&public_url, file.log).map_err(|e| {
            ConfigError::Env {
                name: e.variable(),
                reason: e.to_string(),
            }
        })?;
        Ok(Settings {
            database_url,
            bind,
            public_url,
            keys_dir: env("CROSSCERT_KEYS_DIR")
                .map(PathBuf::from)
                .or(file.keys_dir)
                .unwrap_or_else(|| PathBuf::from("keys-example")),
            pickup_secret_file: env("CROSSCERT_PICKUP_SECRET_FILE")
                .map(PathBuf::from)
                .or(file.pickup_secret_file),
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
            session_idle_minutes,
            password_hash: file.password_hash.unwrap_or_default(),
            hash_concurrency: file
                .hash_concurrency
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1),
            login: file.login.unwrap_or_default(),
            trusted_proxies,
            require_totp_for,
            tls: None,
            pkcs11: Pkcs11Settings::from_env()?,
            allow_example_keys: env("CROSSCERT_ALLOW_EXAMPLE_KEYS")
                .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes")),
            lists: file.lists.unwrap_or_default(),
            log,
            notify,
        })
    }
}

fn parse_cidrs(items: Vec<String>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            // A bare address is a network of one.
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError::Env {
                    name: "CROSSCERT_TRUSTED_PROXIES",
                    reason: format!("{s:?} is not an address or a CIDR such as 10.0.0.0/8"),
                })
        })
        .collect()
}

fn parse_roles(items: Vec<String>) -> Result<Vec<Role>, ConfigError> {
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            Role::parse(s).ok_or_else(|| ConfigError::Env {
                name: "CROSSCERT_REQUIRE_TOTP_FOR",
                reason: format!("{s:?} is not a role (admin, issuer, hall_operator)"),
            })
        })
        .collect()
}

impl Settings {
    /// The roles that must sign in with a second factor.
    pub fn totp_required_roles(&self) -> &[Role] {
        self.require_totp_for.as_deref().unwrap_or(&[])
    }
}
