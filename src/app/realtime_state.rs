//! What the Realtime page shows, as reactive signals, and how each `LiveMessage` changes it.
//! The numbers (`stats`) and the feed rows are separate signals: a `stats` message re-renders
//! the counters and the chart, never the feed, and an event re-renders the feed only. The row
//! logic is pure (no signals), so it is unit-tested natively.

use leptos::prelude::*;

use crate::model::{Event, LiveMessage, Stats};

/// How long a toast stays unless dismissed.
const TOAST_TTL: std::time::Duration = std::time::Duration::from_secs(8);

/// Rows shown in the live feed.
pub const FEED_ROWS: usize = 50;

#[derive(Clone, Debug, PartialEq)]
pub struct FeedRow {
    pub event: Event,
    /// Arrived live (not from a snapshot): the row flashes once.
    pub fresh: bool,
}

/// The feed rows of a snapshot, newest first, none of them flashing.
pub fn rows_of_snapshot(recent: Vec<Event>) -> Vec<FeedRow> {
    recent.into_iter().take(FEED_ROWS).map(|event| FeedRow { event, fresh: false }).collect()
}

/// Puts a live event on top (once, however often it arrives); returns whether the rows changed.
pub fn add_live_event(rows: &mut Vec<FeedRow>, event: Event) -> bool {
    if rows.iter().any(|r| r.event.id == event.id) {
        return false;
    }
    rows.insert(0, FeedRow { event, fresh: true });
    rows.truncate(FEED_ROWS);
    true
}

/// The page's reactive state. It lives as long as the website page, so switching between the
/// Realtime and Analytics tabs keeps it (and the connection and its cursor).
#[derive(Clone, Copy)]
pub struct Realtime {
    pub stats: RwSignal<Stats>,
    pub rows: RwSignal<Vec<FeedRow>>,
    pub toasts: RwSignal<Vec<(u64, String)>>,
    /// Toast ids never repeat, so a dismissal timer can't remove a newer toast.
    toast_seq: StoredValue<u64>,
}

impl Realtime {
    pub fn new(snapshot: LiveMessage) -> Self {
        let rt = Self {
            stats: RwSignal::new(Stats::default()),
            rows: RwSignal::new(Vec::new()),
            toasts: RwSignal::new(Vec::new()),
            toast_seq: StoredValue::new(0),
        };
        rt.apply(snapshot);
        rt
    }

    fn set_stats(&self, stats: Stats) {
        // unchanged numbers re-render nothing
        self.stats.maybe_update(|s| {
            let changed = *s != stats;
            if changed {
                *s = stats;
            }
            changed
        });
    }

    /// Applies one message for this website.
    pub fn apply(&self, msg: LiveMessage) {
        match msg {
            LiveMessage::Snapshot { stats, recent, .. } => {
                self.set_stats(stats);
                self.rows.set(rows_of_snapshot(recent));
            }
            LiveMessage::Event { event, .. } => self.rows.maybe_update(|rows| add_live_event(rows, event)),
            LiveMessage::Stats { stats, .. } => self.set_stats(stats),
            LiveMessage::Notice { message, .. } | LiveMessage::Error { message, .. } => self.toast(message),
            LiveMessage::Gap { .. } | LiveMessage::Heartbeat { .. } | LiveMessage::Pong => {}
        }
    }

    fn toast(&self, text: String) {
        self.toast_seq.update_value(|n| *n += 1);
        let id = self.toast_seq.get_value();
        self.toasts.update(|t| {
            t.push((id, text));
            // never more than a few on screen
            if t.len() > 3 {
                t.remove(0);
            }
        });
        let toasts = self.toasts;
        set_timeout(move || toasts.update(|t| t.retain(|(i, _)| *i != id)), TOAST_TTL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(path: &str) -> Event {
        Event::test_pageview(path, "v", chrono::Utc::now())
    }

    #[test]
    fn live_events_go_on_top_once_and_flash() {
        let mut rows = rows_of_snapshot(vec![ev("/old")]);
        assert!(!rows[0].fresh);
        let e = ev("/new");
        assert!(add_live_event(&mut rows, e.clone()));
        assert!(!add_live_event(&mut rows, e), "the same event twice is one row");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].event.pathname, "/new");
        assert!(rows[0].fresh);
    }

    #[test]
    fn feed_is_bounded() {
        let mut rows = Vec::new();
        for i in 0..(FEED_ROWS + 5) {
            add_live_event(&mut rows, ev(&format!("/{i}")));
        }
        assert_eq!(rows.len(), FEED_ROWS);
        assert_eq!(rows[0].event.pathname, format!("/{}", FEED_ROWS + 4));
        let snapshot: Vec<Event> = (0..(FEED_ROWS + 5)).map(|i| ev(&format!("/{i}"))).collect();
        assert_eq!(rows_of_snapshot(snapshot).len(), FEED_ROWS);
    }
}
