//! The live numbers of one website, updated in O(1) per event: visitors of the last 5 minutes
//! with their latest page, visitors per active page, pageviews per minute for 30 minutes, and
//! the newest events. Time is passed in (`now_ms`), so the window math is testable.

use std::collections::{HashMap, VecDeque};

use super::minutes::Minutes;
use crate::model::{ActivePage, Event, Stats, ACTIVE_WINDOW_MINUTES, PER_MINUTE_BUCKETS};

const MINUTE_MS: i64 = 60_000;
const WINDOW_MS: i64 = ACTIVE_WINDOW_MINUTES * MINUTE_MS;
/// Active pages listed in a `stats` message; the long tail is left out to bound its size.
const MAX_ACTIVE_PAGES: usize = 50;

struct Visitor {
    last_ms: i64,
    path: String,
}

pub struct LiveState {
    visitors: HashMap<String, Visitor>,
    /// `(event time, visitor)` in arrival order; an entry is stale when the visitor has been
    /// seen again since. Bounded by the events of the last 5 minutes.
    expiry: VecDeque<(i64, String)>,
    /// Current visitors per latest page.
    pages: HashMap<String, u64>,
    /// Pageviews and visitors per minute and the live breakdowns, for the last 30 minutes.
    minutes: Minutes,
    /// Newest first.
    recent: VecDeque<Event>,
    recent_cap: usize,
}

impl LiveState {
    pub fn new(recent_cap: usize) -> Self {
        Self {
            visitors: HashMap::new(),
            expiry: VecDeque::new(),
            pages: HashMap::new(),
            minutes: Minutes::default(),
            recent: VecDeque::with_capacity(recent_cap),
            recent_cap,
        }
    }

    /// Seeds the feed with older events (newest first) that fall outside the live window.
    pub fn seed_recent(&mut self, newest_first: impl IntoIterator<Item = Event>) {
        for e in newest_first {
            if self.recent.len() >= self.recent_cap {
                break;
            }
            self.recent.push_back(e);
        }
    }

    /// Takes the event: it ends up in the feed without a copy.
    pub fn apply(&mut self, e: Event) {
        let t = e.time.timestamp_millis();
        self.minutes.apply(t.div_euclid(MINUTE_MS), &e);

        match self.visitors.get_mut(&e.visitor_id) {
            Some(v) if v.last_ms > t => {} // an older event arriving late changes nothing
            Some(v) => {
                v.last_ms = t;
                if v.path != e.pathname {
                    dec(&mut self.pages, &v.path);
                    *self.pages.entry(e.pathname.clone()).or_default() += 1;
                    v.path.clone_from(&e.pathname);
                }
                self.expiry.push_back((t, e.visitor_id.clone()));
            }
            None => {
                self.visitors.insert(e.visitor_id.clone(), Visitor { last_ms: t, path: e.pathname.clone() });
                *self.pages.entry(e.pathname.clone()).or_default() += 1;
                self.expiry.push_back((t, e.visitor_id.clone()));
            }
        }

        if self.recent.len() == self.recent_cap {
            self.recent.pop_back();
        }
        self.recent.push_front(e);
    }

    /// Drops visitors and minutes that left the windows. Returns whether anything changed.
    pub fn expire(&mut self, now_ms: i64) -> bool {
        let mut changed = false;
        let cutoff = now_ms - WINDOW_MS;
        while let Some((t, _)) = self.expiry.front() {
            if *t > cutoff {
                break;
            }
            let Some((t, id)) = self.expiry.pop_front() else { break };
            if let Some(v) = self.visitors.get(&id)
                && v.last_ms == t
                && let Some(v) = self.visitors.remove(&id)
            {
                dec(&mut self.pages, &v.path);
                changed = true;
            }
        }
        let oldest_minute = now_ms.div_euclid(MINUTE_MS) - (PER_MINUTE_BUCKETS as i64 - 1);
        changed |= self.minutes.expire(oldest_minute);
        changed
    }

    pub fn stats(&self, now_ms: i64) -> Stats {
        let mut active_pages: Vec<ActivePage> =
            self.pages.iter().map(|(p, n)| ActivePage { path: p.clone(), visitors: *n }).collect();
        active_pages.sort_by(|a, b| b.visitors.cmp(&a.visitors).then_with(|| a.path.cmp(&b.path)));
        active_pages.truncate(MAX_ACTIVE_PAGES);
        let mut stats = Stats { current_visitors: self.visitors.len() as u64, active_pages, ..Stats::default() };
        self.minutes.fill(now_ms.div_euclid(MINUTE_MS), PER_MINUTE_BUCKETS, &mut stats);
        stats
    }

    pub fn recent(&self) -> Vec<Event> {
        self.recent.iter().cloned().collect()
    }

    /// Nothing left to show live: the topic may be dropped once nobody watches it.
    pub fn is_idle(&self) -> bool {
        self.visitors.is_empty() && self.minutes.is_empty()
    }
}

fn dec(pages: &mut HashMap<String, u64>, path: &str) {
    if let Some(n) = pages.get_mut(path) {
        *n -= 1;
        if *n == 0 {
            pages.remove(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn ev(visitor: &str, path: &str, t_ms: i64, kind: &str) -> Event {
        let mut e = Event::test_pageview(path, visitor, Utc.timestamp_millis_opt(t_ms).unwrap());
        e.kind = kind.into();
        e
    }

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn a_visitor_counts_once_on_their_latest_page() {
        let mut s = LiveState::new(10);
        s.apply(ev("a", "/", T0, "pageview"));
        s.apply(ev("a", "/pricing", T0 + 1000, "pageview"));
        s.apply(ev("b", "/pricing", T0 + 2000, "pageview"));
        let st = s.stats(T0 + 3000);
        assert_eq!(st.current_visitors, 2);
        assert_eq!(st.active_pages, vec![ActivePage { path: "/pricing".into(), visitors: 2 }]);
        assert_eq!(st.pageviews_last_30m, 3);
        assert_eq!(st.per_minute.len(), 30);
    }

    #[test]
    fn visitors_expire_after_five_minutes_without_new_events() {
        let mut s = LiveState::new(10);
        s.apply(ev("a", "/", T0, "pageview"));
        s.apply(ev("b", "/x", T0 + 60_000, "pageview"));
        assert!(!s.expire(T0 + WINDOW_MS - 1));
        assert!(s.expire(T0 + WINDOW_MS));
        let st = s.stats(T0 + WINDOW_MS);
        assert_eq!(st.current_visitors, 1);
        assert_eq!(st.active_pages, vec![ActivePage { path: "/x".into(), visitors: 1 }]);
        // pageviews stay in the 30-minute window
        assert_eq!(st.pageviews_last_30m, 2);
    }

    #[test]
    fn a_returning_visitor_is_not_expired_by_their_older_event() {
        let mut s = LiveState::new(10);
        s.apply(ev("a", "/", T0, "pageview"));
        s.apply(ev("a", "/", T0 + 4 * 60_000, "pageview"));
        s.expire(T0 + WINDOW_MS + 1);
        assert_eq!(s.stats(T0 + WINDOW_MS + 1).current_visitors, 1);
    }

    #[test]
    fn per_minute_buckets_roll_over_thirty_minutes() {
        let mut s = LiveState::new(10);
        s.apply(ev("a", "/", T0, "pageview"));
        s.apply(ev("a", "/", T0 + 10 * 60_000, "pageview"));
        s.apply(ev("a", "/", T0 + 10 * 60_000, "signup"));
        let now = T0 + 10 * 60_000;
        let st = s.stats(now);
        assert_eq!(st.per_minute[29], 2 - 1, "custom events are not pageviews");
        assert_eq!(st.per_minute[19], 1);
        s.expire(T0 + 31 * 60_000);
        assert_eq!(s.stats(T0 + 31 * 60_000).pageviews_last_30m, 1);
        s.expire(T0 + 41 * 60_000);
        assert!(s.is_idle());
    }

    #[test]
    fn recent_is_newest_first_and_bounded() {
        let mut s = LiveState::new(3);
        for i in 0..5 {
            s.apply(ev("a", &format!("/{i}"), T0 + i, "pageview"));
        }
        let paths: Vec<_> = s.recent().into_iter().map(|e| e.pathname).collect();
        assert_eq!(paths, vec!["/4", "/3", "/2"]);
    }
}
