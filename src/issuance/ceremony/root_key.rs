//! The passphrase-encrypted root key: Argon2id over the passphrase, AES-256-GCM over the PKCS#8
//! key, in a PEM block of its own.

use super::*;

/// The first line of the passphrase file; at least 12 characters.
pub fn read_passphrase(path: &Path) -> Result<String, CeremonyError> {
    let text = read(path, "--passphrase-file")?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if line.chars().count() < MIN_PASSPHRASE {
        return Err(input(
            "--passphrase-file",
            format!("the passphrase must be at least {MIN_PASSPHRASE} characters"),
        ));
    }
    Ok(line.to_string())
}

pub(super) fn kdf(
    passphrase: &str,
    salt: &[u8],
    m: u32,
    t: u32,
    p: u32,
) -> Result<[u8; 32], CeremonyError> {
    let params = argon2::Params::new(m, t, p, Some(32))
        .map_err(|e| CeremonyError::Generate(format!("argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon
        .hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .map_err(|e| CeremonyError::Generate(format!("argon2: {e}")))?;
    Ok(key)
}

/// PKCS#8 DER -> PEM `CROSSCERT ENCRYPTED PRIVATE KEY`: version 1 | argon2id m, t, p (u32 BE)
/// | salt 16 | nonce 12 | AES-256-GCM(ciphertext || tag), the header bytes authenticated.
pub fn encrypt_key(pkcs8: &[u8], passphrase: &str) -> Result<String, CeremonyError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    rng.fill(&mut salt)
        .and_then(|()| rng.fill(&mut nonce))
        .map_err(|_| CeremonyError::Generate("no randomness".into()))?;
    let mut header = vec![1u8];
    for v in [KDF_MEMORY_KIB, KDF_ITERATIONS, KDF_LANES] {
        header.extend_from_slice(&v.to_be_bytes());
    }
    header.extend_from_slice(&salt);
    header.extend_from_slice(&nonce);
    let key = kdf(passphrase, &salt, KDF_MEMORY_KIB, KDF_ITERATIONS, KDF_LANES)?;
    let sealing = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, &key)
            .map_err(|_| CeremonyError::Generate("AES key".into()))?,
    );
    let mut data = pkcs8.to_vec();
    sealing
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(&header),
            &mut data,
        )
        .map_err(|_| CeremonyError::Generate("encryption failed".into()))?;
    header.extend_from_slice(&data);
    Ok(::pem::encode(&::pem::Pem::new(ENCRYPTED_TAG, header)))
}

/// The inverse of [`encrypt_key`]; a wrong passphrase is told apart from a damaged file only
/// as far as AES-GCM can: both fail authentication.
pub fn decrypt_key(
    pem_text: &str,
    passphrase: &str,
    path: &Path,
) -> Result<Vec<u8>, CeremonyError> {
    let bad = |reason: &str| CeremonyError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    let block = ::pem::parse(pem_text).map_err(|_| bad("not PEM"))?;
    if block.tag() != ENCRYPTED_TAG {
        return Err(bad("not a crosscert encrypted private key"));
    }
    let bytes = block.contents();
    const HEADER: usize = 1 + 12 + 16 + 12;
    if bytes.len() < HEADER + 16 || bytes[0] != 1 {
        return Err(bad("unknown or truncated encrypted key format"));
    }
    let u32_at =
        |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let (m, t, p) = (u32_at(1), u32_at(5), u32_at(9));
    let salt = &bytes[13..29];
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&bytes[29..41]);
    let key = kdf(passphrase, salt, m, t, p)?;
    let opening = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, &key).map_err(|_| bad("AES key"))?,
    );
    let mut data = bytes[HEADER..].to_vec();
    let plain = opening
        .open_in_place(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(&bytes[..HEADER]),
            &mut data,
        )
        .map_err(|_| {
            input(
                "--passphrase-file",
                format!("the passphrase does not open {}", path.display()),
            )
        })?;
    Ok(plain.to_vec())
}
