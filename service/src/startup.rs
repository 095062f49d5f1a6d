//! Builds the running service from settings: database, HTTP server, worker. Tests use the same
//! path with port 0 and their own handler, so what they exercise is what production runs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::clients::diff::DiffClient;
use crate::clients::github_app::GitHubApp;
use crate::clients::llm::LlmClient;
use crate::clients::{ForgeApi, GitHubClient, GitLabClient, SlackApi, SlackClient};
use crate::config::{HttpSettings, Settings, WebhookSecrets, WorkerSettings};
use crate::http::slack_install::SlackInstall;
use crate::http::{AppState, metrics_routes, routes, server};
use crate::metrics::Metrics;
use crate::queue::{EventHandler, Worker};
use crate::redeliver::{Redeliverer, RedeliverySettings, StoredAppKey};
use crate::store::{Backend, Store};
use crate::vault::Vault;
use crate::worker::{AiSummary, SyncHandler};

/// Optional parts of the application beyond the webhook pipeline.
#[derive(Default)]
pub struct Extras {
    /// The Slack OAuth install flow.
    pub slack_install: Option<Arc<SlackInstall>>,
    /// The metrics `/metrics` serves, when the handler reports to them too (the AI summary's
    /// counters); a fresh set otherwise.
    pub metrics: Option<Metrics>,
    /// Client limits and `LISTEN_METRICS` (defaults: 10 s, 1024 connections, `/metrics` on
    /// the main address).
    pub http: HttpSettings,
    /// The worker's clock (default: the system clock); tests drive timers with a manual one.
    /// `/codereview` reads it too.
    pub clock: Option<Arc<dyn crate::clock::Clock>>,
    /// The Slack Web API `/codereview digest on` asks for the caller's time zone (`None` =
    /// UTC for everyone).
    pub slack_api: Option<Arc<dyn SlackApi>>,
}

impl std::fmt::Debug for Extras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extras")
            .field("slack_install", &self.slack_install)
            .field("http", &self.http)
            .field("clock", &self.clock)
            .field("slack_api", &self.slack_api.is_some())
            .finish_non_exhaustive()
    }
}

/// The thread-sync handler wired to the real APIs at the configured base URLs, with the AI
/// summary when `LLM_API_URL` and `LLM_MODEL` are set (reporting to `metrics`).
pub fn sync_handler(
    settings: &Settings,
    store: Store,
    vault: Arc<Vault>,
    metrics: &Metrics,
) -> SyncHandler {
    let slack: Arc<dyn SlackApi> = Arc::new(SlackClient::new(&settings.slack_api_url));
    let github: Arc<dyn ForgeApi> = Arc::new(GitHubClient::new(&settings.github_api_url));
    let gitlab = settings
        .gitlab_url
        .as_ref()
        .map(|url| Arc::new(GitLabClient::new(url)) as Arc<dyn ForgeApi>);
    let mut handler = SyncHandler::new(store, vault, slack, github, gitlab, settings.sync.clone())
        .with_metrics(metrics.clone());
    if let Some(app_id) = settings.sync.github_app_id {
        handler =
            handler.with_github_app(Arc::new(GitHubApp::new(&settings.github_api_url, app_id)));
    }
    match &settings.llm {
        Some(llm) => {
            tracing::info!(
                model = %llm.model,
                host = llm.api_url.host_str().unwrap_or_default(),
                diff_budget = llm.diff_budget,
                timeout_secs = llm.timeout.as_secs(),
                "AI summaries available for repositories that opt in (`link ai-summary --on`)"
            );
            handler.with_ai_summary(AiSummary {
                settings: llm.clone(),
                llm: Arc::new(LlmClient::new(&llm.api_url)),
                diffs: Arc::new(DiffClient::new(
                    &settings.github_api_url,
                    settings.gitlab_url.as_ref(),
                )),
                metrics: metrics.clone(),
            })
        }
        None => handler,
    }
}

/// The Slack install flow, when `SLACK_CLIENT_ID`, `SLACK_CLIENT_SECRET` and `PUBLIC_URL` are
/// set.
pub fn extras(settings: &Settings) -> Extras {
    Extras {
        metrics: None,
        clock: None,
        slack_api: Some(Arc::new(SlackClient::new(&settings.slack_api_url))),
        http: settings.http,
        slack_install: settings.slack_install.as_ref().map(|install| {
            let slack: Arc<dyn SlackApi> = Arc::new(SlackClient::new(&settings.slack_api_url));
            Arc::new(SlackInstall::new(install, &settings.slack_api_url, slack))
        }),
    }
}

/// A bound, ready-to-run service.
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: Arc<AppState>,
    worker: Arc<Worker>,
    /// Asks GitHub to redeliver the App's failed webhooks (when `GITHUB_APP_ID` is set).
    redelivery: Option<Redeliverer>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects to `DATABASE_URL`, applies migrations and binds `LISTEN`, with `handler`
    /// processing the queue.
    pub async fn build(settings: Settings, handler: Arc<dyn EventHandler>) -> anyhow::Result<Self> {
        Self::build_from(settings, |_, _, _, _| handler).await
    }

    /// What `serve` runs: [`Application::build`] with the thread-sync handler
    /// ([`sync_handler`]) and the Slack install flow when configured.
    pub async fn build_sync(settings: Settings) -> anyhow::Result<Self> {
        Self::build_from(settings, |settings, store, vault, metrics| {
            Arc::new(sync_handler(settings, store, vault, metrics))
        })
        .await
    }

    async fn build_from(
        settings: Settings,
        handler: impl FnOnce(&Settings, Store, Arc<Vault>, &Metrics) -> Arc<dyn EventHandler>,
    ) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database_url).await?;
        store.migrate().await?;
        let backend = match store.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        tracing::info!(database = backend, "database ready, migrations applied");
        let vault = settings.vault.clone();
        let metrics = Metrics::new();
        let handler = handler(&settings, store.clone(), vault.clone(), &metrics);
        let extras = Extras {
            metrics: Some(metrics),
            ..extras(&settings)
        };
        let redelivery = settings.sync.github_app_id.map(|app_id| {
            let key = StoredAppKey {
                store: store.clone(),
                vault: vault.clone(),
                app_id: app_id.to_string(),
            };
            Redeliverer::new(
                store.clone(),
                settings.github_api_url.clone(),
                Arc::new(key),
                RedeliverySettings::default(),
            )
        });
        let mut app = Self::build_with_extras(
            store,
            vault,
            &settings.webhooks,
            settings.worker,
            settings.listen,
            handler,
            extras,
        )
        .await?;
        app.redelivery = redelivery;
        Ok(app)
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
        Self::build_with_extras(
            store,
            vault,
            webhooks,
            worker,
            listen,
            handler,
            Extras::default(),
        )
        .await
    }

    /// [`Application::build_with`] plus the optional parts ([`Extras`]).
    pub async fn build_with_extras(
        store: Store,
        vault: Arc<Vault>,
        webhooks: &WebhookSecrets,
        worker: WorkerSettings,
        listen: SocketAddr,
        handler: Arc<dyn EventHandler>,
        extras: Extras,
    ) -> anyhow::Result<Self> {
        if webhooks.slack_signing_secret.is_none() {
            tracing::warn!(
                "SLACK_SIGNING_SECRET is not set: POST /slack/events answers 401 to everything"
            );
        }
        for (configured, name, endpoint) in [
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
                tracing::info!(
                    "{name} is not set: {endpoint} accepts only deliveries verified with a per-repository secret (`webhook-secret add`)"
                );
            }
        }
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let metrics_listener =
            match extras.http.listen_metrics {
                Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
                    anyhow::anyhow!("cannot listen on {addr} (LISTEN_METRICS): {e}")
                })?),
                None => None,
            };
        let metrics = extras.metrics.unwrap_or_default();
        let wake = Arc::new(Notify::new());
        let mut worker = Worker::new(
            store.clone(),
            vault.clone(),
            handler,
            metrics.clone(),
            worker,
        );
        let clock = extras
            .clock
            .unwrap_or_else(|| Arc::new(crate::clock::SystemClock));
        worker = worker.with_clock(clock.clone());
        let mut state = AppState::new(store, vault, metrics, webhooks, wake, clock);
        let worker = Arc::new(worker);
        state.slack_install = extras.slack_install;
        state.slack_api = extras.slack_api;
        state.limits = extras.http;
        let state = Arc::new(state);
        Ok(Self {
            listener,
            metrics_listener,
            state,
            worker,
            redelivery: None,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where `/metrics` is served when `LISTEN_METRICS` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The worker, for tests that drive the queue one step at a time.
    pub fn worker(&self) -> Arc<Worker> {
        self.worker.clone()
    }

    /// Shared request state (store, metrics).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves HTTP only (no worker) until `shutdown` resolves, through [`server::serve`]
    /// (read timeouts, connection cap, body memory budget); `/metrics` also on its own
    /// address when `LISTEN_METRICS` is set.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let addr = self.local_addr();
        tracing::info!(%addr, "listening on {addr}");
        let limits = self.state.limits;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        let metrics = self.metrics_listener.map(|listener| {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "serving /metrics on {addr} (LISTEN_METRICS)");
            }
            let filter = metrics_routes(self.state.clone());
            tokio::spawn(server::serve(listener, filter, limits, stopped()))
        });
        let main = server::serve(self.listener, routes(self.state), limits, stopped());
        let signal = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        tokio::join!(main, signal);
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
    }

    /// Serves HTTP and runs the worker until `shutdown` resolves; then stops accepting
    /// requests, lets in-flight requests finish, and gives in-flight events the worker's
    /// shutdown grace before releasing them.
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = self.worker.clone();
        let wake = self.state.wake.clone();
        if let Some(job) = self.redelivery.take() {
            tracing::info!(
                "GitHub App: failed webhook deliveries are redelivered every few minutes"
            );
            tokio::spawn(job.run(stop_rx.clone()));
        }
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
