//! `pulse import --website W FILE` (contract §4): NDJSON history from another tool, one
//! tracking body per line plus `time` (RFC 3339), checked exactly as `/api/track` checks it
//! (fields, the page host against the website's). Idempotent: an `event_id` is the key, and
//! a line without one gets an id derived from the website and the line itself, so importing
//! the same file twice stores it once. Written in batches of `BATCH` through the store's
//! `append` (each batch one transaction); a progress bar on long files; a summary of stored,
//! already-present and rejected lines, with the reasons.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::model::Website;
use crate::server::enrich::Enricher;
use crate::server::ingest;
use crate::server::store::{AccountStore, Appended, EncodedEvent, EventStore};
use crate::server::visitor::VisitorHasher;

/// Events per transaction.
const BATCH: usize = 2_000;
/// Rejected lines printed one by one; the rest are counted by reason.
const SHOWN_REJECTIONS: usize = 20;
/// Files larger than this get a progress bar (on a terminal).
const PROGRESS_FROM_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("no website {0}; create it with `pulse site add`")]
    UnknownWebsite(String),
    #[error(transparent)]
    Store(#[from] crate::server::store::StoreError),
}

/// What a line may carry besides the tracking body.
#[derive(Deserialize)]
struct Extras {
    time: Option<String>,
    /// The visitor's browser, for device, browser and OS (optional).
    user_agent: Option<String>,
}

/// How an import went.
#[derive(Debug, Default)]
pub struct Summary {
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: u64,
    /// Up to `SHOWN_REJECTIONS` of them: line number and reason.
    pub shown: Vec<(u64, String)>,
    /// Every rejection's reason (without field details that vary) and how often it came.
    pub reasons: BTreeMap<String, u64>,
    /// Lines without `visitor_id` or `session_id`: each counted as a visitor of its own.
    pub anonymous: u64,
}

impl Summary {
    fn reject(&mut self, line: u64, reason: String) {
        self.rejected += 1;
        let kind = reason.split(':').next().unwrap_or(&reason).to_string();
        *self.reasons.entry(kind).or_default() += 1;
        if self.shown.len() < SHOWN_REJECTIONS {
            self.shown.push((line, reason));
        }
    }

    /// The report printed at the end.
    pub fn render(&self) -> String {
        let mut out = format!(
            "stored {} events, {} already present (same event_id), {} lines rejected\n",
            self.stored, self.duplicates, self.rejected
        );
        if self.anonymous > 0 {
            out.push_str(&format!(
                "{} events had no visitor_id or session_id: each counts as a visitor of its own\n",
                self.anonymous
            ));
        }
        for (line, reason) in &self.shown {
            out.push_str(&format!("  line {line}: {reason}\n"));
        }
        if self.rejected > self.shown.len() as u64 {
            out.push_str("rejections by reason:\n");
            for (reason, n) in &self.reasons {
                out.push_str(&format!("  {n} × {reason}\n"));
            }
        }
        out
    }
}

/// A stable id for a line without `event_id`: the same line of the same website always maps
/// to the same id (UUID layout, version 8).
fn line_id(website_id: &str, line: &str) -> uuid::Uuid {
    let digest = Sha256::new().chain_update(website_id.as_bytes()).chain_update([0]).chain_update(line.as_bytes()).finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Checks one line and builds its event.
fn event_of(
    line: &str,
    site: &Website,
    enricher: &Enricher,
    visitors: &VisitorHasher,
    now: DateTime<Utc>,
    anonymous: &mut u64,
) -> Result<EncodedEvent, String> {
    let extras: Extras = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let time = extras.time.ok_or("field `time`: required (RFC 3339)")?;
    let time = DateTime::parse_from_rfc3339(&time)
        .map_err(|_| format!("field `time`: must be an RFC 3339 time, got {time:?}"))?
        .with_timezone(&Utc);
    if time > now + Duration::minutes(5) {
        return Err(format!("field `time`: {time} is in the future"));
    }
    // `website_id` may be left out: it is the website being imported
    let mut body: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    if let Some(obj) = body.as_object_mut() {
        obj.entry("website_id").or_insert_with(|| serde_json::Value::String(site.id.clone()));
    }
    let req = ingest::parse(body.to_string().as_bytes()).map_err(|e| e.to_string())?;
    if req.website_id != site.id {
        return Err(format!("field `website_id`: {:?} is not the website being imported ({})", req.website_id, site.id));
    }
    let valid = ingest::validate(req).map_err(|e| e.to_string())?;
    ingest::check_host(site, &valid.url).map_err(|e| e.to_string())?;
    let ua = extras.user_agent.unwrap_or_default();
    let client = enricher.client(&ua, valid.req.screen_width);
    if client.bot && !ua.is_empty() {
        return Err("user agent: a bot (not stored, as on /api/track)".into());
    }
    let given = valid.req.visitor_id.clone().or_else(|| valid.req.session_id.clone());
    let visitor_id = match given {
        Some(g) => visitors.hash_given(&site.id, &g),
        None => {
            *anonymous += 1;
            visitors.hash_given(&site.id, &line_id(&site.id, line).to_string())
        }
    };
    let id = valid.req.event_id.unwrap_or_else(|| line_id(&site.id, line));
    let event = ingest::event_from(valid, site, client, visitor_id, time, id, None);
    // the id is a key either way (given, or derived from the line): checked on append
    EncodedEvent::new(event).map_err(|e| format!("cannot encode: {e}"))
}

/// Imports `file` into website `website_id`.
pub async fn run<S>(store: &S, accounts: std::sync::Arc<dyn AccountStore>, geoip: Option<&Path>, website_id: &str, file: &Path) -> Result<Summary, ImportError>
where
    S: EventStore + ?Sized,
{
    let read_err = |source| ImportError::Read { path: file.display().to_string(), source };
    let site = accounts.website(website_id).await?.ok_or_else(|| ImportError::UnknownWebsite(website_id.to_string()))?;
    let visitors = VisitorHasher::new(accounts).await?;
    let enricher = Enricher::new(geoip);
    let f = std::fs::File::open(file).map_err(read_err)?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if size >= PROGRESS_FROM_BYTES {
        let bar = indicatif::ProgressBar::new(size);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {per_sec} eta {eta}") {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut summary = Summary::default();
    let mut batch = Vec::with_capacity(BATCH);
    let now = Utc::now();
    let reader = std::io::BufReader::new(f);
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(read_err)?;
        bar.inc(line.len() as u64 + 1);
        let number = n as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        match event_of(&line, &site, &enricher, &visitors, now, &mut summary.anonymous) {
            Ok(e) => batch.push(e),
            Err(reason) => summary.reject(number, reason),
        }
        if batch.len() >= BATCH {
            flush(store, &mut batch, &mut summary).await?;
        }
    }
    flush(store, &mut batch, &mut summary).await?;
    bar.finish_and_clear();
    // the store's housekeeping now rather than at the server's next pass: on ScyllaDB, the
    // imported hours' rollups, so reports over the history are fast right away
    store.maintain().await?;
    Ok(summary)
}

async fn flush<S: EventStore + ?Sized>(store: &S, batch: &mut Vec<EncodedEvent>, summary: &mut Summary) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    for outcome in store.append(batch).await? {
        match outcome {
            Appended::Stored(_) => summary.stored += 1,
            Appended::Duplicate => summary.duplicates += 1,
        }
    }
    batch.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_without_event_id_always_gets_the_same_id() {
        let a = line_id("w", r#"{"url":"https://e.com/","time":"2026-01-01T00:00:00Z"}"#);
        assert_eq!(a, line_id("w", r#"{"url":"https://e.com/","time":"2026-01-01T00:00:00Z"}"#));
        assert_ne!(a, line_id("w2", r#"{"url":"https://e.com/","time":"2026-01-01T00:00:00Z"}"#));
    }

    #[test]
    fn the_summary_names_rejected_lines_and_counts_reasons() {
        let mut s = Summary { stored: 3, ..Summary::default() };
        for i in 0..25 {
            s.reject(i, format!("field `time`: bad {i}"));
        }
        let text = s.render();
        assert!(text.starts_with("stored 3 events, 0 already present (same event_id), 25 lines rejected"));
        assert!(text.contains("line 0: field `time`: bad 0"));
        assert!(text.contains("25 × field `time`"));
    }
}
