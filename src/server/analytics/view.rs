//! The Analytics tab's data: a page URL's query (`period`, `from`/`to` for custom ranges, the
//! filters) turned into a report of the website's days, the previous period's totals for the
//! comparison, and the raw events of the range, filtered, a page at a time.

use chrono::{DateTime, Datelike, Duration, Utc};

use crate::model::{AnalyticsView, Event, EventList, StatsTotals, Website};
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::server::store::PageCursor;

use super::aggregate::event_matches;
use super::http::parse_query;
use super::{local_midnight, StatsQuery};

/// Top-list length on the tab (the CSV export has them all).
const TAB_LIMIT: usize = 10;
/// Query parameters of the tab's URL that are not the report's.
const PAGE_PARAMS: [&str; 4] = ["period", "tab", "transport", "page"];

/// A time range: start, and exclusive end.
pub type Range = (DateTime<Utc>, DateTime<Utc>);

/// The range a preset names, in the website's time zone; `None` for `custom`.
pub fn preset_range(period: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Result<Option<Range>, AppError> {
    let today = now.with_timezone(&tz).date_naive();
    let midnight = |days_back: i64| local_midnight(today - Duration::days(days_back), tz).unwrap_or(now);
    // `to` is a moment after now, so the event being stored right now is inside
    let soon = now + Duration::seconds(1);
    Ok(Some(match period {
        // the same window as Realtime's `pageviews_last_30m`: this minute and the 29 before
        "30m" => {
            let minute = now.timestamp_millis().div_euclid(60_000);
            (DateTime::from_timestamp_millis((minute - 29) * 60_000).unwrap_or(now), soon)
        }
        "today" => (midnight(0), soon),
        "yesterday" => (midnight(1), midnight(0)),
        "7d" => (midnight(6), soon),
        "30d" => (midnight(29), soon),
        "month" => (midnight(i64::from(today.day0())), soon),
        "custom" => return Ok(None),
        other => {
            let names: Vec<&str> = crate::model::PERIODS.iter().map(|(k, _)| *k).collect();
            return Err(AppError::BadRequest(format!("parameter `period`: one of {}, got {other:?}", names.join(", "))));
        }
    }))
}

fn param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).filter(|v| !v.is_empty())
}

/// The report query of the tab's URL.
pub fn tab_query(site: &Website, query: &str, now: DateTime<Utc>) -> Result<StatsQuery, AppError> {
    let mut q = parse_query(site, Some(query), &PAGE_PARAMS, TAB_LIMIT)?;
    let period = param(query, "period").unwrap_or_else(|| if param(query, "from").is_some() { "custom".into() } else { "7d".into() });
    if let Some((from, to)) = preset_range(&period, q.tz, now)? {
        q.from = from;
        q.to = to;
    }
    Ok(q)
}

fn label(q: &StatsQuery) -> String {
    let from = q.from.with_timezone(&q.tz);
    let last = (q.to - Duration::milliseconds(1)).with_timezone(&q.tz);
    if q.to - q.from <= Duration::hours(1) {
        return format!("{} – {}", from.format("%b %-d, %H:%M"), last.format("%H:%M"));
    }
    if from.date_naive() == last.date_naive() {
        return from.format("%a, %b %-d, %Y").to_string();
    }
    format!("{} – {}", from.format("%b %-d"), last.format("%b %-d, %Y"))
}

/// The report of the tab's URL and the totals of the period just before it.
pub async fn build(state: &AppState, site: &Website, query: &str) -> Result<AnalyticsView, AppError> {
    let now = Utc::now();
    let q = tab_query(site, query, now)?;
    let report = state.events.stats(&q).await?;
    let span = q.to - q.from;
    let before = StatsQuery { from: q.from - span, to: q.from, limit: 1, breakdown_prop: None, ..q.clone() };
    let previous = StatsTotals::from(&state.events.stats(&before).await?);
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let series_labels = report
        .series
        .iter()
        .map(|p| {
            DateTime::parse_from_rfc3339(&p.start)
                .map(|t| {
                    let local = t.with_timezone(&q.tz);
                    match report.interval {
                        crate::model::Interval::Day => local.format("%a, %b %-d").to_string(),
                        crate::model::Interval::Hour => local.format("%b %-d, %H:%M").to_string(),
                    }
                })
                .unwrap_or_else(|_| p.start.clone())
        })
        .collect();
    Ok(AnalyticsView {
        series_labels,
        label: label(&q),
        from: stamp(q.from),
        to: stamp(q.to),
        includes_now: q.to >= now,
        timezone: q.tz.name().to_string(),
        previous,
        report,
    })
}

/// Rows read at most for one page of filtered events (filters that match little end a page
/// early, with a cursor to go on).
const SCAN_CAP: usize = 5_000;

/// One page (newest first) of the range's events that pass the filters.
pub async fn events(state: &AppState, site: &Website, query: &str, cursor: Option<PageCursor>, limit: usize) -> Result<EventList, AppError> {
    let q = tab_query(site, query, Utc::now())?;
    let mut out: Vec<Event> = Vec::new();
    let mut before = cursor;
    let mut scanned = 0;
    loop {
        let page = state.events.range(&site.id, q.from, q.to, 200, before).await?;
        let exhausted = page.next.is_none();
        for e in page.events {
            scanned += 1;
            before = Some(PageCursor { time_ms: e.event.time.timestamp_millis(), seq: e.seq });
            if event_matches(&q.filters, &e.event) {
                out.push(e.event);
                if out.len() == limit {
                    break;
                }
            }
        }
        if out.len() == limit || exhausted || scanned >= SCAN_CAP {
            let more = !(exhausted && out.len() < limit);
            return Ok(EventList { events: out, next_cursor: before.filter(|_| more).map(crate::server::history::encode_cursor) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn presets_are_days_of_the_website() {
        let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let now = at("2026-11-26T10:15:30Z");
        let r = |p| preset_range(p, tz, now).unwrap().unwrap();
        assert_eq!(r("today").0, at("2026-11-25T23:00:00Z"));
        assert_eq!(r("yesterday"), (at("2026-11-24T23:00:00Z"), at("2026-11-25T23:00:00Z")));
        assert_eq!(r("7d").0, at("2026-11-19T23:00:00Z"));
        assert_eq!(r("month").0, at("2026-10-31T23:00:00Z"));
        assert_eq!(r("30m").0, at("2026-11-26T09:46:00Z"));
        assert!(preset_range("custom", tz, now).unwrap().is_none());
        assert!(preset_range("fortnight", tz, now).is_err());
    }
}
