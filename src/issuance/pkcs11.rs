//! Signer keys in a PKCS#11 token (an HSM; SoftHSM2 in tests and the local set-up), through
//! `cryptoki`. The key is generated inside the token, sensitive and not extractable; crosscert
//! only ever asks the token to sign a SHA-256 digest (CKM_ECDSA, P-256, r||s out). A pool of
//! logged-in sessions lets seals be made in parallel; a session the token lost is reopened.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use crate::config::Pkcs11Settings;

/// DER of the named curve prime256v1 (CKA_EC_PARAMS).
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// What can go wrong with the token. Messages name the setting at fault; none carries the PIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("CROSSCERT_PKCS11_MODULE {module}: cannot load the PKCS#11 module: {reason}")]
    Module { module: String, reason: String },
    #[error("CROSSCERT_PKCS11_TOKEN: no token labelled {label:?} (tokens present: {present})")]
    NoToken { label: String, present: String },
    #[error("CROSSCERT_PKCS11_PIN_FILE {path}: {reason}")]
    Pin { path: String, reason: String },
    #[error("token {token:?}: the PIN in CROSSCERT_PKCS11_PIN_FILE was refused ({reason})")]
    Login { token: String, reason: String },
    #[error("token {token:?}: no private key labelled {label:?}")]
    NoKey { token: String, label: String },
    #[error("token {token:?}: key {label:?} {reason}")]
    Key {
        token: String,
        label: String,
        reason: String,
    },
    #[error("token {token:?}: a key labelled {label:?} already exists")]
    LabelTaken { token: String, label: String },
    #[error("token {token:?}: {operation} failed: {reason}")]
    Operation {
        token: String,
        operation: &'static str,
        reason: String,
    },
}

/// The security attributes of a private key in the token, as the token reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAttributes {
    pub sensitive: bool,
    pub extractable: bool,
    pub always_sensitive: bool,
    pub never_extractable: bool,
    /// Generated inside the token (CKA_LOCAL).
    pub local: bool,
}

/// An open token: the module, its slot, the PIN and the session pool.
pub struct Token {
    ctx: Pkcs11,
    slot: Slot,
    label: String,
    pin: AuthPin,
    /// The pool: `size` slots, each a session or `None` where a lost session awaits its
    /// replacement (opened by the next borrower), so the pool never shrinks.
    idle: Mutex<Vec<Option<Session>>>,
    returned: Condvar,
    size: usize,
    /// Private-key handles by label, found once (handles are valid in every session of the
    /// application) and found again after the token forgot them.
    handles: Mutex<HashMap<String, ObjectHandle>>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("label", &self.label)
            .field("sessions", &self.size)
            .finish_non_exhaustive()
    }
}

fn describe(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function:?}: {rv:?}"),
        other => other.to_string(),
    }
}

/// Errors after which a fresh, logged-in session and a fresh key lookup may succeed: the
/// token closed the session, was reset or logged out, or forgot the object handle.
fn session_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::KeyHandleInvalid
                | RvError::ObjectHandleInvalid
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::DeviceError,
            _
        )
    )
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data (a list of sessions, a
    // handle cache) that is still consistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A pool slot borrowed; it goes back when dropped, with its session or empty if lost.
struct Pooled<'a> {
    token: &'a Token,
    session: Option<Session>,
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        lock(&self.token.idle).push(self.session.take());
        self.token.returned.notify_one();
    }
}

impl Token {
    /// Loads the module, finds the token by label, reads the PIN and opens the pool of
    /// `settings.sessions` logged-in sessions.
    pub fn open(settings: &Pkcs11Settings) -> Result<Arc<Token>, TokenError> {
        let module = settings.module.display().to_string();
        let module_err = |reason: String| TokenError::Module {
            module: module.clone(),
            reason,
        };
        let ctx = Pkcs11::new(&settings.module).map_err(|e| module_err(describe(&e)))?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            // Another part of this process (a second key set, a test) opened it first.
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(module_err(describe(&e))),
        }
        let slots = ctx
            .get_slots_with_initialized_token()
            .map_err(|e| module_err(describe(&e)))?;
        let mut present = Vec::new();
        let mut found = None;
        for slot in slots {
            let info = ctx
                .get_token_info(slot)
                .map_err(|e| module_err(describe(&e)))?;
            let label = info.label().trim_end().to_string();
            if label == settings.token_label && found.is_none() {
                found = Some(slot);
            }
            present.push(label);
        }
        let slot = found.ok_or_else(|| TokenError::NoToken {
            label: settings.token_label.clone(),
            present: if present.is_empty() {
                "none".into()
            } else {
                present.join(", ")
            },
        })?;
        let pin = read_pin(&settings.pin_file)?;
        let token = Token {
            ctx,
            slot,
            label: settings.token_label.clone(),
            pin,
            idle: Mutex::new(Vec::with_capacity(settings.sessions)),
            returned: Condvar::new(),
            size: settings.sessions.max(1),
            handles: Mutex::new(HashMap::new()),
        };
        let mut sessions = Vec::with_capacity(token.size);
        for _ in 0..token.size {
            sessions.push(Some(token.open_session(false)?));
        }
        *lock(&token.idle) = sessions;
        Ok(Arc::new(token))
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Sessions in the pool: at most this many signatures are made at once.
    pub fn sessions(&self) -> usize {
        self.size
    }

    fn op_err(&self, operation: &'static str) -> impl Fn(CkError) -> TokenError + '_ {
        move |e| TokenError::Operation {
            token: self.label.clone(),
            operation,
            reason: describe(&e),
        }
    }

    /// A new session, logged in as the user (login is per application: a second session of
    /// a logged-in application is already logged in).
    fn open_session(&self, read_write: bool) -> Result<Session, TokenError> {
        let session = if read_write {
            self.ctx.open_rw_session(self.slot)
        } else {
            self.ctx.open_ro_session(self.slot)
        }
        .map_err(self.op_err("opening a session"))?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(TokenError::Login {
                token: self.label.clone(),
                reason: describe(&e),
            }),
        }
    }

    fn checkout(&self) -> Pooled<'_> {
        let mut idle = lock(&self.idle);
        loop {
            if let Some(session) = idle.pop() {
                return Pooled {
                    token: self,
                    session,
                };
            }
            idle = self
                .returned
                .wait(idle)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// The borrowed slot's session, opened first if the slot is empty.
    fn session<'p>(&self, pooled: &'p mut Pooled<'_>) -> Result<&'p Session, TokenError> {
        let session = match pooled.session.take() {
            Some(s) => s,
            None => self.open_session(false)?,
        };
        Ok(pooled.session.insert(session))
    }

    fn find_private_key(&self, session: &Session, label: &str) -> Result<ObjectHandle, TokenError> {
        if let Some(h) = lock(&self.handles).get(label) {
            return Ok(*h);
        }
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(self.op_err("finding a key"))?;
        match found.as_slice() {
            [h] => {
                lock(&self.handles).insert(label.to_string(), *h);
                Ok(*h)
            }
            [] => Err(TokenError::NoKey {
                token: self.label.clone(),
                label: label.to_string(),
            }),
            more => Err(TokenError::Key {
                token: self.label.clone(),
                label: label.to_string(),
                reason: format!("is ambiguous: {} private keys carry that label", more.len()),
            }),
        }
    }

    fn try_sign(&self, session: &Session, label: &str, digest: &[u8]) -> Result<Vec<u8>, CkError> {
        let handle = match self.find_private_key(session, label) {
            Ok(h) => h,
            // A lookup that failed for a lost session is retried like a lost signature.
            Err(_) => {
                return Err(CkError::Pkcs11(
                    RvError::KeyHandleInvalid,
                    cryptoki::context::Function::FindObjects,
                ))
            }
        };
        session.sign(&Mechanism::Ecdsa, handle, digest)
    }

    /// ECDSA over a SHA-256 digest with the private key `label`: r||s, 64 bytes. A session
    /// the token lost (closed, logged out, reset) is replaced by a new logged-in one and the
    /// signature tried once more.
    pub fn sign_digest(&self, label: &str, digest: &[u8; 32]) -> Result<Vec<u8>, TokenError> {
        let mut pooled = self.checkout();
        let first = self.try_sign(self.session(&mut pooled)?, label, digest);
        let signature = match first {
            Ok(sig) => sig,
            Err(e) if session_lost(&e) => {
                tracing::warn!(token = %self.label, error = %describe(&e), "PKCS#11 session lost: reopening it");
                // The old session is dropped (closed if the token still knows it).
                pooled.session = None;
                lock(&self.handles).remove(label);
                let session = self.session(&mut pooled)?;
                match self.try_sign(session, label, digest) {
                    Ok(sig) => sig,
                    Err(again) => {
                        // Tell a missing key from a failing token.
                        self.find_private_key(session, label)?;
                        return Err(self.op_err("signing")(again));
                    }
                }
            }
            Err(e) => return Err(self.op_err("signing")(e)),
        };
        if signature.len() != 64 {
            return Err(TokenError::Key {
                token: self.label.clone(),
                label: label.to_string(),
                reason: format!(
                    "gave a {}-byte ECDSA signature, not the 64 of P-256",
                    signature.len()
                ),
            });
        }
        Ok(signature)
    }

    /// The security attributes of the private key `label`.
    pub fn key_attributes(&self, label: &str) -> Result<KeyAttributes, TokenError> {
        let mut pooled = self.checkout();
        let session = self.session(&mut pooled)?;
        let handle = self.find_private_key(session, label)?;
        let attrs = session
            .get_attributes(
                handle,
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::Local,
                ],
            )
            .map_err(self.op_err("reading key attributes"))?;
        let mut out = KeyAttributes {
            sensitive: false,
            extractable: true,
            always_sensitive: false,
            never_extractable: false,
            local: false,
        };
        for a in attrs {
            match a {
                Attribute::Sensitive(v) => out.sensitive = v,
                Attribute::Extractable(v) => out.extractable = v,
                Attribute::AlwaysSensitive(v) => out.always_sensitive = v,
                Attribute::NeverExtractable(v) => out.never_extractable = v,
                Attribute::Local(v) => out.local = v,
                _ => {}
            }
        }
        Ok(out)
    }

    /// Generates a P-256 key pair inside the token under `label`: the private key is a token
    /// object, private, sensitive, not extractable, for signing only. Returns the public key
    /// as the 65-byte uncompressed point. Refuses a label already in use.
    pub fn generate_p256(&self, label: &str) -> Result<Vec<u8>, TokenError> {
        let session = self.open_session(true)?;
        let existing = session
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
            .map_err(self.op_err("finding a key"))?;
        if !existing.is_empty() {
            return Err(TokenError::LabelTaken {
                token: self.label.clone(),
                label: label.to_string(),
            });
        }
        let id = label.as_bytes().to_vec();
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_PARAMS.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::KeyType(KeyType::EC),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id),
        ];
        let (public, _private) = session
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &public_template,
                &private_template,
            )
            .map_err(self.op_err("generating a key pair"))?;
        let attrs = session
            .get_attributes(public, &[AttributeType::EcPoint])
            .map_err(self.op_err("reading the public key"))?;
        let point = attrs
            .into_iter()
            .find_map(|a| match a {
                Attribute::EcPoint(p) => Some(p),
                _ => None,
            })
            .ok_or_else(|| TokenError::Key {
                token: self.label.clone(),
                label: label.to_string(),
                reason: "has no CKA_EC_POINT".into(),
            })?;
        uncompressed_point(&point).ok_or_else(|| TokenError::Key {
            token: self.label.clone(),
            label: label.to_string(),
            reason: "has a public point that is not an uncompressed P-256 point".into(),
        })
    }
}

/// CKA_EC_POINT is a DER OCTET STRING around the point (some tokens give the bare point).
fn uncompressed_point(raw: &[u8]) -> Option<Vec<u8>> {
    let point = match raw {
        [0x04, 0x41, rest @ ..] if rest.len() == 65 => rest,
        bare if bare.len() == 65 => bare,
        _ => return None,
    };
    (point[0] == 0x04).then(|| point.to_vec())
}

/// SoftHSM2's module where Debian and its derivatives put it (`SOFTHSM2_MODULE` first), for
/// the tests, the bench and the local set-up.
pub fn find_softhsm_module() -> Option<std::path::PathBuf> {
    let mut candidates: Vec<std::path::PathBuf> = std::env::var_os("SOFTHSM2_MODULE")
        .map(std::path::PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(
        [
            "/usr/lib/softhsm/libsofthsm2.so",
            "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
            "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
            "/usr/local/lib/softhsm/libsofthsm2.so",
        ]
        .map(std::path::PathBuf::from),
    );
    candidates.into_iter().find(|p| p.exists())
}

/// The PIN file's first line (a trailing newline is not part of the PIN).
fn read_pin(path: &std::path::Path) -> Result<AuthPin, TokenError> {
    let err = |reason: String| TokenError::Pin {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let pin = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if pin.is_empty() {
        return Err(err("is empty".into()));
    }
    Ok(AuthPin::from(pin.to_string()))
}

#[cfg(test)]
pub(crate) mod tests;
