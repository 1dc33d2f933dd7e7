//! The list-signing key: a P-256 key of its own, certified by the root, that signs the
//! published trust list and the status lists (never a licence). Kept beside the signers in
//! the key set (`[list_signer]` in `keys.toml`) so that a compromised licence signer cannot
//! vouch for its own revocation state, and the other way round.
//!
//! Every signed list is a COSE_Sign1 (ES256) whose protected header carries the list signer's
//! certificate (`x5chain`, label 33), so a verifier holding only the pinned root can check it.

use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use ring::rand::SystemRandom;
use ring::signature::EcdsaKeyPair;

use super::keys::{
    load_cert, p256_file_key, parse, require_signed_by, show, CertEntry, CertFile, KeyError,
};
use crate::verification::cert::{ec_curve, kid_of, Curve, Kid, SignerKey};
use crate::verification::envelope::verify_envelope_with_key;
use crate::verification::signed_list::{HEADER_TYP, HEADER_X5CHAIN};

/// Why a list could not be signed. Closed; the routes map `Unavailable` to 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListSignError {
    #[error("the list signer cannot sign now: {0}")]
    Unavailable(String),
    #[error("the signing operation failed")]
    Crypto,
    #[error("the COSE structure could not be encoded")]
    Encoding,
    #[error("the new list did not verify with the list signer's public key")]
    VerifyAfterSign,
}

pub struct ListSigner {
    pub certificate: CertFile,
    pub kid: Kid,
    pub public_key: SignerKey,
    key_pair: Option<EcdsaKeyPair>,
    rng: SystemRandom,
}

impl fmt::Debug for ListSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListSigner")
            .field("kid", &hex::encode(self.kid))
            .field("certificate", &show(&self.certificate.path))
            .field("has_private_key", &self.key_pair.is_some())
            .finish()
    }
}

impl ListSigner {
    /// Checks: signed by the root, not a CA, key usage digitalSignature, a P-256 key, and the
    /// private key (when given) matching the certificate.
    pub(super) fn load(
        dir: &Path,
        entry: &CertEntry,
        root: &CertFile,
    ) -> Result<ListSigner, KeyError> {
        let cert_path = dir.join(&entry.certificate);
        let certificate = load_cert(&cert_path)?;
        let cert_err = |reason: &str| KeyError::Certificate {
            path: show(&cert_path),
            reason: format!("list signer: {reason}"),
        };
        require_signed_by(&certificate, root, "root")?;
        let c = parse(&certificate)?;
        match c.key_usage() {
            Ok(Some(ku)) if ku.value.digital_signature() => {}
            _ => return Err(cert_err("key usage lacks digitalSignature")),
        }
        if c.is_ca() {
            return Err(cert_err("must not be a CA certificate"));
        }
        if ec_curve(&c) != Some(Curve::P256) {
            return Err(cert_err("the public key is not ECDSA P-256"));
        }
        let spki_key = c.public_key().subject_public_key.data.to_vec();
        let key_pair = match &entry.private_key {
            None => None,
            Some(key) => {
                let kp = p256_file_key(&dir.join(key), &spki_key, &cert_path)?;
                Some(kp)
            }
        };
        let kid = kid_of(&certificate.der);
        Ok(ListSigner {
            public_key: SignerKey::from_parts(kid, Curve::P256, spki_key),
            kid,
            certificate,
            key_pair,
            rng: SystemRandom::new(),
        })
    }

    /// COSE_Sign1 { protected {1: -7, 4: kid, 16: typ, 33: certificate DER}, payload }, tagged
    /// 18, verified with the public key before it is returned.
    pub fn sign(
        &self,
        typ: &str,
        payload: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, ListSignError> {
        let key_pair = self.key_pair.as_ref().ok_or_else(|| {
            ListSignError::Unavailable("the key set holds no list-signing private key".into())
        })?;
        if now < self.certificate.not_before || now > self.certificate.not_after {
            return Err(ListSignError::Unavailable(format!(
                "the list signer's certificate is not valid at {}",
                now.to_rfc3339()
            )));
        }
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES256)
            .key_id(self.kid.to_vec())
            .value(HEADER_TYP, ciborium::Value::Text(typ.to_owned()))
            .value(
                HEADER_X5CHAIN,
                ciborium::Value::Bytes(self.certificate.der.clone()),
            )
            .build();
        let sign1 = CoseSign1Builder::new()
            .protected(protected)
            .payload(payload)
            .try_create_signature(&[], |tbs| {
                key_pair
                    .sign(&self.rng, tbs)
                    .map(|sig| sig.as_ref().to_vec())
                    .map_err(|_| ListSignError::Crypto)
            })?
            .build();
        let bytes = sign1.to_tagged_vec().map_err(|_| ListSignError::Encoding)?;
        verify_envelope_with_key(&bytes, &self.public_key)
            .map_err(|_| ListSignError::VerifyAfterSign)?;
        Ok(bytes)
    }
}
