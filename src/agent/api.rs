//! The agent's side of the "Hall agents" routes (API.md; the shapes are `crate::wire::agent`,
//! shared with the server): an HTTP client that sorts every failure into "try again later" (network, 5xx, 429) or "the
//! server said no" (other 4xx, with its error code), which is what the run loop decides on.

use std::path::PathBuf;
use std::time::Duration;

/// Longest long-poll the server honours (API.md: `wait_s` ≤ 30).
pub const MAX_WAIT_S: u64 = 30;

/// The largest document the agent downloads. A certificate is well under 1 MiB; anything near
/// this is not one, and reading it whole could exhaust a small hall PC.
pub const MAX_DOCUMENT_BYTES: usize = 8 << 20;

/// The protocol's messages are the server's own types (`crate::wire::agent`): a change of
/// shape is a compile error on both sides, not a surprise in a hall. `Report` is the report
/// request, the agent's name for it.
pub use crate::wire::agent::{
    ClaimRequest, ClaimResponse, ClaimedJob, HeartbeatRequest, HeartbeatResponse, Outcome,
    ReconcileAction, ReconcileEntry, ReconcileItem, ReconcileRequest, ReconcileResponse,
    ReleaseRequest, ReportRequest as Report, VoidSheetsRequest, WhoAmI,
};

/// Why a kiosk's release did not hand out a job.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// 404: no held job of the hall has both codes (the server does not say which is wrong).
    #[error("no held job matches these codes")]
    NoMatch,
    /// 429: the job is locked after too many wrong tries.
    #[error("the job is locked after too many wrong tries")]
    Locked,
    /// 422 `licence_not_valid`: the licence was withdrawn; the job is cancelled.
    #[error("the licence is no longer valid")]
    LicenceNotValid,
    /// Network, 5xx.
    #[error("server unreachable or busy: {0}")]
    Unreachable(String),
    /// Any other refusal (403 not a kiosk token, 400 ...), or an answer of the wrong shape.
    #[error("release refused: {0}")]
    Refused(String),
}

/// Why a call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ApiCallError {
    /// Worth retrying with backoff: no connection, a timeout, 5xx, 429.
    #[error("server unreachable or busy: {0}")]
    Transient(String),
    /// The server refused: a status and its JSON error code (empty when the body had none).
    #[error("refused with {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// The server answered 2xx with a body that is not the documented shape.
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// The document is larger than [`MAX_DOCUMENT_BYTES`]; the download was stopped.
    #[error("the document is larger than the agent's limit of {limit} bytes")]
    TooLarge { limit: usize },
}

impl ApiCallError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiCallError::Transient(_))
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiCallError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Tls(PathBuf, String),
    #[error("the token file {0} is empty")]
    EmptyToken(PathBuf),
    #[error("--server must be an http:// or https:// URL, not {0:?}")]
    Url(String),
    #[error("--server {0}: plain http:// is allowed only on loopback (127.0.0.1, ::1, localhost); use https://")]
    PlainHttp(String),
    #[error("HTTP client: {0}")]
    Build(String),
}

/// Connection options from the command line.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    pub server: String,
    pub token_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

fn read(path: &PathBuf) -> Result<Vec<u8>, ClientSetupError> {
    std::fs::read(path).map_err(|e| ClientSetupError::Read(path.clone(), e))
}

/// The token file's content with surrounding whitespace trimmed (API.md).
pub fn read_token_file(path: &PathBuf) -> Result<String, ClientSetupError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ClientSetupError::Read(path.clone(), e))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ClientSetupError::EmptyToken(path.clone()));
    }
    Ok(token.to_string())
}

impl AgentClient {
    pub fn new(opts: &ClientOptions) -> Result<AgentClient, ClientSetupError> {
        let base = opts.server.trim_end_matches('/').to_string();
        let url =
            reqwest::Url::parse(&base).map_err(|_| ClientSetupError::Url(opts.server.clone()))?;
        match url.scheme() {
            "https" => {}
            // Tokens, seals and documents in clear text are only acceptable on this machine.
            "http" if is_loopback(&url) => {}
            "http" => return Err(ClientSetupError::PlainHttp(opts.server.clone())),
            _ => return Err(ClientSetupError::Url(opts.server.clone())),
        }
        let token = match &opts.token_file {
            Some(p) => Some(read_token_file(p)?),
            None => None,
        };
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(50));
        if let Some(ca) = &opts.ca {
            let pem = read(ca)?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| ClientSetupError::Tls(ca.clone(), e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        if let (Some(cert), Some(key)) = (&opts.client_cert, &opts.client_key) {
            let mut pem = read(cert)?;
            pem.push(b'\n');
            pem.extend(read(key)?);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| ClientSetupError::Tls(cert.clone(), e.to_string()))?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| ClientSetupError::Build(e.to_string()))?;
        Ok(AgentClient { http, base, token })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn authed(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiCallError> {
        let res = self
            .authed(rb)
            .send()
            .await
            .map_err(|e| ApiCallError::Transient(error_chain(&e)))?;
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let code = status.as_u16();
        let text = res.text().await.unwrap_or_default();
        if status.is_server_error() || code == 429 || code == 408 {
            return Err(ApiCallError::Transient(format!(
                "{status}: {}",
                short(&text)
            )));
        }
        let (err_code, message) = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) => (
                v["error"].as_str().unwrap_or_default().to_string(),
                v["message"].as_str().unwrap_or_default().to_string(),
            ),
            Err(_) => (String::new(), short(&text)),
        };
        Err(ApiCallError::Refused {
            status: code,
            code: err_code,
            message,
        })
    }

    /// Long-poll for up to `max` jobs, waiting at most `wait_s` seconds (capped at 30).
    pub async fn claim(&self, max: u32, wait_s: u64) -> Result<Vec<ClaimedJob>, ApiCallError> {
        let wait_s = wait_s.min(MAX_WAIT_S);
        let rb = self
            .http
            .post(self.url("/api/v1/agent/claim"))
            // The server may hold the answer for wait_s; a slow server gets 20 s more.
            .timeout(Duration::from_secs(wait_s + 20))
            .json(&ClaimRequest {
                max: Some(max),
                wait_s: Some(wait_s),
            });
        let res = self.send(rb).await?;
        let body: ClaimResponse = res
            .json()
            .await
            .map_err(|e| ApiCallError::Protocol(format!("claim: {e}")))?;
        Ok(body.jobs)
    }

    /// A kiosk releases the held job its holder's codes name: the job and its lease, like a
    /// claim's answer.
    pub async fn release(
        &self,
        pickup_code: &str,
        recipient_code: &str,
    ) -> Result<ClaimedJob, ReleaseError> {
        let rb = self
            .http
            .post(self.url("/api/v1/agent/release"))
            .timeout(Duration::from_secs(30))
            .json(&ReleaseRequest {
                pickup_code: pickup_code.to_string(),
                recipient_code: recipient_code.to_string(),
            });
        let res = self
            .authed(rb)
            .send()
            .await
            .map_err(|e| ReleaseError::Unreachable(error_chain(&e)))?;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        match status {
            200 => serde_json::from_str::<ClaimResponse>(&text)
                .ok()
                .and_then(|c| c.jobs.into_iter().next())
                .ok_or_else(|| {
                    ReleaseError::Refused(format!("unexpected answer: {}", short(&text)))
                }),
            404 => Err(ReleaseError::NoMatch),
            429 => Err(ReleaseError::Locked),
            422 if text.contains("licence_not_valid") => Err(ReleaseError::LicenceNotValid),
            s if s >= 500 || s == 408 => {
                Err(ReleaseError::Unreachable(format!("{s}: {}", short(&text))))
            }
            s => Err(ReleaseError::Refused(format!("{s}: {}", short(&text)))),
        }
    }

    /// The hall and kind the credentials belong to.
    pub async fn whoami(&self) -> Result<WhoAmI, ApiCallError> {
        let res = self
            .send(self.http.get(self.url("/api/v1/agent/whoami")))
            .await?;
        res.json()
            .await
            .map_err(|e| ApiCallError::Protocol(format!("whoami: {e}")))
    }

    pub async fn document(&self, job_id: &str, lease_token: &str) -> Result<Vec<u8>, ApiCallError> {
        let rb = self
            .http
            .get(self.url(&format!(
                "/api/v1/agent/jobs/{}/document",
                path_segment(job_id)
            )))
            .timeout(Duration::from_secs(120))
            .header("Lease-Token", lease_token);
        let mut res = self.send(rb).await?;
        let too_large = ApiCallError::TooLarge {
            limit: MAX_DOCUMENT_BYTES,
        };
        if res
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(too_large);
        }
        // Read chunk by chunk: a server that sends no length (or lies about it) is stopped at
        // the limit, not after it filled the memory.
        let mut bytes = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| ApiCallError::Transient(format!("document: {}", error_chain(&e))))?
        {
            if bytes.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_large);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Returns the server's answer: the lease's new expiry.
    pub async fn heartbeat(
        &self,
        job_id: &str,
        lease_token: &str,
    ) -> Result<HeartbeatResponse, ApiCallError> {
        let rb = self
            .http
            .post(self.url(&format!(
                "/api/v1/agent/jobs/{}/heartbeat",
                path_segment(job_id)
            )))
            .timeout(Duration::from_secs(30))
            .json(&HeartbeatRequest {
                lease_token: lease_token.to_string(),
            });
        let res = self.send(rb).await?;
        res.json()
            .await
            .map_err(|e| ApiCallError::Protocol(format!("heartbeat: {e}")))
    }

    /// Sends the journaled report text unchanged.
    pub async fn report(&self, job_id: &str, body: &str) -> Result<(), ApiCallError> {
        let rb = self
            .http
            .post(self.url(&format!(
                "/api/v1/agent/jobs/{}/report",
                path_segment(job_id)
            )))
            .timeout(Duration::from_secs(60))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        self.send(rb).await.map(|_| ())
    }

    pub async fn void_sheets(&self, serials: &[String], reason: &str) -> Result<(), ApiCallError> {
        let rb = self
            .http
            .post(self.url("/api/v1/agent/sheets/void"))
            .timeout(Duration::from_secs(60))
            .json(&VoidSheetsRequest {
                serials: serials.to_vec(),
                reason: crate::wire::agent::clip_reason(reason),
            });
        self.send(rb).await.map(|_| ())
    }

    pub async fn reconcile(
        &self,
        jobs: &[ReconcileEntry],
    ) -> Result<ReconcileResponse, ApiCallError> {
        let rb = self
            .http
            .post(self.url("/api/v1/agent/reconcile"))
            .timeout(Duration::from_secs(60))
            .json(&ReconcileRequest {
                jobs: jobs.to_vec(),
            });
        let res = self.send(rb).await?;
        res.json()
            .await
            .map_err(|e| ApiCallError::Protocol(format!("reconcile: {e}")))
    }

    /// A public signed document (the signed trust list, a status list, the status index):
    /// its bytes and ETag, or `None` when the server answers 304 to `If-None-Match: etag`.
    pub async fn signed_document(
        &self,
        path: &str,
        etag: Option<&str>,
    ) -> Result<Option<(Vec<u8>, Option<String>)>, ApiCallError> {
        let mut rb = self
            .http
            .get(self.url(path))
            .timeout(Duration::from_secs(30));
        if let Some(etag) = etag {
            rb = rb.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let res = self
            .authed(rb)
            .send()
            .await
            .map_err(|e| ApiCallError::Transient(error_chain(&e)))?;
        if res.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        let status = res.status();
        if !status.is_success() {
            let text = res.text().await.unwrap_or_default();
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                ApiCallError::Transient(format!("{path}: {status}: {}", short(&text)))
            } else {
                ApiCallError::Refused {
                    status: status.as_u16(),
                    code: String::new(),
                    message: format!("{path}: {}", short(&text)),
                }
            });
        }
        let etag = res
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = res
            .bytes()
            .await
            .map_err(|e| ApiCallError::Transient(format!("{path}: {}", error_chain(&e))))?;
        Ok(Some((bytes.to_vec(), etag)))
    }

    /// The published trust list, as text (cached verbatim).
    pub async fn trust_list(&self) -> Result<String, ApiCallError> {
        let rb = self
            .http
            .get(self.url("/api/v1/trust-list"))
            .timeout(Duration::from_secs(30));
        let res = self.send(rb).await?;
        res.text()
            .await
            .map_err(|e| ApiCallError::Transient(format!("trust list: {}", error_chain(&e))))
    }
}

/// 127.0.0.0/8, ::1 or `localhost`: the only hosts plain HTTP may be used with.
fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Job ids come from the server; percent-encode everything but letters, digits, `-` and `_`
/// (dots too: a `..` segment would be normalised away) so an odd id cannot change the route.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn short(text: &str) -> String {
    text.chars().take(300).collect()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_serialise_to_the_documented_shape() {
        let r = Report {
            lease_token: "t".into(),
            seq: 7,
            outcome: Outcome::Printed,
            sheets: vec!["LY01".into(), "LY02".into()],
            printed_nothing: None,
            reason: None,
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"lease_token": "t", "seq": 7, "outcome": "printed", "sheets": ["LY01", "LY02"]})
        );
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        let client = |server: &str| {
            AgentClient::new(&ClientOptions {
                server: server.into(),
                ..ClientOptions::default()
            })
        };
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.8.9.10/",
            "http://[::1]:8080",
            "http://localhost:8080",
            "http://LOCALHOST",
            "https://crosscert.example.cn",
        ] {
            assert!(client(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://crosscert.example.cn",
            "http://10.0.0.1:8080",
            "http://localhost.example.cn",
            "http://127.0.0.1.nip.io",
            "http://[::ffff:8.8.8.8]",
            "http://0.0.0.0:8080",
        ] {
            assert!(
                matches!(client(bad), Err(ClientSetupError::PlainHttp(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            client("ftp://127.0.0.1"),
            Err(ClientSetupError::Url(_))
        ));
        assert!(matches!(
            client("127.0.0.1:8080"),
            Err(ClientSetupError::Url(_))
        ));
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("a1-B_2"), "a1-B_2");
        assert_eq!(path_segment("../x?y"), "%2E%2E%2Fx%3Fy");
    }

    #[test]
    fn token_files_are_trimmed_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "  abc.def \n\n").unwrap();
        assert_eq!(read_token_file(&p).unwrap(), "abc.def");
        std::fs::write(&p, " \n").unwrap();
        assert!(matches!(
            read_token_file(&p),
            Err(ClientSetupError::EmptyToken(_))
        ));
    }
}
