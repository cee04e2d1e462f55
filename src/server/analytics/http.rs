//! `GET /api/websites/{id}/stats` (contract §3) and `GET /api/websites/{id}/stats.csv?list=…`
//! (any list of the report as CSV). Parameters are checked here, once, for both and for the
//! Analytics tab's server function: a bad one answers `400 bad_request` naming it.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::model::{Breakdown, Interval, StatsFilters, StatsReport, Website};
use crate::server::auth::{self, AuthUser};
use crate::server::error::AppError;
use crate::server::state::AppState;

use super::{local_midnight, website_tz, StatsQuery, MAX_BUCKETS};

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 1000;
/// The longest range a report covers.
const MAX_RANGE_DAYS: i64 = 549;

fn bad(msg: impl Into<String>) -> AppError {
    AppError::BadRequest(msg.into())
}

/// An RFC 3339 time, or a `YYYY-MM-DD` date meaning its first instant in `tz`.
/// Years outside this range are refused (date arithmetic stays far from chrono's limits).
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

pub fn parse_time_in(name: &str, v: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, AppError> {
    let t = match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) if YEARS.contains(&chrono::Datelike::year(&d)) => {
            local_midnight(d, tz).ok_or_else(|| bad(format!("parameter `{name}`: {v:?} has no midnight in {tz}")))?
        }
        Ok(_) => return Err(bad(format!("parameter `{name}`: years 1970 to 9999, got {v:?}"))),
        Err(_) => crate::server::history::parse_time(name, v)?,
    };
    if !YEARS.contains(&chrono::Datelike::year(&t)) {
        return Err(bad(format!("parameter `{name}`: years 1970 to 9999, got {v:?}")));
    }
    Ok(t)
}

/// The report a query string asks for, checked. `extra` names parameters the caller reads
/// itself (such as `list` for CSV); anything else unknown is refused.
pub fn parse_query(site: &Website, query: Option<&str>, extra: &[&str], default_limit: usize) -> Result<StatsQuery, AppError> {
    let tz = website_tz(&site.timezone);
    let (mut from, mut to, mut limit, mut breakdown, mut interval) = (None, None, None, None, None);
    let mut filters = StatsFilters::default();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let v = v.trim().to_string();
        match &*k {
            _ if v.is_empty() => {} // `source=` means no filter, as in the contract's template
            "from" => from = Some(parse_time_in("from", &v, tz)?),
            "to" => to = Some(parse_time_in("to", &v, tz)?),
            "limit" => {
                limit = Some(v.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                    bad(format!("parameter `limit`: must be a whole number from 1 to {MAX_LIMIT}, got {v:?}"))
                })?)
            }
            "breakdown" => match v.strip_prefix("prop:").filter(|k| !k.is_empty()) {
                Some(key) => breakdown = Some(key.to_string()),
                None => return Err(bad(format!("parameter `breakdown`: must be prop:KEY, got {v:?}"))),
            },
            "interval" => {
                interval = Some(match v.as_str() {
                    "hour" => Interval::Hour,
                    "day" => Interval::Day,
                    _ => return Err(bad(format!("parameter `interval`: hour or day, got {v:?}"))),
                })
            }
            name if StatsFilters::NAMES.contains(&name) => {
                if !filters.set(name, v.clone()) {
                    return Err(bad(format!("parameter `prop`: must be KEY:VALUE, got {v:?}")));
                }
            }
            name if extra.contains(&name) => {}
            name => {
                return Err(bad(format!(
                    "unknown parameter `{name}`; a report takes from, to, limit, breakdown, interval and the filters {}",
                    StatsFilters::NAMES.join(", ")
                )));
            }
        }
    }
    let to = to.unwrap_or_else(Utc::now);
    // default: the last 7 days, today included
    let from = match from {
        Some(f) => f,
        None => {
            let today = to.with_timezone(&tz).date_naive();
            local_midnight(today - Duration::days(6), tz).unwrap_or(to - Duration::days(7))
        }
    };
    if from >= to {
        return Err(bad("parameters `from` and `to`: `from` must be before `to` (`to` is exclusive)"));
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(bad(format!("parameters `from` and `to`: at most {MAX_RANGE_DAYS} days at a time")));
    }
    if interval == Some(Interval::Hour) && (to - from).num_hours() as usize >= MAX_BUCKETS {
        return Err(bad(format!("parameter `interval`: at most {MAX_BUCKETS} hourly buckets; ask for days")));
    }
    Ok(StatsQuery {
        website_id: site.id.clone(),
        from,
        to,
        tz,
        filters,
        breakdown_prop: breakdown,
        limit: limit.unwrap_or(default_limit),
        interval,
    })
}

/// `GET /api/websites/{website_id}/stats`.
pub async fn stats(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(website_id): Path<String>,
    uri: Uri,
) -> Result<Json<StatsReport>, AppError> {
    let site = auth::visible_website(&state, &user, &website_id).await?;
    let q = parse_query(&site, uri.query(), &[], DEFAULT_LIMIT)?;
    Ok(Json(state.events.stats(&q).await?))
}

/// The lists `stats.csv?list=` exports.
const LISTS: [&str; 13] = [
    "series", "pages", "entry_pages", "exit_pages", "sources", "utm_mediums", "utm_campaigns", "devices", "browsers", "os",
    "countries", "event_names", "props",
];

fn breakdown_of<'a>(r: &'a StatsReport, list: &str) -> Option<&'a [Breakdown]> {
    Some(match list {
        "pages" => &r.pages,
        "entry_pages" => &r.entry_pages,
        "exit_pages" => &r.exit_pages,
        "sources" => &r.sources,
        "utm_mediums" => &r.utm_mediums,
        "utm_campaigns" => &r.utm_campaigns,
        "devices" => &r.devices,
        "browsers" => &r.browsers,
        "os" => &r.os,
        "countries" => &r.countries,
        "event_names" => &r.event_names,
        "props" => r.props.as_deref()?,
        _ => return None,
    })
}

/// One CSV field: quoted when needed, and a leading `= + - @` defused so a spreadsheet does
/// not run tracked text as a formula.
fn field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) { format!("'{v}") } else { v.to_string() };
    if v.contains([',', '"', '\n', '\r']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v }
}

/// The CSV text of one list of a report.
pub fn csv(report: &StatsReport, list: &str) -> Option<String> {
    let mut out = String::new();
    if list == "series" {
        out.push_str("start,visitors,pageviews\n");
        for p in &report.series {
            out.push_str(&format!("{},{},{}\n", p.start, p.visitors, p.pageviews));
        }
        return Some(out);
    }
    let rows = breakdown_of(report, list)?;
    out.push_str(if list == "event_names" || list == "props" { "value,visitors,events\n" } else { "value,visitors,pageviews\n" });
    for b in rows {
        out.push_str(&format!("{},{},{}\n", field(&b.value), b.visitors, b.count));
    }
    Some(out)
}

/// `GET /api/websites/{website_id}/stats.csv?list=pages&…` (same parameters as the report;
/// up to 1000 rows by default).
pub async fn stats_csv(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(website_id): Path<String>,
    uri: Uri,
) -> Result<Response, AppError> {
    let site = auth::visible_website(&state, &user, &website_id).await?;
    let list = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "list")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| bad(format!("parameter `list`: one of {}", LISTS.join(", "))))?;
    if !LISTS.contains(&list.as_str()) {
        return Err(bad(format!("parameter `list`: one of {}, got {list:?}", LISTS.join(", "))));
    }
    let q = parse_query(&site, uri.query(), &["list"], MAX_LIMIT)?;
    if list == "props" && q.breakdown_prop.is_none() {
        return Err(bad("parameter `breakdown`: list=props needs breakdown=prop:KEY"));
    }
    let report = state.events.stats(&q).await?;
    let body = csv(&report, &list).unwrap_or_default();
    let name = format!("pulse-{}-{list}-{}.csv", site.domain, q.from.with_timezone(&q.tz).format("%Y-%m-%d"));
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", name.replace(['"', '\\'], ""))) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(tz: &str) -> Website {
        Website { timezone: tz.into(), ..Website::new("w", "example.com", "Example") }
    }

    #[test]
    fn dates_are_midnights_in_the_website_time_zone_and_bad_input_is_named() {
        let q = parse_query(&site("America/New_York"), Some("from=2026-11-01&to=2026-11-08&source=&limit=5"), &[], 10).unwrap();
        assert_eq!(q.from.to_rfc3339(), "2026-11-01T04:00:00+00:00"); // EDT until Nov 1, 2 am
        assert_eq!(q.to.to_rfc3339(), "2026-11-08T05:00:00+00:00");
        assert_eq!((q.limit, q.filters.source.clone()), (5, None), "an empty filter is no filter");
        let err = |qs: &str| parse_query(&site("UTC"), Some(qs), &[], 10).unwrap_err().to_string();
        assert!(err("from=yesterday").contains("`from`"));
        assert!(err("from=2026-11-08&to=2026-11-01").contains("before"));
        assert!(err("limit=0").contains("`limit`"));
        assert!(err("prop=nocolon").contains("`prop`"));
        assert!(err("breakdown=page").contains("`breakdown`"));
        assert!(err("sorce=google").contains("`sorce`"));
        assert!(err("from=2020-01-01&to=2026-01-01").contains("549 days"));
        assert!(err("to=-262143-01-03").contains("years 1970 to 9999"), "no panic near chrono's limits");
        assert!(err("from=0001-01-01T00:00:00Z").contains("years"));
        let q = parse_query(&site("UTC"), Some("from=2026-11-01&to=2026-11-02&interval=day"), &[], 10).unwrap();
        assert_eq!(super::super::Buckets::new(&q).interval(), Interval::Day, "the interval asked for");
        assert!(err("from=2026-01-01&to=2026-03-01&interval=hour").contains("`interval`"));
        let q = parse_query(&site("UTC"), Some("prop=plan:pro:annual&breakdown=prop:plan"), &[], 10).unwrap();
        assert_eq!(q.filters.prop, Some(("plan".into(), "pro:annual".into())));
        assert_eq!(q.breakdown_prop.as_deref(), Some("plan"));
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(field("/pricing"), "/pricing");
    }
}
