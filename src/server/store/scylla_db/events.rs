//! `EventStore` on ScyllaDB. Events live in hour partitions per website (`events`), newest
//! first and unique by `(time, seq)`; `event_buckets` lists a website's non-empty hours, so
//! paging and ranges visit only those; `event_seq_runs` lists stored events by sequence number
//! (one row per website and batch);
//! `event_ids` holds client-given ids for dedupe. A batch is written with many requests in
//! flight and answered only when every write is acknowledged at the configured consistency.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt, TryStreamExt};
use scylla::client::caching_session::CachingSession;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlTimestamp, MaybeUnset};
use scylla::{DeserializeRow, SerializeRow};
use uuid::Uuid;

use super::schema::{BUCKET_MS, SEQ_BLOCK_BITS};
use super::{cql_err, lwt_applied, ScyllaStore};
use crate::model::{Device, Event, Props, StatsReport};
use crate::server::analytics::aggregate::{AggRow, Aggregator};
use crate::server::analytics::StatsQuery;
use crate::server::store::{
    page_from_rows, Appended, EncodedEvent, EventPage, EventStore, PageCursor, Seq, StoreError, StoredEvent,
};

/// Batches the writer may have in flight: a commit is a few network round trips, so one at a
/// time would leave the cluster idle.
const APPENDS_IN_FLIGHT: usize = 4;
/// Requests in flight while writing a batch.
const WRITES_IN_FLIGHT: usize = 256;
/// Bytes of row data per unlogged batch (Cassandra warns above 5 KiB by default).
const BATCH_BYTES: usize = 4_000;
/// (website, hour) pairs remembered as recorded in `event_buckets`.
const KNOWN_HOURS: usize = 10_000;
/// Hour partitions read at once for a range.
const BUCKETS_IN_FLIGHT: usize = 8;

/// Groups rows by partition (in order) and cuts each group into batches of about
/// `BATCH_BYTES` (a row larger than that goes alone).
fn by_partition<K: Ord, V>(rows: Vec<(K, usize, V)>) -> Vec<Vec<V>> {
    let mut groups: std::collections::BTreeMap<K, Vec<(usize, Vec<V>)>> = std::collections::BTreeMap::new();
    for (key, size, row) in rows {
        let chunks = groups.entry(key).or_default();
        match chunks.last_mut() {
            Some((bytes, rows)) if *bytes + size <= BATCH_BYTES => {
                *bytes += size;
                rows.push(row);
            }
            _ => chunks.push((size, vec![row])),
        }
    }
    groups.into_values().flatten().map(|(_, rows)| rows).collect()
}

pub(super) const EVENT_COLUMNS: &str = "id, website_id, time, seq, kind, pathname, url, referrer, source, title, \
                             visitor_id, session_id, device, browser, os, country, props";

#[derive(DeserializeRow)]
pub(super) struct EventRow {
    pub id: Uuid,
    pub website_id: String,
    pub time: CqlTimestamp,
    pub seq: i64,
    pub kind: String,
    pub pathname: String,
    pub url: String,
    pub referrer: Option<String>,
    pub source: Option<String>,
    pub title: Option<String>,
    pub visitor_id: String,
    pub session_id: Option<String>,
    pub device: String,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub country: Option<String>,
    pub props: Option<String>,
}

impl EventRow {
    fn into_stored(self) -> Result<StoredEvent, StoreError> {
        let corrupt = |what: String| StoreError::Cql(format!("stored event {} is unreadable: {what}", self.id));
        let time = DateTime::<Utc>::from_timestamp_millis(self.time.0).ok_or_else(|| corrupt("time out of range".into()))?;
        let device = Device::parse(&self.device).ok_or_else(|| corrupt(format!("unknown device {:?}", self.device)))?;
        let props: Props = match &self.props {
            None => Props::new(),
            Some(json) => serde_json::from_str(json)?,
        };
        Ok(StoredEvent {
            seq: self.seq as Seq,
            event: Event {
                id: self.id,
                website_id: self.website_id,
                time,
                kind: self.kind,
                pathname: self.pathname,
                url: self.url,
                referrer: self.referrer,
                source: self.source,
                title: self.title,
                visitor_id: self.visitor_id,
                session_id: self.session_id,
                device,
                browser: self.browser,
                os: self.os,
                country: self.country,
                props,
            },
        })
    }
}

pub(super) fn bucket_of(time_ms: i64) -> i64 {
    time_ms.div_euclid(BUCKET_MS)
}

fn block_of(seq: i64) -> i64 {
    seq >> SEQ_BLOCK_BITS
}

impl ScyllaStore {
    /// Writes one event (and its index rows) with sequence number `seq`.
    /// The whole row is written: absent values are bound as null, so nothing of an earlier,
    /// different attempt under the same number survives (the duplicate repair's rewrite).
    async fn write_event(&self, e: &Event, seq: i64, client_id: bool) -> Result<(), StoreError> {
        self.write_events(&[(e, seq, client_id)], true).await
    }

    /// Writes events with their sequence numbers: rows of one partition go together in
    /// unlogged batches (one request, applied atomically per partition, kept under Cassandra's
    /// 5 KiB batch warning), every batch in flight at once; answers when all are acknowledged.
    /// Absent values are left unset (no tombstone), or bound as null when `whole` (rewriting a
    /// row that may exist).
    async fn write_events(&self, events: &[(&Event, i64, bool)], whole: bool) -> Result<(), StoreError> {
        let mut rows: Vec<((&str, i64), usize, EventInsert<'_>)> = Vec::with_capacity(events.len());
        let mut runs: RunsByPartition<'_> = std::collections::BTreeMap::new();
        let mut hours: std::collections::BTreeSet<(&str, i64)> = std::collections::BTreeSet::new();
        for &(e, seq, client_id) in events {
            let props = if e.props.is_empty() { None } else { Some(serde_json::to_string(&e.props)?) };
            let time = CqlTimestamp(e.time.timestamp_millis());
            let bucket = bucket_of(time.0);
            let size = 64 + e.kind.len() + e.pathname.len() + e.url.len() + e.visitor_id.len()
                + [&e.referrer, &e.source, &e.title, &e.session_id, &e.browser, &e.os, &e.country]
                    .iter()
                    .map(|v| v.as_deref().map_or(0, str::len))
                    .sum::<usize>()
                + props.as_deref().map_or(0, str::len);
            rows.push((
                (&e.website_id, bucket),
                size,
                EventInsert {
                    website_id: &e.website_id,
                    bucket,
                    time,
                    seq,
                    id: e.id,
                    kind: &e.kind,
                    pathname: &e.pathname,
                    url: &e.url,
                    referrer: absent(e.referrer.as_deref(), whole),
                    source: absent(e.source.as_deref(), whole),
                    title: absent(e.title.as_deref(), whole),
                    visitor_id: &e.visitor_id,
                    session_id: absent(e.session_id.as_deref(), whole),
                    device: e.device.as_str(),
                    browser: absent(e.browser.as_deref(), whole),
                    os: absent(e.os.as_deref(), whole),
                    country: absent(e.country.as_deref(), whole),
                    props: absent(props, whole),
                    client_id,
                },
            ));
            // a run is consecutive numbers: a gap (a new lease block, a skipped duplicate) starts
            // another, so runs never interleave with another writer's numbers
            let partition = runs.entry((&e.website_id, block_of(seq))).or_default();
            match partition.last_mut() {
                Some((first, times)) if *first + times.len() as i64 == seq => times.push(time.0),
                _ => partition.push((seq, vec![time.0])),
            }
            if !self.known_hour(&e.website_id, bucket) {
                hours.insert((&e.website_id, bucket));
            }
        }
        // late events (imports, stragglers) into hours that may be rolled up: marked before
        // the write (a rollup computed before it is then out of date even if this process dies
        // mid-write) and again after it (one computed during the write is too)
        let mut late: Vec<(&str, i64)> = events
            .iter()
            .map(|(e, ..)| (e.website_id.as_str(), bucket_of(e.time.timestamp_millis())))
            .filter(|&(_, bucket)| super::rollups::may_be_rolled_up(bucket))
            .collect();
        late.sort_unstable();
        late.dedup();
        if !late.is_empty() {
            self.mark_written(&late).await?;
        }
        let w = &*self.writes;
        let mut requests = Vec::new();
        for chunk in by_partition(rows) {
            requests.push(self.batch_request(&w.event, chunk).boxed());
        }
        let runs: Vec<((&str, i64), usize, SeqRun<'_>)> = runs
            .into_iter()
            .flat_map(|(key, runs)| runs.into_iter().map(move |run| (key, run)))
            .map(|((site, block), (first, mut times))| {
                // newest first, as the reader walks them
                times.reverse();
                let last = first + times.len() as i64 - 1;
                ((site, block), 40 + 8 * times.len(), (site, block, last, first, times))
            })
            .collect();
        for chunk in by_partition(runs) {
            requests.push(self.batch_request(&w.seq_run, chunk).boxed());
        }
        for &(site, bucket) in &hours {
            requests.push(self.batch_request(&w.bucket, vec![(site, bucket)]).boxed());
        }
        futures::stream::iter(requests).buffer_unordered(WRITES_IN_FLIGHT).try_collect::<Vec<()>>().await?;
        if !late.is_empty() {
            self.mark_written(&late).await?;
        }
        for (site, bucket) in hours {
            self.remember_hour(site, bucket);
        }
        Ok(())
    }

    /// `stmt` with each of `rows` (all of one partition): one request, an unlogged batch when
    /// there are several.
    async fn batch_request<V: scylla::serialize::row::SerializeRow>(
        &self,
        stmt: &PreparedStatement,
        rows: Vec<V>,
    ) -> Result<(), StoreError> {
        let session = self.db.get_session();
        if rows.len() == 1 {
            let row = rows.into_iter().next().expect("one row");
            return session.execute_unpaged(stmt, row).await.map(|_| ()).map_err(cql_err);
        }
        let mut batch = Batch::new(BatchType::Unlogged);
        for _ in 0..rows.len() {
            batch.append_statement(stmt.clone());
        }
        batch.set_consistency(self.consistency);
        batch.set_is_idempotent(true);
        batch.set_request_timeout(Some(super::REQUEST_TIMEOUT));
        session.batch(&batch, rows).await.map(|_| ()).map_err(cql_err)
    }

    /// The first answer `pick` finds in the rows of `cql` (newest first), paging as needed.
    async fn first_in_block<R>(
        &self,
        cql: &str,
        key: (&str, i64),
        pick: impl Fn(R) -> Option<i64>,
    ) -> Result<Option<i64>, StoreError>
    where
        R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
    {
        let mut rows = self
            .db
            .execute_iter(self.stmt(cql, true), key)
            .await
            .map_err(cql_err)?
            .rows_stream::<R>()
            .map_err(cql_err)?;
        while let Some(row) = rows.try_next().await.map_err(cql_err)? {
            if let Some(seq) = pick(row) {
                return Ok(Some(seq));
            }
        }
        Ok(None)
    }

    /// The lock a first page of history holds while it reads (see `SiteLocks`): it sees whole
    /// batches, and later pages continue below it.
    async fn first_page_lock(&self, website_id: &str, before: Option<PageCursor>) -> Option<tokio::sync::OwnedRwLockWriteGuard<()>> {
        match before {
            None => Some(self.site_locks.read(website_id).await),
            Some(_) => None,
        }
    }

    /// Whether this process already recorded the website's hour in `event_buckets`.
    fn known_hour(&self, website_id: &str, bucket: i64) -> bool {
        self.hours.lock().is_ok_and(|h| h.contains(&(website_id.to_string(), bucket)))
    }

    fn remember_hour(&self, website_id: &str, bucket: i64) {
        if let Ok(mut h) = self.hours.lock() {
            // bounded: forgetting only costs a repeated (idempotent) write
            if h.len() >= KNOWN_HOURS {
                h.clear();
            }
            h.insert((website_id.to_string(), bucket));
        }
    }

    /// Claims a client-given id for `seq`. `false`: the id was stored before — then the event
    /// is made sure to exist under its first sequence number (a process may have died between
    /// claiming the id and writing the event, and the retry that finds the claim must not be
    /// acknowledged without the event).
    async fn claim_id(&self, e: &Event, seq: i64) -> Result<bool, StoreError> {
        let ttl = super::ttl_clause(self.ttl_secs);
        let time = CqlTimestamp(e.time.timestamp_millis());
        let claim = self
            .db
            .execute_unpaged(
                self.lwt(&format!("INSERT INTO event_ids (website_id, id, seq, time) VALUES (?, ?, ?, ?) IF NOT EXISTS{ttl}")),
                (&e.website_id, e.id, seq, time),
            )
            .await
            .map_err(cql_err)?;
        if lwt_applied(claim)? {
            return Ok(true);
        }
        let mut read = self.stmt("SELECT seq, time FROM event_ids WHERE website_id = ? AND id = ?", true);
        read.set_consistency(scylla::statement::Consistency::LocalSerial);
        let first = self
            .db
            .execute_unpaged(read, (&e.website_id, e.id))
            .await
            .map_err(cql_err)?
            .into_rows_result()
            .map_err(cql_err)?
            .maybe_first_row::<(i64, CqlTimestamp)>()
            .map_err(cql_err)?;
        if let Some((first_seq, first_time)) = first {
            // written again under its first number and time, index rows included (upserts): a
            // first attempt that died part-way, or a batch still in flight, leaves it whole
            let mut original = e.clone();
            original.time = DateTime::<Utc>::from_timestamp_millis(first_time.0).unwrap_or(e.time);
            self.write_event(&original, first_seq, true).await?;
        }
        Ok(false)
    }

    /// A website's non-empty hour buckets within `[lo, hi]`, newest first.
    pub(super) async fn buckets(&self, website_id: &str, lo: i64, hi: i64) -> Result<Vec<i64>, StoreError> {
        self.db
            .execute_iter(
                self.stmt("SELECT bucket FROM event_buckets WHERE website_id = ? AND bucket >= ? AND bucket <= ?", true),
                (website_id, lo, hi),
            )
            .await
            .map_err(cql_err)?
            .rows_stream::<(i64,)>()
            .map_err(cql_err)?
            .map_ok(|(b,)| b)
            .try_collect()
            .await
            .map_err(cql_err)
    }

    /// Newest first within `[from_ms, to_ms)`, strictly before `before`: `limit + 1` rows at
    /// most, walking the non-empty hours backwards; each hour's query pages by the driver's
    /// paging state.
    async fn page(
        &self,
        website_id: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
        before: Option<PageCursor>,
    ) -> Result<EventPage, StoreError> {
        // the upper bound as one (time, seq) tuple: `time < to` is `(time, seq) < (to, MIN)`
        let mut upper = (to_ms, i64::MIN);
        if let Some(c) = before
            && (c.time_ms, c.seq as i64) < upper
        {
            upper = (c.time_ms, c.seq as i64);
        }
        let want = limit + 1;
        let mut rows: Vec<StoredEvent> = Vec::with_capacity(want.min(1_024));
        if upper.0 < from_ms {
            return Ok(EventPage::default());
        }
        let cql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE website_id = ? AND bucket = ? \
             AND (time, seq) < (?, ?) AND (time) >= (?)"
        );
        for bucket in self.buckets(website_id, bucket_of(from_ms), bucket_of(upper.0)).await? {
            let need = want - rows.len();
            let mut stmt = self.stmt(&cql, true);
            stmt.set_page_size(need.clamp(16, 5_000) as i32);
            let mut stream = self
                .db
                .execute_iter(stmt, (website_id, bucket, CqlTimestamp(upper.0), upper.1, CqlTimestamp(from_ms)))
                .await
                .map_err(cql_err)?
                .rows_stream::<EventRow>()
                .map_err(cql_err)?;
            while let Some(row) = stream.try_next().await.map_err(cql_err)? {
                rows.push(row.into_stored()?);
                if rows.len() == want {
                    break;
                }
            }
            if rows.len() == want {
                break;
            }
        }
        Ok(page_from_rows(rows, limit))
    }

    /// Every event of one website with `time >= since_ms`, hours read in parallel.
    async fn since_one(&self, website_id: &str, since_ms: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let _whole_batches = self.site_locks.read(website_id).await;
        let buckets = self.buckets(website_id, bucket_of(since_ms), i64::MAX).await?;
        let cql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE website_id = ? AND bucket = ? AND time >= ?");
        let parts: Vec<Vec<StoredEvent>> = futures::stream::iter(buckets)
            .map(|bucket| {
                let cql = &cql;
                async move {
                    let rows: Vec<EventRow> = self.all(cql, (website_id, bucket, CqlTimestamp(since_ms))).await?;
                    rows.into_iter().map(EventRow::into_stored).collect::<Result<Vec<_>, _>>()
                }
            })
            .buffer_unordered(BUCKETS_IN_FLIGHT)
            .try_collect()
            .await?;
        let mut all: Vec<StoredEvent> = parts.into_iter().flatten().collect();
        all.sort_by_key(|e| e.seq);
        Ok(all)
    }

    /// Every website id (for the live state's rebuild).
    pub(super) async fn website_ids(&self) -> Result<Vec<String>, StoreError> {
        self.db
            .execute_iter(self.stmt("SELECT id FROM websites", true), ())
            .await
            .map_err(cql_err)?
            .rows_stream::<(String,)>()
            .map_err(cql_err)?
            .map_ok(|(id,)| id)
            .try_collect()
            .await
            .map_err(cql_err)
    }

    /// Removes every event of a website (its hours, sequence index and bucket list).
    pub(super) async fn delete_events(&self, website_id: &str) -> Result<(), StoreError> {
        if let Ok(mut h) = self.hours.lock() {
            h.retain(|(site, _)| site != website_id);
        }
        let buckets = self.buckets(website_id, i64::MIN, i64::MAX).await?;
        for &bucket in &buckets {
            self.db
                .execute_unpaged(self.stmt("DELETE FROM events WHERE website_id = ? AND bucket = ?", true), (website_id, bucket))
                .await
                .map_err(cql_err)?;
        }
        self.delete_rollups(website_id, &buckets).await?;
        let high = self.seqs.high_water(website_id).await? as i64;
        for block in 0..=block_of(high) {
            for table in ["event_seq_runs", "event_seqs"] {
                self.db
                    .execute_unpaged(self.stmt(&format!("DELETE FROM {table} WHERE website_id = ? AND block = ?"), true), (website_id, block))
                    .await
                    .map_err(cql_err)?;
            }
        }
        self.db
            .execute_unpaged(self.stmt("DELETE FROM event_buckets WHERE website_id = ?", true), (website_id,))
            .await
            .map_err(cql_err)?;
        Ok(())
    }
}

/// The ingest path's statements, prepared once when the store opens: a batch of them goes to
/// the driver as it is, where an unprepared statement would be keyspace-qualified, hashed and
/// looked up in the statement cache again for every row.
pub(super) struct WriteStatements {
    event: PreparedStatement,
    seq_run: PreparedStatement,
    bucket: PreparedStatement,
}

impl WriteStatements {
    /// `ttl_secs`: how long index rows live (0: for ever); event rows expire by the table's
    /// default TTL.
    pub(super) async fn prepare(
        db: &CachingSession,
        keyspace: &str,
        consistency: scylla::statement::Consistency,
        ttl_secs: u32,
    ) -> Result<Self, StoreError> {
        let ttl = super::ttl_clause(ttl_secs);
        let prepare = |cql: String| async move {
            let stmt = super::statement(&cql, keyspace, consistency, true);
            db.add_prepared_statement(&stmt).await.map_err(cql_err)
        };
        Ok(Self {
            event: prepare(
                "INSERT INTO events (website_id, bucket, time, seq, id, kind, pathname, url, referrer, \
                 source, title, visitor_id, session_id, device, browser, os, country, props, client_id) \
                 VALUES (:website_id, :bucket, :time, :seq, :id, :kind, :pathname, :url, :referrer, \
                 :source, :title, :visitor_id, :session_id, :device, :browser, :os, :country, :props, :client_id)"
                    .to_string(),
            )
            .await?,
            seq_run: prepare(format!(
                "INSERT INTO event_seq_runs (website_id, block, last_seq, first_seq, times) VALUES (?, ?, ?, ?, ?){ttl}"
            ))
            .await?,
            bucket: prepare(format!("INSERT INTO event_buckets (website_id, bucket) VALUES (?, ?){ttl}")).await?,
        })
    }
}

/// An absent optional value: unset (nothing written), or null (a tombstone that clears what
/// an earlier write left) when the whole row is being rewritten.
fn absent<T>(v: Option<T>, whole: bool) -> MaybeUnset<Option<T>> {
    match v {
        Some(v) => MaybeUnset::Set(Some(v)),
        None if whole => MaybeUnset::Set(None),
        None => MaybeUnset::Unset,
    }
}

/// (website, block) → a batch's runs there: each run's first number and the times (ms) of its
/// consecutive numbers, in batch order.
type RunsByPartition<'a> = std::collections::BTreeMap<(&'a str, i64), Vec<(i64, Vec<i64>)>>;

/// One `event_seq_runs` row: website, block, last and first number, and the times (ms) of the
/// numbers from the last down to the first.
type SeqRun<'a> = (&'a str, i64, i64, i64, Vec<i64>);

/// The values of one `events` row, bound by column name. Absent values are left unset, not
/// bound as null: a null is written as a tombstone (one per empty column per event, which
/// the node then stores, compacts and skips on reads); an unset column costs nothing.
/// A rewrite binds them as null (see `absent`).
#[derive(SerializeRow)]
struct EventInsert<'a> {
    website_id: &'a str,
    bucket: i64,
    time: CqlTimestamp,
    seq: i64,
    id: Uuid,
    kind: &'a str,
    pathname: &'a str,
    url: &'a str,
    referrer: MaybeUnset<Option<&'a str>>,
    source: MaybeUnset<Option<&'a str>>,
    title: MaybeUnset<Option<&'a str>>,
    visitor_id: &'a str,
    session_id: MaybeUnset<Option<&'a str>>,
    device: &'a str,
    browser: MaybeUnset<Option<&'a str>>,
    os: MaybeUnset<Option<&'a str>>,
    country: MaybeUnset<Option<&'a str>>,
    props: MaybeUnset<Option<String>>,
    client_id: bool,
}

#[async_trait]
impl EventStore for ScyllaStore {
    fn appends_in_flight(&self) -> usize {
        APPENDS_IN_FLIGHT
    }

    async fn append(&self, events: &[EncodedEvent]) -> Result<Vec<Appended>, StoreError> {
        // numbers in call order (a ticket taken before any await), then the writes, which
        // overlap with the next batches'
        let turn = self.turnstile.ticket();
        turn.wait().await;
        let mut seqs = Vec::with_capacity(events.len());
        for e in events {
            seqs.push(self.seqs.next(&e.event.website_id).await? as i64);
        }
        // live-state reads of these websites wait until the batch is whole (see `SiteLocks`):
        // queued for before the next batch's turn, so a read never sees a later batch without
        // an earlier one, and waited for after it, so a read holding one website's lock does
        // not hold up the other websites' batches
        let writing = self.site_locks.queue(events.iter().map(|e| e.event.website_id.as_str())).await;
        drop(turn);
        let _writing = writing.granted().await;
        // by index: closures over plain numbers keep the futures `Send` for the trait
        let (events_ref, seqs_ref) = (events, &seqs);
        // an id given twice within the batch: the first one counts (as SQLite's order does)
        let mut first_of: std::collections::HashSet<(&str, Uuid)> = std::collections::HashSet::new();
        let repeated: Vec<bool> = events
            .iter()
            .map(|e| e.client_id && !first_of.insert((e.event.website_id.as_str(), e.event.id)))
            .collect();
        let repeated = &repeated;
        let claims: Vec<bool> = futures::stream::iter(0..events.len())
            .map(|i| async move {
                let e = &events_ref[i];
                if repeated[i] {
                    Ok(false)
                } else if e.client_id {
                    self.claim_id(&e.event, seqs_ref[i]).await
                } else {
                    Ok(true)
                }
            })
            .buffered(WRITES_IN_FLIGHT)
            .try_collect()
            .await?;
        let fresh: Vec<(&Event, i64, bool)> = (0..events.len())
            .filter(|&i| claims[i])
            .map(|i| (&events_ref[i].event, seqs_ref[i], events_ref[i].client_id))
            .collect();
        self.write_events(&fresh, false).await?;
        Ok(seqs
            .iter()
            .zip(claims)
            .map(|(&seq, fresh)| if fresh { Appended::Stored(seq as Seq) } else { Appended::Duplicate })
            .collect())
    }

    async fn newest(&self, website_id: &str, limit: usize, before: Option<PageCursor>) -> Result<EventPage, StoreError> {
        // the first page is what a live topic's feed is built from: whole batches only
        let _whole_batches = self.first_page_lock(website_id, before).await;
        self.page(website_id, i64::MIN / 2, i64::MAX / 2, limit, before).await
    }

    async fn range(
        &self,
        website_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
        before: Option<PageCursor>,
    ) -> Result<EventPage, StoreError> {
        let _whole_batches = self.first_page_lock(website_id, before).await;
        self.page(website_id, from.timestamp_millis(), to.timestamp_millis(), limit, before).await
    }

    async fn since(&self, website_id: Option<&str>, since: DateTime<Utc>) -> Result<Vec<StoredEvent>, StoreError> {
        let since_ms = since.timestamp_millis();
        match website_id {
            Some(site) => self.since_one(site, since_ms).await,
            None => {
                let mut all = Vec::new();
                for site in self.website_ids().await? {
                    all.extend(self.since_one(&site, since_ms).await?);
                }
                Ok(all)
            }
        }
    }

    async fn last_seq_before(&self, website_id: &str, before: DateTime<Utc>) -> Result<Seq, StoreError> {
        // newest number first; the first event older than `before` has the highest number of
        // all such events. What it walks past is the events since `before` (the live window).
        let before_ms = before.timestamp_millis();
        let _whole_batches = self.site_locks.read(website_id).await;
        let high = self.seqs.high_water(website_id).await? as i64;
        for block in (0..=block_of(high)).rev() {
            // runs come newest first (a repaired event's one-number run repeats a number seen
            // before, with the same time); `event_seqs` holds rows of keyspaces written before
            // runs existed: the higher of the two answers
            let runs = self.first_in_block(
                "SELECT last_seq, times FROM event_seq_runs WHERE website_id = ? AND block = ?",
                (website_id, block),
                |(last, times): (i64, Vec<i64>)| (0..).zip(times).find(|&(_, t)| t < before_ms).map(|(i, _)| last - i),
            );
            let singles = self.first_in_block(
                "SELECT seq, time FROM event_seqs WHERE website_id = ? AND block = ?",
                (website_id, block),
                |(seq, time): (i64, CqlTimestamp)| (time.0 < before_ms).then_some(seq),
            );
            let (runs, singles) = futures::try_join!(runs, singles)?;
            if let Some(seq) = runs.max(singles) {
                return Ok(seq as Seq);
            }
        }
        Ok(0)
    }

    async fn stats(&self, q: &StatsQuery) -> Result<StatsReport, StoreError> {
        // Aggregated here from the hours of the range, oldest first: each closed hour from its
        // rollup when that is current (see `rollups`), else from the raw hour partition.
        let (from_ms, to_ms) = (q.from.timestamp_millis(), q.to.timestamp_millis());
        let mut buckets = self.buckets(&q.website_id, bucket_of(from_ms), bucket_of(to_ms.saturating_sub(1))).await?;
        buckets.reverse();
        let site = q.website_id.as_str();
        let mut hours = futures::stream::iter(buckets)
            .map(|bucket| self.report_hour(site, bucket, from_ms, to_ms))
            .buffered(BUCKETS_IN_FLIGHT);
        let mut agg = Aggregator::new(q);
        while let Some(rows) = hours.try_next().await? {
            for r in &rows {
                agg.add(&AggRow {
                    time_ms: r.0,
                    kind: &r.1,
                    pathname: &r.2,
                    url: &r.3,
                    source: r.4.as_deref(),
                    visitor_id: &r.5,
                    session_id: r.6.as_deref(),
                    device: &r.7,
                    browser: r.8.as_deref(),
                    os: r.9.as_deref(),
                    country: r.10.as_deref(),
                    props: r.11.as_deref(),
                });
            }
        }
        Ok(agg.finish())
    }

    async fn maintain(&self) -> Result<(), StoreError> {
        // called every second; a rollup pass every 30 s, off the write path
        if self.rollups.due() {
            self.roll_up_closed_hours().await?;
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .execute_unpaged(self.stmt("SELECT release_version FROM system.local", true), ())
            .await
            .map(|_| ())
            .map_err(cql_err)
    }
}
