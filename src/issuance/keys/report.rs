//! `crosscert keys check`: load the set and describe it as of a time.

use super::*;

/// What `crosscert keys check` prints.
#[derive(Debug, Clone)]
pub struct KeyReport {
    lines: Vec<String>,
    /// False when no signer can seal at the time of the check (the service still starts).
    pub can_seal: bool,
}

impl fmt::Display for KeyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// `keys check` at the current time.
pub fn check_key_dir(dir: &Path) -> Result<KeyReport, KeyError> {
    check_key_dir_at(dir, Utc::now())
}

/// Loads the set (any inconsistency is the error) and describes it as of `now`.
pub fn check_key_dir_at(dir: &Path, now: DateTime<Utc>) -> Result<KeyReport, KeyError> {
    check_key_dir_with(dir, KeyAccess::Open { pkcs11: None }, now)
}

/// [`check_key_dir_at`] with token keys opened through `access`.
pub fn check_key_dir_with(
    dir: &Path,
    access: KeyAccess<'_>,
    now: DateTime<Utc>,
) -> Result<KeyReport, KeyError> {
    let keys = KeySet::load_with(dir, access)?;
    let mut lines = Vec::new();
    lines.push(format!("key set {} is consistent", show(dir)));
    if keys.is_example() {
        lines.push("WARNING: this is an EXAMPLE key set: never use it in production".into());
    }
    let cert_line = |role: &str, c: &CertFile| {
        format!(
            "{role}: {} [{}] valid {} .. {}",
            show(&c.path),
            c.subject,
            c.not_before.to_rfc3339(),
            c.not_after.to_rfc3339()
        )
    };
    lines.push(cert_line("root", &keys.root));
    for s in &keys.signers {
        lines.push(format!(
            "signer {}: kid {} {} {} ({}), signs {} .. {}, certificate valid until {}",
            s.name,
            hex::encode(s.kid),
            s.curve(),
            s.status,
            match (&s.key_ref, s.has_private_key()) {
                (Some(r), true) => format!("key: {r}"),
                (Some(r), false) => format!("key not opened: {r}"),
                (None, _) => "verify only".to_string(),
            },
            s.sign_from.to_rfc3339(),
            s.sign_until.to_rfc3339(),
            s.certificate.not_after.to_rfc3339()
        ));
    }
    let can_seal = match keys.active_signer(now) {
        Ok(s) => {
            lines.push(format!(
                "sealing now ({}) with signer {}",
                now.to_rfc3339(),
                s.name
            ));
            true
        }
        Err(e) => {
            lines.push(format!("cannot seal now: {e}"));
            false
        }
    };
    if let Some(ca) = &keys.hall_ca {
        lines.push(cert_line("hall CA", ca));
    }
    for h in &keys.hall_clients {
        lines.push(cert_line(
            &format!("hall client {}", h.hall),
            &h.certificate,
        ));
    }
    if let Some(s) = &keys.server {
        lines.push(cert_line("server TLS", &s.certificate));
    }
    match &keys.list_signer {
        Some(l) => lines.push(cert_line(
            &format!("list signer (kid {})", hex::encode(l.kid)),
            &l.certificate,
        )),
        None => lines.push("no list signer: the signed trust and status lists are off".into()),
    }
    Ok(KeyReport { lines, can_seal })
}
