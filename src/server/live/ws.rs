//! `GET /api/live/ws`: one multiplexed WebSocket per browser. Text frames of JSON both ways;
//! bad commands get an `error` frame and the connection stays open. Buffers are sized small:
//! an idle connection should cost a few KiB, not axum's 128 KiB default read buffer.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use futures::{SinkExt, StreamExt};

use crate::model::{ClientCommand, ErrorCode, LiveMessage};
use crate::server::auth;
use crate::server::error::AppError;
use crate::server::metrics::Transport;
use crate::server::state::AppState;

use super::session::error_frame;
use super::{LiveSession, Next};

/// Largest client → server message; commands are tiny.
const MAX_COMMAND_BYTES: usize = 8 * 1024;

pub async fn ws_handler(State(state): State<AppState>, headers: HeaderMap, uri: Uri, ws: WebSocketUpgrade) -> Response {
    let auth = auth::authenticate(&state, &headers, &uri).await;
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(MAX_COMMAND_BYTES)
        .max_frame_size(MAX_COMMAND_BYTES)
        .on_upgrade(move |socket| run(state, auth, socket))
}

async fn refuse(mut socket: WebSocket, code: ErrorCode, message: String) {
    let frame = error_frame(code, message.clone(), None);
    let _ = socket.send(Message::Text(frame.json.clone())).await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame { code: 1008, reason: Utf8Bytes::from(code_reason(code)) })))
        .await;
}

fn code_reason(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Unauthorized => "unauthorized",
        ErrorCode::TooManyConnections => "too_many_connections",
        _ => "policy",
    }
}

async fn run(state: AppState, auth: Result<crate::server::store::UserRow, AppError>, socket: WebSocket) {
    let user = match auth {
        Ok(u) => u,
        Err(e) => return refuse(socket, ErrorCode::Unauthorized, e.to_string()).await,
    };
    let slot = match state.connections.open(user.id, Transport::Websocket) {
        Ok(s) => s,
        Err(msg) => return refuse(socket, ErrorCode::TooManyConnections, msg).await,
    };
    let metrics = state.metrics.clone();
    let mut session = LiveSession::new(state, user, slot);
    let (mut sink, mut stream) = socket.split();
    tracing::debug!(user = %session.user().email, "websocket open");
    loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => on_command(&mut session, text.as_str()).await,
                Some(Ok(Message::Binary(_))) => session.push(error_frame(
                    ErrorCode::BadRequest, "binary frames are not supported; send JSON text", None)),
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {} // ping/pong are answered by the library
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "websocket read failed");
                    break;
                }
            },
            next = session.next() => match next {
                Next::Frame(frame) => {
                    if sink.send(Message::Text(frame.json.clone())).await.is_err() {
                        break;
                    }
                    metrics.message_sent(Transport::Websocket);
                }
                Next::Close(reason) => {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: 1001, reason: Utf8Bytes::from(reason) }))).await;
                    break;
                }
            },
        }
    }
    tracing::debug!("websocket closed");
}

async fn on_command(session: &mut LiveSession, text: &str) {
    match serde_json::from_str::<ClientCommand>(text) {
        Ok(ClientCommand::Subscribe { website_id, cursor }) => session.subscribe(&website_id, cursor.as_deref()).await,
        Ok(ClientCommand::Unsubscribe { website_id }) => session.unsubscribe(&website_id),
        Ok(ClientCommand::Ping) => session.push(crate::server::hub::Frame::encode(&LiveMessage::Pong, 0)),
        Err(e) => session.push(error_frame(
            ErrorCode::BadRequest,
            format!("unknown or malformed command: {e}; expected subscribe, unsubscribe or ping"),
            None,
        )),
    }
}
