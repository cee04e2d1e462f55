//! The server side of the WebSocket opening handshake (RFC 6455 §4.2) on top of hyper's
//! connection upgrade, handing the socket to tokio-tungstenite. Pulse does this itself instead
//! of using axum's `WebSocketUpgrade` because the writer (`ws::feed_text`) needs to send raw
//! continuation frames, which axum's message type does not expose. The key derivation is
//! tungstenite's; only the header checks live here.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::server::error::AppError;

pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// A validated upgrade request; `respond` answers `101` and runs the callback on the socket.
pub struct Upgrade {
    accept: HeaderValue,
    on_upgrade: OnUpgrade,
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let not_ws = || AppError::BadRequest("this endpoint speaks WebSocket: send a GET with `Upgrade: websocket`".into());
        if parts.method != Method::GET
            || !header_has_token(&parts.headers, header::CONNECTION, "upgrade")
            || !header_has_token(&parts.headers, header::UPGRADE, "websocket")
        {
            return Err(not_ws());
        }
        if parts.headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v != "13") {
            return Err(AppError::BadRequest("only WebSocket version 13 is supported (Sec-WebSocket-Version: 13)".into()));
        }
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .ok_or_else(|| AppError::BadRequest("the Sec-WebSocket-Key header is missing".into()))?;
        let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
            .map_err(|e| AppError::Internal(format!("websocket accept key: {e}")))?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or_else(|| AppError::BadRequest("this connection cannot be upgraded (HTTP/1.1 required)".into()))?;
        Ok(Upgrade { accept, on_upgrade })
    }
}

impl Upgrade {
    /// Answers `101 Switching Protocols`; once hyper hands over the connection, `run` gets the
    /// socket configured with `config`.
    pub fn respond<F, Fut>(self, config: WebSocketConfig, run: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
                    run(socket).await;
                }
                Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
            }
        });
        let mut resp = Response::new(axum::body::Body::empty());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = resp.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::SEC_WEBSOCKET_ACCEPT, self.accept);
        resp
    }
}
