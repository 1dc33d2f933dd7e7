//! The offline verifier's bundle: a folder holding the pinned root, the signed trust list, the
//! status lists and the status index, fetched by `crosscert verifier sync` and read by
//! `crosscert verify --bundle`. Every file is verified again when it is read: the folder is
//! a cache, never a source of trust.
//!
//! ```text
//! DIR/root.pem              the pinned root (first sync: --root FILE, else the server's, said so)
//! DIR/trust-list.cose       the signed trust list
//! DIR/status-index.cose     the signed index of licences sealed before status lists
//! DIR/status-lists/<id>.cwt the signed status lists
//! DIR/etags.json            ETags for If-None-Match (not trusted)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};

use super::signed_list::{ListError, SignedTrustList, StatusIndex, StatusList};
use super::trust::{certificate_der_from_pem, TrustStore};

pub const ROOT_FILE: &str = "root.pem";
pub const TRUST_LIST_FILE: &str = "trust-list.cose";
pub const STATUS_INDEX_FILE: &str = "status-index.cose";
pub const LISTS_DIR: &str = "status-lists";
const ETAGS_FILE: &str = "etags.json";

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{0}: {1}")]
    Io(PathBuf, String),
    #[error("{what}: {source}")]
    Refused {
        what: String,
        #[source]
        source: ListError,
    },
    #[error("{0}")]
    Server(String),
    #[error("{0}")]
    Stale(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |e| BundleError::Io(path.to_path_buf(), e.to_string())
}

fn refused(what: impl Into<String>) -> impl FnOnce(ListError) -> BundleError {
    let what = what.into();
    move |source| BundleError::Refused { what, source }
}

pub fn list_path(dir: &Path, id: i64) -> PathBuf {
    dir.join(LISTS_DIR).join(format!("{id}.cwt"))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn rfc3339(t: i64) -> String {
    Utc.timestamp_opt(t, 0)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.to_string())
}

/// The pinned root's DER, from `DIR/root.pem`.
pub fn pinned_root(dir: &Path) -> Result<Option<Vec<u8>>, BundleError> {
    let path = dir.join(ROOT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => certificate_der_from_pem(&text)
            .map(Some)
            .map_err(|e| BundleError::Io(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BundleError::Io(path, e.to_string())),
    }
}

/// A bundle as read back and verified.
pub struct Bundle {
    pub trust_list: SignedTrustList,
    pub store: TrustStore,
    pub index: Option<StatusIndex>,
    root_der: Vec<u8>,
    dir: PathBuf,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
        let root_der = pinned_root(dir)?.ok_or_else(|| {
            BundleError::Io(
                dir.join(ROOT_FILE),
                "no pinned root: run `crosscert verifier sync` first".into(),
            )
        })?;
        let path = dir.join(TRUST_LIST_FILE);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let trust_list = SignedTrustList::verify(&bytes, &root_der, None)
            .map_err(refused(path.display().to_string()))?;
        let store =
            TrustStore::new(&trust_list.to_trust_list()).map_err(|e| BundleError::Refused {
                what: path.display().to_string(),
                source: ListError::Content(e.to_string()),
            })?;
        let index_path = dir.join(STATUS_INDEX_FILE);
        let index = match std::fs::read(&index_path) {
            Ok(b) => Some(
                StatusIndex::verify(&b, &root_der)
                    .map_err(refused(index_path.display().to_string()))?,
            ),
            Err(_) => None,
        };
        Ok(Bundle {
            trust_list,
            store,
            index,
            root_der,
            dir: dir.to_path_buf(),
        })
    }

    /// The status list `id` of the bundle, verified (`None` when the bundle lacks it).
    pub fn status_list(&self, id: i64) -> Result<Option<StatusList>, BundleError> {
        let path = list_path(&self.dir, id);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BundleError::Io(path, e.to_string())),
        };
        StatusList::verify(&bytes, &self.root_der)
            .map(Some)
            .map_err(refused(path.display().to_string()))
    }
}

/// `crosscert verifier sync` options.
#[derive(Debug, Clone)]
pub struct SyncArgs {
    pub server: String,
    pub out: PathBuf,
    /// The root to pin on the first sync (else the server's own, with a warning).
    pub root: Option<PathBuf>,
}

/// What a sync did, for the summary line.
#[derive(Debug, Default, Clone)]
pub struct SyncSummary {
    pub trust_list_sequence: u64,
    pub trust_list_expires_at: i64,
    pub lists_fetched: usize,
    pub lists_unchanged: usize,
    pub bytes: usize,
    pub legacy_entries: usize,
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    etag: Option<&str>,
) -> Result<Option<(Vec<u8>, Option<String>)>, BundleError> {
    let mut req = http.get(url);
    if let Some(etag) = etag {
        req = req.header(reqwest::header::IF_NONE_MATCH, etag);
    }
    let res = req
        .send()
        .await
        .map_err(|e| BundleError::Server(format!("GET {url}: {e}")))?;
    if res.status() == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(None);
    }
    if !res.status().is_success() {
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        return Err(BundleError::Server(format!("GET {url}: {status} {body}")));
    }
    let etag = res
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = res
        .bytes()
        .await
        .map_err(|e| BundleError::Server(format!("GET {url}: {e}")))?;
    Ok(Some((bytes.to_vec(), etag)))
}

/// Fetches and checks everything into `args.out`: the trust list against the pinned root (not
/// expired, sequence not below the bundle's), the status index, then every status list (not
/// expired, for the list its URL names, not older than the bundle's copy). Nothing is written
/// unless it verified. Progress goes to `progress`.
pub async fn sync(
    args: &SyncArgs,
    now: DateTime<Utc>,
    mut progress: impl FnMut(&str),
) -> Result<SyncSummary, BundleError> {
    let base = args.server.trim_end_matches('/');
    let dir = &args.out;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| BundleError::Server(e.to_string()))?;
    let mut etags: BTreeMap<String, String> = std::fs::read(dir.join(ETAGS_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut summary = SyncSummary::default();

    // 1. The trust list, always fetched whole (the sequence check needs it in hand).
    let url = format!("{base}/api/v1/trust-list.cose");
    let (bytes, _) = get(&http, &url, None)
        .await?
        .ok_or_else(|| BundleError::Server(format!("GET {url}: 304 without If-None-Match")))?;
    let (root_der, first_pin) = match pinned_root(dir)? {
        Some(r) => (r, false),
        None => match &args.root {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(io(path))?;
                let der = certificate_der_from_pem(&text)
                    .map_err(|e| BundleError::Io(path.clone(), e))?;
                (der, true)
            }
            None => {
                let der = SignedTrustList::unverified_root(&bytes).map_err(refused(&url))?;
                let fp = hex::encode(ring::digest::digest(&ring::digest::SHA256, &der));
                progress(&format!(
                    "WARNING: no pinned root yet and no --root: pinning the server's root (SHA-256 {fp}) on first use; compare it with the one your authority publishes"
                ));
                (der, true)
            }
        },
    };
    let held_sequence = std::fs::read(dir.join(TRUST_LIST_FILE))
        .ok()
        .and_then(|b| SignedTrustList::verify(&b, &root_der, None).ok())
        .map(|l| l.sequence);
    let list = SignedTrustList::verify(&bytes, &root_der, held_sequence).map_err(refused(&url))?;
    if list.is_expired(now) {
        return Err(BundleError::Stale(format!(
            "{url}: the trust list expired at {} (stale); not taken",
            rfc3339(list.expires_at)
        )));
    }
    if first_pin {
        let pem = ::pem::encode(&::pem::Pem::new("CERTIFICATE", root_der.clone()));
        write_atomic(&dir.join(ROOT_FILE), pem.as_bytes())?;
    }
    write_atomic(&dir.join(TRUST_LIST_FILE), &bytes)?;
    summary.trust_list_sequence = list.sequence;
    summary.trust_list_expires_at = list.expires_at;
    summary.bytes += bytes.len();
    progress(&format!(
        "trust list: sequence {}, {} signers, issued {}, expires {}",
        list.sequence,
        list.signers.len(),
        rfc3339(list.issued_at),
        rfc3339(list.expires_at)
    ));

    // 2. The status index: which lists exist, and where older licences are.
    let url = format!("{base}/api/v1/status-index.cose");
    let (bytes, _) = get(&http, &url, None)
        .await?
        .ok_or_else(|| BundleError::Server(format!("GET {url}: 304 without If-None-Match")))?;
    let index = StatusIndex::verify(&bytes, &root_der).map_err(refused(&url))?;
    write_atomic(&dir.join(STATUS_INDEX_FILE), &bytes)?;
    summary.bytes += bytes.len();
    summary.legacy_entries = index.entries.len();
    progress(&format!(
        "status index: {} lists, {} licences whose seal carries no status claim",
        index.lists.len(),
        index.entries.len()
    ));

    // 3. Every status list.
    let total = index.lists.len();
    for (n, id) in index.lists.iter().enumerate() {
        // Fetched from the server named on the command line; the list must name itself by
        // the public URL the seals carry.
        let url = format!("{base}/api/v1/status-lists/{id}");
        let uri = format!("{}{id}", index.base_uri);
        let path = list_path(dir, *id);
        let held = std::fs::read(&path)
            .ok()
            .and_then(|b| StatusList::verify(&b, &root_der).ok());
        let etag = held
            .as_ref()
            .and_then(|_| etags.get(&id.to_string()).map(String::as_str));
        match get(&http, &url, etag).await? {
            None => {
                summary.lists_unchanged += 1;
                progress(&format!(
                    "status list {id} ({}/{total}): not modified",
                    n + 1
                ));
            }
            Some((bytes, new_etag)) => {
                let list = StatusList::verify(&bytes, &root_der).map_err(refused(&url))?;
                if list.claims.sub != uri {
                    return Err(BundleError::Refused {
                        what: url.clone(),
                        source: ListError::Content(format!(
                            "the list says it is {}, not {uri}",
                            list.claims.sub
                        )),
                    });
                }
                if list.is_expired(now) {
                    return Err(BundleError::Stale(format!(
                        "{url}: the status list expired at {} (stale); not taken",
                        rfc3339(list.claims.exp)
                    )));
                }
                if let Some(held) = &held {
                    if list.claims.iat < held.claims.iat {
                        return Err(BundleError::Refused {
                            what: url.clone(),
                            source: ListError::IssuedBeforeHeld {
                                found: rfc3339(list.claims.iat),
                                held: rfc3339(held.claims.iat),
                            },
                        });
                    }
                }
                write_atomic(&path, &bytes)?;
                if let Some(e) = new_etag {
                    etags.insert(id.to_string(), e);
                }
                summary.lists_fetched += 1;
                summary.bytes += bytes.len();
                progress(&format!(
                    "status list {id} ({}/{total}): {} bytes, {} entries, status as of {}, expires {}",
                    n + 1,
                    bytes.len(),
                    list.statuses.capacity(),
                    rfc3339(list.claims.iat),
                    rfc3339(list.claims.exp)
                ));
            }
        }
    }
    let text = serde_json::to_vec_pretty(&etags).unwrap_or_default();
    write_atomic(&dir.join(ETAGS_FILE), &text)?;
    Ok(summary)
}
