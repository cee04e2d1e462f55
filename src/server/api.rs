//! Operations and small REST endpoints: `/health`, `/metrics`, the website list, live
//! connection stats, closing a website's live streams and broadcasting a notice (contract §4).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::model::{LiveStats, TransportCounts, Website};
use crate::server::auth::{AdminUser, AuthUser};
use crate::server::error::AppError;
use crate::server::metrics::Transport;
use crate::server::state::AppState;

const MAX_NOTICE: usize = 500;

/// `200 {"status":"ok"}` when both paths work: the store answers reads and the write path
/// (writer, publisher, the last batch) is running. Else `503` naming what is wrong.
pub async fn health(State(state): State<AppState>) -> Response {
    let unavailable = |error: &str, message: String| {
        (StatusCode::SERVICE_UNAVAILABLE, Json(crate::model::ApiError { error: error.into(), message })).into_response()
    };
    if let Some(reason) = state.shutdown.failure() {
        return unavailable("write_path_unavailable", format!("write path stopped: {reason}"));
    }
    if let Err(reason) = state.write_path.check() {
        return unavailable("write_path_unavailable", reason);
    }
    match state.events.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: store does not answer");
            unavailable("store_unavailable", "the store does not answer reads".into())
        }
    }
}

/// Who may read `/metrics`: a loopback client talking to Pulse directly (a Prometheus on the
/// same host: the peer is loopback and no proxy forwarded the request — a request through a
/// reverse proxy carries `X-Forwarded-For`, whatever `trust_proxy` says), a scraper
/// presenting `metrics_token` as a Bearer token, or a logged-in admin.
async fn may_read_metrics(state: &AppState, peer: SocketAddr, headers: &HeaderMap, uri: &Uri) -> Result<(), AppError> {
    if peer.ip().is_loopback() && !headers.contains_key("x-forwarded-for") && !headers.contains_key("forwarded") {
        return Ok(());
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let (Some(given), Some(token)) = (bearer, &state.cfg.metrics_token) {
        // compare digests: the time taken does not depend on how much of the token matched
        use sha2::{Digest, Sha256};
        if Sha256::digest(given.as_bytes()) == Sha256::digest(token.expose().as_bytes()) {
            return Ok(());
        }
    }
    let user = crate::server::auth::authenticate_user(state, headers, uri).await.map(|a| a.user).map_err(|_| {
        AppError::Unauthorized("metrics are served to loopback clients, admins, and scrapers with metrics_token".into())
    })?;
    if user.is_admin { Ok(()) } else { Err(AppError::Forbidden("metrics need an admin account".into())) }
}

pub async fn metrics(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(e) = may_read_metrics(&state, peer, &headers, &uri).await {
        return e.into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.metrics.render(),
    )
        .into_response()
}

pub async fn websites(State(state): State<AppState>, AuthUser(user): AuthUser) -> Result<Json<Vec<Website>>, AppError> {
    Ok(Json(state.accounts.websites_for(&user).await?))
}

pub async fn live_stats(State(state): State<AppState>, _admin: AdminUser) -> Json<LiveStats> {
    let (websites_live, subscriptions) = state.hub.counts();
    let m = &state.metrics;
    let (ws_open, sse_open) =
        (m.connections(Transport::Websocket).max(0) as u64, m.connections(Transport::Sse).max(0) as u64);
    let (ws_sent, sse_sent) = (m.messages_sent(Transport::Websocket), m.messages_sent(Transport::Sse));
    Json(LiveStats {
        connections: TransportCounts { websocket: ws_open, sse: sse_open, total: ws_open + sse_open },
        subscriptions: subscriptions as u64,
        websites_live: websites_live as u64,
        messages_sent: TransportCounts { websocket: ws_sent, sse: sse_sent, total: ws_sent + sse_sent },
    })
}

async fn existing(state: &AppState, website_id: &str) -> Result<(), AppError> {
    match state.accounts.website(website_id).await? {
        Some(_) => Ok(()),
        None => Err(AppError::UnknownWebsite(website_id.to_string())),
    }
}

pub async fn close_connections(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(website_id): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    existing(&state, &website_id).await?;
    let closed = state.hub.close_website(&website_id);
    tracing::info!(website_id, closed, "live streams closed by an admin");
    Ok(Json(serde_json::json!({ "closed": closed })))
}

#[derive(Deserialize)]
pub struct BroadcastBody {
    message: String,
}

pub async fn broadcast(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(website_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, AppError> {
    existing(&state, &website_id).await?;
    let body: BroadcastBody = serde_json::from_slice(&body)
        .map_err(|e| AppError::InvalidPayload(format!("expected {{\"message\": \"…\"}}: {e}")))?;
    let message = body.message.trim();
    if message.is_empty() || message.chars().count() > MAX_NOTICE {
        return Err(AppError::InvalidPayload(format!("field `message`: must be 1-{MAX_NOTICE} characters")));
    }
    let delivered = state.hub.broadcast(&website_id, message);
    Ok(Json(serde_json::json!({ "delivered": delivered })))
}
