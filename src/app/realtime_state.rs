//! What the Realtime page shows, as reactive signals, and how each `LiveMessage` changes it.
//! `Feed` is the pure part (no signals), so it is unit-tested natively.

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

/// The feed and the numbers; changes only through `apply`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Feed {
    pub stats: Stats,
    pub rows: Vec<FeedRow>,
}

impl Feed {
    /// Applies one message for this website. Returns a notice to show, if any.
    pub fn apply(&mut self, msg: LiveMessage) -> Option<String> {
        match msg {
            LiveMessage::Snapshot { stats, recent, .. } => {
                self.stats = stats;
                self.rows = recent.into_iter().take(FEED_ROWS).map(|event| FeedRow { event, fresh: false }).collect();
            }
            LiveMessage::Event { event, .. } => {
                if !self.rows.iter().any(|r| r.event.id == event.id) {
                    self.rows.insert(0, FeedRow { event, fresh: true });
                    self.rows.truncate(FEED_ROWS);
                }
            }
            LiveMessage::Stats { stats, .. } => self.stats = stats,
            LiveMessage::Notice { message, .. } => return Some(message),
            LiveMessage::Error { message, .. } => return Some(message),
            LiveMessage::Gap { .. } | LiveMessage::Heartbeat { .. } | LiveMessage::Pong => {}
        }
        None
    }
}

/// The page's reactive state.
#[derive(Clone, Copy)]
pub struct Realtime {
    pub feed: RwSignal<Feed>,
    pub toasts: RwSignal<Vec<(u64, String)>>,
    /// Toast ids never repeat, so a dismissal timer can't remove a newer toast.
    toast_seq: StoredValue<u64>,
}

impl Realtime {
    pub fn new(snapshot: LiveMessage) -> Self {
        let mut feed = Feed::default();
        feed.apply(snapshot);
        Self { feed: RwSignal::new(feed), toasts: RwSignal::new(Vec::new()), toast_seq: StoredValue::new(0) }
    }

    pub fn apply(&self, msg: LiveMessage) {
        let mut notice = None;
        self.feed.update(|f| notice = f.apply(msg));
        if let Some(text) = notice {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(path: &str) -> Event {
        Event::test_pageview(path, "v", chrono::Utc::now())
    }

    #[test]
    fn live_events_go_on_top_once_and_flash() {
        let mut f = Feed::default();
        f.apply(LiveMessage::Snapshot { website_id: "w".into(), cursor: "1".into(), stats: Stats::default(), recent: vec![ev("/old")] });
        assert!(!f.rows[0].fresh);
        let e = ev("/new");
        f.apply(LiveMessage::Event { website_id: "w".into(), cursor: "2".into(), event: e.clone() });
        f.apply(LiveMessage::Event { website_id: "w".into(), cursor: "2".into(), event: e });
        assert_eq!(f.rows.len(), 2);
        assert_eq!(f.rows[0].event.pathname, "/new");
        assert!(f.rows[0].fresh);
    }

    #[test]
    fn feed_is_bounded() {
        let mut f = Feed::default();
        for i in 0..(FEED_ROWS + 5) {
            f.apply(LiveMessage::Event { website_id: "w".into(), cursor: i.to_string(), event: ev(&format!("/{i}")) });
        }
        assert_eq!(f.rows.len(), FEED_ROWS);
        assert_eq!(f.rows[0].event.pathname, format!("/{}", FEED_ROWS + 4));
    }

    #[test]
    fn notices_surface_as_toasts() {
        let mut f = Feed::default();
        assert_eq!(f.apply(LiveMessage::Notice { website_id: None, message: "hi".into() }).as_deref(), Some("hi"));
    }
}
