//! The COSE_Sign1 envelope: decoding by the tolerance rules of docs/architecture.md ("Licences") and checking the ES256
//! signature over RFC 9052's `Sig_structure`. Knows nothing of claims or of time.

use ciborium::value::Value;
use coset::{iana, AsCborValue, CoseSign1, Header, RegisteredLabelWithPrivate};

use super::cert::SignerKey;

/// CBOR tags a seal may arrive in: COSE_Sign1 (18) and the CWT wrapper (61, RFC 8392).
const TAG_COSE_SIGN1: u64 = 18;
const TAG_CWT: u64 = 61;

/// Why an envelope does not verify. Deliberately coarse: a verifier tells the public what
/// failed, never how far an attacker's forgery got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the code is not a readable COSE_Sign1 ES256 seal")]
    BadEncoding,
    #[error("the seal names no known signer")]
    UnknownSigner,
    #[error("the seal's signature does not verify")]
    BadSignature,
}

/// A structurally valid ES256 COSE_Sign1, ready to have its signature checked.
#[derive(Debug)]
pub struct Envelope {
    /// kid from the protected header, else from the unprotected one.
    pub kid: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    signature: Vec<u8>,
    /// The RFC 9052 §4.4 `Sig_structure` ("Signature1", protected bytes as received, empty
    /// external AAD, payload) that the signature covers.
    to_be_signed: Vec<u8>,
}

impl Envelope {
    /// Decodes untagged, tag 18, or tag 61 around tag 18; alg and kid may sit in either
    /// header, the protected one winning; alg must be ES256.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let mut reader = bytes;
        let value: Value =
            ciborium::de::from_reader(&mut reader).map_err(|_| EnvelopeError::BadEncoding)?;
        if !reader.is_empty() {
            return Err(EnvelopeError::BadEncoding);
        }
        let value = match value {
            Value::Tag(TAG_CWT, inner) => match *inner {
                Value::Tag(TAG_COSE_SIGN1, inner) => *inner,
                _ => return Err(EnvelopeError::BadEncoding),
            },
            Value::Tag(TAG_COSE_SIGN1, inner) => *inner,
            Value::Tag(..) => return Err(EnvelopeError::BadEncoding),
            v => v,
        };
        let sign1 = CoseSign1::from_cbor_value(value).map_err(|_| EnvelopeError::BadEncoding)?;
        let protected = &sign1.protected.header;
        let unprotected = &sign1.unprotected;

        // We act on nothing but alg and kid; a critical parameter we do not understand must
        // make us refuse (RFC 9052 §3.1), and the cheapest honest rule is to refuse any.
        if !protected.crit.is_empty() {
            return Err(EnvelopeError::BadEncoding);
        }
        let alg = protected.alg.as_ref().or(unprotected.alg.as_ref());
        if alg
            != Some(&RegisteredLabelWithPrivate::Assigned(
                iana::Algorithm::ES256,
            ))
        {
            return Err(EnvelopeError::BadEncoding);
        }
        let kid = pick_kid(protected, unprotected);
        let to_be_signed = sign1.tbs_data(&[]);
        let CoseSign1 {
            payload, signature, ..
        } = sign1;
        // A detached payload is no seal: the QR must carry what it vouches for.
        let payload = payload.ok_or(EnvelopeError::BadEncoding)?;
        Ok(Envelope {
            kid,
            payload,
            signature,
            to_be_signed,
        })
    }

    /// Whether `key` made this envelope's signature.
    pub fn is_signed_by(&self, key: &SignerKey) -> bool {
        key.verify(&self.to_be_signed, &self.signature)
    }
}

fn pick_kid(protected: &Header, unprotected: &Header) -> Option<Vec<u8>> {
    if !protected.key_id.is_empty() {
        Some(protected.key_id.clone())
    } else if !unprotected.key_id.is_empty() {
        Some(unprotected.key_id.clone())
    } else {
        None
    }
}

/// Envelope check of a bare COSE_Sign1 against one certificate (`crosscert verify --cose-hex
/// HEX --cert FILE.pem`): the kid, when present, must be the certificate's, and the signature
/// must verify. A certificate that is unusable as an ES256 key counts as `UnknownSigner`;
/// callers that must tell a bad argument apart parse it first with
/// [`SignerKey::from_certificate_der`].
pub fn verify_envelope_with_cert(cose: &[u8], cert_der: &[u8]) -> Result<(), EnvelopeError> {
    let key =
        SignerKey::from_certificate_der(cert_der).map_err(|_| EnvelopeError::UnknownSigner)?;
    verify_envelope_with_key(cose, &key)
}

/// As [`verify_envelope_with_cert`], with an already parsed key.
pub fn verify_envelope_with_key(cose: &[u8], key: &SignerKey) -> Result<(), EnvelopeError> {
    let envelope = Envelope::decode(cose)?;
    if let Some(kid) = &envelope.kid {
        if kid.as_slice() != key.kid().as_slice() {
            return Err(EnvelopeError::UnknownSigner);
        }
    }
    if envelope.is_signed_by(key) {
        Ok(())
    } else {
        Err(EnvelopeError::BadSignature)
    }
}
