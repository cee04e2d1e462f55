//! `GET /api/live/ws`: one multiplexed WebSocket per browser. Text messages of JSON both ways;
//! bad commands get an `error` frame and the connection stays open. Buffers are sized small:
//! an idle connection should cost a few KiB, not axum's 128 KiB default read buffer. Messages
//! larger than `FRAGMENT_BYTES` (snapshots) go out as continuation frames, because the socket
//! keeps its write buffer at the size of the largest frame it ever wrote. Every message that
//! is ready goes out before one flush (`write_ready`).
//!
//! Dead peers: the server pings every heartbeat and closes a peer it has not heard from (any
//! frame, pongs included) for two heartbeats; every write is bounded by `WRITE_TIMEOUT`. So a
//! vanished browser frees its connection slot in ~30 s, not when TCP gives up.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use tokio::time::{interval_at, timeout, Instant, MissedTickBehavior};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use futures::{Sink, SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WireFrame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message, Utf8Bytes};

use crate::model::{ClientCommand, ErrorCode, LiveMessage};
use crate::server::auth::{self, Principal};
use crate::server::error::AppError;
use crate::server::hub::Frame;
use crate::server::metrics::Transport;
use crate::server::state::AppState;

use super::session::{error_frame, UNAUTHORIZED};
use super::ws_upgrade::{Socket, Upgrade};
use super::{LiveSession, Next, WRITE_TIMEOUT};

/// Largest client → server message; commands are tiny.
const MAX_COMMAND_BYTES: usize = 8 * 1024;
/// Largest frame written; longer messages are split into continuation frames of this size.
const FRAGMENT_BYTES: usize = 4 * 1024;
/// Small frames collect in the socket's write buffer up to this size before a flush; anything
/// larger goes straight out. Below `FRAGMENT_BYTES`, so the buffer never outgrows a fragment
/// plus this.
const COALESCE_BYTES: usize = 2 * 1024;
/// Most messages written per flush.
const COALESCE_FRAMES: u64 = 32;

pub async fn ws_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    ws: Upgrade,
) -> Response {
    // a page of another origin cannot open an admin's stream with their cookie
    if let Err(e) = crate::server::origin::check(&state.cfg, &headers) {
        return e.into_response();
    }
    // listening for revocations starts before the check, so none falls in between
    let watch = state.revocations.watch();
    let auth = auth::authenticate(&state, &headers, &uri).await;
    let ip = state.client_ip(&headers, Some(peer));
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(COALESCE_BYTES)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(Some(MAX_COMMAND_BYTES))
        .max_frame_size(Some(MAX_COMMAND_BYTES));
    ws.respond(config, move |socket| run(state, auth, watch, ip, socket))
}

/// Queues one text message without flushing: a single frame when small, else a text frame
/// followed by continuation frames of at most `FRAGMENT_BYTES`, split on character boundaries.
async fn feed_text<S>(sink: &mut S, text: &Utf8Bytes) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    if text.len() <= FRAGMENT_BYTES {
        return sink.feed(Message::Text(text.clone())).await;
    }
    let bytes = Bytes::from(text.clone());
    for (i, (start, end)) in fragments(text.as_str(), FRAGMENT_BYTES).enumerate() {
        let opcode = OpCode::Data(if i == 0 { Data::Text } else { Data::Continue });
        let payload = bytes.slice(start..end);
        sink.feed(Message::Frame(WireFrame::message(payload, opcode, end == text.len()))).await?;
    }
    Ok(())
}

/// Sends one text message and flushes.
async fn send_text<S>(sink: &mut S, text: &Utf8Bytes) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    feed_text(sink, text).await?;
    sink.flush().await
}

/// Byte ranges of at most `max` bytes (at least one character each) covering `text`, each
/// ending on a character boundary.
fn fragments(text: &str, max: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= text.len() {
            return None;
        }
        let mut end = (start + max).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if end == start {
            end = start + text[start..].chars().next().map_or(1, char::len_utf8);
        }
        let range = (start, end);
        start = end;
        Some(range)
    })
}

/// The close reason (code 1009) for a command over `MAX_COMMAND_BYTES`.
const TOO_BIG_REASON: &str = "message too big: commands are at most 8 KiB";

fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: Utf8Bytes::from_static(reason) }))
}

async fn refuse(mut socket: Socket, code: ErrorCode, message: String) {
    let frame = error_frame(code, message, None);
    let _ = timeout(WRITE_TIMEOUT, async {
        send_text(&mut socket, &frame.json).await?;
        socket.send(close_frame(1008, code_reason(code))).await
    })
    .await;
}

/// 1008 (policy) when the login behind the stream ended or expired, else 1001 (going away).
fn close_code(reason: &str) -> u16 {
    if reason == UNAUTHORIZED { 1008 } else { 1001 }
}

fn code_reason(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Unauthorized => "unauthorized",
        ErrorCode::TooManyConnections => "too_many_connections",
        _ => "policy",
    }
}

async fn run(state: AppState, auth: Result<Principal, AppError>, watch: super::Watch, ip: IpAddr, socket: Socket) {
    let principal = match auth {
        Ok(p) => p,
        Err(e) => return refuse(socket, ErrorCode::Unauthorized, e.to_string()).await,
    };
    let slot = match state.connections.open(principal.user_id(), ip, Transport::Websocket) {
        Ok(s) => s,
        Err(msg) => return refuse(socket, ErrorCode::TooManyConnections, msg).await,
    };
    let sent = state.metrics.messages_counter(Transport::Websocket);
    let every = Duration::from_secs(state.cfg.live.heartbeat_secs.clamp(1, 15));
    let mut session = LiveSession::new(state, principal, slot, watch);
    let (mut sink, mut stream) = socket.split();
    let mut ping = interval_at(Instant::now() + every, every);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    tracing::debug!(user_id = ?session.user_id(), "websocket open");
    loop {
        // (close code, reason) when the server ends the connection
        let close: Option<(u16, &'static str)> = tokio::select! {
            incoming = stream.next() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        on_command(&mut session, text.as_str()).await;
                        None
                    }
                    Some(Ok(Message::Binary(_))) => {
                        session.push(error_frame(ErrorCode::BadRequest, "binary frames are not supported; send JSON text", None));
                        None
                    }
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => None, // pings are answered by the library; pongs only prove life
                    Some(Err(WsError::Capacity(e))) => {
                        tracing::debug!(error = %e, "websocket command over the limit; closing");
                        Some((1009, TOO_BIG_REASON))
                    }
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "websocket read failed");
                        break;
                    }
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() >= every * 2 {
                    tracing::debug!(user_id = ?session.user_id(), "websocket peer silent for two heartbeats; closing");
                    Some((1001, "no answer to pings"))
                } else if !matches!(timeout(WRITE_TIMEOUT, sink.send(Message::Ping(Bytes::new()))).await, Ok(Ok(()))) {
                    break;
                } else {
                    None
                }
            },
            next = session.next() => match next {
                Next::Frame(frame) => match timeout(WRITE_TIMEOUT, write_ready(&mut sink, &mut session, &frame)).await {
                    Ok(Ok((written, close))) => {
                        sent.inc_by(written);
                        close.map(|reason| (close_code(reason), reason))
                    }
                    Ok(Err(_)) => break,
                    Err(_) => {
                        tracing::debug!("websocket write timed out; closing");
                        break;
                    }
                },
                Next::Close(reason) => Some((close_code(reason), reason)),
            },
        };
        if let Some((code, reason)) = close {
            let _ = timeout(WRITE_TIMEOUT, sink.send(close_frame(code, reason))).await;
            break;
        }
    }
    tracing::debug!("websocket closed");
}

/// Writes `first` and whatever else the session has ready (at most `COALESCE_FRAMES`), then
/// flushes once: an event and its stats, or a burst, cost one syscall. Returns how many
/// messages went out, and the close reason if the session ended meanwhile.
async fn write_ready<S>(
    sink: &mut S,
    session: &mut LiveSession,
    first: &Frame,
) -> Result<(u64, Option<&'static str>), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    feed_text(sink, &first.json).await?;
    let mut written = 1;
    let mut close = None;
    while written < COALESCE_FRAMES {
        match session.ready() {
            Some(Next::Frame(more)) => {
                feed_text(sink, &more.json).await?;
                written += 1;
            }
            Some(Next::Close(reason)) => {
                close = Some(reason);
                break;
            }
            None => break,
        }
    }
    sink.flush().await?;
    Ok((written, close))
}

async fn on_command(session: &mut LiveSession, text: &str) {
    match serde_json::from_str::<ClientCommand>(text) {
        Ok(ClientCommand::Subscribe { website_id, cursor }) => session.subscribe(&website_id, cursor.as_deref()).await,
        Ok(ClientCommand::Unsubscribe { website_id }) => session.unsubscribe(&website_id),
        Ok(ClientCommand::Ping) => session.push(crate::server::hub::Frame::encode(&LiveMessage::Pong, 0)),
        Ok(ClientCommand::Refresh { token }) => session.refresh(&token).await,
        Err(e) => session.push(error_frame(
            ErrorCode::BadRequest,
            format!("unknown or malformed command: {e}; expected subscribe, unsubscribe, refresh or ping"),
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::fragments;

    fn pieces(text: &str, max: usize) -> Vec<&str> {
        fragments(text, max).map(|(a, b)| &text[a..b]).collect()
    }

    #[test]
    fn fragments_cover_the_text_in_order_and_within_the_limit() {
        let text = "a".repeat(10_000);
        let parts = pieces(&text, 4096);
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![4096, 4096, 1808]);
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn fragments_never_split_a_character() {
        let text = "é".repeat(5_000); // 2 bytes each: a 4095-byte cut would split one
        let parts = pieces(&text, 4095);
        assert!(parts.iter().all(|p| p.len() <= 4095 && p.chars().all(|c| c == 'é')));
        assert_eq!(parts.concat(), text);
        assert_eq!(pieces("€", 1), vec!["€"]); // a character longer than the limit still goes out
    }
}
