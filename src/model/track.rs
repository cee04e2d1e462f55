//! The body of `POST /api/track` (contract §1) and its answer.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::event::Props;

/// Bodies larger than this are answered `413 payload_too_large`.
pub const MAX_TRACK_BODY_BYTES: usize = 16 * 1024;
/// At most this many custom properties per event.
pub const MAX_PROPS: usize = 30;

/// What a tracked page sends. Unknown fields are ignored so that newer trackers keep working.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackRequest {
    pub website_id: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub props: Option<Props>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_width: Option<u32>,
}

/// `202` answer. `id` is null and `dropped` says why when the event was not stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackAccepted {
    pub id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<String>,
}
