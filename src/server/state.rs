//! `AppState`: the handles every handler shares, behind one `Arc` so that the per-request
//! clone axum's `State` extractor makes is a single reference-count bump.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::server::auth::AuthKeys;
use crate::server::config::Config;
use crate::server::enrich::Enricher;
use crate::server::health::WritePath;
use crate::server::hub::Hub;
use crate::server::ingest::SiteCache;
use crate::server::rate_limit::{IpLimiter, KeyedLimiter};
use crate::server::live::Connections;
use crate::server::metrics::Metrics;
use crate::server::shutdown::Shutdown;
use crate::server::store::{AccountStore, EventStore};
use crate::server::visitor::VisitorHasher;
use crate::server::writer::IngestQueue;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub cfg: Arc<Config>,
    pub leptos: LeptosOptions,
    pub events: Arc<dyn EventStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub hub: Hub,
    pub ingest: IngestQueue,
    pub sites: Arc<SiteCache>,
    pub enricher: Arc<Enricher>,
    pub visitors: Arc<VisitorHasher>,
    /// Tracking requests per IP.
    pub limiter: Arc<IpLimiter>,
    /// Tracked events per website.
    pub site_limiter: Arc<KeyedLimiter<String>>,
    /// Login attempts per IP …
    pub login_limiter: Arc<IpLimiter>,
    /// … and failed logins per account (lower-cased email) …
    pub account_login_limiter: Arc<KeyedLimiter<String>>,
    /// … which lock the account briefly when they exceed it.
    pub account_lockouts: Arc<crate::server::rate_limit::Lockouts>,
    pub auth: Arc<AuthKeys>,
    pub metrics: Metrics,
    pub connections: Arc<Connections>,
    /// Memberships revoked while streams are open.
    pub revocations: Arc<crate::server::live::Revocations>,
    /// The writer's health, for `/health`.
    pub write_path: Arc<WritePath>,
    pub shutdown: Shutdown,
}

impl Shared {
    /// The client's IP for limits, visitor ids and countries (see `rate_limit::client_ip`).
    pub fn client_ip(&self, headers: &axum::http::HeaderMap, peer: Option<std::net::SocketAddr>) -> std::net::IpAddr {
        crate::server::rate_limit::client_ip(headers, peer, self.cfg.trust_proxy.hops())
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
