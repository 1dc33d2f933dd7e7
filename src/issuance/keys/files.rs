//! Reading the key folder's files: certificates (PEM or DER), private keys (PKCS#8 or SEC1),
//! and the checks that tie them together (signed by, is a CA, key matches certificate).

use super::*;

pub(in crate::issuance) fn show(path: &Path) -> String {
    path.display().to_string()
}

pub(super) fn read_text(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|e| KeyError::Read {
        path: show(path),
        reason: e.to_string(),
    })
}

pub(super) fn to_utc(t: &x509_parser::time::ASN1Time) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp(), 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Reads and parses a PEM certificate file. The parsed certificate borrows `der`, so the
/// caller gets the owned parts and re-parses where it needs the structure.
pub(in crate::issuance) fn load_cert(path: &Path) -> Result<CertFile, KeyError> {
    let pem = read_text(path)?;
    let cert_err = |reason: String| KeyError::Certificate {
        path: show(path),
        reason,
    };
    let der = crate::verification::trust::certificate_der_from_pem(&pem).map_err(cert_err)?;
    let (rest, cert) = X509Certificate::from_der(&der)
        .map_err(|e| cert_err(format!("not an X.509 certificate: {e}")))?;
    if !rest.is_empty() {
        return Err(cert_err("trailing bytes after the certificate".into()));
    }
    let subject = cert.subject().to_string();
    let not_before = to_utc(&cert.validity().not_before);
    let not_after = to_utc(&cert.validity().not_after);
    Ok(CertFile {
        path: path.to_path_buf(),
        der,
        pem,
        subject,
        not_before,
        not_after,
    })
}

pub(in crate::issuance) fn parse(cert: &CertFile) -> Result<X509Certificate<'_>, KeyError> {
    X509Certificate::from_der(&cert.der)
        .map(|(_, c)| c)
        .map_err(|e| KeyError::Certificate {
            path: show(&cert.path),
            reason: format!("not an X.509 certificate: {e}"),
        })
}

pub(in crate::issuance) fn require_signed_by(
    cert: &CertFile,
    issuer: &CertFile,
    issuer_role: &str,
) -> Result<(), KeyError> {
    let c = parse(cert)?;
    let i = parse(issuer)?;
    c.verify_signature(Some(i.public_key()))
        .map_err(|_| KeyError::Certificate {
            path: show(&cert.path),
            reason: format!(
                "not signed by the {issuer_role} {} (wrong chain)",
                show(&issuer.path)
            ),
        })
}

pub(super) fn require_ca(cert: &CertFile, role: &str) -> Result<(), KeyError> {
    let c = parse(cert)?;
    let err = |reason: String| KeyError::Certificate {
        path: show(&cert.path),
        reason,
    };
    if !c.is_ca() {
        return Err(err(format!("the {role} is not a CA certificate")));
    }
    if let Ok(Some(ku)) = c.key_usage() {
        if !ku.value.key_cert_sign() {
            return Err(err(format!("the {role}'s key usage lacks keyCertSign")));
        }
    }
    Ok(())
}

/// The P-256 key pair in the PEM file `key_path`, which must be the key of `public_key` (the
/// certificate at `cert_path`).
pub(in crate::issuance) fn p256_file_key(
    key_path: &Path,
    public_key: &[u8],
    cert_path: &Path,
) -> Result<EcdsaKeyPair, KeyError> {
    let pkcs8 = private_key_pkcs8(key_path)?;
    let kp = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &pkcs8,
        &SystemRandom::new(),
    )
    .map_err(|e| KeyError::PrivateKey {
        path: show(key_path),
        reason: format!("not a P-256 PKCS#8 key ({e})"),
    })?;
    if kp.public_key().as_ref() != public_key {
        return Err(KeyError::KeyMismatch {
            path: show(key_path),
            certificate: show(cert_path),
        });
    }
    Ok(kp)
}

/// PEM private key -> PKCS#8 DER. `EC PRIVATE KEY` (SEC 1, as `openssl ecparam -genkey`
/// writes it) is wrapped into PKCS#8 because ring reads nothing else.
pub(in crate::issuance) fn private_key_pkcs8(path: &Path) -> Result<Vec<u8>, KeyError> {
    let text = read_text(path)?;
    let err = |reason: &str| KeyError::PrivateKey {
        path: show(path),
        reason: reason.to_owned(),
    };
    // OpenSSL may put an `EC PARAMETERS` block first; take the key block.
    let blocks = ::pem::parse_many(&text).map_err(|_| err("not PEM"))?;
    let block = blocks
        .into_iter()
        .find(|b| b.tag() == "PRIVATE KEY" || b.tag() == "EC PRIVATE KEY")
        .ok_or_else(|| err("no PRIVATE KEY or EC PRIVATE KEY block"))?;
    if block.tag() == "PRIVATE KEY" {
        Ok(block.into_contents())
    } else {
        Ok(sec1_p256_to_pkcs8(block.contents()))
    }
}

/// PKCS#8 `PrivateKeyInfo { version 0, AlgorithmIdentifier { id-ecPublicKey, prime256v1 },
/// OCTET STRING { ECPrivateKey } }` around a SEC 1 key. ring then checks that the curve
/// inside (if named) agrees and that the embedded public key matches the private scalar.
pub(super) fn sec1_p256_to_pkcs8(sec1: &[u8]) -> Vec<u8> {
    const VERSION_AND_ALG: &[u8] = &[
        0x02, 0x01, 0x00, // INTEGER 0
        0x30, 0x13, // AlgorithmIdentifier
        0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // id-ecPublicKey
        0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, // prime256v1
    ];
    let mut body = VERSION_AND_ALG.to_vec();
    der_tlv(&mut body, 0x04, sec1);
    let mut out = Vec::with_capacity(body.len() + 4);
    der_tlv(&mut out, 0x30, &body);
    out
}

pub(super) fn der_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
}

/// Checks that the key file (any algorithm rcgen reads) holds the certificate's key pair.
pub(super) fn require_matching_key(key_path: &Path, cert: &CertFile) -> Result<(), KeyError> {
    let text = read_text(key_path)?;
    let key = rcgen::KeyPair::from_pem(&text)
        .or_else(|_| {
            // An `EC PRIVATE KEY` file: rcgen wants PKCS#8.
            let der =
                private_key_pkcs8(key_path).map_err(|_| rcgen::Error::CouldNotParseKeyPair)?;
            let pem = ::pem::encode(&::pem::Pem::new("PRIVATE KEY", der));
            rcgen::KeyPair::from_pem(&pem)
        })
        .map_err(|e| KeyError::PrivateKey {
            path: show(key_path),
            reason: e.to_string(),
        })?;
    let c = parse(cert)?;
    if key.public_key_raw() != c.public_key().subject_public_key.data.as_ref() {
        return Err(KeyError::KeyMismatch {
            path: show(key_path),
            certificate: show(&cert.path),
        });
    }
    Ok(())
}
