//! `POST /api/track` (contract §1): read at most 16 KiB, parse JSON or `text/plain` JSON,
//! validate naming the bad field, check the page's host against the website's, drop bots,
//! rate-limit per IP and per website, enrich, hash the visitor, hand
//! the event to the writer and answer `202` only once it is durably stored.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::model::{Event, TrackAccepted, TrackRequest, Website, MAX_PROPS, MAX_TRACK_BODY_BYTES};
use crate::server::enrich;
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::server::store::{AccountStore, Appended, EncodedEvent};
use crate::server::writer::WriteRequest;

const MAX_URL: usize = 2048;
const MAX_TITLE: usize = 512;
const MAX_NAME: usize = 64;
const MAX_PROP_KEY: usize = 64;
const MAX_PROP_TEXT: usize = 512;
const MAX_ID: usize = 128;

/// A request that passed validation, with what was derived from it.
#[derive(Debug, Clone)]
pub struct ValidTrack {
    pub req: TrackRequest,
    pub kind: String,
    pub url: url::Url,
    pub pathname: String,
    pub referrer: Option<String>,
}

fn invalid(msg: impl Into<String>) -> AppError {
    AppError::InvalidPayload(msg.into())
}

/// Parses a body as a tracking request; errors name the field. The plain parse runs first (the
/// common case, and the cheapest); only a body it refuses is parsed again to name the path.
pub fn parse(body: &[u8]) -> Result<TrackRequest, AppError> {
    if let Ok(req) = serde_json::from_slice(body) {
        return Ok(req);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            invalid(format!("body is not valid JSON: {inner}"))
        } else if path == "." {
            invalid(format!("body: {inner}"))
        } else {
            invalid(format!("field `{path}`: {inner}"))
        }
    })
}

/// Checks every field against the contract's limits.
pub fn validate(req: TrackRequest) -> Result<ValidTrack, AppError> {
    if req.website_id.trim().is_empty() || req.website_id.len() > MAX_ID {
        return Err(invalid("field `website_id`: must be a website id as created by `pulse site add`"));
    }
    let kind = match req.kind.as_deref().map(str::trim) {
        None | Some("") => Event::PAGEVIEW.to_string(),
        Some(k) if k.chars().count() > MAX_NAME || k.chars().any(char::is_control) => {
            return Err(invalid("field `type`: must be `pageview` or an event name of 1-64 characters"));
        }
        Some(k) => k.to_string(),
    };
    if req.url.len() > MAX_URL {
        return Err(invalid(format!("field `url`: longer than {MAX_URL} characters")));
    }
    let url = url::Url::parse(&req.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| invalid("field `url`: must be an absolute http(s) URL"))?;
    let pathname = url.path().to_string();
    let referrer = match req.referrer.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) if r.len() > MAX_URL => {
            return Err(invalid(format!("field `referrer`: longer than {MAX_URL} characters")));
        }
        Some(r) => Some(r.to_string()),
    };
    if req.title.as_ref().is_some_and(|t| t.chars().count() > MAX_TITLE) {
        return Err(invalid(format!("field `title`: longer than {MAX_TITLE} characters")));
    }
    if let Some(props) = &req.props {
        if props.len() > MAX_PROPS {
            return Err(invalid(format!("field `props`: at most {MAX_PROPS} keys, got {}", props.len())));
        }
        for (k, v) in props {
            if k.is_empty() || k.chars().count() > MAX_PROP_KEY {
                return Err(invalid(format!("field `props`: key {k:?} must be 1-{MAX_PROP_KEY} characters")));
            }
            if let crate::model::PropValue::Text(s) = v
                && s.chars().count() > MAX_PROP_TEXT
            {
                return Err(invalid(format!("field `props.{k}`: longer than {MAX_PROP_TEXT} characters")));
            }
        }
    }
    for (name, v) in [("visitor_id", &req.visitor_id), ("session_id", &req.session_id)] {
        if v.as_ref().is_some_and(|s| s.is_empty() || s.len() > MAX_ID) {
            return Err(invalid(format!("field `{name}`: must be 1-{MAX_ID} characters")));
        }
    }
    Ok(ValidTrack { req, kind, url, pathname, referrer })
}

/// Websites by id, so tracking doesn't read the store per request. Only websites that exist
/// are cached, at most `SITE_CACHE` of them (least recently used go first), each for at most
/// `SITE_TTL`: a change in Settings evicts the entry at once, and the TTL bounds what a read
/// racing that eviction (or a change made by another process) can leave behind.
pub struct SiteCache {
    sites: quick_cache::sync::Cache<String, (Arc<Website>, Instant)>,
}

const SITE_CACHE: usize = 10_000;
const SITE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

impl Default for SiteCache {
    fn default() -> Self {
        Self { sites: quick_cache::sync::Cache::new(SITE_CACHE) }
    }
}

impl SiteCache {
    pub async fn get(&self, accounts: &dyn AccountStore, id: &str) -> Result<Option<Arc<Website>>, AppError> {
        if let Some((site, loaded)) = self.sites.get(id)
            && loaded.elapsed() < SITE_TTL
        {
            return Ok(Some(site));
        }
        let loaded = Instant::now();
        let Some(site) = accounts.website(id).await? else {
            self.sites.remove(id);
            return Ok(None);
        };
        let site = Arc::new(site);
        self.sites.insert(id.to_string(), (site.clone(), loaded));
        Ok(Some(site))
    }

    /// The website changed or is gone.
    pub fn forget(&self, id: &str) {
        self.sites.remove(id);
    }
}

fn content_type_ok(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else { return true };
    let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
    let mime = ct.split(';').next().unwrap_or("").trim();
    matches!(mime, "" | "application/json" | "text/plain")
}

async fn read_body(body: Body) -> Result<axum::body::Bytes, AppError> {
    axum::body::to_bytes(body, MAX_TRACK_BODY_BYTES).await.map_err(|e| {
        // the only failure of a local body read is the length limit; a broken connection
        // gets no answer anyway
        tracing::debug!(error = %e, "track body refused");
        AppError::PayloadTooLarge(MAX_TRACK_BODY_BYTES)
    })
}

pub async fn track_handler(State(state): State<AppState>, req: Request) -> Response {
    match track(&state, req).await {
        Ok(accepted) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
        Err(e) => {
            state.metrics.ingest(e.code());
            e.into_response()
        }
    }
}

async fn track(state: &AppState, req: Request) -> Result<TrackAccepted, AppError> {
    let received = Instant::now();
    let (parts, body) = req.into_parts();
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let ip = state.client_ip(&parts.headers, peer);
    state.limiter.check(&ip).map_err(|secs| AppError::RateLimited { retry_after_secs: secs })?;
    if parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_TRACK_BODY_BYTES)
    {
        return Err(AppError::PayloadTooLarge(MAX_TRACK_BODY_BYTES));
    }
    if !content_type_ok(&parts.headers) {
        return Err(AppError::UnsupportedMediaType(
            "send the body as application/json or text/plain".into(),
        ));
    }
    let body = read_body(body).await?;
    let valid = validate(parse(&body)?)?;
    let ua = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(site) = state.sites.get(state.accounts.as_ref(), &valid.req.website_id).await? else {
        return Err(AppError::UnknownWebsite(valid.req.website_id));
    };
    // a copied snippet (or a forged request) cannot fill another site's data from elsewhere
    check_host(&site, &valid.url)?;
    state
        .site_limiter
        .check(&site.id)
        .map_err(|secs| AppError::RateLimited { retry_after_secs: secs })?;
    // one user-agent lookup answers both: bot or not, and device/browser/OS
    let client = state.enricher.client(ua, valid.req.screen_width);
    if client.bot {
        state.metrics.ingest("bot");
        return Ok(TrackAccepted { id: None, dropped: Some("bot".into()) });
    }
    let client_id = valid.req.event_id.is_some();
    let event = enrich_event(state, valid, &site, client, ip, ua).await?;
    let id = event.id;
    let event = EncodedEvent::new(event).map_err(|e| AppError::Internal(format!("cannot encode event: {e}")))?;
    let event = if client_id { event } else { event.server_made() };
    let (ack, done) = oneshot::channel();
    state.ingest.try_send(WriteRequest { event, received, ack }).map_err(|e| match e {
        tokio::sync::mpsc::error::TrySendError::Full(_) => AppError::QueueFull,
        tokio::sync::mpsc::error::TrySendError::Closed(_) => AppError::ShuttingDown,
    })?;
    match done.await {
        Ok(Ok(Appended::Stored(_) | Appended::Duplicate)) => Ok(TrackAccepted { id: Some(id), dropped: None }),
        // the writer logged the cause and `/health` reports it
        Ok(Err(_)) => Err(AppError::StoreUnavailable),
        Err(_) => Err(AppError::ShuttingDown),
    }
}

/// Server-made event ids: time-ordered (v7) so the idempotency index grows at its end, and
/// monotonic across threads within a millisecond (uuid's `ContextV7` counter, shared behind a
/// mutex held for a few nanoseconds).
static EVENT_IDS: std::sync::Mutex<uuid::ContextV7> = std::sync::Mutex::new(uuid::ContextV7::new());

fn event_id(at: chrono::DateTime<Utc>) -> Uuid {
    let ctx = EVENT_IDS.lock().unwrap_or_else(|p| p.into_inner());
    let (secs, nanos) = (at.timestamp().max(0) as u64, at.timestamp_subsec_nanos());
    Uuid::new_v7(uuid::Timestamp::from_unix(&*ctx, secs, nanos))
}

async fn enrich_event(
    state: &AppState,
    v: ValidTrack,
    site: &Website,
    client: enrich::Client,
    ip: IpAddr,
    ua: &str,
) -> Result<Event, AppError> {
    let visitor_id = match &v.req.visitor_id {
        Some(given) => state.visitors.hash_given(&v.req.website_id, given),
        None => state.visitors.derive(&v.req.website_id, ip, ua).await?,
    };
    let time = Utc::now();
    let id = v.req.event_id.unwrap_or_else(|| event_id(time));
    Ok(event_from(v, site, client, visitor_id, time, id, state.enricher.country(ip)))
}

/// The stored event of a validated request: URL and referrer stripped (`enrich::public_url`),
/// source derived, empty titles dropped. Shared by `/api/track` and `pulse import`.
pub fn event_from(
    v: ValidTrack,
    site: &Website,
    client: enrich::Client,
    visitor_id: String,
    time: chrono::DateTime<Utc>,
    id: Uuid,
    country: Option<String>,
) -> Event {
    let (referrer, source) = enrich::referrer_and_source(&v.url, v.referrer.as_deref());
    Event {
        id,
        time,
        kind: v.kind,
        pathname: v.pathname,
        source,
        url: enrich::public_url_keeping(&v.url, &site.url_params),
        referrer,
        title: v.req.title.filter(|t| !t.trim().is_empty()),
        visitor_id,
        session_id: v.req.session_id,
        device: client.device,
        browser: client.browser,
        os: client.os,
        country,
        props: v.req.props.unwrap_or_default(),
        website_id: v.req.website_id,
    }
}

/// `Err` with the `400` message when a page on this host may not send events to `site`.
pub fn check_host(site: &Website, url: &url::Url) -> Result<(), AppError> {
    let host = url.host_str().unwrap_or("");
    if site.accepts_host(host) {
        return Ok(());
    }
    Err(invalid(format!(
        "field `url`: host {host:?} is not allowed for this website (its domain {:?} and subdomains{}); \
         add it to the website's allowed hostnames in Settings",
        site.domain,
        if site.allowed_hostnames.is_empty() { String::new() } else { format!(", {}", site.allowed_hostnames.join(", ")) }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> ValidTrack {
        validate(parse(body.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn server_event_ids_are_v7_ordered_by_time_and_distinct() {
        let t = Utc::now();
        let a = event_id(t);
        let b = event_id(t);
        let later = event_id(t + chrono::Duration::milliseconds(1));
        assert_eq!(a.get_version_num(), 7);
        assert_ne!(a, b);
        assert!(later > a && later > b);
        let (secs, nanos) = a.get_timestamp().unwrap().to_unix();
        assert_eq!(secs as i64 * 1000 + nanos as i64 / 1_000_000, t.timestamp_millis());
    }

    #[test]
    fn server_event_ids_are_monotonic_within_a_millisecond_across_threads() {
        let t = Utc::now();
        let per_thread: Vec<Vec<Uuid>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4).map(|_| s.spawn(|| (0..500).map(|_| event_id(t)).collect::<Vec<_>>())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for ids in &per_thread {
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids from one thread increase");
        }
        let mut all: Vec<Uuid> = per_thread.into_iter().flatten().collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "no id repeats");
        // and an id made later never sorts before one made earlier, even in the same millisecond
        let (a, b) = (event_id(t), event_id(t));
        assert!(b > a);
    }

    fn err(body: &str) -> String {
        match parse(body.as_bytes()).and_then(validate) {
            Ok(_) => panic!("accepted {body}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn minimal_body_is_a_pageview_with_derived_pathname() {
        let v = ok(r#"{"website_id":"w","url":"https://a.com/x/y?q=1"}"#);
        assert_eq!(v.kind, "pageview");
        assert_eq!(v.pathname, "/x/y");
    }

    #[test]
    fn errors_name_the_field() {
        assert!(err(r#"{"website_id":"w"}"#).contains("url"));
        assert!(err(r#"{"url":"https://a.com"}"#).contains("website_id"));
        assert!(err(r#"{"website_id":"w","url":"nope"}"#).contains("`url`"));
        assert!(err(r#"{"website_id":5,"url":"https://a.com"}"#).contains("website_id"));
        assert!(err(r#"{"website_id":"w","url":"https://a.com","event_id":"x"}"#).contains("event_id"));
        assert!(err(r#"{"website_id":"w","url":"https://a.com","props":{"a":[1]}}"#).contains("props"));
        let long = "x".repeat(65);
        assert!(err(&format!(r#"{{"website_id":"w","url":"https://a.com","type":"{long}"}}"#)).contains("type"));
        assert!(err("{not json").contains("JSON"));
        assert!(err("[]").contains("body"));
    }

    #[test]
    fn at_most_thirty_props() {
        let props: Vec<String> = (0..31).map(|i| format!(r#""k{i}":{i}"#)).collect();
        let body = format!(r#"{{"website_id":"w","url":"https://a.com","props":{{{}}}}}"#, props.join(","));
        assert!(err(&body).contains("at most 30"));
    }
}
