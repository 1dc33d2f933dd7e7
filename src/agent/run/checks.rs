//! What is checked before a sheet is spent: the trust list, the seal on the claimed job and
//! on every page of its document, and the licence's status (status lists, the legacy index).

use super::*;

impl Agent {
    /// Fetch the trust list; keeps the cached one when the server is unreachable or offers
    /// another root. Returns whether a usable list is in hand.
    pub(super) async fn refresh_trust(&mut self) -> bool {
        match self
            .client
            .signed_document("/api/v1/trust-list.cose", None)
            .await
        {
            Ok(Some((bytes, _))) => {
                let cached = self.trust.as_ref().map(|(l, _)| l);
                match trust::accept_signed(&self.cfg.state_dir, cached, &bytes, chrono::Utc::now())
                {
                    Ok(t) => {
                        self.trust = Some(t);
                        self.trust_fetched_at = Some(Instant::now());
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "trust list update refused");
                        // Do not ask again for an hour.
                        self.trust_fetched_at = Some(Instant::now());
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot fetch the trust list"),
        }
        self.trust.is_some()
    }

    /// The status list slot of a licence sealed before status lists, from the signed index
    /// (fetched again at most once a minute when the licence is not in the copy in hand).
    pub(super) async fn legacy_slot(
        &mut self,
        root: &[u8],
        identifier: &str,
    ) -> Result<(String, u64), SealRefusal> {
        let find = |i: &StatusIndex| {
            i.find(identifier)
                .map(|e| (format!("{}{}", i.base_uri, e.list), e.idx))
        };
        if let Some(found) = self.status_index.as_ref().and_then(|(i, _)| find(i)) {
            return Ok(found);
        }
        if self
            .status_index
            .as_ref()
            .is_none_or(|(_, at)| at.elapsed() >= TRUST_RECHECK)
        {
            match self
                .client
                .signed_document("/api/v1/status-index.cose", None)
                .await
            {
                Ok(Some((bytes, _))) => match StatusIndex::verify(&bytes, root) {
                    Ok(index) => self.status_index = Some((index, Instant::now())),
                    Err(e) => tracing::error!(error = %e, "status index refused"),
                },
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot fetch the status index"),
            }
        }
        self.status_index
            .as_ref()
            .and_then(|(i, _)| find(i))
            .ok_or_else(|| SealRefusal::StatusUnknown("the licence is in no status list".into()))
    }

    /// Asks the current status list about a licence whose seal verified: anything but valid
    /// (or a list that cannot be had or checked) refuses the job. A licence issued a moment
    /// ago may not be published yet (servers refresh every few seconds): an unknown status is
    /// asked again twice, a second apart, before the job is refused.
    pub(super) async fn check_status(&mut self, claims: &SealClaims) -> Result<(), SealRefusal> {
        let mut attempt = 0;
        loop {
            match self.check_status_once(claims).await {
                Err(SealRefusal::StatusUnknown(why)) if attempt < 2 => {
                    tracing::info!(reason = %why, "status not published yet; asking again");
                    attempt += 1;
                    self.status_index = None;
                    self.stop.sleep(Duration::from_secs(1)).await;
                }
                other => return other,
            }
        }
    }

    pub(super) async fn check_status_once(
        &mut self,
        claims: &SealClaims,
    ) -> Result<(), SealRefusal> {
        let root = self
            .trust
            .as_ref()
            .and_then(|(l, _)| trust::pinned_root_der(l))
            .ok_or_else(|| SealRefusal::StatusUnknown("no pinned root".into()))?;
        let (uri, idx) = match &claims.status {
            Some(s) => (s.uri.clone(), s.idx),
            None => self.legacy_slot(&root, &claims.identifier).await?,
        };
        let id: i64 = uri
            .rsplit('/')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| SealRefusal::StatusUnknown(format!("{uri} is not a status list")))?;
        let etag = self.status_lists.get(&id).and_then(|(_, e)| e.clone());
        match self
            .client
            .signed_document(&format!("/api/v1/status-lists/{id}"), etag.as_deref())
            .await
        {
            Ok(Some((bytes, etag))) => {
                let list = StatusList::verify(&bytes, &root).map_err(|e| {
                    SealRefusal::StatusUnknown(format!("the status list {uri} is refused: {e}"))
                })?;
                let older = self
                    .status_lists
                    .get(&id)
                    .is_some_and(|(held, _)| list.claims.iat < held.claims.iat);
                if older {
                    tracing::error!(
                        list = id,
                        "status list rolled back: keeping the newer one in hand"
                    );
                } else {
                    self.status_lists.insert(id, (list, etag));
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot fetch the status list; using the one in hand")
            }
        }
        let (list, _) = self
            .status_lists
            .get(&id)
            .ok_or_else(|| SealRefusal::StatusUnknown(format!("no status list {uri} in hand")))?;
        trust::judge_status(list, &uri, idx, chrono::Utc::now())
    }

    pub(super) async fn check_seal(&mut self, qr_text: &str) -> Result<SealClaims, SealRefusal> {
        let first = match &self.trust {
            Some((_, store)) => trust::check_seal(store, qr_text),
            None => Err(SealRefusal::Envelope("no trust list".into())),
        };
        let claims = match first {
            Ok(claims) => claims,
            // A signer added since the last fetch: look once more before refusing (at most
            // once a minute, so a run of forged jobs cannot hammer the server).
            Err(SealRefusal::Envelope(_))
                if self
                    .trust_fetched_at
                    .is_none_or(|t| t.elapsed() >= TRUST_RECHECK) =>
            {
                self.refresh_trust().await;
                match &self.trust {
                    Some((_, store)) => trust::check_seal(store, qr_text)?,
                    None => return Err(SealRefusal::Envelope("no trust list".into())),
                }
            }
            Err(e) => return Err(e),
        };
        self.check_status(&claims).await?;
        Ok(claims)
    }
}

/// The document's QR codes, read from the PDF: one per page, each the claimed (and verified)
/// seal. The reason for a refusal otherwise.
pub(super) fn document_carries_seal(pdf: &[u8], job: &JobRecord) -> Result<(), String> {
    let texts = document_qr::qr_texts(pdf).map_err(|e| format!("document QR check: {e}"))?;
    if texts.len() != job.copies.len() {
        return Err(format!(
            "document QR check: {} page(s) for {} copies",
            texts.len(),
            job.copies.len()
        ));
    }
    // The seal itself is compared (the COSE bytes), not the address in front of it.
    let verified = decode_qr_text(&job.qr_text).ok();
    if let Some((page, text)) = texts
        .iter()
        .enumerate()
        .find(|(_, t)| verified.is_none() || decode_qr_text(t).ok() != verified)
    {
        // The start of the code is enough to tell it in a log (a whole seal is ~600 characters).
        let start: String = text.chars().take(60).collect();
        return Err(format!(
            "document QR check: the QR code on page {} ({start}...) is not the verified seal",
            page + 1
        ));
    }
    Ok(())
}
