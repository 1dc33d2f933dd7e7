//! Checking a PAdES-signed licence PDF without a key: the CMS SignedData (RFC 5652) in its
//! signature dictionary, the `ByteRange` coverage, the signer against the trust list, and the
//! COSE seal attached as `seal.cose`. Used by `crosscert verify --pdf` and, on the issuing
//! side, to verify each signature right after it is made.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::OctetString;
use der::oid::ObjectIdentifier;
use der::{Decode, Encode, SliceReader};
use lopdf::Object;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use x509_cert::Certificate;

use super::cert::kid_of;
use super::trust::{TrustStore, VerifiedSeal};
use super::Kid;

pub const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
pub const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
pub const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
pub const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
pub const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
/// id-aa-signingCertificateV2 (RFC 5035), required by CAdES/PAdES baseline B-B.
pub const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const ID_ECDSA_WITH_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// Why a CMS signature does not verify. Closed; `as_str` names each for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CmsError {
    #[error("the signature is not a DER CMS SignedData")]
    Malformed,
    #[error("the CMS has not exactly one signer")]
    SignerCount,
    #[error("the algorithms are not SHA-256 with ECDSA")]
    Algorithm,
    #[error(
        "the signed attributes lack content-type data, message-digest or signing-certificate-v2"
    )]
    Attributes,
    #[error("the signed content's digest differs from the message-digest attribute")]
    DigestMismatch,
    #[error("the signer's certificate is not in the CMS or differs from signing-certificate-v2")]
    SignerCertificate,
    #[error("the ECDSA signature over the signed attributes does not verify")]
    BadSignature,
}

impl CmsError {
    pub fn as_str(self) -> &'static str {
        match self {
            CmsError::Malformed => "malformed",
            CmsError::SignerCount => "signer_count",
            CmsError::Algorithm => "algorithm",
            CmsError::Attributes => "attributes",
            CmsError::DigestMismatch => "digest_mismatch",
            CmsError::SignerCertificate => "signer_certificate",
            CmsError::BadSignature => "bad_signature",
        }
    }
}

/// A CMS signature that verifies with its own embedded certificate.
#[derive(Debug, Clone)]
pub struct CmsSigner {
    pub certificate_der: Vec<u8>,
    /// DER of the signed attributes as signed (a SET).
    pub signed_attributes: Vec<u8>,
    /// DER ECDSA-Sig-Value.
    pub signature: Vec<u8>,
}

fn attribute_value(
    attrs: &cms::signed_data::SignedAttributes,
    oid: ObjectIdentifier,
) -> Option<&der::Any> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let attr = found.next()?;
    // One attribute of each kind, with one value (RFC 5652 §11).
    if found.next().is_some() || attr.values.len() != 1 {
        return None;
    }
    attr.values.get(0)
}

/// Decodes `cms` (trailing zero padding allowed) and checks it signs `content_digest`
/// (SHA-256 of the signed bytes) with the certificate it carries.
pub fn check_cms(cms: &[u8], content_digest: &[u8; 32]) -> Result<CmsSigner, CmsError> {
    let mut reader = SliceReader::new(cms).map_err(|_| CmsError::Malformed)?;
    let info = ContentInfo::decode(&mut reader).map_err(|_| CmsError::Malformed)?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(CmsError::Malformed);
    }
    let inner = info.content.to_der().map_err(|_| CmsError::Malformed)?;
    let sd = SignedData::from_der(&inner).map_err(|_| CmsError::Malformed)?;
    if sd.encap_content_info.econtent.is_some() || sd.encap_content_info.econtent_type != ID_DATA {
        return Err(CmsError::Malformed);
    }
    let mut infos = sd.signer_infos.0.iter();
    let (Some(si), None) = (infos.next(), infos.next()) else {
        return Err(CmsError::SignerCount);
    };
    if si.digest_alg.oid != ID_SHA256 || si.signature_algorithm.oid != ID_ECDSA_WITH_SHA256 {
        return Err(CmsError::Algorithm);
    }
    let attrs = si.signed_attrs.as_ref().ok_or(CmsError::Attributes)?;
    let content_type = attribute_value(attrs, ID_CONTENT_TYPE)
        .and_then(|v| v.decode_as::<ObjectIdentifier>().ok())
        .ok_or(CmsError::Attributes)?;
    if content_type != ID_DATA {
        return Err(CmsError::Attributes);
    }
    let digest = attribute_value(attrs, ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or(CmsError::Attributes)?;
    if digest.as_bytes() != content_digest {
        return Err(CmsError::DigestMismatch);
    }
    let signing_cert = attribute_value(attrs, ID_SIGNING_CERTIFICATE_V2)
        .and_then(|v| v.to_der().ok())
        .ok_or(CmsError::Attributes)?;

    let SignerIdentifier::IssuerAndSerialNumber(sid) = &si.sid else {
        return Err(CmsError::SignerCertificate);
    };
    let cert = sd
        .certificates
        .as_ref()
        .and_then(|set| {
            set.0.iter().find_map(|c| match c {
                CertificateChoices::Certificate(c)
                    if c.tbs_certificate.issuer == sid.issuer
                        && c.tbs_certificate.serial_number == sid.serial_number =>
                {
                    Some(c)
                }
                _ => None,
            })
        })
        .ok_or(CmsError::SignerCertificate)?;
    let cert_der = cert.to_der().map_err(|_| CmsError::SignerCertificate)?;
    if signing_cert != signing_certificate_v2(&cert_der) {
        return Err(CmsError::SignerCertificate);
    }

    let signed_attributes = attrs.to_der().map_err(|_| CmsError::Malformed)?;
    let signature = si.signature.as_bytes().to_vec();
    let key = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key)
        .verify(&signed_attributes, &signature)
        .map_err(|_| CmsError::BadSignature)?;
    Ok(CmsSigner {
        certificate_der: cert_der,
        signed_attributes,
        signature,
    })
}

/// The DER of `SigningCertificateV2 { certs { ESSCertIDv2 { certHash } } }` (RFC 5035; the
/// hash algorithm is the default SHA-256, so DER leaves it out; no issuerSerial).
pub fn signing_certificate_v2(cert_der: &[u8]) -> Vec<u8> {
    let hash = ring::digest::digest(&ring::digest::SHA256, cert_der);
    let mut out = vec![0x30, 0x26, 0x30, 0x24, 0x30, 0x22, 0x04, 0x20];
    out.extend_from_slice(hash.as_ref());
    out
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` -> r||s of `n` bytes each.
fn der_to_fixed(sig: &[u8], n: usize) -> Option<Vec<u8>> {
    #[derive(der::Sequence)]
    struct EcdsaSig<'a> {
        r: der::asn1::UintRef<'a>,
        s: der::asn1::UintRef<'a>,
    }
    let parsed = EcdsaSig::from_der(sig).ok()?;
    let mut out = vec![0u8; 2 * n];
    for (i, v) in [parsed.r.as_bytes(), parsed.s.as_bytes()]
        .iter()
        .enumerate()
    {
        if v.len() > n {
            return None;
        }
        out[(i + 1) * n - v.len()..(i + 1) * n].copy_from_slice(v);
    }
    Some(out)
}

/// What `crosscert verify --pdf` found in a file.
#[derive(Debug, Clone)]
pub struct PdfReport {
    /// `Some` once a signature dictionary was found.
    pub signature: Option<SignatureReport>,
    /// Why no signature could be checked, when none could.
    pub signature_problem: Option<String>,
    /// The attached seal, when present: its envelope checked against the trust list.
    pub seal: Option<Result<VerifiedSeal, String>>,
    /// The attached seal's bytes.
    pub seal_bytes: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct SignatureReport {
    pub sub_filter: String,
    /// The `ByteRange` covers the whole file but the `/Contents` string.
    pub covers_whole_file: bool,
    pub signing_time: Option<String>,
    pub cms: Result<CmsSigner, CmsError>,
    /// The signer certificate's kid, and whether the trust list holds (and the trusted key
    /// verifies) it.
    pub signer_kid: Option<Kid>,
    pub signer_trusted: bool,
    pub signer_subject: Option<String>,
}

impl PdfReport {
    /// The signature verifies, covers the whole file and comes from a trusted signer.
    pub fn signature_valid(&self) -> bool {
        self.signature
            .as_ref()
            .is_some_and(|s| s.covers_whole_file && s.cms.is_ok() && s.signer_trusted)
    }

    /// The attached seal is genuine and from the same signer as the PDF signature.
    pub fn seal_matches_signer(&self) -> bool {
        match (
            &self.seal,
            self.signature.as_ref().and_then(|s| s.signer_kid),
        ) {
            (Some(Ok(seal)), Some(kid)) => seal.kid == kid,
            _ => false,
        }
    }
}

fn deref<'a>(doc: &'a lopdf::Document, o: &'a Object) -> Option<&'a Object> {
    match o {
        Object::Reference(id) => doc.get_object(*id).ok(),
        other => Some(other),
    }
}

/// The signature dictionary of the document's (first) signature field.
fn signature_dict(doc: &lopdf::Document) -> Option<&lopdf::Dictionary> {
    let catalog = doc.catalog().ok()?;
    let form = deref(doc, catalog.get(b"AcroForm").ok()?)?.as_dict().ok()?;
    let fields = deref(doc, form.get(b"Fields").ok()?)?.as_array().ok()?;
    fields.iter().find_map(|f| {
        let field = deref(doc, f)?.as_dict().ok()?;
        if field.get(b"FT").and_then(Object::as_name).ok()? != b"Sig" {
            return None;
        }
        deref(doc, field.get(b"V").ok()?)?.as_dict().ok()
    })
}

/// Checks a PDF's signature and attached seal against the trust store.
pub fn verify_pdf(bytes: &[u8], store: &TrustStore) -> PdfReport {
    let mut report = PdfReport {
        signature: None,
        signature_problem: None,
        seal: None,
        seal_bytes: None,
    };
    let doc = match lopdf::Document::load_mem(bytes) {
        Ok(d) => d,
        Err(e) => {
            report.signature_problem = Some(format!("not a readable PDF: {e}"));
            return report;
        }
    };
    if let Some((_, _, seal)) = crate::render::pdfa::embedded_files(&doc)
        .into_iter()
        .find(|(name, rel, _)| name == "seal.cose" && rel == "Source")
    {
        report.seal = Some(store.verify_cose(&seal).map_err(|e| e.to_string()));
        report.seal_bytes = Some(seal);
    }
    match signature_dict(&doc) {
        Some(sig) => match check_signature(bytes, sig, store) {
            Ok(s) => report.signature = Some(s),
            Err(problem) => report.signature_problem = Some(problem),
        },
        None => report.signature_problem = Some("the document has no signature field".into()),
    }
    report
}

fn check_signature(
    bytes: &[u8],
    sig: &lopdf::Dictionary,
    store: &TrustStore,
) -> Result<SignatureReport, String> {
    let text = |key: &[u8]| {
        sig.get(key)
            .ok()
            .and_then(|o| o.as_str().ok())
            .map(crate::render::pdfa::decode_text)
    };
    let sub_filter = sig
        .get(b"SubFilter")
        .and_then(Object::as_name)
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    let range: Vec<usize> = sig
        .get(b"ByteRange")
        .and_then(Object::as_array)
        .map_err(|_| "the signature has no ByteRange".to_string())?
        .iter()
        .map(|o| o.as_i64().ok().and_then(|v| usize::try_from(v).ok()))
        .collect::<Option<_>>()
        .ok_or("the ByteRange holds a value that is not an offset")?;
    let [start, len1, start2, len2] = range[..] else {
        return Err("the ByteRange is not two ranges".into());
    };
    let (end1, end2) = (start.saturating_add(len1), start2.saturating_add(len2));
    if start != 0 || end1 > start2 || end2 > bytes.len() {
        return Err("the ByteRange lies outside the file".into());
    }
    let contents = sig
        .get(b"Contents")
        .and_then(Object::as_str)
        .map_err(|_| "the signature has no Contents".to_string())?;
    // The gap is exactly the hex string `<...>` of /Contents; the second range runs to the end.
    let covers_whole_file = end2 == bytes.len()
        && bytes.get(end1) == Some(&b'<')
        && bytes.get(start2.wrapping_sub(1)) == Some(&b'>')
        && start2 - end1 == 2 + 2 * contents.len();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&bytes[..end1]);
    ctx.update(&bytes[start2..end2]);
    let mut digest = [0u8; 32];
    digest.copy_from_slice(ctx.finish().as_ref());
    let cms = check_cms(contents, &digest);
    let (mut signer_kid, mut signer_trusted, mut signer_subject) = (None, false, None);
    if let Ok(c) = &cms {
        let kid = kid_of(&c.certificate_der);
        signer_kid = Some(kid);
        signer_subject = Certificate::from_der(&c.certificate_der)
            .ok()
            .map(|cert| cert.tbs_certificate.subject.to_string());
        signer_trusted = der_to_fixed(&c.signature, 32).is_some_and(|fixed| {
            store
                .signers()
                .iter()
                .filter(|s| s.key.kid() == kid)
                .any(|s| s.key.verify(&c.signed_attributes, &fixed))
        });
    }
    Ok(SignatureReport {
        sub_filter,
        covers_whole_file,
        signing_time: text(b"M"),
        cms,
        signer_kid,
        signer_trusted,
        signer_subject,
    })
}
