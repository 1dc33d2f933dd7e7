//! Loading a key set: the manifest, every file it names, and every rule a running service
//! relies on (see `KeySet::load`).

use super::*;

impl KeySet {
    /// Loads `dir/keys.toml` and every file it names, checking: the root is a CA and signs
    /// itself; every signer chains to the root, has key usage digitalSignature, an ECDSA
    /// P-256 key (P-384 only for verify-only signers), a private key matching its certificate,
    /// and a certificate valid over its whole signing period; hall clients chain to the hall
    /// CA; the server certificate chains to the hall CA or the root; every private key
    /// matches its certificate.
    pub fn load(dir: &Path) -> Result<KeySet, KeyError> {
        KeySet::load_with(dir, KeyAccess::Open { pkcs11: None })
    }

    /// [`KeySet::load`], with token keys opened through `access` (or no key opened at all).
    pub fn load_with(dir: &Path, access: KeyAccess<'_>) -> Result<KeySet, KeyError> {
        let mut tokens = Tokens {
            settings: match access {
                KeyAccess::Open { pkcs11 } => pkcs11,
                KeyAccess::PublicOnly => None,
            },
            token: None,
        };
        let open_keys = matches!(access, KeyAccess::Open { .. });
        let manifest_path = dir.join(MANIFEST);
        let text = read_text(&manifest_path)?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| KeyError::Manifest {
            path: show(&manifest_path),
            reason: e.to_string(),
        })?;

        let root = load_cert(&dir.join(&manifest.root))?;
        require_ca(&root, "root")?;
        require_signed_by(&root, &root, "root itself")?;

        let mut signers: Vec<Signer> = Vec::with_capacity(manifest.signers.len());
        for entry in manifest.signers {
            let signer = load_signer(dir, entry, &root, open_keys, &mut tokens)?;
            if let Some(other) = signers
                .iter()
                .find(|s| s.name == signer.name || s.certificate.der == signer.certificate.der)
            {
                return Err(KeyError::Signer {
                    name: signer.name,
                    reason: format!("duplicates signer {} (name or certificate)", other.name),
                });
            }
            signers.push(signer);
        }

        let hall_ca = match &manifest.hall_ca {
            Some(entry) => {
                let ca = load_cert(&dir.join(&entry.certificate))?;
                require_ca(&ca, "hall CA")?;
                // Either its own root or issued by the seal root.
                if require_signed_by(&ca, &ca, "hall CA itself").is_err() {
                    require_signed_by(&ca, &root, "root")?;
                }
                if let Some(key) = &entry.private_key {
                    require_matching_key(&dir.join(key), &ca)?;
                }
                Some(ca)
            }
            None => None,
        };

        let mut hall_clients = Vec::with_capacity(manifest.hall_clients.len());
        for entry in manifest.hall_clients {
            let cert_path = dir.join(&entry.certificate);
            let Some(ca) = &hall_ca else {
                return Err(KeyError::Manifest {
                    path: show(&manifest_path),
                    reason: format!(
                        "hall client {} needs a [hall_ca] to chain to",
                        show(&cert_path)
                    ),
                });
            };
            let certificate = load_cert(&cert_path)?;
            require_signed_by(&certificate, ca, "hall CA")?;
            let c = parse(&certificate)?;
            let names_hall = c
                .subject()
                .iter_common_name()
                .any(|cn| cn.as_str().is_ok_and(|s| s.contains(entry.hall.as_str())));
            if !names_hall {
                return Err(KeyError::Certificate {
                    path: show(&cert_path),
                    reason: format!("the subject CN does not name hall {}", entry.hall),
                });
            }
            let private_key = entry.private_key.map(|k| dir.join(k));
            if let Some(key) = &private_key {
                require_matching_key(key, &certificate)?;
            }
            hall_clients.push(HallClient {
                hall: entry.hall,
                certificate,
                private_key,
            });
        }

        let server = match manifest.server {
            Some(entry) => {
                let certificate = load_cert(&dir.join(&entry.certificate))?;
                let by_hall_ca = hall_ca
                    .as_ref()
                    .is_some_and(|ca| require_signed_by(&certificate, ca, "hall CA").is_ok());
                if !by_hall_ca {
                    require_signed_by(&certificate, &root, "root or the hall CA")?;
                }
                let private_key = entry.private_key.map(|k| dir.join(k));
                if let Some(key) = &private_key {
                    require_matching_key(key, &certificate)?;
                }
                Some(ServerIdentity {
                    certificate,
                    private_key,
                })
            }
            None => None,
        };

        let list_signer = match &manifest.list_signer {
            Some(entry) => Some(crate::issuance::list_signer::ListSigner::load(
                dir, entry, &root,
            )?),
            None => None,
        };

        Ok(KeySet {
            dir: dir.to_path_buf(),
            example: manifest.example,
            root,
            signers,
            hall_ca,
            hall_clients,
            server,
            list_signer,
        })
    }

    /// The key that signs the trust list and the status lists, if the set has one.
    pub fn list_signer(&self) -> Option<&crate::issuance::list_signer::ListSigner> {
        self.list_signer.as_ref()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An example set (`example = true`): the service logs a warning when it runs on one.
    pub fn is_example(&self) -> bool {
        self.example
    }

    pub fn signers(&self) -> &[Signer] {
        &self.signers
    }

    pub fn root(&self) -> &CertFile {
        &self.root
    }

    pub fn root_pem(&self) -> &str {
        &self.root.pem
    }

    pub fn hall_ca(&self) -> Option<&CertFile> {
        self.hall_ca.as_ref()
    }

    pub fn hall_clients(&self) -> &[HallClient] {
        &self.hall_clients
    }

    pub fn server(&self) -> Option<&ServerIdentity> {
        self.server.as_ref()
    }

    /// The signer for new seals at `now`: status active, a private key, `now` inside its
    /// signing period and inside its certificate's validity; of several, the latest
    /// `sign_from` (the newest key takes over as soon as its period starts).
    pub fn active_signer(&self, now: DateTime<Utc>) -> Result<&Signer, SealError> {
        self.signers
            .iter()
            .filter(|s| {
                s.status == SignerStatus::Active
                    && s.key.is_some()
                    && s.in_period(now)
                    && s.certificate.not_before <= now
                    && now <= s.certificate.not_after
            })
            .max_by_key(|s| s.sign_from)
            .ok_or_else(|| SealError::NoSignerInPeriod {
                reason: self.no_signer_reason(now),
            })
    }

    pub(super) fn no_signer_reason(&self, now: DateTime<Utc>) -> String {
        if self.signers.is_empty() {
            return "the key set has no signer".into();
        }
        let each: Vec<String> = self
            .signers
            .iter()
            .map(|s| {
                format!(
                    "{} ({}{}, signs {} .. {})",
                    s.name,
                    s.status,
                    if s.key.is_some() {
                        ""
                    } else {
                        ", no private key"
                    },
                    s.sign_from.to_rfc3339(),
                    s.sign_until.to_rfc3339()
                )
            })
            .collect();
        format!(
            "no active signer with a private key has a signing period covering {}: {}",
            now.to_rfc3339(),
            each.join("; ")
        )
    }
}

pub(super) fn load_signer(
    dir: &Path,
    entry: SignerEntry,
    root: &CertFile,
    open_keys: bool,
    tokens: &mut Tokens<'_>,
) -> Result<Signer, KeyError> {
    let cert_path = dir.join(&entry.certificate);
    let certificate = load_cert(&cert_path)?;
    let cert_err = |reason: String| KeyError::Certificate {
        path: show(&cert_path),
        reason,
    };
    let signer_err = |reason: String| KeyError::Signer {
        name: entry.name.clone(),
        reason,
    };
    require_signed_by(&certificate, root, "root")?;
    let c = parse(&certificate)?;
    match c.key_usage() {
        Ok(Some(ku)) if ku.value.digital_signature() => {}
        Ok(_) => return Err(cert_err("key usage lacks digitalSignature".into())),
        Err(e) => return Err(cert_err(format!("unreadable key usage: {e}"))),
    }
    if c.is_ca() {
        return Err(cert_err("a signer must not be a CA certificate".into()));
    }
    let curve = ec_curve(&c)
        .ok_or_else(|| cert_err("the public key is not ECDSA P-256 (or P-384)".into()))?;
    let spki_key = c.public_key().subject_public_key.data.to_vec();

    if entry.sign_from >= entry.sign_until {
        return Err(signer_err("sign_from is not before sign_until".into()));
    }
    if entry.sign_from < certificate.not_before || entry.sign_until > certificate.not_after {
        return Err(signer_err(format!(
            "the signing period {} .. {} is not inside the certificate's validity {} .. {}",
            entry.sign_from.to_rfc3339(),
            entry.sign_until.to_rfc3339(),
            certificate.not_before.to_rfc3339(),
            certificate.not_after.to_rfc3339()
        )));
    }

    let key_ref = KeyRef::from_entry(&entry.name, entry.private_key, entry.pkcs11_label)?;
    if key_ref.is_some() && curve != Curve::P256 {
        // ES256 sealing is P-256 only; P-384 signers exist to verify older seals.
        return Err(cert_err(
            "a signer with a private key must be P-256 (P-384 is verify-only)".into(),
        ));
    }
    let key = match &key_ref {
        Some(r) if open_keys => Some(open_signing_key(
            dir,
            &format!("signer {}", entry.name),
            r,
            &certificate,
            &spki_key,
            tokens,
        )?),
        _ => None,
    };

    let kid = kid_of(&certificate.der);
    Ok(Signer {
        public_key: SignerKey::from_parts(kid, curve, spki_key),
        kid,
        name: entry.name,
        certificate,
        sign_from: entry.sign_from,
        sign_until: entry.sign_until,
        status: entry.status,
        key_ref,
        key,
    })
}
