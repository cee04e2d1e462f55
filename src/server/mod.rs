//! Everything that runs only on the server (`ssr`). `app(state)` is the whole HTTP surface,
//! `Server::start` wires the store, hub, writer and background ticks around it (tests call it
//! on port 0), and `run` is what `pulse serve` does.

pub mod analytics;
pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod enrich;
pub mod error;
pub mod health;
pub mod history;
pub mod import;
pub mod hub;
pub mod ingest;
pub mod members;
pub mod live;
pub mod login;
pub mod metrics;
pub mod origin;
pub mod public_url;
pub mod rate_limit;
pub mod settings;
pub mod share;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod store_watch;
pub mod visitor;
pub mod writer;

mod pages;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::{header, HeaderValue, Method};
use axum::routing::{any, delete, get, post, put};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_http::cors::{Any, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};

use crate::app::{shell, App};
use config::Config;
use hub::Hub;
use metrics::Metrics;
use shutdown::Shutdown;
use state::AppState;
use store::{AccountStore, EventStore};

pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,pulse=info"));
    // logs on stderr: stdout carries what commands print (ids, summaries, the demo login)
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();
}

/// Leptos site settings: Pulse's defaults, overridden by `LEPTOS_*` (which cargo-leptos sets
/// from `Cargo.toml`), so the built binary also runs without cargo-leptos.
pub fn leptos_options() -> LeptosOptions {
    const DEFAULTS: &str =
        "[package.metadata.leptos]\noutput-name = \"pulse\"\nsite-root = \"target/site\"\nsite-pkg-dir = \"pkg\"\nhash-files = true\n";
    leptos::config::get_config_from_str(DEFAULTS).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "LEPTOS_* settings unreadable; using defaults");
        LeptosOptions::builder().output_name("pulse").build()
    })
}

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    let track_cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(Duration::from_secs(86_400));
    let tracking = Router::new().route("/api/track", post(ingest::track_handler)).layer(track_cors);

    let api = Router::new()
        .route("/api/auth/login", post(login::login_handler))
        .route("/api/auth/logout", post(login::logout_handler))
        .route("/api/auth/refresh", post(login::refresh_handler))
        .route("/api/auth/setup", post(settings::setup_handler))
        .route("/api/live/ws", get(live::ws::ws_handler))
        .route("/api/live/sse", get(live::sse::sse_handler))
        .route("/api/live/stats", get(api::live_stats))
        .route("/api/websites", get(api::websites))
        .route("/api/realtime/events/{website_id}", get(history::newest))
        .route("/api/realtime/events/{website_id}/range", get(history::range))
        .route("/api/realtime/events/{website_id}/stream", get(history::stream))
        .route("/api/websites/{website_id}/connections", delete(api::close_connections))
        .route("/api/websites/{website_id}/broadcast", post(api::broadcast))
        .route("/api/websites/{website_id}/members/{email}", put(members::grant).delete(members::revoke))
        .route("/api/websites/{website_id}/share", post(share::create_handler).delete(share::revoke_handler))
        .route("/api/websites/{website_id}/stats", get(analytics::http::stats))
        .route("/api/websites/{website_id}/stats.csv", get(analytics::http::stats_csv))
        .route("/api/{*rest}", any(pages::api_not_found))
        .route("/health", get(api::health))
        .route("/metrics", get(api::metrics))
        .route("/demo", get(demo::demo_page))
        .route("/demo/{*rest}", get(demo::demo_page))
        .layer(axum::middleware::from_fn_with_state(state.clone(), origin::same_origin_writes));

    let leptos_options = state.leptos.clone();
    let routes = generate_route_list(App);
    let ui = Router::new()
        .leptos_routes_with_context(&state, routes, pages::page_csp, {
            let opts = leptos_options.clone();
            move || shell(opts.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // pages only: the tracking endpoint and the APIs answer for themselves, without
        // paying for a middleware on every request
        .layer(axum::middleware::from_fn_with_state(state.clone(), pages::require_login))
        // server functions (`/rpc`, POST) change state with the cookie: same origin only
        .layer(axum::middleware::from_fn_with_state(state.clone(), origin::same_origin_writes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), pages::asset_caching));

    // the tracking endpoint stays bare: it is the hot path (its outcomes are counted in
    // /metrics), and headers for pages mean nothing to a beacon's 202
    Router::new().merge(tracking).merge(with_log_and_headers(api.merge(ui))).with_state(state)
}

/// The request log, and the headers every response carries (unless a handler set its own): no MIME sniffing, no
/// referrer leaving for other sites, no framing by other sites, no plugins, and forms and
/// `<base>` only towards Pulse itself. Rendered pages replace this policy with a stricter one
/// (`pages::page_csp`: scripts only with the response's nonce).
fn with_log_and_headers(router: Router<AppState>) -> Router<AppState> {
    let set = |name, value| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value));
    // the request log, off unless `RUST_LOG` enables `tower_http=debug`: method, path (never
    // the query, which may hold a live stream's `access_token`), status and latency
    let log = TraceLayer::new_for_http()
        .make_span_with(|req: &axum::http::Request<axum::body::Body>| {
            // tower_http's target, so `tower_http=debug` switches span and events on together
            tracing::debug_span!(target: "tower_http::trace", "request", method = %req.method(), path = %req.uri().path())
        })
        .on_request(DefaultOnRequest::new().level(tracing::Level::DEBUG))
        .on_response(DefaultOnResponse::new().level(tracing::Level::DEBUG));
    router
        .layer(log)
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(set(header::X_FRAME_OPTIONS, "SAMEORIGIN"))
        .layer(set(
            header::CONTENT_SECURITY_POLICY,
            "frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'",
        ))
}

/// How long sent data may stay unacknowledged before the kernel fails the connection.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// How often idle per-IP rate-limiter entries are dropped.
const LIMITER_PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Runs `job` every `period` until shutdown.
fn every<F, Fut>(period: Duration, shutdown: &Shutdown, mut job: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = ticks.tick() => job().await,
                _ = shutdown.wait() => break,
            }
        }
    })
}

/// A running Pulse: the HTTP server plus its writer and background ticks.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: Shutdown,
    http: JoinHandle<std::io::Result<()>>,
    writer: JoinHandle<()>,
    /// Periodic jobs: hub tick, rate-limiter pruning, store maintenance.
    background: Vec<JoinHandle<()>>,
}

impl Server {
    /// Opens the store in `cfg.data_dir`, rebuilds the live state from it and serves on
    /// `listener`.
    pub async fn start(cfg: Config, leptos: LeptosOptions, listener: TcpListener) -> anyhow::Result<Self> {
        let stores = store::open(&cfg).await.with_context(|| match cfg.store.backend {
            config::Backend::Sqlite => format!("opening store in {}", cfg.data_dir.display()),
            config::Backend::Scylla => "opening the ScyllaDB store".to_string(),
        })?;
        Self::start_with_stores(cfg, leptos, listener, stores.events, stores.accounts).await
    }

    /// `start` on stores the caller opened (tests wrap one to inject failures).
    pub async fn start_with_stores(
        cfg: Config,
        leptos: LeptosOptions,
        listener: TcpListener,
        events: Arc<dyn EventStore>,
        accounts: Arc<dyn AccountStore>,
    ) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        // the signing secret: configured; else on ScyllaDB in the keyspace (shared by every
        // process on it); else a file in the data dir
        let signing_secret = match (&cfg.jwt_secret, cfg.store.backend) {
            (Some(s), _) => Some(s.expose().to_string()),
            (None, config::Backend::Scylla) => {
                Some(accounts.setting_or_insert("jwt_secret", &auth::random_hex(48)).await.context("reading the signing secret")?)
            }
            (None, config::Backend::Sqlite) => None,
        };
        let metrics = Metrics::new();
        let shutdown = Shutdown::new();
        let hub = Hub::new(cfg.live.clone(), events.clone());
        let started = std::time::Instant::now();
        let sites = hub.rebuild().await.context("rebuilding live state from the store")?;
        tracing::info!(websites = sites, ms = started.elapsed().as_millis() as u64, "live state rebuilt");

        let (ingest, rx) = writer::queue(&cfg.ingest);
        let write_path = Arc::new(health::WritePath::default());
        let writer = writer::spawn(
            cfg.ingest.clone(),
            events.clone(),
            hub.clone(),
            metrics.clone(),
            write_path.clone(),
            rx,
            shutdown.clone(),
        )
        .context("starting the ingest writer")?;
        let state = AppState::new(state::Shared {
            leptos,
            events,
            hub: hub.clone(),
            ingest,
            sites: Arc::new(ingest::SiteCache::default()),
            enricher: Arc::new(enrich::Enricher::new(cfg.geoip_path().as_deref())),
            visitors: Arc::new(visitor::VisitorHasher::new(accounts.clone()).await?),
            limiter: Arc::new(rate_limit::IpLimiter::new(cfg.ingest.rate_per_ip, cfg.ingest.burst_per_ip)),
            site_limiter: Arc::new(rate_limit::KeyedLimiter::new(cfg.ingest.rate_per_website, cfg.ingest.burst_per_website)),
            login_limiter: Arc::new(rate_limit::IpLimiter::per_minute(cfg.login_per_ip_per_minute, cfg.login_per_ip_per_minute)),
            account_login_limiter: Arc::new(rate_limit::KeyedLimiter::per_minute(
                cfg.login_per_account_per_minute,
                cfg.login_per_account_per_minute,
            )),
            account_lockouts: Arc::new(rate_limit::Lockouts::default()),
            auth: Arc::new(auth::AuthKeys::load(
                &cfg.data_dir,
                signing_secret.as_deref(),
                cfg.access_token_secs,
                cfg.session_hours,
            )?),
            connections: Arc::new(live::Connections::new(
                cfg.live.max_connections,
                cfg.live.max_connections_per_user,
                cfg.live.max_connections_per_ip,
                metrics.clone(),
            )),
            revocations: Arc::new(live::Revocations::default()),
            metrics,
            accounts,
            write_path,
            shutdown: shutdown.clone(),
            cfg: Arc::new(cfg),
        });
        let background = vec![
            every(hub::TICK, &shutdown, {
                let hub = state.hub.clone();
                move || {
                    hub.tick();
                    async {}
                }
            }),
            every(LIMITER_PRUNE_EVERY, &shutdown, {
                let state = state.clone();
                move || {
                    state.limiter.prune();
                    state.login_limiter.prune();
                    state.account_login_limiter.prune();
                    state.site_limiter.prune();
                    async {}
                }
            }),
            every(store_watch::EVERY, &shutdown, {
                let (state, watch) = (state.clone(), Arc::new(store_watch::StoreWatch::default()));
                move || {
                    let (state, watch) = (state.clone(), watch.clone());
                    async move { watch.check(&state).await }
                }
            }),
            every(Duration::from_secs(1), &shutdown, {
                let events = state.events.clone();
                move || {
                    let events = events.clone();
                    async move {
                        if let Err(e) = events.maintain().await {
                            tracing::warn!(error = %e, "store maintenance failed");
                        }
                    }
                }
            }),
        ];
        let router = app(state.clone());
        let http = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                // live frames are small and latency-bound: send them at once (no Nagle delay)
                let listener = listener.tap_io(|tcp| {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                    }
                    // data unacknowledged this long fails the connection: a vanished peer
                    // (no FIN, no RST) releases its live stream and slot in bounded time
                    #[cfg(target_os = "linux")]
                    if let Err(e) = socket2::SockRef::from(&*tcp).set_tcp_user_timeout(Some(TCP_USER_TIMEOUT)) {
                        tracing::debug!(error = %e, "cannot set TCP_USER_TIMEOUT");
                    }
                });
                axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                    .with_graceful_shutdown(async move { shutdown.wait().await })
                    .await
            }
        });
        Ok(Self { addr, state, shutdown, http, writer, background })
    }

    /// Stops accepting, closes live connections, flushes the writer and waits for all of it.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        self.wait().await
    }

    /// Waits until the server has stopped (after `stop` or a signal).
    pub async fn wait(self) -> anyhow::Result<()> {
        let http = self.http.await.context("http task")?;
        self.writer.await.context("writer task")?;
        for task in self.background {
            task.await.context("background task")?;
        }
        http.context("http server")?;
        match self.shutdown.failure() {
            Some(reason) => Err(anyhow::anyhow!("stopped because {reason}")),
            None => Ok(()),
        }
    }
}

/// `pulse serve`.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(cfg.addr).await.with_context(|| format!("binding {}", cfg.addr))?;
    let addr = listener.local_addr()?;
    let base_url = public_url::configured_or_listen(&cfg, addr);
    let demo = cfg.demo;
    let server = Server::start(cfg, leptos_options(), listener).await?;
    if demo {
        demo::ensure_demo(server.state.accounts.as_ref(), &base_url).await?;
    }
    tracing::info!(%addr, "Pulse is listening on {base_url}");
    let signal_shutdown = {
        let s = server.shutdown.clone();
        async move {
            shutdown::signal().await;
            s.trigger();
        }
    };
    tokio::spawn(signal_shutdown);
    server.wait().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}
