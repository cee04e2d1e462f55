//! Hour rollups for reports on ScyllaDB. A closed hour of a website is folded into one row of
//! `event_hours`: the columns a report reads, of every event of the hour, in order, as one
//! JSON text — a 30-day report then reads 720 single cells instead of every event row.
//! Reports stay exact under any combination of filters (distinct visitors and sessions
//! included), because the rollup keeps the rows the aggregate needs, not counts.
//!
//! Any process may compute any hour, and computing it twice gives the same row. A write into
//! an hour that may be rolled up already (a late or imported event) bumps the hour's
//! `last_write` after the event is stored; a rollup records the `last_write` it saw before
//! reading the hour (`as_of`), so a report uses it only while `as_of >= last_write` and reads
//! the raw hour otherwise, until the next pass recomputes it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use scylla::value::CqlTimestamp;
use serde::{Deserialize, Serialize};

use super::events::{bucket_of, EventRow, EVENT_COLUMNS};
use super::schema::BUCKET_MS;
use super::{cql_err, ScyllaStore};
use crate::server::store::StoreError;

/// An hour is rolled up once it closed this long ago (events are stamped at ingest and stored
/// within milliseconds; this leaves ample room).
pub const SETTLE_MS: i64 = 5 * 60_000;
/// How often a pass looks for hours to roll up.
pub const PASS_EVERY: Duration = Duration::from_secs(30);
/// How far back a pass looks (older hours are rolled up already, or read raw).
const LOOK_BACK_MS: i64 = 400 * 86_400_000;
/// Hours rolled up at once.
const HOURS_IN_FLIGHT: usize = 4;
/// Hours remembered as current (a pass skips them without a read); past this the memory is
/// cleared and the next pass looks at every hour once more.
const KNOWN_CURRENT: usize = 200_000;
/// Events above which an hour is not rolled up (~300 B each: a few MB per cell, well under
/// Cassandra's 16 MiB mutation limit).
const MAX_ROLLUP_EVENTS: usize = 20_000;

/// One event as a report reads it: time, kind, pathname, url, source, visitor, session,
/// device, browser, os, country, props (JSON).
pub type ReportRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

#[derive(Serialize, Deserialize)]
struct Encoded(Vec<ReportRow>);

/// A mark for `last_write`: random, so that marks from processes with different clocks
/// never compare as older; a rollup is current only while its `as_of` equals the mark.
fn next_mark() -> i64 {
    // never 0, which stands for "no late write"
    (rand::random::<u64>() >> 1).max(1) as i64
}

/// Whether an event of `bucket` written now may land in an hour that is rolled up already.
pub fn may_be_rolled_up(bucket: i64) -> bool {
    bucket < bucket_of(chrono::Utc::now().timestamp_millis() - SETTLE_MS)
}

/// The state of one pass schedule: when the last pass started, and whether one runs.
#[derive(Default)]
pub struct Schedule {
    last: std::sync::Mutex<Option<Instant>>,
    /// (website, hour) whose rollup this process made or found current. A late write by this
    /// process forgets the hour; one by another process is caught by that process's pass (and
    /// reports check `as_of` themselves either way).
    current: std::sync::Mutex<std::collections::HashSet<(String, i64)>>,
    /// Bumped by every `forget`: an hour looked at while a late write happened is not
    /// remembered (the write may have landed after the look).
    forgotten: AtomicI64,
}

impl Schedule {
    /// `true` (and the clock restarts) when a pass is due.
    pub fn due(&self) -> bool {
        let Ok(mut last) = self.last.lock() else { return false };
        if last.is_some_and(|t| t.elapsed() < PASS_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    fn is_current(&self, site: &str, bucket: i64) -> bool {
        self.current.lock().is_ok_and(|c| c.contains(&(site.to_string(), bucket)))
    }

    fn set_current(&self, site: &str, bucket: i64, generation: i64) {
        if let Ok(mut c) = self.current.lock() {
            if self.forgotten.load(Ordering::SeqCst) != generation {
                return;
            }
            if c.len() >= KNOWN_CURRENT {
                c.clear();
            }
            c.insert((site.to_string(), bucket));
        }
    }

    fn forget(&self, hours: &[(&str, i64)]) {
        if let Ok(mut c) = self.current.lock() {
            self.forgotten.fetch_add(1, Ordering::SeqCst);
            for &(site, bucket) in hours {
                c.remove(&(site.to_string(), bucket));
            }
        }
    }
}

impl ScyllaStore {
    /// After late writes into `hours` are stored: their rollups are out of date.
    pub(super) async fn mark_written(&self, hours: &[(&str, i64)]) -> Result<(), StoreError> {
        self.rollups.forget(hours);
        let mark = next_mark();
        // by index: closures over plain numbers keep the futures `Send` for the trait
        futures::stream::iter(0..hours.len())
            .map(|i| async move {
                let (site, bucket) = hours[i];
                self.db
                    .execute_unpaged(
                        self.stmt("UPDATE event_hours SET last_write = ? WHERE website_id = ? AND bucket = ?", true),
                        (mark, site, bucket),
                    )
                    .await
                    .map(|_| ())
                    .map_err(cql_err)
            })
            .buffer_unordered(64)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// The raw events of one hour within `[from_ms, to_ms)`, oldest first.
    pub(super) async fn raw_hour(&self, site: &str, bucket: i64, from_ms: i64, to_ms: i64) -> Result<Vec<ReportRow>, StoreError> {
        // clustering order is (time, seq) newest first: reversed, the hour is in commit order
        let cql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE website_id = ? AND bucket = ? AND time >= ? AND time < ?");
        let mut rows: Vec<EventRow> = self.all(&cql, (site, bucket, CqlTimestamp(from_ms), CqlTimestamp(to_ms))).await?;
        rows.reverse(); // stored newest first
        Ok(rows
            .into_iter()
            .map(|r| (r.time.0, r.kind, r.pathname, r.url, r.source, r.visitor_id, r.session_id, r.device, r.browser, r.os, r.country, r.props))
            .collect())
    }

    /// The events of one hour within `[from_ms, to_ms)` for a report, oldest first: from its
    /// rollup when that is current, else raw.
    pub(super) async fn report_hour(&self, site: &str, bucket: i64, from_ms: i64, to_ms: i64) -> Result<Vec<ReportRow>, StoreError> {
        let rollup = self
            .db
            .execute_unpaged(
                self.stmt("SELECT rows, as_of, last_write FROM event_hours WHERE website_id = ? AND bucket = ?", true),
                (site, bucket),
            )
            .await
            .map_err(cql_err)?
            .into_rows_result()
            .map_err(cql_err)?
            .maybe_first_row::<(Option<String>, Option<i64>, Option<i64>)>()
            .map_err(cql_err)?;
        if let Some((Some(json), Some(as_of), last_write)) = rollup
            && as_of == last_write.unwrap_or(0)
        {
            let Encoded(rows) = serde_json::from_str(&json)?;
            let whole = bucket * BUCKET_MS >= from_ms && (bucket + 1) * BUCKET_MS <= to_ms;
            return Ok(if whole { rows } else { rows.into_iter().filter(|r| r.0 >= from_ms && r.0 < to_ms).collect() });
        }
        self.raw_hour(site, bucket, from_ms, to_ms).await
    }

    /// Rolls up one hour if it has no current rollup; `true` if it did.
    async fn roll_up(&self, site: &str, bucket: i64) -> Result<bool, StoreError> {
        let state = self
            .db
            .execute_unpaged(
                self.stmt("SELECT as_of, last_write FROM event_hours WHERE website_id = ? AND bucket = ?", true),
                (site, bucket),
            )
            .await
            .map_err(cql_err)?
            .into_rows_result()
            .map_err(cql_err)?
            .maybe_first_row::<(Option<i64>, Option<i64>)>()
            .map_err(cql_err)?;
        let last_write = state.and_then(|s| s.1).unwrap_or(0);
        if let Some((Some(as_of), _)) = state
            && as_of == last_write
        {
            return Ok(false);
        }
        // read after `last_write`: a write that lands later bumps it past `as_of`
        let rows = self.raw_hour(site, bucket, bucket * BUCKET_MS, (bucket + 1) * BUCKET_MS).await?;
        if rows.len() > MAX_ROLLUP_EVENTS {
            // one cell would pass the cluster's mutation size limit: this hour is read raw
            tracing::debug!(site, bucket, events = rows.len(), "hour too busy to roll up");
            return Ok(false);
        }
        let events = rows.len() as i32;
        let json = serde_json::to_string(&Encoded(rows))?;
        self.db
            .execute_unpaged(
                self.stmt("UPDATE event_hours SET rows = ?, events = ?, as_of = ? WHERE website_id = ? AND bucket = ?", true),
                (json, events, last_write, site, bucket),
            )
            .await
            .map_err(cql_err)?;
        Ok(true)
    }

    /// One pass: every closed, non-empty hour of every website without a current rollup.
    pub(super) async fn roll_up_closed_hours(&self) -> Result<usize, StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        let newest_closed = bucket_of(now - SETTLE_MS) - 1;
        let mut done = 0;
        for site in self.website_ids().await? {
            let mut hours = self.buckets(&site, bucket_of(now - LOOK_BACK_MS), newest_closed).await?;
            hours.retain(|&b| !self.rollups.is_current(&site, b));
            let site = site.as_str();
            let rolled: Vec<bool> = futures::stream::iter(hours)
                .map(|bucket| async move {
                    let generation = self.rollups.forgotten.load(Ordering::SeqCst);
                    match self.roll_up(site, bucket).await {
                        Ok(rolled) => {
                            self.rollups.set_current(site, bucket, generation);
                            Ok::<_, StoreError>(rolled)
                        }
                        // one hour failing does not stop the pass; reports read it raw
                        Err(e) => {
                            tracing::warn!(site, bucket, error = %e, "hour not rolled up");
                            Ok(false)
                        }
                    }
                })
                .buffer_unordered(HOURS_IN_FLIGHT)
                .try_collect()
                .await?;
            done += rolled.into_iter().filter(|r| *r).count();
        }
        if done > 0 {
            tracing::info!(hours = done, "rolled up closed hours");
        }
        Ok(done)
    }

    /// Removes a website's rollups (with its events).
    pub(super) async fn delete_rollups(&self, site: &str, buckets: &[i64]) -> Result<(), StoreError> {
        for &bucket in buckets {
            self.db
                .execute_unpaged(self.stmt("DELETE FROM event_hours WHERE website_id = ? AND bucket = ?", true), (site, bucket))
                .await
                .map_err(cql_err)?;
        }
        Ok(())
    }
}
