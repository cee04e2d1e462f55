//! One pass over a website's matching events, in time order, into a `StatsReport`: totals,
//! sessions (bounce rate, duration, entry and exit pages), the time series and every top
//! list. Store-independent: the SQLite store feeds it rows; a store with rollups can build
//! the same report from them. Visitor ids are interned once, so per-value visitor sets are
//! sets of small integers.

use std::collections::{HashMap, HashSet};

use crate::model::{Breakdown, SeriesPoint, StatsFilters, StatsReport};

use super::{Buckets, StatsQuery, SESSION_GAP_MS};

/// One event as the aggregate needs it (borrowed from the store's row).
#[derive(Clone, Copy, Debug)]
pub struct AggRow<'a> {
    pub time_ms: i64,
    pub kind: &'a str,
    pub pathname: &'a str,
    pub url: &'a str,
    pub source: Option<&'a str>,
    pub visitor_id: &'a str,
    pub session_id: Option<&'a str>,
    pub device: &'a str,
    pub browser: Option<&'a str>,
    pub os: Option<&'a str>,
    pub country: Option<&'a str>,
    /// Custom properties as stored (a JSON object), if any.
    pub props: Option<&'a str>,
}

/// A query parameter of a page URL, decoded.
pub fn url_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A custom property's value as text (`true`, `12.5`, `blue`), if the event has it.
pub fn prop_value(props: Option<&str>, key: &str) -> Option<String> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(props?).ok()?;
    match map.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Whether an event passes every filter (exact matches, AND). A store may apply some of them
/// itself first; checking again is harmless.
pub fn matches(f: &StatsFilters, r: &AggRow<'_>) -> bool {
    let eq = |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| have == Some(w));
    eq(&f.kind, Some(r.kind))
        && eq(&f.pathname, Some(r.pathname))
        && eq(&f.source, r.source)
        && eq(&f.device, Some(r.device))
        && eq(&f.browser, r.browser)
        && eq(&f.os, r.os)
        && eq(&f.country, r.country)
        && f.utm_medium.as_ref().is_none_or(|w| url_param(r.url, "utm_medium").as_ref() == Some(w))
        && f.utm_campaign.as_ref().is_none_or(|w| url_param(r.url, "utm_campaign").as_ref() == Some(w))
        && f.prop.as_ref().is_none_or(|(k, v)| prop_value(r.props, k).as_ref() == Some(v))
}

/// Whether a stored event passes the filters (the raw-events table of the Analytics tab).
pub fn event_matches(f: &StatsFilters, e: &crate::model::Event) -> bool {
    let props = (!e.props.is_empty()).then(|| serde_json::to_string(&e.props).unwrap_or_default());
    matches(
        f,
        &AggRow {
            time_ms: e.time.timestamp_millis(),
            kind: &e.kind,
            pathname: &e.pathname,
            url: &e.url,
            source: e.source.as_deref(),
            visitor_id: &e.visitor_id,
            session_id: e.session_id.as_deref(),
            device: e.device.as_str(),
            browser: e.browser.as_deref(),
            os: e.os.as_deref(),
            country: e.country.as_deref(),
            props: props.as_deref(),
        },
    )
}

#[derive(Default)]
struct Tally {
    visitors: HashSet<u32>,
    count: u64,
}

#[derive(Default)]
struct TopList(HashMap<String, Tally>);

impl TopList {
    fn add(&mut self, value: &str, visitor: u32) {
        let t = match self.0.get_mut(value) {
            Some(t) => t,
            None => self.0.entry(value.to_string()).or_default(),
        };
        t.visitors.insert(visitor);
        t.count += 1;
    }

    /// Largest first: by visitors, then count, then value; at most `limit`.
    fn finish(self, limit: usize) -> Vec<Breakdown> {
        let mut out: Vec<Breakdown> = self
            .0
            .into_iter()
            .map(|(value, t)| Breakdown { value, visitors: t.visitors.len() as u64, count: t.count })
            .collect();
        out.sort_by(|a, b| b.visitors.cmp(&a.visitors).then(b.count.cmp(&a.count)).then(a.value.cmp(&b.value)));
        out.truncate(limit);
        out
    }
}

struct Session {
    visitor: u32,
    first_ms: i64,
    last_ms: i64,
    pageviews: u64,
    entry: Option<String>,
    exit: Option<String>,
}

pub struct Aggregator<'q> {
    query: &'q StatsQuery,
    buckets: Buckets,
    visitor_ids: HashMap<String, u32>,
    visitors: HashSet<u32>,
    pageviews: u64,
    events: u64,
    /// Per bucket: visitors and pageviews.
    series: Vec<(HashSet<u32>, u64)>,
    /// The open session of each session key (session id, else visitor), by index.
    open: HashMap<String, usize>,
    sessions: Vec<Session>,
    pages: TopList,
    sources: TopList,
    utm_mediums: TopList,
    utm_campaigns: TopList,
    devices: TopList,
    browsers: TopList,
    os: TopList,
    countries: TopList,
    event_names: TopList,
    props: TopList,
}

impl<'q> Aggregator<'q> {
    pub fn new(query: &'q StatsQuery) -> Self {
        let buckets = Buckets::new(query);
        let series = vec![(HashSet::new(), 0); buckets.len()];
        Self {
            query,
            buckets,
            visitor_ids: HashMap::new(),
            visitors: HashSet::new(),
            pageviews: 0,
            events: 0,
            series,
            open: HashMap::new(),
            sessions: Vec::new(),
            pages: TopList::default(),
            sources: TopList::default(),
            utm_mediums: TopList::default(),
            utm_campaigns: TopList::default(),
            devices: TopList::default(),
            browsers: TopList::default(),
            os: TopList::default(),
            countries: TopList::default(),
            event_names: TopList::default(),
            props: TopList::default(),
        }
    }

    /// Adds one event; events must come in time order. Rows that do not match are skipped.
    pub fn add(&mut self, r: &AggRow<'_>) {
        if !matches(&self.query.filters, r) {
            return;
        }
        self.add_matching(r);
    }

    fn add_matching(&mut self, r: &AggRow<'_>) {
        let next = self.visitor_ids.len() as u32;
        let visitor = match self.visitor_ids.get(r.visitor_id) {
            Some(v) => *v,
            None => *self.visitor_ids.entry(r.visitor_id.to_string()).or_insert(next),
        };
        self.visitors.insert(visitor);
        let pageview = r.kind == crate::model::Event::PAGEVIEW;
        if let Some(b) = self.buckets.index(r.time_ms) {
            self.series[b].0.insert(visitor);
            if pageview {
                self.series[b].1 += 1;
            }
        }
        self.session(r, visitor, pageview);
        if let Some(key) = &self.query.breakdown_prop
            && let Some(value) = prop_value(r.props, key)
        {
            self.props.add(&value, visitor);
        }
        if !pageview {
            self.events += 1;
            self.event_names.add(r.kind, visitor);
            return;
        }
        self.pageviews += 1;
        self.pages.add(r.pathname, visitor);
        if let Some(s) = r.source {
            self.sources.add(s, visitor);
        }
        if r.url.contains("utm_") {
            if let Some(m) = url_param(r.url, "utm_medium") {
                self.utm_mediums.add(&m, visitor);
            }
            if let Some(c) = url_param(r.url, "utm_campaign") {
                self.utm_campaigns.add(&c, visitor);
            }
        }
        self.devices.add(r.device, visitor);
        for (list, value) in [(&mut self.browsers, r.browser), (&mut self.os, r.os), (&mut self.countries, r.country)] {
            if let Some(v) = value {
                list.add(v, visitor);
            }
        }
    }

    /// Sessions: the client's `session_id`, else the visitor; a gap of 30 minutes starts a new
    /// one.
    fn session(&mut self, r: &AggRow<'_>, visitor: u32, pageview: bool) {
        let key = r.session_id.unwrap_or(r.visitor_id);
        let open = self.open.get(key).copied().filter(|i| r.time_ms - self.sessions[*i].last_ms <= SESSION_GAP_MS);
        let i = match open {
            Some(i) => i,
            None => {
                self.sessions.push(Session { visitor, first_ms: r.time_ms, last_ms: r.time_ms, pageviews: 0, entry: None, exit: None });
                let i = self.sessions.len() - 1;
                self.open.insert(key.to_string(), i);
                i
            }
        };
        let s = &mut self.sessions[i];
        s.last_ms = r.time_ms;
        if pageview {
            s.pageviews += 1;
            if s.entry.is_none() {
                s.entry = Some(r.pathname.to_string());
            }
            if s.exit.as_deref() != Some(r.pathname) {
                s.exit = Some(r.pathname.to_string());
            }
        }
    }

    pub fn finish(self) -> StatsReport {
        let limit = self.query.limit;
        let (mut entry, mut exit) = (TopList::default(), TopList::default());
        let (mut with_views, mut bounces, mut duration_ms) = (0u64, 0u64, 0i64);
        for s in &self.sessions {
            if s.pageviews == 0 {
                continue;
            }
            with_views += 1;
            bounces += u64::from(s.pageviews == 1);
            duration_ms += s.last_ms - s.first_ms;
            if let Some(p) = &s.entry {
                entry.add(p, s.visitor);
            }
            if let Some(p) = &s.exit {
                exit.add(p, s.visitor);
            }
        }
        let ratio = |a: f64, b: u64| if b == 0 { 0.0 } else { a / b as f64 };
        let visitors = self.visitors.len() as u64;
        StatsReport {
            visitors,
            pageviews: self.pageviews,
            events: self.events,
            views_per_visitor: ratio(self.pageviews as f64, visitors),
            interval: self.buckets.interval(),
            bounce_rate: ratio(bounces as f64, with_views),
            visit_duration_s: ratio(duration_ms as f64 / 1000.0, with_views),
            series: self
                .series
                .iter()
                .enumerate()
                .map(|(i, (v, p))| SeriesPoint { start: self.buckets.start_label(i), visitors: v.len() as u64, pageviews: *p })
                .collect(),
            pages: self.pages.finish(limit),
            entry_pages: entry.finish(limit),
            exit_pages: exit.finish(limit),
            sources: self.sources.finish(limit),
            utm_mediums: self.utm_mediums.finish(limit),
            utm_campaigns: self.utm_campaigns.finish(limit),
            devices: self.devices.finish(limit),
            browsers: self.browsers.finish(limit),
            os: self.os.finish(limit),
            countries: self.countries.finish(limit),
            event_names: self.event_names.finish(limit),
            props: self.query.breakdown_prop.as_ref().map(|_| self.props.finish(limit)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_params_and_props_read_as_text() {
        assert_eq!(url_param("https://a.b/x?utm_medium=email&q=1#f", "utm_medium").as_deref(), Some("email"));
        assert_eq!(url_param("https://a.b/x?utm_campaign=black%20friday", "utm_campaign").as_deref(), Some("black friday"));
        assert_eq!(url_param("https://a.b/x", "utm_medium"), None);
        assert_eq!(prop_value(Some(r#"{"plan":"pro","seats":3,"trial":true}"#), "seats").as_deref(), Some("3"));
        assert_eq!(prop_value(Some(r#"{"plan":"pro"}"#), "plan").as_deref(), Some("pro"));
        assert_eq!(prop_value(None, "plan"), None);
    }
}
