//! Shared wire types: the one definition of every JSON shape that crosses the network.
//!
//! Compiled for both the server (`ssr`) and the browser (`hydrate`); no `cfg` in here. Ingest,
//! the store, the hub, the WebSocket/SSE encoders, server functions and the WASM client all use
//! these types, so a field renamed here is renamed everywhere.

mod analytics;
mod cursor;
mod event;
mod history;
mod live;
mod stats;
mod time;
mod track;
mod ui_error;
mod website;

pub use analytics::{AnalyticsView, Interval, SeriesPoint, StatsFilters, StatsReport, StatsTotals, PERIODS};
pub use cursor::{Cursor, CursorError, StreamCursor};
pub use event::{Device, Event, PropValue, Props};
pub use history::EventList;
pub use live::{ClientCommand, ErrorCode, LiveMessage};
pub use stats::{ActivePage, Breakdown, Stats, ACTIVE_WINDOW_MINUTES, PER_MINUTE_BUCKETS};
pub use time::rfc3339_millis;
pub use ui_error::UiError;
pub use track::{TrackAccepted, TrackRequest, MAX_PROPS, MAX_TRACK_BODY_BYTES};
pub use website::{
    ApiError, GrantRequest, LiveStats, LoginResponse, MemberRole, Membership, ShareLink, TransportCounts, UserInfo, Website,
    WebsiteForm,
};
