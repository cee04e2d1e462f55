//! History REST shapes (contract §3): a page of stored events, newest first.

use serde::{Deserialize, Serialize};

use super::Event;

/// `GET /api/realtime/events/…`: newest first; `next_cursor` fetches the next (older) page and
/// is `null` on the last one. Cursors are opaque.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventList {
    pub events: Vec<Event>,
    pub next_cursor: Option<String>,
}
