//! `keys new-signer`: a signer key made inside the token, and its CSR.

use super::*;

/// A token key as rcgen's signer for the CSR (proof of possession): the token signs the
/// SHA-256 digest, rcgen wants the ECDSA signature DER-encoded.
pub(super) struct TokenCsrKey<'a> {
    token: &'a Token,
    label: &'a str,
    point: Vec<u8>,
}

impl PublicKeyData for TokenCsrKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for TokenCsrKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let digest = ring::digest::digest(&ring::digest::SHA256, msg);
        let mut d = [0u8; 32];
        d.copy_from_slice(digest.as_ref());
        let rs = self
            .token
            .sign_digest(self.label, &d)
            .map_err(|_| rcgen::Error::RemoteKeyError)?;
        Ok(ecdsa_der(&rs))
    }
}

/// r||s (2 x 32 bytes) -> ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }.
pub(super) fn ecdsa_der(rs: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let mut v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
        if v.first().is_none_or(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let (r, s) = rs.split_at(rs.len() / 2);
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

pub(super) fn check_label(label: &str) -> Result<(), CeremonyError> {
    let ok = !label.is_empty()
        && label.len() <= 64
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(input(
            "--label",
            format!("{label:?}: 1 to 64 characters from A-Z a-z 0-9 - _ ."),
        ))
    }
}

/// `keys new-signer`: a P-256 key pair generated inside the configured token under `label`
/// (never extractable), and a CSR signed by it carrying the signing period.
pub fn new_signer(
    pkcs11: Option<&Pkcs11Settings>,
    label: &str,
    period: SigningPeriod,
    csr_out: &Path,
    now: DateTime<Utc>,
) -> Result<CeremonyRecord, CeremonyError> {
    check_label(label)?;
    let settings = pkcs11.ok_or_else(|| {
        input(
            "CROSSCERT_PKCS11_MODULE",
            "new-signer makes the key inside a token: set CROSSCERT_PKCS11_MODULE, CROSSCERT_PKCS11_TOKEN and CROSSCERT_PKCS11_PIN_FILE",
        )
    })?;
    if csr_out.exists() {
        return Err(input(
            "--csr-out",
            format!("{} exists already", csr_out.display()),
        ));
    }
    if period.until <= now {
        return Err(input("--not-after", "the signing period is already over"));
    }
    let token = Token::open(&Pkcs11Settings {
        sessions: 1,
        ..settings.clone()
    })?;
    let point = token.generate_p256(label)?;
    let attrs = token.key_attributes(label)?;
    let key = TokenCsrKey {
        token: &token,
        label,
        point,
    };
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen)?;
    params.distinguished_name = name(label, Some("issuing signer"));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.custom_extensions = vec![period.extension()];
    let csr = params.serialize_request(&key).map_err(gen)?;
    let pem = csr.pem().map_err(gen)?;
    write_new(csr_out, &pem, false)?;
    let dir = csr_out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    record(
        dir,
        now,
        "SignerKeyGenerated",
        format!("signer {label}"),
        vec![
            ("token", token.label().to_string()),
            ("key_label", label.to_string()),
            (
                "key_attributes",
                format!(
                    "sensitive={} extractable={} never_extractable={} local={}",
                    attrs.sensitive, attrs.extractable, attrs.never_extractable, attrs.local
                ),
            ),
            ("public_key_sha256", sha256_hex(&key.point)),
            (
                "signing_period",
                format!(
                    "{} .. {}",
                    period.from.to_rfc3339(),
                    period.until.to_rfc3339()
                ),
            ),
            ("csr", csr_out.display().to_string()),
        ],
    )
}
