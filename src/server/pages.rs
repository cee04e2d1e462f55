//! Page-level HTTP policy: UI pages need a login (redirect to `/login`); an expired access
//! token is renewed from the refresh cookie on the way (pages and server functions), so a
//! tab left open keeps working; unknown `/api/…` paths answer a JSON 404 instead of HTML.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;

use crate::model::ApiError;
use crate::server::{auth, login};
use crate::server::state::AppState;

/// Paths anyone may load: the login page, APIs (which check auth themselves), the tracker,
/// the demo page, share links and account setup links (their tokens are checked by their
/// pages), built assets and probes.
fn is_public(path: &str) -> bool {
    const PREFIXES: [&str; 8] = ["/api/", "/pkg/", "/rpc/", "/demo", "/login", "/health", "/share/", "/setup/"];
    const FILES: [&str; 3] = ["/tracker.js", "/metrics", "/favicon.svg"];
    PREFIXES.iter().any(|p| path.starts_with(p))
        || FILES.contains(&path)
        || path.rsplit_once('.').is_some_and(|(_, ext)| matches!(ext, "js" | "css" | "wasm" | "png" | "svg" | "ico" | "txt"))
}

pub async fn require_login(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let rpc = path.starts_with("/rpc/");
    let page = req.method() == Method::GET && !is_public(path);
    if !page && !rpc {
        return next.run(req).await;
    }
    if auth::authenticate_user(&state, req.headers(), req.uri()).await.is_ok() {
        return next.run(req).await;
    }
    // the access token expired (or is missing) but the login lasts: renew it for this request
    // and the browser
    if let Ok((_, token)) = login::refresh_from_cookie(&state, req.headers()).await {
        let set_cookie = login::access_cookie(&state, req.headers(), &token);
        with_access_token(req.headers_mut(), &token);
        let mut resp = next.run(req).await;
        resp.headers_mut().append(header::SET_COOKIE, set_cookie);
        return resp;
    }
    if rpc {
        return next.run(req).await; // a server function answers for itself
    }
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let next_param: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next_param}")).into_response()
}

/// Replaces the request's access-token cookie with `token` (other cookies stay).
fn with_access_token(headers: &mut HeaderMap, token: &str) {
    let others: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.starts_with(&format!("{}=", auth::SESSION_COOKIE)))
        .map(str::to_string)
        .collect();
    let mut all = others;
    all.push(format!("{}={token}", auth::SESSION_COOKIE));
    if let Ok(v) = HeaderValue::from_str(&all.join("; ")) {
        headers.remove(header::COOKIE);
        headers.insert(header::COOKIE, v);
    }
}

pub async fn api_not_found(req: Request) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(ApiError { error: "not_found".into(), message: format!("no endpoint {} {}", req.method(), req.uri().path()) }),
    )
        .into_response()
}

/// The Content-Security-Policy of a rendered page: scripts only from Pulse itself or inline
/// with this response's nonce (Leptos' hydration script carries it), WebAssembly allowed, no
/// plugins, no framing by other sites. Run as the pages' extra context, where the nonce and
/// the response options exist.
pub fn page_csp() {
    let (Some(nonce), Some(res)) = (leptos::nonce::use_nonce(), leptos::prelude::use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&policy) {
        res.insert_header(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// Built assets (`/pkg/…`): with hashed file names (`hash-files`) a name never changes its
/// content, so browsers keep them for a year without asking; without, they revalidate.
/// Precompressed `.br`/`.gz` siblings are chosen by the file handler (leptos_axum's
/// `ServeDir`) from `Accept-Encoding`.
pub async fn asset_caching(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let pkg = req.uri().path().starts_with("/pkg/");
    let mut resp = next.run(req).await;
    if pkg && resp.status().is_success() {
        let policy = if state.leptos.hash_files { "public, max-age=31536000, immutable" } else { "no-cache" };
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    resp
}
