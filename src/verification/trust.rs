//! The trust list (`GET /api/v1/trust-list` in the OpenAPI document, also the file `crosscert verify
//! --trust-list` reads) and the `TrustStore` built from it once: every signer certificate
//! checked against the root and its key parsed, so a verification is one hash + one ECDSA.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::cert::{kid_of, Kid, SignerKey};
use super::envelope::{Envelope, EnvelopeError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrustList {
    /// The root CA certificate, PEM.
    pub root: String,
    pub signers: Vec<TrustListSigner>,
    pub issued_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrustListSigner {
    /// Lower-case hex of the 8-byte kid.
    pub kid: String,
    /// The signer certificate, PEM.
    pub certificate: String,
    pub sign_from: DateTime<Utc>,
    pub sign_until: DateTime<Utc>,
    /// Makes new seals now (status active and inside its signing period).
    pub active: bool,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("the trust list is not valid JSON of the expected shape: {0}")]
    Json(String),
    #[error("the trust list's root certificate is unusable: {0}")]
    Root(String),
    #[error("trust-list signer {kid}: {reason}")]
    Signer { kid: String, reason: String },
}

impl TrustList {
    pub fn from_json(text: &str) -> Result<TrustList, TrustError> {
        serde_json::from_str(text).map_err(|e| TrustError::Json(e.to_string()))
    }

    pub fn to_json(&self) -> Result<String, TrustError> {
        serde_json::to_string_pretty(self).map_err(|e| TrustError::Json(e.to_string()))
    }
}

/// One signer the store trusts, with its key parsed.
#[derive(Debug, Clone)]
pub struct TrustedSigner {
    pub key: SignerKey,
    pub sign_from: DateTime<Utc>,
    pub sign_until: DateTime<Utc>,
    pub active: bool,
    pub revoked: bool,
}

/// What a genuine envelope tells the caller; the claims are still bytes here (decode them
/// with `SealClaims::from_cbor`) and time rules are the caller's (`iat` inside
/// `sign_from..=sign_until`, else `sealed_outside_signing_period`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSeal {
    pub kid: Kid,
    pub payload: Vec<u8>,
    pub sign_from: DateTime<Utc>,
    pub sign_until: DateTime<Utc>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct TrustStore {
    signers: Vec<TrustedSigner>,
}

/// PEM text -> the DER of its single CERTIFICATE block.
pub(crate) fn certificate_der_from_pem(text: &str) -> Result<Vec<u8>, String> {
    let block = ::pem::parse(text).map_err(|e| format!("not PEM: {e}"))?;
    if block.tag() != "CERTIFICATE" {
        return Err(format!("PEM block is {:?}, not CERTIFICATE", block.tag()));
    }
    Ok(block.into_contents())
}

impl TrustStore {
    /// Checks every signer against the root (chain signature, kid as listed, ES256-capable
    /// key) and parses its key once. An inconsistent list is refused whole: a verifier that
    /// silently dropped a signer would call its genuine seals forgeries.
    pub fn new(list: &TrustList) -> Result<TrustStore, TrustError> {
        let root_der = certificate_der_from_pem(&list.root).map_err(TrustError::Root)?;
        let (_, root) = X509Certificate::from_der(&root_der)
            .map_err(|e| TrustError::Root(format!("not an X.509 certificate: {e}")))?;
        let mut signers = Vec::with_capacity(list.signers.len());
        for s in &list.signers {
            let err = |reason: String| TrustError::Signer {
                kid: s.kid.clone(),
                reason,
            };
            let der = certificate_der_from_pem(&s.certificate).map_err(err)?;
            let (_, cert) = X509Certificate::from_der(&der)
                .map_err(|e| err(format!("not an X.509 certificate: {e}")))?;
            cert.verify_signature(Some(root.public_key()))
                .map_err(|_| err("not signed by the trust list's root".into()))?;
            let key = SignerKey::from_certificate_der(&der).map_err(|e| err(e.to_string()))?;
            if hex::encode(kid_of(&der)) != s.kid.to_ascii_lowercase() {
                return Err(err("kid is not SHA-256(certificate)[..8]".into()));
            }
            signers.push(TrustedSigner {
                key,
                sign_from: s.sign_from,
                sign_until: s.sign_until,
                active: s.active,
                revoked: s.revoked,
            });
        }
        Ok(TrustStore { signers })
    }

    /// A store that trusts nobody (unit tests of the refusal paths).
    #[cfg(test)]
    pub(crate) fn empty() -> TrustStore {
        TrustStore {
            signers: Vec::new(),
        }
    }

    pub fn signers(&self) -> &[TrustedSigner] {
        &self.signers
    }

    /// See [`verify_cose`].
    pub fn verify_cose(&self, bytes: &[u8]) -> Result<VerifiedSeal, EnvelopeError> {
        let envelope = Envelope::decode(bytes)?;
        let mut candidates = self.signers.iter().filter(|s| match &envelope.kid {
            Some(kid) => kid.as_slice() == s.key.kid().as_slice(),
            None => true,
        });
        // kids are 64-bit truncations and may collide, so every candidate gets its chance.
        let mut tried = false;
        let found = candidates.find(|s| {
            tried = true;
            envelope.is_signed_by(&s.key)
        });
        match found {
            Some(s) => Ok(VerifiedSeal {
                kid: s.key.kid(),
                payload: envelope.payload,
                sign_from: s.sign_from,
                sign_until: s.sign_until,
                revoked: s.revoked,
            }),
            None if tried => Err(EnvelopeError::BadSignature),
            None => Err(EnvelopeError::UnknownSigner),
        }
    }
}

/// Verifies a seal's envelope against the trust store: kid lookup (every signer with that
/// kid; every signer when there is no kid) and ES256 signature.
pub fn verify_cose(bytes: &[u8], store: &TrustStore) -> Result<VerifiedSeal, EnvelopeError> {
    store.verify_cose(bytes)
}
