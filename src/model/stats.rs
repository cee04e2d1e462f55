//! `Stats`: the live state of one website, as pushed in `snapshot` and `stats` messages.

use serde::{Deserialize, Serialize};

/// A visitor counts as current for this long after their latest event.
pub const ACTIVE_WINDOW_MINUTES: i64 = 5;
/// `per_minute` always has this many buckets, oldest first, the current minute last.
pub const PER_MINUTE_BUCKETS: usize = 30;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Distinct visitors with an event in the last 5 minutes.
    pub current_visitors: u64,
    /// Each current visitor counted once, on the latest page they viewed; largest first.
    pub active_pages: Vec<ActivePage>,
    pub pageviews_last_30m: u64,
    /// Pageviews per minute for the last 30 minutes, oldest first.
    pub per_minute: Vec<u64>,
    /// Distinct visitors per minute for the last 30 minutes, oldest first.
    #[serde(default)]
    pub visitors_per_minute: Vec<u64>,
    /// Live breakdowns of the 30-minute window, largest first, at most 10 each: pageviews by
    /// source, country and device, and custom events by name.
    #[serde(default)]
    pub sources: Vec<Breakdown>,
    #[serde(default)]
    pub countries: Vec<Breakdown>,
    #[serde(default)]
    pub devices: Vec<Breakdown>,
    #[serde(default)]
    pub event_names: Vec<Breakdown>,
}

/// One value of a breakdown: distinct visitors and how many pageviews (or, for event names,
/// events) it had.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakdown {
    pub value: String,
    pub visitors: u64,
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivePage {
    pub path: String,
    pub visitors: u64,
}
