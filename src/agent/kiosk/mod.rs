//! The kiosk's touch screen (`crosscert agent --kiosk --kiosk-listen 127.0.0.1:8090`): a
//! small local HTTP server for the kiosk's own browser, in Chinese, with large keys and a
//! numeric keypad. The holder scans the slip's QR code or types the pickup code, then types
//! their ID number; the page shows progress and "请取走证照".
//!
//! The screen never talks to the central server: it hands the codes to the agent's loop
//! (`run::kiosk`) over a channel, and the loop releases, prints and reports as an agent
//! always does. The server here is deliberately minimal (HTTP/1.1, one request per
//! connection, small bodies) and listens on the kiosk itself only.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// The page (HTML, CSS and script in one file, no external resources).
pub const PAGE: &str = include_str!("page.html");

/// The largest request the screen accepts (two short codes).
const MAX_REQUEST: usize = 8 * 1024;

/// Where the holder is, as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Idle,
    Checking,
    Printing,
    Done,
    Failed,
}

/// What the page polls (`GET /status`).
#[derive(Debug, Clone, Serialize)]
pub struct Screen {
    pub stage: Stage,
    /// Chinese, for the holder.
    pub message: String,
    /// Counts releases, so a page can tell its own outcome from an earlier one.
    pub session: u64,
}

/// The screen's state, shared by the server and the agent's loop.
#[derive(Debug)]
pub struct KioskScreen {
    screen: Mutex<Screen>,
}

impl Default for KioskScreen {
    fn default() -> Self {
        KioskScreen {
            screen: Mutex::new(Screen {
                stage: Stage::Idle,
                message: String::new(),
                session: 0,
            }),
        }
    }
}

impl KioskScreen {
    pub fn get(&self) -> Screen {
        self.screen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set(&self, stage: Stage, message: &str) {
        let mut s = self.screen.lock().unwrap_or_else(|p| p.into_inner());
        s.stage = stage;
        s.message = message.to_string();
    }

    /// Start a release unless one is under way: the new session number.
    fn begin(&self) -> Option<u64> {
        let mut s = self.screen.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(s.stage, Stage::Checking | Stage::Printing) {
            return None;
        }
        s.session += 1;
        s.stage = Stage::Checking;
        s.message = "正在核对取件信息…".into();
        Some(s.session)
    }
}

/// The holder's codes, handed to the agent's loop; it answers once the server has released
/// the job (or refused).
pub struct ReleaseCall {
    pub pickup_code: String,
    pub recipient_code: String,
    pub reply: oneshot::Sender<ReleaseReply>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseReply {
    /// Released: the kiosk is printing (the screen follows through `/status`).
    Printing,
    /// Not released; the message tells the holder what to do next.
    Refused(String),
}

#[derive(Debug, Deserialize)]
struct ReleaseBody {
    #[serde(default)]
    pickup_code: String,
    #[serde(default)]
    recipient_code: String,
}

/// The pickup code as typed or scanned: digits only. A scanned tracking link
/// (`.../T/<token>`) carries no pickup code: `None`.
pub fn pickup_code_of(text: &str) -> Option<String> {
    let t = text.trim();
    let digits: String = t
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if !digits.is_empty() && digits.len() <= 20 && digits.chars().all(|c| c.is_ascii_digit()) {
        Some(digits)
    } else {
        None
    }
}

/// An ID number or credit code: letters and digits, at most 18 (x typed for X is fine).
pub fn recipient_code_of(text: &str) -> Option<String> {
    let t: String = text.trim().chars().filter(|c| !c.is_whitespace()).collect();
    let ok = !t.is_empty() && t.len() <= 18 && t.chars().all(|c| c.is_ascii_alphanumeric());
    ok.then(|| t.to_ascii_uppercase())
}

/// Serve the screen on `listener` until the process ends.
pub async fn serve(
    listener: TcpListener,
    screen: Arc<KioskScreen>,
    calls: mpsc::Sender<ReleaseCall>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let (screen, calls) = (screen.clone(), calls.clone());
                tokio::spawn(async move {
                    if let Err(e) = handle(stream, &screen, &calls).await {
                        tracing::debug!(error = %e, "kiosk screen connection");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "kiosk screen: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_REQUEST {
            return Ok(None);
        }
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "slow client"))??;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if length > MAX_REQUEST {
        return Ok(None);
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(Some(Request { method, path, body }))
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    kind: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}

async fn json(
    stream: &mut TcpStream,
    status: &str,
    value: &serde_json::Value,
) -> std::io::Result<()> {
    respond(
        stream,
        status,
        "application/json; charset=utf-8",
        value.to_string().as_bytes(),
    )
    .await
}

async fn handle(
    mut stream: TcpStream,
    screen: &KioskScreen,
    calls: &mpsc::Sender<ReleaseCall>,
) -> std::io::Result<()> {
    let Some(req) = read_request(&mut stream).await? else {
        return respond(&mut stream, "400 Bad Request", "text/plain", b"bad request").await;
    };
    let path = req.path.split('?').next().unwrap_or_default();
    match (req.method.as_str(), path) {
        ("GET", "/") => {
            respond(
                &mut stream,
                "200 OK",
                "text/html; charset=utf-8",
                PAGE.as_bytes(),
            )
            .await
        }
        ("GET", "/status") => {
            let v = serde_json::to_value(screen.get()).unwrap_or_default();
            json(&mut stream, "200 OK", &v).await
        }
        ("POST", "/release") => {
            let v = release(screen, calls, &req.body).await;
            json(&mut stream, "200 OK", &v).await
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", b"not found").await,
    }
}

/// `POST /release {pickup_code, recipient_code}`: `{ok, message, session}`.
async fn release(
    screen: &KioskScreen,
    calls: &mpsc::Sender<ReleaseCall>,
    body: &[u8],
) -> serde_json::Value {
    let refuse = |message: &str| serde_json::json!({"ok": false, "message": message});
    let Ok(body) = serde_json::from_slice::<ReleaseBody>(body) else {
        return refuse("请重新输入取件码和证件号码");
    };
    let Some(pickup_code) = pickup_code_of(&body.pickup_code) else {
        return refuse("请输入取件单上的取件码（数字）");
    };
    let Some(recipient_code) = recipient_code_of(&body.recipient_code) else {
        return refuse("请输入证件号码");
    };
    let Some(session) = screen.begin() else {
        return refuse("正在为上一位办理，请稍候");
    };
    let (reply, answer) = oneshot::channel();
    let call = ReleaseCall {
        pickup_code,
        recipient_code,
        reply,
    };
    let outcome = match calls.send(call).await {
        Ok(()) => answer
            .await
            .unwrap_or_else(|_| ReleaseReply::Refused("本机暂停服务，请到人工窗口办理".into())),
        Err(_) => ReleaseReply::Refused("本机暂停服务，请到人工窗口办理".into()),
    };
    match outcome {
        ReleaseReply::Printing => {
            serde_json::json!({"ok": true, "message": "正在打印，请稍候…", "session": session})
        }
        ReleaseReply::Refused(message) => {
            screen.set(Stage::Failed, &message);
            serde_json::json!({"ok": false, "message": message, "session": session})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_as_typed_or_scanned() {
        assert_eq!(pickup_code_of(" 0123 4567\n").as_deref(), Some("01234567"));
        assert_eq!(pickup_code_of("https://x.example/T/abcDEF"), None);
        assert_eq!(pickup_code_of(""), None);
        assert_eq!(
            recipient_code_of("11010519491231002x").as_deref(),
            Some("11010519491231002X")
        );
        assert_eq!(recipient_code_of("1101<script>"), None);
    }

    #[test]
    fn one_release_at_a_time() {
        let s = KioskScreen::default();
        assert_eq!(s.begin(), Some(1));
        assert_eq!(s.begin(), None);
        s.set(Stage::Done, "请取走证照");
        assert_eq!(s.begin(), Some(2));
    }
}
