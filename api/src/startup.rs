//! Building and running the application: one place that wires store, schema and router.

use crate::config::Settings;
use crate::graphql::build_schema;
use crate::http::{router, HttpState};
use crate::state::{AppState, Limits};
use crate::store;
use crate::sync::worker::SyncWorker;
use almanac_domain::OrganizationId;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

pub struct Application {
    listener: TcpListener,
    state: HttpState,
    connections: crate::connections::ConnectionLimits,
    /// How often the sync worker passes over every link (zero: no worker).
    sync_interval: Duration,
}

/// How long shutdown waits for the sync round in flight before aborting it.
const SYNC_WORKER_GRACE: Duration = Duration::from_secs(30);

impl Application {
    /// Connects the store, applies migrations and binds the listener (so `port()` is known
    /// before serving starts).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = store::connect(settings.database_url.expose_secret()).await?;
        store.migrate().await?;
        store
            .ensure_organization(OrganizationId::DEFAULT, "Default organization")
            .await?;
        let changes = crate::changes::ChangeFeed::start(store.clone()).await?;
        let connections = crate::connections::ConnectionLimits::new(
            settings.header_timeout_seconds,
            settings.body_timeout_seconds,
            settings.max_connections,
        )?;
        let listener = TcpListener::bind(settings.listen).await?;
        let public_url: std::sync::Arc<str> =
            settings.public_base_url(listener.local_addr()?)?.into();
        let sealer = match settings.sync.token_keys.as_ref().map(|k| k.expose_secret()) {
            Some(spec) => crate::secrets::Sealer::from_spec(spec)?,
            // Production (required auth) with a provider configured must seal with its own keys.
            None if settings.auth == crate::config::AuthMode::Required
                && settings.sync.google_client_id.is_some() =>
            {
                anyhow::bail!("syncing with a provider under --auth required needs --token-keys (ALMANAC_TOKEN_KEYS) to seal provider tokens")
            }
            None => crate::secrets::Sealer::insecure_dev(),
        };
        let sync = std::sync::Arc::new(crate::sync::SyncRuntime::new(
            settings.sync.clone(),
            sealer,
            public_url.clone(),
        ));
        let app = AppState {
            store,
            limits: Limits {
                query: settings.query_limits,
                ..Limits::default()
            },
            changes,
            public_url,
            sync,
        };
        let schema = build_schema(Some(app.clone()));
        let jwt = crate::auth::JwtKeys::from_settings(&settings)?;
        let cors_origins = crate::http::cors::AllowedOrigins::parse(&settings.cors_origins)?;
        Ok(Application {
            listener,
            connections,
            sync_interval: Duration::from_secs(settings.sync.sync_interval_seconds),
            state: HttpState {
                app,
                schema,
                auth: settings.auth,
                jwt,
                introspection: settings.introspection,
                rate_limiter: std::sync::Arc::new(crate::http::RateLimiter::new(
                    settings.rate_limit_per_minute,
                )),
                metrics: std::sync::Arc::new(crate::http::metrics::Metrics::default()),
                persisted_queries: std::sync::Arc::new(
                    crate::http::apq::PersistedQueries::default(),
                ),
                cors_origins,
                credential_recheck: std::time::Duration::from_secs(
                    settings.credential_recheck_seconds.max(1),
                ),
                ws_init_timeout: std::time::Duration::from_secs(
                    settings.ws_init_timeout_seconds.max(1),
                ),
            },
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state.app
    }

    /// Serves (and runs the sync worker) until `shutdown` resolves, then finishes in-flight
    /// requests and the sync round in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let worker = SyncWorker::start(self.state.app.clone(), self.sync_interval);
        let served = crate::connections::serve(
            self.listener,
            router(self.state),
            self.connections,
            shutdown,
        )
        .await;
        if let Some(worker) = worker {
            worker.stop(SYNC_WORKER_GRACE).await;
        }
        served
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
