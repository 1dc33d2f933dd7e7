//! The PAdES signature's CMS SignedData (RFC 5652, CAdES baseline B-B attributes), signed by
//! the licence signer in whichever custody it is kept (a key file, or the PKCS#11 token: the
//! token signs the SHA-256 of the signed attributes). Detached: the PDF's byte ranges are
//! the content, given here as their SHA-256.
//!
//! Signed attributes: content-type (id-data), message-digest and signing-certificate-v2; no
//! signing-time attribute (PAdES B-B takes the time from the signature dictionary's `/M`).
//! The certificates are the signer's and the root's, so a reader can build the chain.

use chrono::{DateTime, Utc};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use ring::rand::SystemRandom;
use x509_cert::attr::Attribute;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use super::keys::Signer;
use super::seal::{SealError, Sealer};
use crate::verification::cert::fixed_to_der;
use crate::verification::pades::{
    check_cms, signing_certificate_v2, ID_CONTENT_TYPE, ID_DATA, ID_ECDSA_WITH_SHA256,
    ID_MESSAGE_DIGEST, ID_SHA256, ID_SIGNED_DATA, ID_SIGNING_CERTIFICATE_V2,
};

/// The signer of electronic licence files at one moment: the active licence signer.
pub struct PdfSigner<'a> {
    signer: &'a Signer,
    root_der: &'a [u8],
    rng: SystemRandom,
}

impl Sealer {
    /// The signer for PDF signatures at `now`: the same signer that seals new licences.
    pub fn pdf_signer(&self, now: DateTime<Utc>) -> Result<PdfSigner<'_>, SealError> {
        let keys = self.keys();
        Ok(PdfSigner {
            signer: keys.active_signer(now)?,
            root_der: &keys.root().der,
            rng: SystemRandom::new(),
        })
    }
}

fn encoding<T>(_: T) -> SealError {
    SealError::Encoding
}

fn attribute(oid: der::oid::ObjectIdentifier, value: Any) -> Result<Attribute, SealError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(encoding)?,
    })
}

fn algorithm(oid: der::oid::ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: None,
    }
}

impl PdfSigner<'_> {
    /// The signer's name (the key set's), shown by PDF readers.
    pub fn name(&self) -> &str {
        &self.signer.name
    }

    /// The largest CMS [`PdfSigner::sign_digest`] can return: the same structure around a
    /// signature of the largest DER length (72 bytes for P-256: both integers 33 bytes).
    /// Only the signature's length varies between two signatures, so this bounds every
    /// one; the PDF reserves its `/Contents` from it. No key is used.
    pub fn max_cms_len(&self) -> Result<usize, SealError> {
        let widest = fixed_to_der(&[0xff; 32], &[0xff; 32]);
        Ok(self.signed_data(&[0; 32], widest)?.len())
    }

    /// DER ContentInfo(SignedData) over the content whose SHA-256 is `content_digest`,
    /// verified with the signer's certificate before it is returned.
    pub fn sign_digest(&self, content_digest: &[u8; 32]) -> Result<Vec<u8>, SealError> {
        let key = self
            .signer
            .signing_key()
            .ok_or_else(|| SealError::NoSignerInPeriod {
                reason: format!("signer {} has no private key", self.signer.name),
            })?;
        let to_sign = self
            .signed_attributes(content_digest)?
            .to_der()
            .map_err(encoding)?;
        let fixed = key.sign_es256(&self.rng, &to_sign)?;
        if fixed.len() != 64 {
            return Err(SealError::Crypto);
        }
        let signature = fixed_to_der(&fixed[..32], &fixed[32..]);
        let bytes = self.signed_data(content_digest, signature)?;
        // Verify what you signed (DESIGN §4), with the certificate the CMS names.
        let checked = check_cms(&bytes, content_digest).map_err(|_| SealError::VerifyAfterSign)?;
        if checked.certificate_der != self.signer.certificate.der {
            return Err(SealError::VerifyAfterSign);
        }
        Ok(bytes)
    }

    /// The signed attributes: content type, message digest, signing certificate.
    fn signed_attributes(
        &self,
        content_digest: &[u8; 32],
    ) -> Result<SetOfVec<Attribute>, SealError> {
        let cert_der = &self.signer.certificate.der;
        SetOfVec::try_from(vec![
            attribute(
                ID_CONTENT_TYPE,
                Any::encode_from(&ID_DATA).map_err(encoding)?,
            )?,
            attribute(
                ID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(content_digest.to_vec()).map_err(encoding)?)
                    .map_err(encoding)?,
            )?,
            attribute(
                ID_SIGNING_CERTIFICATE_V2,
                Any::from_der(&signing_certificate_v2(cert_der)).map_err(encoding)?,
            )?,
        ])
        .map_err(encoding)
    }

    /// The DER ContentInfo(SignedData) carrying `signature` (DER ECDSA) over the signed
    /// attributes of `content_digest`, with the signer's and the root's certificates.
    fn signed_data(
        &self,
        content_digest: &[u8; 32],
        signature: Vec<u8>,
    ) -> Result<Vec<u8>, SealError> {
        let cert_der = &self.signer.certificate.der;
        let cert = Certificate::from_der(cert_der).map_err(encoding)?;
        let root = Certificate::from_der(self.root_der).map_err(encoding)?;

        let signed_attrs = self.signed_attributes(content_digest)?;

        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: cert.tbs_certificate.issuer.clone(),
                serial_number: cert.tbs_certificate.serial_number.clone(),
            }),
            digest_alg: algorithm(ID_SHA256),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: algorithm(ID_ECDSA_WITH_SHA256),
            signature: OctetString::new(signature).map_err(encoding)?,
            unsigned_attrs: None,
        };
        let signed_data = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![algorithm(ID_SHA256)]).map_err(encoding)?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_DATA,
                econtent: None,
            },
            certificates: Some(CertificateSet(
                SetOfVec::try_from(vec![
                    CertificateChoices::Certificate(cert),
                    CertificateChoices::Certificate(root),
                ])
                .map_err(encoding)?,
            )),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).map_err(encoding)?),
        };
        let info = ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data).map_err(encoding)?,
        };
        info.to_der().map_err(encoding)
    }
}
