//! The per-minute numbers of a website's 30-minute window (contract §2 `stats`): pageviews and
//! distinct visitors per minute, and the live breakdowns — pageviews by source, country and
//! device, custom events by name, each value with its distinct visitors. Kept per minute — a
//! bucket holds that minute's counts and visitor sets — so expiry drops whole minutes and
//! nothing is recounted on the way out.
//! Visitors are 64-bit hashes of the visitor id (8 bytes an entry instead of the id).
//! A missing source or country is not listed (direct visits, unknown locations).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::model::{Breakdown, Event, Stats};

/// Values listed per breakdown.
const TOP: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Dim {
    Source,
    Country,
    Device,
    EventName,
}

#[derive(Default)]
struct Minute {
    pageviews: u64,
    visitors: HashSet<u64>,
    values: HashMap<(Dim, String), (u64, HashSet<u64>)>,
}

#[derive(Default)]
pub struct Minutes {
    /// `(minute index, aggregates)`, ascending.
    minutes: VecDeque<(i64, Minute)>,
}

fn visitor_key(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

impl Minutes {
    pub fn apply(&mut self, minute: i64, e: &Event) {
        let at = self.minutes.partition_point(|(m, _)| *m < minute);
        if self.minutes.get(at).is_none_or(|(m, _)| *m != minute) {
            self.minutes.insert(at, (minute, Minute::default()));
        }
        let Some((_, bucket)) = self.minutes.get_mut(at) else { return };
        let visitor = visitor_key(&e.visitor_id);
        bucket.visitors.insert(visitor);
        let mut count = |dim: Dim, value: &str| {
            let entry = bucket.values.entry((dim, value.to_string())).or_default();
            entry.0 += 1;
            entry.1.insert(visitor);
        };
        if e.is_pageview() {
            bucket.pageviews += 1;
            if let Some(s) = &e.source {
                count(Dim::Source, s);
            }
            if let Some(c) = &e.country {
                count(Dim::Country, c);
            }
            count(Dim::Device, e.device.as_str());
        } else {
            count(Dim::EventName, &e.kind);
        }
    }

    /// Drops minutes before `oldest`. Returns whether anything was dropped.
    pub fn expire(&mut self, oldest: i64) -> bool {
        let mut changed = false;
        while self.minutes.front().is_some_and(|(m, _)| *m < oldest) {
            self.minutes.pop_front();
            changed = true;
        }
        changed
    }

    pub fn is_empty(&self) -> bool {
        self.minutes.is_empty()
    }

    /// Fills the per-minute pageviews and visitors (`buckets` minutes ending at `now_minute`),
    /// their pageview total and the four breakdowns of `stats`.
    pub fn fill(&self, now_minute: i64, buckets: usize, stats: &mut Stats) {
        let first = now_minute - (buckets as i64 - 1);
        let mut pageviews = vec![0u64; buckets];
        let mut visitors_per_minute = vec![0u64; buckets];
        let mut merged: HashMap<(Dim, &str), (u64, HashSet<u64>)> = HashMap::new();
        for (m, bucket) in self.minutes.iter().filter(|(m, _)| (first..=now_minute).contains(m)) {
            let i = (m - first) as usize;
            pageviews[i] = bucket.pageviews;
            visitors_per_minute[i] = bucket.visitors.len() as u64;
            for ((dim, value), (count, visitors)) in &bucket.values {
                let entry = merged.entry((*dim, value.as_str())).or_default();
                entry.0 += count;
                entry.1.extend(visitors);
            }
        }
        let mut rows: HashMap<Dim, Vec<Breakdown>> = HashMap::new();
        for ((dim, value), (count, visitors)) in merged {
            rows.entry(dim).or_default().push(Breakdown { value: value.to_string(), visitors: visitors.len() as u64, count });
        }
        let mut top = |dim: Dim| {
            let mut v = rows.remove(&dim).unwrap_or_default();
            v.sort_by(|a, b| b.visitors.cmp(&a.visitors).then(b.count.cmp(&a.count)).then_with(|| a.value.cmp(&b.value)));
            v.truncate(TOP);
            v
        };
        stats.pageviews_last_30m = pageviews.iter().sum();
        stats.per_minute = pageviews;
        stats.visitors_per_minute = visitors_per_minute;
        stats.sources = top(Dim::Source);
        stats.countries = top(Dim::Country);
        stats.devices = top(Dim::Device);
        stats.event_names = top(Dim::EventName);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn ev(visitor: &str, kind: &str, source: Option<&str>, country: Option<&str>) -> Event {
        let mut e = Event::test_pageview("/", visitor, Utc.timestamp_millis_opt(0).unwrap());
        e.kind = kind.into();
        e.source = source.map(str::to_string);
        e.country = country.map(str::to_string);
        e
    }

    fn row(value: &str, visitors: u64, count: u64) -> Breakdown {
        Breakdown { value: value.into(), visitors, count }
    }

    #[test]
    fn breakdowns_count_pageviews_and_distinct_visitors_across_minutes() {
        let mut b = Minutes::default();
        b.apply(10, &ev("a", "pageview", Some("google.com"), Some("DE")));
        b.apply(11, &ev("a", "pageview", Some("google.com"), Some("DE")));
        b.apply(11, &ev("b", "pageview", Some("google.com"), None));
        b.apply(11, &ev("c", "pageview", Some("news.ycombinator.com"), Some("FR")));
        b.apply(12, &ev("a", "signup", None, None));
        b.apply(12, &ev("b", "signup", None, None));
        let mut s = Stats::default();
        b.fill(12, 30, &mut s);
        assert_eq!(s.sources, vec![row("google.com", 2, 3), row("news.ycombinator.com", 1, 1)]);
        assert_eq!(s.countries, vec![row("DE", 1, 2), row("FR", 1, 1)]);
        assert_eq!(s.devices, vec![row("desktop", 3, 4)]);
        assert_eq!(s.event_names, vec![row("signup", 2, 2)], "custom events only");
        assert_eq!(&s.visitors_per_minute[27..], &[1, 3, 2]);
        assert_eq!(&s.per_minute[27..], &[1, 3, 0], "pageviews only");
        assert_eq!(s.pageviews_last_30m, 4);
        assert_eq!(s.visitors_per_minute.len(), 30);

        // minute 10 leaves the window: a's first pageview no longer counts
        assert!(b.expire(11));
        let mut s = Stats::default();
        b.fill(40, 30, &mut s);
        assert_eq!(s.sources, vec![row("google.com", 2, 2), row("news.ycombinator.com", 1, 1)]);
        assert!(!b.is_empty());
        b.expire(13);
        assert!(b.is_empty());
    }

    #[test]
    fn at_most_ten_values_largest_first() {
        let mut b = Minutes::default();
        for i in 0..15 {
            for v in 0..=i {
                b.apply(0, &ev(&format!("v{v}"), "pageview", Some(&format!("s{i:02}")), None));
            }
        }
        let mut s = Stats::default();
        b.fill(0, 30, &mut s);
        assert_eq!(s.sources.len(), 10);
        assert_eq!(s.sources[0], row("s14", 15, 15));
        assert!(s.sources.windows(2).all(|w| w[0].visitors >= w[1].visitors));
    }
}
