//! What every handler shares: the pool, the settings, the clock and the loaded libraries.

use crate::catalog::Catalog;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::error::ApiError;
use crate::issuance::Sealer;
use crate::storage::{DbConnection, DbPool, StorageError};
use crate::verification::TrustStore;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

pub struct AppState {
    pub pool: DbPool,
    pub settings: Arc<Settings>,
    pub clock: SharedClock,
    pub metrics: PrometheusHandle,
    pub catalog: Arc<Catalog>,
    pub sealer: Arc<Sealer>,
    /// Parsed signer keys, built once: a verification costs one hash and one ECDSA check.
    pub trust: Arc<TrustStore>,
    /// CJK fonts, loaded once per process.
    pub fonts: Arc<crate::render::Fonts>,
    /// The public verify routes' per-client rate limit and concurrency bound.
    pub verify_gate: Arc<crate::verification::gate::VerifyGate>,
    /// Wakes long-polling hall agents when a job becomes claimable for their hall.
    pub wakeups: Arc<crate::distribution::wakeup::JobWakeups>,
    /// Agent token lookups, cached (revocation takes effect within 30 s).
    pub agent_auth: Arc<crate::distribution::agent_auth::AgentAuthCache>,
    /// The signed trust list and status lists, served from memory (`published.rs`).
    pub published: Arc<crate::published::Published>,
    /// At most one password hash per core at once (logins, password changes).
    pub hash_gate: Arc<crate::accounts::HashGate>,
    /// The server secret pickup codes are stored under (HMAC).
    pub pickup_key: Arc<crate::distribution::pickup_key::PickupKey>,
}

impl AppState {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// What the signed electronic licence file needs, at this moment.
    pub fn electronic_context(&self) -> crate::electronic::ElectronicContext<'_> {
        crate::electronic::ElectronicContext {
            fonts: &self.fonts,
            catalog: &self.catalog,
            sealer: &self.sealer,
            public_url: &self.settings.public_url,
            now: self.now(),
        }
    }

    /// What signing in needs, at this moment.
    pub fn login_context(&self) -> crate::accounts::LoginContext {
        crate::accounts::LoginContext {
            pool: self.pool.clone(),
            settings: self.settings.clone(),
            hash_gate: self.hash_gate.clone(),
            now: self.now(),
        }
    }

    /// What issuing or re-issuing a licence needs, at this moment.
    pub fn issue_context(&self) -> crate::registration::IssueContext<'_> {
        crate::registration::IssueContext {
            catalog: &self.catalog,
            sealer: &self.sealer,
            public_url: &self.settings.public_url,
            now: self.now(),
        }
    }

    /// Bring the signed lists up to date (the background task calls this; tests may too).
    pub async fn refresh_published(
        &self,
    ) -> Result<crate::published::Refreshed, crate::published::PublishError> {
        let pool = self.pool.clone();
        let sealer = self.sealer.clone();
        let published = self.published.clone();
        let public_url = self.settings.public_url.clone();
        let lists = self.settings.lists;
        let now = self.now();
        match tokio::task::spawn_blocking(move || {
            published.refresh(&pool, sealer.keys(), &public_url, &lists, now)
        })
        .await
        {
            Ok(r) => r,
            Err(e) => Err(crate::published::PublishError::Storage(
                StorageError::Unavailable(e.to_string()),
            )),
        }
    }

    /// Run blocking database work on the blocking pool, never on an async worker; the pooled
    /// connection is taken inside the closure. What the work noted (`storage::after_commit`)
    /// is acted on once it has returned, i.e. after its commit: halls whose jobs it made
    /// claimable are woken, and a status change drops the verify routes' in-memory rows.
    pub async fn db<T, E, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        use crate::storage::after_commit;
        let pool = self.pool.clone();
        let (result, noted) = tokio::task::spawn_blocking(move || {
            // Whatever an earlier user of this thread left (none of it ours).
            drop(after_commit::take());
            let result = pool
                .get()
                .map_err(|e| ApiError::from(StorageError::from(e)))
                .and_then(|mut conn| f(&mut conn).map_err(Into::into));
            (result, after_commit::take())
        })
        .await?;
        if noted.register_changed {
            self.verify_gate.rows.invalidate();
        }
        for hall in &noted.halls {
            self.wakeups.wake(hall);
        }
        result
    }
}
