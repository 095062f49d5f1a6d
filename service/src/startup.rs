//! Builds the running service from settings: database, HTTP server, worker. Tests use the same
//! path with port 0 and their own handler, so what they exercise is what production runs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::config::{Settings, WebhookSecrets, WorkerSettings};
use crate::http::{AppState, routes};
use crate::metrics::Metrics;
use crate::queue::{EventHandler, Worker};
use crate::store::{Backend, Store};
use crate::vault::Vault;

/// A bound, ready-to-run service.
pub struct Application {
    listener: TcpListener,
    state: Arc<AppState>,
    worker: Arc<Worker>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects to `DATABASE_URL`, applies migrations and binds `LISTEN`.
    pub async fn build(settings: Settings, handler: Arc<dyn EventHandler>) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database_url).await?;
        store.migrate().await?;
        let backend = match store.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        tracing::info!(database = backend, "database ready, migrations applied");
        Self::build_with(
            store,
            Arc::new(settings.vault),
            &settings.webhooks,
            settings.worker,
            settings.listen,
            handler,
        )
        .await
    }

    /// Builds from parts: an open store, keys, secrets, worker tuning and an address
    /// (`127.0.0.1:0` picks a free port).
    pub async fn build_with(
        store: Store,
        vault: Arc<Vault>,
        webhooks: &WebhookSecrets,
        worker: WorkerSettings,
        listen: SocketAddr,
        handler: Arc<dyn EventHandler>,
    ) -> anyhow::Result<Self> {
        for (configured, name, endpoint) in [
            (
                webhooks.slack_signing_secret.is_some(),
                "SLACK_SIGNING_SECRET",
                "POST /slack/events",
            ),
            (
                webhooks.github_webhook_secret.is_some(),
                "GITHUB_WEBHOOK_SECRET",
                "POST /github/webhook",
            ),
            (
                webhooks.gitlab_webhook_token.is_some(),
                "GITLAB_WEBHOOK_TOKEN",
                "POST /gitlab/webhook",
            ),
        ] {
            if !configured {
                tracing::warn!("{name} is not set: {endpoint} answers 401 to everything");
            }
        }
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let metrics = Metrics::new();
        let wake = Arc::new(Notify::new());
        let worker = Arc::new(Worker::new(
            store.clone(),
            vault.clone(),
            handler,
            metrics.clone(),
            worker,
        ));
        let state = Arc::new(AppState::new(store, vault, metrics, webhooks, wake));
        Ok(Self {
            listener,
            state,
            worker,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The worker, for tests that drive the queue one step at a time.
    pub fn worker(&self) -> Arc<Worker> {
        self.worker.clone()
    }

    /// Shared request state (store, metrics).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves HTTP only (no worker) until `shutdown` resolves.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let addr = self.local_addr();
        tracing::info!(%addr, "listening on {addr}");
        warp::serve(routes(self.state))
            .incoming(self.listener)
            .graceful(shutdown)
            .run()
            .await;
    }

    /// Serves HTTP and runs the worker until `shutdown` resolves; then stops accepting
    /// requests, lets in-flight requests finish, and gives in-flight events the worker's
    /// shutdown grace before releasing them.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = self.worker.clone();
        let wake = self.state.wake.clone();
        let worker_task = tokio::spawn(async move { worker.run(stop_rx, wake).await });
        self.serve(async move {
            shutdown.await;
            tracing::info!("shutdown signal received");
            let _ = stop_tx.send(true);
        })
        .await;
        if let Err(e) = worker_task.await {
            tracing::error!(error = %e, "worker task ended abnormally");
        }
        tracing::info!("stopped");
    }
}

/// Resolves on SIGTERM (what container runtimes send) or Ctrl-C.
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
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
