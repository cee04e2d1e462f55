//! `GET /api/live/sse?website_id=A&website_id=B`: the same messages as the WebSocket, as
//! Server-Sent Events with `event: <type>` and `id: <cursor covering every website>`.
//! `Last-Event-ID` (or `?cursor=`) resumes; `Accept: application/json` returns the current
//! snapshots as one document instead of a stream.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::model::{LiveMessage, StreamCursor};
use crate::server::auth;
use crate::server::error::AppError;
use crate::server::metrics::Transport;
use crate::server::state::AppState;

use super::{LiveSession, Next};

/// Encoded events waiting for the HTTP body; the session's own queue is the real buffer.
const BODY_QUEUE: usize = 16;

#[derive(Serialize)]
struct Snapshots {
    snapshots: Vec<LiveMessage>,
}

fn websites_of(uri: &Uri) -> Vec<String> {
    let mut sites: Vec<String> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .filter(|(k, v)| k == "website_id" && !v.is_empty())
                .map(|(_, v)| v.into_owned())
                .collect()
        })
        .unwrap_or_default();
    // each website once, in the order given (a repeat would replay it twice)
    let mut seen = std::collections::HashSet::new();
    sites.retain(|s| seen.insert(s.clone()));
    sites
}

fn resume_from(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            url::form_urlencoded::parse(uri.query()?.as_bytes())
                .find(|(k, _)| k == "cursor")
                .map(|(_, v)| v.into_owned())
        })
}

fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/event-stream")
}

pub async fn sse_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    crate::server::origin::check(&state.cfg, &headers)?;
    // listening for revocations starts before the check, so none falls in between
    let watch = state.revocations.watch();
    let principal = auth::authenticate(&state, &headers, &uri).await?;

    let ip = state.client_ip(&headers, Some(peer));
    let sites = websites_of(&uri);
    if sites.is_empty() {
        return Err(AppError::BadRequest("give at least one `website_id` query parameter".into()));
    }
    if sites.len() > state.cfg.live.max_subscriptions {
        return Err(AppError::BadRequest(format!("at most {} websites per stream", state.cfg.live.max_subscriptions)));
    }
    let resume = match resume_from(&headers, &uri) {
        Some(c) => Some(StreamCursor::parse(&c, &sites).map_err(|e| AppError::BadRequest(e.to_string()))?),
        None => None,
    };
    let slot = state
        .connections
        .open(principal.user_id(), ip, Transport::Sse)
        .map_err(AppError::TooManyConnections)?;
    let mut session = LiveSession::new(state.clone(), principal, slot, watch);
    session.label_messages(sites.len() > 1);
    for site in &sites {
        session.authorize(site).await?;
    }

    if wants_json(&headers) {
        let mut snapshots = Vec::with_capacity(sites.len());
        for site in &sites {
            snapshots.push(state.hub.snapshot(site).await?);
        }
        return Ok(Json(Snapshots { snapshots }).into_response());
    }

    for site in &sites {
        session.subscribe_authorized(site, resume.as_ref().and_then(|c| c.get(site))).await;
    }
    let (tx, rx) = mpsc::channel::<Result<SseEvent, Infallible>>(BODY_QUEUE);
    let sent = state.metrics.messages_counter(Transport::Sse);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                next = session.next() => next,
                // the client went away: unsubscribe now, not at the next write
                _ = tx.closed() => break,
            };
            let frame = match next {
                Next::Frame(f) => f,
                Next::Close(_) => break,
            };
            let mut ev = SseEvent::default().event(frame.kind).data(frame.json.as_str());
            if matches!(frame.kind, "snapshot" | "event" | "stats") {
                ev = ev.id(session.stream_cursor());
            }
            // bounded: a client that stops reading loses its stream (and slot), not the server
            if !matches!(tokio::time::timeout(super::WRITE_TIMEOUT, tx.send(Ok(ev))).await, Ok(Ok(()))) {
                break; // the client went away or stopped reading
            }
            sent.inc();
        }
    });
    let mut resp = Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("keep-alive"))
        .into_response();
    let h = resp.headers_mut();
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}
