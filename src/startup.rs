//! `Application::build(settings)` prepares everything (database, migrations, demo data) and
//! only then binds the listener (port 0 in tests); `run_until_stopped()` serves until SIGTERM.

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::routes;
use crate::state::AppState;
use crate::storage;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use std::net::TcpListener;
use std::sync::Arc;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;

#[derive(Debug, Default, Clone)]
pub struct BuildOptions {
    /// Load the demo halls, stock and administrator into an empty database, and allow the
    /// example key set.
    pub demo: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("the key set in {dir} is the EXAMPLE set, whose private keys are published: seals made with it prove nothing. Run `crosscert serve --demo` for a demonstration (or set CROSSCERT_ALLOW_EXAMPLE_KEYS=1 in tests), or point CROSSCERT_KEYS_DIR at your own key set (`crosscert keys init-root`, see the README)")]
    ExampleKeys { dir: String },
    #[error("{0}")]
    Other(String),
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    log: web::Data<crate::tlog::LogService>,
}

impl Application {
    pub async fn build(
        mut settings: Settings,
        clock: SharedClock,
        options: BuildOptions,
    ) -> Result<Application, StartupError> {
        // Second factor for administrators and window staff, unless told otherwise; the demo
        // asks nobody (its administrator must get in with the printed password).
        if settings.require_totp_for.is_none() {
            settings.require_totp_for = Some(if options.demo {
                Vec::new()
            } else {
                vec![
                    crate::domain::role::Role::Admin,
                    crate::domain::role::Role::Issuer,
                ]
            });
        }
        // Everything that can refuse to start is checked before the database is touched.
        let catalog = crate::catalog::Catalog::load(&settings.templates_dir).map_err(|e| {
            StartupError::Other(format!(
                "the catalog in {} does not load: {e}",
                settings.templates_dir.display()
            ))
        })?;
        let keys = crate::issuance::KeySet::load_with(
            &settings.keys_dir,
            crate::issuance::KeyAccess::Open {
                pkcs11: settings.pkcs11.as_ref(),
            },
        )
        .map_err(|e| {
            StartupError::Other(format!(
                "the key set in {} is refused: {e}",
                settings.keys_dir.display()
            ))
        })?;
        if keys.is_example() {
            if !(options.demo || settings.allow_example_keys) {
                return Err(StartupError::ExampleKeys {
                    dir: settings.keys_dir.display().to_string(),
                });
            }
            tracing::warn!(dir = %settings.keys_dir.display(), "running on the EXAMPLE key set: never use it in production");
        }
        if let Err(e) = keys.active_signer(clock.now()) {
            tracing::warn!(reason = %e, "no signer may seal now: issuing answers 503, verification keeps working");
        }
        let keys = Arc::new(keys);
        let trust = crate::verification::TrustStore::from_keyset(&keys, clock.now())
            .map_err(|e| StartupError::Other(format!("the trust list cannot be built: {e}")))?;
        let pickup_key = crate::distribution::pickup_key::PickupKey::load(
            &settings.pickup_secret_file.clone().unwrap_or_else(|| {
                crate::distribution::pickup_key::PickupKey::path_in(&settings.keys_dir)
            }),
        )
        .map_err(|e| StartupError::Other(e.to_string()))?;
        let fonts = crate::render::Fonts::load_shared(settings.font_dir.as_deref())
            .map_err(|e| StartupError::Other(e.to_string()))?;
        let pool = storage::connect(&settings.database_url, settings.pool_size)?;
        let migrate_pool = pool.clone();
        let applied = web::block(move || storage::run_migrations(&migrate_pool))
            .await
            .map_err(|e| StartupError::Other(e.to_string()))??;
        for m in &applied {
            tracing::info!(migration = %m, "applied migration");
        }
        if options.demo {
            let demo_pool = pool.clone();
            let demo_settings = settings.clone();
            let now = clock.now();
            web::block(move || crate::demo::seed_for_serve(&demo_pool, &demo_settings, now))
                .await
                .map_err(|e| StartupError::Other(e.to_string()))?
                .map_err(|e| StartupError::Other(format!("loading the demo data failed: {e}")))?;
        }

        let state = web::Data::new(AppState {
            pool,
            settings: Arc::new(settings.clone()),
            clock,
            metrics: crate::telemetry::metrics_handle(),
            catalog: Arc::new(catalog),
            sealer: Arc::new(crate::issuance::Sealer::new(keys)),
            trust: Arc::new(trust),
            fonts,
            verify_gate: Arc::new(crate::verification::gate::VerifyGate::new(
                settings.verify_rate_limit,
                crate::verification::gate::default_concurrency(settings.pool_size),
            )),
            wakeups: Arc::new(crate::distribution::wakeup::JobWakeups::default()),
            // Trusted 30 s where other processes' revocations arrive by NOTIFY, else 2 s.
            agent_auth: Arc::new(match storage::Backend::from_url(&settings.database_url) {
                Ok(storage::Backend::Postgres(_)) => {
                    crate::distribution::agent_auth::AgentAuthCache::default()
                }
                _ => crate::distribution::agent_auth::AgentAuthCache::local(),
            }),
            pickup_key: Arc::new(pickup_key),
            hash_gate: Arc::new(crate::accounts::HashGate::new(
                settings.hash_concurrency,
                settings.login.hash_wait_ms,
            )),
            published: Arc::new(crate::published::Published::default()),
        });
        // The signed lists exist before the first request (and older licences get their
        // status-list indexes here); then a task keeps them current.
        match state.refresh_published().await {
            Ok(r) if r.backfilled > 0 => {
                tracing::info!(licences = r.backfilled, "older licences indexed in the status lists")
            }
            Ok(_) => {}
            Err(crate::published::PublishError::NoListSigner) => tracing::warn!(
                "the key set has no [list_signer]: the signed trust list and status lists are not published"
            ),
            Err(crate::published::PublishError::Storage(e)) => return Err(e.into()),
            Err(e) => tracing::warn!(error = %e, "the signed lists cannot be built; their routes answer 503"),
        }
        spawn_refresher(&state);
        // Other server processes' queued jobs wake this process's long-polling agents.
        if let Ok(storage::Backend::Postgres(url)) =
            storage::Backend::from_url(&settings.database_url)
        {
            crate::distribution::wakeup::spawn_pg_listener(url, &state.wakeups, &state.agent_auth);
        }
        spawn_lease_sweeper(&state);
        spawn_notifier(&state);
        // The transparency log: integrated in batches, checkpoints cosigned by the witnesses.
        let log = Arc::new(crate::tlog::LogService::new(
            settings.log.clone(),
            &settings.keys_dir,
            state.pool.clone(),
        ));
        let backfilled = log.backfill().await?;
        if backfilled > 0 {
            tracing::info!(
                licences = backfilled,
                "older licences entered in the transparency log"
            );
        }
        log.spawn();
        let log = web::Data::from(log);
        let listener = TcpListener::bind(&settings.bind).map_err(|source| StartupError::Bind {
            addr: settings.bind.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Other(e.to_string()))?
            .port();
        let tls = match &settings.tls {
            Some(t) => Some(
                crate::tls::server_config(&t.cert, &t.key, t.client_ca.as_deref())
                    .map_err(|e| StartupError::Other(e.to_string()))?,
            ),
            None => None,
        };
        let server_state = state.clone();
        let server_log = log.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(routes::middleware::json_errors))
                .wrap(from_fn(routes::middleware::record_metrics))
                .wrap(TracingLogger::<routes::client_ip::ClientIpSpan>::new())
                .app_data(server_state.clone())
                .app_data(server_log.clone())
                .into_utoipa_app()
                .configure(routes::configure)
                .into_app()
                // The staff pages use the API's extractors (web -> routes, never back).
                .configure(crate::web::configure)
                .default_service(web::to(routes::not_found))
        })
        .on_connect(crate::tls::remember_peer)
        .shutdown_timeout(30);
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config),
            None => server.listen(listener),
        }
        .map_err(|source| StartupError::Bind {
            addr: settings.bind.clone(),
            source,
        })?
        .run();
        tracing::info!(port, "crosscert is listening");
        Ok(Application {
            port,
            server,
            state,
            log,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The transparency log (tests run rounds by hand).
    pub fn log(&self) -> web::Data<crate::tlog::LogService> {
        self.log.clone()
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Move expired leases to reconciliation every `SWEEP_EVERY` while the server's state lives
/// (`distribution::protocol::sweep_expired_leases`; one sweeper at a time across processes).
fn spawn_lease_sweeper(state: &web::Data<AppState>) {
    use crate::distribution::protocol::{sweep_expired_leases, SWEEP_EVERY};
    let weak = Arc::downgrade(&state.clone().into_inner());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { return };
            let now = state.now();
            match state.db(move |conn| sweep_expired_leases(conn, now)).await {
                Ok(moved) if !moved.is_empty() => {
                    tracing::warn!(jobs = ?moved, "leases expired: jobs need reconciliation")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "lease sweep failed"),
            }
        }
    });
}

/// Text messages to holders (`distribution::notify`): every `poll_ms`, write the reminders
/// that fell due, then deliver what is due in the outbox. Every process runs it; claims are
/// safe across processes (`storage::notifications::claim_due`).
fn spawn_notifier(state: &web::Data<AppState>) {
    use crate::distribution::notify::{deliver_due, enqueue_reminders, DeliveryConfig};
    let settings = state.settings.notify.clone();
    let weak = Arc::downgrade(&state.clone().into_inner());
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for the SMS gateway: messages stay in the outbox");
            return;
        }
    };
    tokio::spawn(async move {
        let mut tick =
            tokio::time::interval(std::time::Duration::from_millis(settings.poll_ms.max(20)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { return };
            let now = state.now();
            let days = settings.reminder_days;
            if let Err(e) = state
                .db(move |conn| enqueue_reminders(conn, now, days))
                .await
            {
                tracing::warn!(error = %e, "writing reminders failed");
            }
            let Some(webhook) = settings.sms_webhook.clone() else {
                continue;
            };
            let config = DeliveryConfig {
                webhook,
                retry_base_s: settings.retry_base_s,
            };
            let clock = state.clock.clone();
            let pool = state.pool.clone();
            drop(state);
            if let Err(e) = deliver_due(&pool, &client, &config, || clock.now()).await {
                tracing::warn!(error = %e, "SMS delivery round failed");
            }
        }
    });
}

/// The signed lists' background task: refresh every `refresh_ms` until the state is dropped.
fn spawn_refresher(state: &web::Data<AppState>) {
    if state.sealer.keys().list_signer().is_none() {
        return;
    }
    let weak = Arc::downgrade(&state.clone().into_inner());
    let published = state.published.clone();
    let every = std::time::Duration::from_millis(state.settings.lists.refresh_ms.max(50));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = published.wake.notified() => {}
            }
            let Some(state) = weak.upgrade() else { return };
            if let Err(e) = state.refresh_published().await {
                tracing::warn!(error = %e, "refreshing the signed lists failed");
            }
        }
    });
}
