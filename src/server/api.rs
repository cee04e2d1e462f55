//! Operations and small REST endpoints: `/health`, `/metrics`, the website list, live
//! connection stats, closing a website's live streams and broadcasting a notice (contract §4).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
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

pub async fn metrics(State(state): State<AppState>) -> Response {
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
