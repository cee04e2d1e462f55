//! The Analytics report (contract §3, `GET /api/websites/{id}/stats`): totals, sessions, a
//! time series and top lists over a date range under filters. One type for the REST answer,
//! the server function and the Analytics tab.

use serde::{Deserialize, Serialize};

use super::stats::Breakdown;

/// Time-series bucket size: hourly up to two days, daily beyond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Hour,
    Day,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Bucket start (RFC 3339 UTC; days start at midnight in the website's time zone).
    pub start: String,
    pub visitors: u64,
    pub pageviews: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    /// Distinct visitors with any matching event.
    pub visitors: u64,
    pub pageviews: u64,
    /// Custom (non-pageview) events.
    pub events: u64,
    pub views_per_visitor: f64,
    pub interval: Interval,
    /// Sessions with exactly one pageview, over sessions with a pageview (0–1).
    pub bounce_rate: f64,
    /// Mean session length in seconds (first to last event).
    pub visit_duration_s: f64,
    pub series: Vec<SeriesPoint>,
    pub pages: Vec<Breakdown>,
    pub entry_pages: Vec<Breakdown>,
    pub exit_pages: Vec<Breakdown>,
    pub sources: Vec<Breakdown>,
    pub utm_mediums: Vec<Breakdown>,
    pub utm_campaigns: Vec<Breakdown>,
    pub devices: Vec<Breakdown>,
    pub browsers: Vec<Breakdown>,
    pub os: Vec<Breakdown>,
    pub countries: Vec<Breakdown>,
    pub event_names: Vec<Breakdown>,
    /// Values of the property asked for with `breakdown=prop:KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub props: Option<Vec<Breakdown>>,
}

/// Filters of a report: every one given must match (AND), exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsFilters {
    /// Event type: `pageview` or a custom event name.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pathname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// `KEY:VALUE` of a custom property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prop: Option<(String, String)>,
}

impl StatsFilters {
    /// The filters as `(name, value)` query pairs, in a stable order (URLs, links, CSV names).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut push = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                out.push((k, v.clone()));
            }
        };
        push("type", &self.kind);
        push("pathname", &self.pathname);
        push("source", &self.source);
        push("utm_medium", &self.utm_medium);
        push("utm_campaign", &self.utm_campaign);
        push("device", &self.device);
        push("browser", &self.browser);
        push("os", &self.os);
        push("country", &self.country);
        if let Some((k, v)) = &self.prop {
            out.push(("prop", format!("{k}:{v}")));
        }
        out
    }

    /// Sets the filter `name` (a query parameter name); `false` for an unknown name or a
    /// `prop` value without `KEY:`.
    pub fn set(&mut self, name: &str, value: String) -> bool {
        let slot = match name {
            "type" => &mut self.kind,
            "pathname" => &mut self.pathname,
            "source" => &mut self.source,
            "utm_medium" => &mut self.utm_medium,
            "utm_campaign" => &mut self.utm_campaign,
            "device" => &mut self.device,
            "browser" => &mut self.browser,
            "os" => &mut self.os,
            "country" => &mut self.country,
            "prop" => {
                return match value.split_once(':') {
                    Some((k, v)) if !k.is_empty() => {
                        self.prop = Some((k.to_string(), v.to_string()));
                        true
                    }
                    _ => false,
                };
            }
            _ => return false,
        };
        *slot = Some(value);
        true
    }

    /// The filter names a report accepts, for messages.
    pub const NAMES: [&'static str; 10] =
        ["type", "pathname", "source", "utm_medium", "utm_campaign", "device", "browser", "os", "country", "prop"];
}

/// The headline numbers of a report, for the comparison with the previous period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsTotals {
    pub visitors: u64,
    pub pageviews: u64,
    pub events: u64,
    pub views_per_visitor: f64,
    pub bounce_rate: f64,
    pub visit_duration_s: f64,
}

impl From<&StatsReport> for StatsTotals {
    fn from(r: &StatsReport) -> Self {
        Self {
            visitors: r.visitors,
            pageviews: r.pageviews,
            events: r.events,
            views_per_visitor: r.views_per_visitor,
            bounce_rate: r.bounce_rate,
            visit_duration_s: r.visit_duration_s,
        }
    }
}

/// What the Analytics tab shows for one URL: the report, the previous period's totals, and
/// the range it covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsView {
    pub report: StatsReport,
    pub previous: StatsTotals,
    /// Range start and (exclusive) end, RFC 3339 UTC.
    pub from: String,
    pub to: String,
    /// The range in the website's time zone, for people ("Nov 1 – Nov 7, 2026").
    pub label: String,
    /// The range reaches the present: live events update it.
    pub includes_now: bool,
    pub timezone: String,
    /// A label per series bucket, in the website's time zone ("Tue, Nov 3", "Nov 3, 14:00").
    pub series_labels: Vec<String>,
}

/// Date presets of the Analytics tab (`period=` in its URL).
pub const PERIODS: [(&str, &str); 7] = [
    ("30m", "Last 30 minutes"),
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("month", "This month"),
    ("custom", "Custom"),
];
