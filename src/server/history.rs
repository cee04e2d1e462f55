//! History REST (contract §3, event lists): newest-first pages of a website's stored events —
//! all of them, a time range spanning any number of days, or the last N minutes — with opaque
//! keyset cursors, so events arriving between pages never duplicate or skip a row. Every
//! parameter is checked and a bad one answers `400 bad_request` naming it.

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;

use crate::model::EventList;
use crate::server::auth::{self, AuthUser};
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::server::store::{EventPage, PageCursor};

/// Events per page when `limit` is not given, and the most a page may hold.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;
/// `stream?minutes=`: the default and the longest window.
const DEFAULT_MINUTES: i64 = 5;
const MAX_MINUTES: i64 = 24 * 60;

#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

#[derive(Deserialize)]
pub struct StreamQuery {
    minutes: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

fn bad(msg: impl Into<String>) -> AppError {
    AppError::BadRequest(msg.into())
}

/// The opaque form of a page position: `<time ms>.<seq>`, both in base 36.
pub fn encode_cursor(c: PageCursor) -> String {
    format!("{}.{}", radix36(c.time_ms.max(0) as u64), radix36(c.seq))
}

pub fn decode_cursor(s: &str) -> Result<PageCursor, AppError> {
    let invalid = || bad("parameter `cursor`: not a cursor this server issued (pass `next_cursor` back as it came)");
    let (t, q) = s.split_once('.').ok_or_else(invalid)?;
    let parse = |x: &str| if x.is_empty() || x.len() > 13 { None } else { u64::from_str_radix(x, 36).ok() };
    let (time_ms, seq) = (parse(t).ok_or_else(invalid)?, parse(q).ok_or_else(invalid)?);
    Ok(PageCursor { time_ms: i64::try_from(time_ms).map_err(|_| invalid())?, seq })
}

fn radix36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

impl PageQuery {
    /// The page size and the position to continue from, checked.
    fn parse(&self) -> Result<(usize, Option<PageCursor>), AppError> {
        Ok((limit(self)?, cursor(self)?))
    }
}

fn limit(q: &PageQuery) -> Result<usize, AppError> {
    match q.limit.as_deref() {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| bad(format!("parameter `limit`: must be a whole number from 1 to {MAX_LIMIT}, got {v:?}"))),
    }
}

fn cursor(q: &PageQuery) -> Result<Option<PageCursor>, AppError> {
    q.cursor.as_deref().filter(|c| !c.is_empty()).map(decode_cursor).transpose()
}

/// An RFC 3339 time, or a `YYYY-MM-DD` date meaning its midnight UTC (the endpoints read dates
/// in the website's time zone first: `analytics::http::parse_time_in`).
pub fn parse_time(name: &str, v: &str) -> Result<DateTime<Utc>, AppError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    // an unencoded `+01:00` arrives as ` 01:00` (a `+` in a query string is a space)
    if let Some((time, offset)) = v.rsplit_once(' ')
        && let Ok(t) = DateTime::parse_from_rfc3339(&format!("{time}+{offset}"))
    {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(bad(format!("parameter `{name}`: must be an RFC 3339 time or a YYYY-MM-DD date, got {v:?}")))
}

fn list(page: EventPage) -> Json<EventList> {
    Json(EventList {
        events: page.events.into_iter().map(|e| e.event).collect(),
        next_cursor: page.next.map(encode_cursor),
    })
}

/// `GET /api/realtime/events/{website_id}?limit=&cursor=`
pub async fn newest(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(website_id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<EventList>, AppError> {
    let (limit, before) = q.parse()?;
    auth::website_visible(&state, &user, &website_id).await?;
    Ok(list(state.events.newest(&website_id, limit, before).await?))
}

/// `GET /api/realtime/events/{website_id}/range?from=&to=&limit=&cursor=` — `to` exclusive.
pub async fn range(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(website_id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<EventList>, AppError> {
    let (limit, before) = q.page.parse()?;
    let site = crate::server::auth::visible_website(&state, &user, &website_id).await?;
    // dates are midnights in the website's time zone
    let tz = crate::server::analytics::website_tz(&site.timezone);
    let from = q.from.as_deref().ok_or_else(|| bad("parameter `from` is required"))?;
    let from = crate::server::analytics::http::parse_time_in("from", from, tz)?;
    let to = match q.to.as_deref() {
        Some(to) => crate::server::analytics::http::parse_time_in("to", to, tz)?,
        None => Utc::now() + Duration::seconds(1),
    };
    if from >= to {
        return Err(bad(format!("parameters `from`/`to`: `from` ({from}) must be before `to` ({to})")));
    }
    Ok(list(state.events.range(&website_id, from, to, limit, before).await?))
}

/// `GET /api/realtime/events/{website_id}/stream?minutes=5&limit=&cursor=` — the last N minutes.
pub async fn stream(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(website_id): Path<String>,
    Query(q): Query<StreamQuery>,
) -> Result<Json<EventList>, AppError> {
    let minutes = match q.minutes.as_deref() {
        None => DEFAULT_MINUTES,
        Some(v) => v.parse::<i64>().ok().filter(|m| (1..=MAX_MINUTES).contains(m)).ok_or_else(|| {
            bad(format!("parameter `minutes`: must be a whole number from 1 to {MAX_MINUTES}, got {v:?}"))
        })?,
    };
    let (limit, before) = q.page.parse()?;
    auth::website_visible(&state, &user, &website_id).await?;
    let now = Utc::now();
    let page = state.events.range(&website_id, now - Duration::minutes(minutes), now + Duration::seconds(1), limit, before).await?;
    Ok(list(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = PageCursor { time_ms: 1_764_000_000_123, seq: 42 };
        assert_eq!(decode_cursor(&encode_cursor(c)).unwrap(), c);
        for bad in ["", "x", "1.", ".1", "zzzzzzzzzzzzzz.1", "1.2.3", "-1.2", "1 .2"] {
            assert!(decode_cursor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_are_rfc3339_or_dates() {
        assert_eq!(parse_time("from", "2026-11-02").unwrap().to_rfc3339(), "2026-11-02T00:00:00+00:00");
        assert_eq!(parse_time("from", "2026-11-02T10:00:00+01:00").unwrap().to_rfc3339(), "2026-11-02T09:00:00+00:00");
        assert_eq!(parse_time("from", "2026-11-02T10:00:00 01:00").unwrap().to_rfc3339(), "2026-11-02T09:00:00+00:00");
        assert!(parse_time("from", "yesterday").unwrap_err().to_string().contains("`from`"));
    }
}
