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
#[derive(Clone, Debug, PartialEq, Serialize)]
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

/// Decoded through one flat struct: serde's derive for internally tagged enums buffers every
/// message into an intermediate tree first, which is slower and costs the browser bundle
/// tens of KB of code. Same wire format, same errors for a missing field or unknown `type`.
impl<'de> Deserialize<'de> for LiveMessage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;

        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Kind {
            Snapshot,
            Event,
            Stats,
            Heartbeat,
            Gap,
            Notice,
            Error,
            Pong,
        }

        #[derive(Deserialize)]
        struct Wire {
            #[serde(rename = "type")]
            kind: Kind,
            website_id: Option<String>,
            cursor: Option<String>,
            stats: Option<Stats>,
            recent: Option<Vec<Event>>,
            event: Option<Event>,
            server_time: Option<String>,
            message: Option<String>,
            code: Option<ErrorCode>,
        }

        fn need<T, E: Error>(v: Option<T>, field: &'static str) -> Result<T, E> {
            v.ok_or_else(|| E::missing_field(field))
        }

        let w = Wire::deserialize(d)?;
        Ok(match w.kind {
            Kind::Snapshot => LiveMessage::Snapshot {
                website_id: need(w.website_id, "website_id")?,
                cursor: need(w.cursor, "cursor")?,
                stats: need(w.stats, "stats")?,
                recent: need(w.recent, "recent")?,
            },
            Kind::Event => LiveMessage::Event {
                website_id: need(w.website_id, "website_id")?,
                cursor: need(w.cursor, "cursor")?,
                event: need(w.event, "event")?,
            },
            Kind::Stats => LiveMessage::Stats {
                website_id: need(w.website_id, "website_id")?,
                cursor: need(w.cursor, "cursor")?,
                stats: need(w.stats, "stats")?,
            },
            Kind::Heartbeat => {
                let text = need(w.server_time, "server_time")?;
                let server_time = DateTime::parse_from_rfc3339(&text)
                    .map_err(D::Error::custom)?
                    .with_timezone(&Utc);
                LiveMessage::Heartbeat { server_time }
            }
            Kind::Gap => LiveMessage::Gap { website_id: need(w.website_id, "website_id")? },
            Kind::Notice => LiveMessage::Notice {
                website_id: w.website_id,
                message: need(w.message, "message")?,
            },
            Kind::Error => LiveMessage::Error {
                code: need(w.code, "code")?,
                message: need(w.message, "message")?,
                website_id: w.website_id,
            },
            Kind::Pong => LiveMessage::Pong,
        })
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
    fn every_message_decodes_to_what_was_encoded() {
        let time = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678Z")
            .unwrap()
            .with_timezone(&Utc);
        let event = Event::test_pageview("/a", "v", time);
        let messages = [
            LiveMessage::Snapshot {
                website_id: "w".into(),
                cursor: "c1".into(),
                stats: Stats { current_visitors: 2, ..Stats::default() },
                recent: vec![event.clone()],
            },
            LiveMessage::Event { website_id: "w".into(), cursor: "c2".into(), event },
            LiveMessage::Stats { website_id: "w".into(), cursor: "c3".into(), stats: Stats::default() },
            LiveMessage::Heartbeat { server_time: time },
            LiveMessage::Gap { website_id: "w".into() },
            LiveMessage::Notice { website_id: None, message: "m".into() },
            LiveMessage::Error {
                code: ErrorCode::Forbidden,
                message: "no".into(),
                website_id: Some("w".into()),
            },
            LiveMessage::Pong,
        ];
        for msg in messages {
            let text = serde_json::to_string(&msg).unwrap();
            assert_eq!(serde_json::from_str::<LiveMessage>(&text).unwrap(), msg, "{text}");
        }
    }

    #[test]
    fn a_message_missing_a_field_or_of_unknown_type_is_refused() {
        let missing = serde_json::from_str::<LiveMessage>(r#"{"type":"gap"}"#).unwrap_err();
        assert!(missing.to_string().contains("website_id"), "{missing}");
        let unknown = serde_json::from_str::<LiveMessage>(r#"{"type":"nope"}"#).unwrap_err();
        assert!(unknown.to_string().contains("nope"), "{unknown}");
    }

    #[test]
    fn subscribe_cursor_is_optional() {
        let cmd: ClientCommand =
            serde_json::from_str(r#"{"type":"subscribe","website_id":"a"}"#).unwrap();
        assert_eq!(cmd, ClientCommand::Subscribe { website_id: "a".into(), cursor: None });
    }
}
