//! Same-origin policy for requests a browser may send with the admin's session cookie: the
//! live streams (WebSocket, SSE) and state-changing API calls answer only pages of Pulse's own
//! origin (the request's host, or `public_url`) or of an origin in `allowed_origins`. A script
//! on a tracked site therefore cannot open an admin's stream or act as them. Requests without
//! an `Origin` header (curl, servers, tools) are not browser-initiated and pass.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::server::config::Config;
use crate::server::error::AppError;
use crate::server::state::AppState;

/// `scheme://host[:port]` of a URL, lower-cased, default ports dropped.
fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url.trim()).ok()?;
    matches!(u.scheme(), "http" | "https").then_some(())?;
    Some(u.origin().ascii_serialization())
}

/// Whether a request with these headers may act with the user's cookie: its `Origin` is
/// Pulse's own, `public_url`'s or one of `live.allowed_origins`. `Err` names why not.
pub fn check(cfg: &Config, headers: &HeaderMap) -> Result<(), AppError> {
    let Some(raw) = headers.get("origin") else { return Ok(()) };
    let raw = raw.to_str().unwrap_or("");
    let refuse = || {
        AppError::Forbidden(format!(
            "requests from origin {raw:?} are not accepted here; an operator can allow it in live.allowed_origins"
        ))
    };
    let origin = origin_of(raw).ok_or_else(refuse)?;
    // the host part of the origin, compared with the host the request was sent to: the scheme
    // may differ behind a proxy that terminates TLS
    let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
    let own_host = crate::server::public_url::request_host(cfg, headers).map(str::to_ascii_lowercase);
    let same_host = own_host.as_deref().is_some_and(|h| h == origin_host || with_default_port_dropped(h) == origin_host);
    let public = cfg.public_url.as_deref().and_then(origin_of).is_some_and(|p| p == origin);
    let listed = cfg.live.allowed_origins.iter().filter_map(|a| origin_of(a)).any(|a| a == origin);
    if same_host || public || listed { Ok(()) } else { Err(refuse()) }
}

/// `example.com:80` and `example.com:443` are written without the port in an origin.
fn with_default_port_dropped(host: &str) -> &str {
    host.strip_suffix(":80").or_else(|| host.strip_suffix(":443")).unwrap_or(host)
}

/// Middleware for the API: state-changing methods from a foreign origin answer `403`.
/// `/api/track` is public on purpose (any origin) and is not behind it.
pub async fn same_origin_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if writes && let Err(e) = check(&state.cfg, req.headers()) {
        return e.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::TrustProxy;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn own_public_and_listed_origins_pass_others_do_not() {
        let mut cfg = Config::default();
        let ok = |cfg: &Config, allowed: &[String], pairs: &[(&'static str, &str)]| {
            let cfg = Config { live: crate::server::config::LiveConfig { allowed_origins: allowed.to_vec(), ..cfg.live.clone() }, ..cfg.clone() };
            check(&cfg, &h(pairs)).is_ok()
        };
        assert!(ok(&cfg, &[], &[("host", "127.0.0.1:3000")]), "no Origin: not a browser page");
        assert!(ok(&cfg, &[], &[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")]));
        assert!(ok(&cfg, &[], &[("host", "pulse.example.com"), ("origin", "https://pulse.example.com")]), "TLS ended at a proxy");
        assert!(!ok(&cfg, &[], &[("host", "127.0.0.1:3000"), ("origin", "https://shop.example")]));
        assert!(!ok(&cfg, &[], &[("host", "127.0.0.1:3000"), ("origin", "null")]));
        assert!(!ok(&cfg, &[], &[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3001")]), "another port");
        let listed = vec!["https://wall.example.com".to_string()];
        assert!(ok(&cfg, &listed, &[("host", "127.0.0.1:3000"), ("origin", "https://wall.example.com")]));
        cfg.public_url = Some("https://pulse.example.com".into());
        assert!(ok(&cfg, &[], &[("host", "10.0.0.5:3000"), ("origin", "https://pulse.example.com")]));
        // a forwarded host counts only behind a trusted proxy
        let fwd = [("host", "10.0.0.5:3000"), ("x-forwarded-host", "stats.example.com"), ("origin", "https://stats.example.com")];
        assert!(!ok(&Config::default(), &[], &fwd));
        let proxied = Config { trust_proxy: TrustProxy::Flag(true), ..Config::default() };
        assert!(ok(&proxied, &[], &fwd));
    }
}
