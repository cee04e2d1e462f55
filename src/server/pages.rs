//! Page-level HTTP policy: UI pages need a login (redirect to `/login`), and unknown `/api/…`
//! paths answer a JSON 404 instead of an HTML page.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;

use crate::model::ApiError;
use crate::server::auth;
use crate::server::state::AppState;

/// Paths anyone may load: the login page, APIs (which check auth themselves), the tracker,
/// the demo page, built assets and probes.
fn is_public(path: &str) -> bool {
    const PREFIXES: [&str; 6] = ["/api/", "/pkg/", "/rpc/", "/demo", "/login", "/health"];
    const FILES: [&str; 3] = ["/tracker.js", "/metrics", "/favicon.svg"];
    PREFIXES.iter().any(|p| path.starts_with(p))
        || FILES.contains(&path)
        || path.rsplit_once('.').is_some_and(|(_, ext)| matches!(ext, "js" | "css" | "wasm" | "png" | "svg" | "ico" | "txt"))
}

pub async fn require_login(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if req.method() != Method::GET || is_public(path) {
        return next.run(req).await;
    }
    match auth::authenticate(&state, req.headers(), req.uri()).await {
        Ok(_) => next.run(req).await,
        Err(_) => {
            let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let next_param: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
            Redirect::to(&format!("/login?next={next_param}")).into_response()
        }
    }
}

pub async fn api_not_found(req: Request) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(ApiError { error: "not_found".into(), message: format!("no endpoint {} {}", req.method(), req.uri().path()) }),
    )
        .into_response()
}
