//! The live protocol (contract §2): server → client `LiveMessage`, client → server
//! `ClientCommand`. The same enum is the WebSocket text frame, the SSE `data:` and what the
//! Leptos client decodes; the SSE `event:` name is the `type` tag.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::Event;
use super::stats::Stats;
use super::time::rfc3339_millis;

// Snapshots are large and rare; messages are serialized straight away, so boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveMessage {
    /// The whole live state of a website, consistent with `cursor`.
    Snapshot {
        website_id: String,
        cursor: String,
        stats: Stats,
        /// Newest first.
        recent: Vec<Event>,
    },
    Event {
        website_id: String,
        cursor: String,
        event: Event,
    },
    Stats {
        website_id: String,
        cursor: String,
        stats: Stats,
    },
    Heartbeat {
        #[serde(with = "rfc3339_millis")]
        server_time: DateTime<Utc>,
    },
    /// The server could not replay from the client's cursor; a fresh `snapshot` follows.
    Gap { website_id: String },
    Notice {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        website_id: Option<String>,
        message: String,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        website_id: Option<String>,
    },
    Pong,
}

impl LiveMessage {
    /// The `type` tag, which is also the SSE `event:` name.
    pub fn kind(&self) -> &'static str {
        match self {
            LiveMessage::Snapshot { .. } => "snapshot",
            LiveMessage::Event { .. } => "event",
            LiveMessage::Stats { .. } => "stats",
            LiveMessage::Heartbeat { .. } => "heartbeat",
            LiveMessage::Gap { .. } => "gap",
            LiveMessage::Notice { .. } => "notice",
            LiveMessage::Error { .. } => "error",
            LiveMessage::Pong => "pong",
        }
    }

    /// Every `type` tag, for SSE clients that subscribe per event name.
    pub const KINDS: [&'static str; 8] =
        ["snapshot", "event", "stats", "heartbeat", "gap", "notice", "error", "pong"];

    pub fn website_id(&self) -> Option<&str> {
        match self {
            LiveMessage::Snapshot { website_id, .. }
            | LiveMessage::Event { website_id, .. }
            | LiveMessage::Stats { website_id, .. }
            | LiveMessage::Gap { website_id } => Some(website_id),
            LiveMessage::Notice { website_id, .. } | LiveMessage::Error { website_id, .. } => {
                website_id.as_deref()
            }
            LiveMessage::Heartbeat { .. } | LiveMessage::Pong => None,
        }
    }

    pub fn cursor(&self) -> Option<&str> {
        match self {
            LiveMessage::Snapshot { cursor, .. }
            | LiveMessage::Event { cursor, .. }
            | LiveMessage::Stats { cursor, .. } => Some(cursor),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    Forbidden,
    TooManyConnections,
    BadRequest,
    NotFound,
    Closed,
}

/// What a client sends over the WebSocket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientCommand {
    Subscribe {
        website_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
    },
    Unsubscribe { website_id: String },
    Ping,
    /// A new access token for this connection (from `POST /api/auth/refresh`), sent before the
    /// current one expires so the stream goes on without reconnecting.
    Refresh { token: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_snake_case_and_match_kind() {
        let msg = LiveMessage::Gap { website_id: "w".into() };
        let json = serde_json::to_value(&msg).unwrap();
        assert_eq!(json["type"], "gap");
        assert_eq!(msg.kind(), "gap");
        let pong = serde_json::to_string(&LiveMessage::Pong).unwrap();
        assert_eq!(pong, r#"{"type":"pong"}"#);
    }

    #[test]
    fn subscribe_cursor_is_optional() {
        let cmd: ClientCommand =
            serde_json::from_str(r#"{"type":"subscribe","website_id":"a"}"#).unwrap();
        assert_eq!(cmd, ClientCommand::Subscribe { website_id: "a".into(), cursor: None });
    }
}
