//! Public-key side of a signer certificate: its kid, its curve and a ready-to-use ring verifier.
//! Shared by the trust store and by issuance (which verifies every seal it makes), so that
//! both check signatures with exactly the same code.

use ring::digest;
use ring::signature::{self, UnparsedPublicKey};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384};
use x509_parser::prelude::FromDer;

/// Length of a crosscert kid: the first 8 bytes of SHA-256 over the certificate DER (the same
/// rule as the EU DCC, so their test vectors apply unchanged).
pub const KID_LEN: usize = 8;
pub type Kid = [u8; KID_LEN];

/// kid = first 8 bytes of SHA-256(certificate DER).
pub fn kid_of(certificate_der: &[u8]) -> Kid {
    let d = digest::digest(&digest::SHA256, certificate_der);
    let mut kid = [0u8; KID_LEN];
    kid.copy_from_slice(&d.as_ref()[..KID_LEN]);
    kid
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

impl Curve {
    /// Length of one scalar (r or s) in a fixed-size signature.
    fn scalar_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }
}

impl std::fmt::Display for Curve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        })
    }
}

/// Why a certificate cannot serve as an ES256 signer key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertKeyError {
    #[error("not a DER X.509 certificate")]
    NotACertificate,
    #[error("the public key is not an EC key on P-256 or P-384")]
    UnsupportedKey,
}

/// The EC curve of a certificate's public key, if it is one we verify ES256 with.
pub fn ec_curve(cert: &X509Certificate<'_>) -> Option<Curve> {
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY {
        return None;
    }
    let oid = spki.algorithm.parameters.as_ref()?.as_oid().ok()?;
    let key = spki.subject_public_key.data.as_ref();
    // Uncompressed points only (0x04 || X || Y): that is what ring accepts.
    if oid == OID_EC_P256 && key.len() == 65 && key[0] == 4 {
        Some(Curve::P256)
    } else if oid == OID_NIST_EC_P384 && key.len() == 97 && key[0] == 4 {
        Some(Curve::P384)
    } else {
        None
    }
}

/// A signer's public key, parsed once and kept for every verification.
///
/// ring 0.17 has no pre-parsed ECDSA public key type, so `UnparsedPublicKey` is the cached
/// form; what we save per verification is the certificate parsing and the curve dispatch.
#[derive(Debug, Clone)]
pub struct SignerKey {
    kid: Kid,
    curve: Curve,
    key: UnparsedPublicKey<Vec<u8>>,
}

impl SignerKey {
    /// From a signer certificate's DER: computes its kid and picks the ring algorithm for
    /// ES256 on its curve.
    pub fn from_certificate_der(der: &[u8]) -> Result<SignerKey, CertKeyError> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|_| CertKeyError::NotACertificate)?;
        let curve = ec_curve(&cert).ok_or(CertKeyError::UnsupportedKey)?;
        Ok(SignerKey::from_parts(
            kid_of(der),
            curve,
            cert.public_key().subject_public_key.data.to_vec(),
        ))
    }

    pub(crate) fn from_parts(kid: Kid, curve: Curve, public_key: Vec<u8>) -> SignerKey {
        // ES256 = ECDSA with SHA-256 on the key's curve (RFC 9053 §2.1). ring offers P-256 with
        // a fixed r||s signature, but P-384 with SHA-256 only in ASN.1 form: for that curve
        // `verify` converts r||s to DER first.
        let alg: &'static signature::EcdsaVerificationAlgorithm = match curve {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &signature::ECDSA_P384_SHA256_ASN1,
        };
        SignerKey {
            kid,
            curve,
            key: UnparsedPublicKey::new(alg, public_key),
        }
    }

    pub fn kid(&self) -> Kid {
        self.kid
    }

    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// Checks a COSE (fixed r||s) ES256 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let n = self.curve.scalar_len();
        if signature.len() != 2 * n {
            return false;
        }
        match self.curve {
            Curve::P256 => self.key.verify(message, signature).is_ok(),
            Curve::P384 => {
                let der = fixed_to_der(&signature[..n], &signature[n..]);
                self.key.verify(message, &der).is_ok()
            }
        }
    }
}

/// r||s -> DER `SEQUENCE { INTEGER r, INTEGER s }` (for P-384 the lengths stay below 128, so
/// short-form lengths suffice).
pub(crate) fn fixed_to_der(r: &[u8], s: &[u8]) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, x: &[u8]) {
        let start = x.iter().position(|&b| b != 0).unwrap_or(x.len());
        let x = &x[start..];
        out.push(0x02);
        if x.is_empty() {
            out.extend_from_slice(&[0x01, 0x00]);
        } else if x[0] & 0x80 != 0 {
            out.push((x.len() + 1) as u8);
            out.push(0);
            out.extend_from_slice(x);
        } else {
            out.push(x.len() as u8);
            out.extend_from_slice(x);
        }
    }
    let mut body = Vec::with_capacity(2 * r.len() + 6);
    integer(&mut body, r);
    integer(&mut body, s);
    let mut out = Vec::with_capacity(body.len() + 2);
    out.push(0x30);
    out.push(body.len() as u8);
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_conversion_strips_zeros_and_pads_high_bits() {
        let mut r = [0u8; 48];
        r[47] = 5;
        let mut s = [0u8; 48];
        s[0] = 0x80;
        let der = fixed_to_der(&r, &s);
        assert_eq!(&der[..5], &[0x30, 3 + 51, 0x02, 0x01, 0x05]);
        assert_eq!(&der[5..8], &[0x02, 49, 0x00]);
        assert_eq!(der.len(), 2 + 3 + 51);
    }

    #[test]
    fn kid_is_first_eight_bytes_of_sha256() {
        // SHA-256("abc") = ba7816bf 8f01cfea ...
        assert_eq!(
            kid_of(b"abc"),
            [0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea]
        );
    }
}
