//! Sealing: claims -> COSE_Sign1 (RFC 9052) signed ES256 by the active signer, then verified
//! with the signer's public key before anyone sees it (docs/architecture.md, "The life of a licence": verify what you signed).
//!
//! The seal is written with CBOR tag 18 (COSE_Sign1). Untagged would save one byte (under two
//! QR characters), but the tag makes the bytes self-describing for generic COSE tools and the
//! verifiers of other systems; the size budget has room for it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use ring::rand::SystemRandom;

use super::keys::KeySet;
use crate::domain::seal::SealClaims;
use crate::verification::envelope::verify_envelope_with_key;

/// Why a seal could not be made. Closed: issuing maps `NoSignerInPeriod` to 503 with the
/// reason, everything else to a 500 whose cause goes to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("no signer may seal now: {reason}")]
    NoSignerInPeriod { reason: String },
    #[error("the claims' iat {iat} lies outside the signing period of signer {signer}")]
    IatOutsidePeriod { iat: i64, signer: String },
    #[error("the signing operation failed")]
    Crypto,
    #[error("the PKCS#11 token did not sign: {0}")]
    Token(String),
    #[error("the COSE structure could not be encoded")]
    Encoding,
    #[error("the new seal did not verify with its signer's public key")]
    VerifyAfterSign,
}

/// Seals claims with whichever signer is active at the given time.
#[derive(Debug, Clone)]
pub struct Sealer {
    keys: Arc<KeySet>,
    rng: SystemRandom,
}

impl Sealer {
    pub fn new(keys: Arc<KeySet>) -> Sealer {
        Sealer {
            keys,
            rng: SystemRandom::new(),
        }
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// COSE_Sign1 { protected {1: -7 (ES256), 4: kid}, unprotected {}, payload: claims CBOR,
    /// signature: r||s (64 bytes) over Sig_structure ["Signature1", protected, h'', payload] },
    /// tagged 18. Verified with the public key before it is returned.
    pub fn seal(&self, claims: &SealClaims, now: DateTime<Utc>) -> Result<Vec<u8>, SealError> {
        let signer = self.keys.active_signer(now)?;
        // A seal whose iat lies outside its signer's period verifies as
        // `sealed_outside_signing_period`: refuse to make one.
        let from = signer.sign_from.timestamp();
        let until = signer.sign_until.timestamp();
        if claims.iat < from || claims.iat > until {
            return Err(SealError::IatOutsidePeriod {
                iat: claims.iat,
                signer: signer.name.clone(),
            });
        }
        let key = signer
            .signing_key()
            .ok_or_else(|| SealError::NoSignerInPeriod {
                reason: format!("signer {} has no private key", signer.name),
            })?;

        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES256)
            .key_id(signer.kid.to_vec())
            .build();
        let sign1 = CoseSign1Builder::new()
            .protected(protected)
            .payload(claims.to_cbor())
            .try_create_signature(&[], |to_be_signed| key.sign_es256(&self.rng, to_be_signed))?
            .build();
        let bytes = sign1.to_tagged_vec().map_err(|_| SealError::Encoding)?;

        verify_envelope_with_key(&bytes, &signer.public_key)
            .map_err(|_| SealError::VerifyAfterSign)?;
        Ok(bytes)
    }
}
