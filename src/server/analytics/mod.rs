//! Analytics over stored events (contract §3 stats): the query (range, time zone, filters,
//! breakdowns), its time buckets — hourly up to two days, else days starting at midnight in
//! the website's time zone, DST included — the one-pass aggregate, and the REST and CSV
//! endpoints.

pub mod aggregate;
pub mod http;
pub mod view;

use chrono::{DateTime, Duration, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use crate::model::{Interval, StatsFilters};

/// A visitor's events belong to one session until they are apart this long.
pub const SESSION_GAP_MS: i64 = 30 * 60 * 1000;
/// Ranges up to this long get hourly buckets.
const HOURLY_UP_TO: Duration = Duration::hours(48);

/// What a report covers.
#[derive(Clone, Debug)]
pub struct StatsQuery {
    pub website_id: String,
    pub from: DateTime<Utc>,
    /// Exclusive.
    pub to: DateTime<Utc>,
    /// The website's time zone: day buckets start at its midnight.
    pub tz: Tz,
    pub filters: StatsFilters,
    /// `breakdown=prop:KEY`.
    pub breakdown_prop: Option<String>,
    /// Entries per top list.
    pub limit: usize,
    /// Bucket size asked for; by default hourly up to two days, else daily.
    pub interval: Option<Interval>,
}

/// The time buckets of a report: their starts, in order, and the one after the last.
#[derive(Clone, Debug)]
pub struct Buckets {
    interval: Interval,
    /// Start of each bucket (ms), then the end of the last.
    edges: Vec<i64>,
}

/// Most buckets a report may have (a year and a half of days, or two days of hours).
pub const MAX_BUCKETS: usize = 550;

impl Buckets {
    pub fn new(q: &StatsQuery) -> Self {
        let natural = if q.to - q.from <= HOURLY_UP_TO { Interval::Hour } else { Interval::Day };
        let interval = q.interval.unwrap_or(natural);
        let mut edges = Vec::new();
        let mut t = floor(q.from, interval, q.tz);
        while t < q.to && edges.len() < MAX_BUCKETS {
            edges.push(t.timestamp_millis());
            t = step(t, interval, q.tz);
        }
        edges.push(t.timestamp_millis());
        Self { interval, edges }
    }

    pub fn interval(&self) -> Interval {
        self.interval
    }

    pub fn len(&self) -> usize {
        self.edges.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bucket holding `ms`, if any.
    pub fn index(&self, ms: i64) -> Option<usize> {
        let i = self.edges.partition_point(|e| *e <= ms);
        (i >= 1 && i < self.edges.len()).then(|| i - 1)
    }

    pub fn start_label(&self, i: usize) -> String {
        let ms = self.edges[i];
        Utc.timestamp_millis_opt(ms)
            .single()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    }
}

/// The start of the bucket holding `t`: its hour, or its day's local midnight.
fn floor(t: DateTime<Utc>, interval: Interval, tz: Tz) -> DateTime<Utc> {
    let local = t.with_timezone(&tz);
    match interval {
        // hours are the same everywhere but in half-hour zones; local hours keep the labels round
        Interval::Hour => {
            let offset = i64::from(local.offset().fix().local_minus_utc());
            let secs = t.timestamp() + offset;
            Utc.timestamp_opt(secs - secs.rem_euclid(3600) - offset, 0).single().unwrap_or(t)
        }
        Interval::Day => local_midnight(local.date_naive(), tz).unwrap_or(t),
    }
}

fn step(t: DateTime<Utc>, interval: Interval, tz: Tz) -> DateTime<Utc> {
    match interval {
        Interval::Hour => t + Duration::hours(1),
        Interval::Day => {
            let next = t.with_timezone(&tz).date_naive().succ_opt().unwrap_or(NaiveDate::MAX);
            local_midnight(next, tz).unwrap_or(t + Duration::days(1))
        }
    }
}

/// The first instant of `day` in `tz` (midnight, or the first time after a DST gap).
pub fn local_midnight(day: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    let mut t = day.and_hms_opt(0, 0, 0)?;
    for _ in 0..4 {
        if let Some(local) = tz.from_local_datetime(&t).earliest() {
            return Some(local.with_timezone(&Utc));
        }
        t += Duration::minutes(30); // midnight fell in a DST gap
    }
    None
}

/// A website's time zone (UTC when its setting is unreadable).
pub fn website_tz(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: &str, to: &str, tz: Tz) -> StatsQuery {
        StatsQuery {
            website_id: "w".into(),
            from: DateTime::parse_from_rfc3339(from).unwrap().with_timezone(&Utc),
            to: DateTime::parse_from_rfc3339(to).unwrap().with_timezone(&Utc),
            tz,
            filters: StatsFilters::default(),
            breakdown_prop: None,
            limit: 10,
            interval: None,
        }
    }

    #[test]
    fn days_follow_the_website_time_zone_across_dst() {
        // Berlin: 2026-03-29 has 23 hours, 2026-10-25 has 25
        let q = query("2026-03-28T00:00:00+01:00", "2026-03-31T00:00:00+02:00", chrono_tz::Europe::Berlin);
        let b = Buckets::new(&q);
        assert_eq!(b.interval(), Interval::Day);
        let labels: Vec<String> = (0..b.len()).map(|i| b.start_label(i)).collect();
        assert_eq!(labels, ["2026-03-27T23:00:00.000Z", "2026-03-28T23:00:00.000Z", "2026-03-29T22:00:00.000Z"]);
        let q = query("2026-10-24T00:00:00+02:00", "2026-10-27T00:00:00+01:00", chrono_tz::Europe::Berlin);
        let b = Buckets::new(&q);
        let labels: Vec<String> = (0..b.len()).map(|i| b.start_label(i)).collect();
        assert_eq!(labels, ["2026-10-23T22:00:00.000Z", "2026-10-24T22:00:00.000Z", "2026-10-25T23:00:00.000Z"]);
    }

    #[test]
    fn short_ranges_are_hourly_and_events_find_their_bucket() {
        let q = query("2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z", Tz::UTC);
        let b = Buckets::new(&q);
        assert_eq!((b.interval(), b.len()), (Interval::Hour, 24));
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
        assert_eq!(b.index(at("2026-11-26T00:00:00Z")), Some(0));
        assert_eq!(b.index(at("2026-11-26T13:59:59Z")), Some(13));
        assert_eq!(b.index(at("2026-11-27T00:00:00Z")), None);
        assert_eq!(b.index(at("2026-11-25T23:59:59Z")), None);
        // a half-hour zone keeps local hours
        let q = query("2026-11-26T00:00:00+05:30", "2026-11-26T03:00:00+05:30", chrono_tz::Asia::Kolkata);
        assert_eq!(Buckets::new(&q).start_label(1), "2026-11-25T19:30:00.000Z");
    }
}
