//! Embedded store: SQLite (bundled) in WAL mode. One connection for writes, one for reads, one
//! for checkpoints, each behind a std `Mutex` never held across `.await`: `append` uses the
//! write connection on the ingest writer's own thread, everything else inside `spawn_blocking`.
//! Events are kept once, in columns (`event_row`); reads rebuild the typed `Event`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::event_row;
use crate::model::StatsReport;
use crate::server::analytics::aggregate::{AggRow, Aggregator};
use crate::server::analytics::StatsQuery;
use super::{
    page_from_rows, Appended, EncodedEvent, EventPage, EventStore, PageCursor, Seq, StoreError, StoredEvent,
};

/// Each commit rewrites every page it touches, so the events table keeps each event once, in
/// columns (see `event_row`; no JSON copy beside them), and as few B-trees as its queries need:
/// the rows by `seq` (rowid: max + 1, so increasing per website without AUTOINCREMENT's extra
/// table), per-website time order, and the idempotency key — a partial index holding only
/// client-given ids (`client_id = 1`): a server-made UUIDv7 cannot repeat, so most events
/// (tracker.js sends no `event_id`) skip that B-tree.
pub(super) const EVENTS_TABLE: &str = r#"
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY,
    id         BLOB    NOT NULL,
    website_id TEXT    NOT NULL,
    time_ms    INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    pathname   TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    referrer   TEXT,
    source     TEXT,
    title      TEXT,
    visitor_id TEXT    NOT NULL,
    session_id TEXT,
    device     TEXT    NOT NULL,
    browser    TEXT,
    os         TEXT,
    country    TEXT,
    props      TEXT,
    client_id  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (website_id, time_ms, seq);
CREATE UNIQUE INDEX IF NOT EXISTS events_client_id ON events (website_id, id) WHERE client_id = 1;
"#;

const ACCOUNT_TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS websites (
    id         TEXT PRIMARY KEY,
    domain     TEXT NOT NULL,
    name       TEXT NOT NULL,
    owner_id   INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    website_id TEXT    NOT NULL REFERENCES websites(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    role       TEXT    NOT NULL,
    PRIMARY KEY (website_id, user_id)
);
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id            TEXT PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_hash   TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
CREATE TABLE IF NOT EXISTS setup_links (
    token_hash    TEXT PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS share_links (
    website_id TEXT PRIMARY KEY REFERENCES websites(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
"#;

/// Columns added to `websites` after its first release, with their defaults.
const WEBSITE_COLUMNS: [(&str, &str); 3] = [
    ("timezone", "TEXT NOT NULL DEFAULT 'UTC'"),
    ("allowed_hostnames", "TEXT NOT NULL DEFAULT ''"),
    ("url_params", "TEXT NOT NULL DEFAULT ''"),
];

/// Adds the newer `websites` columns to a database from before them (idempotent).
fn migrate_websites(conn: &Connection) -> Result<(), StoreError> {
    for (name, decl) in WEBSITE_COLUMNS {
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('websites') WHERE name = ?1)",
            [name],
            |r| r.get(0),
        )?;
        if !exists {
            conn.execute_batch(&format!("ALTER TABLE websites ADD COLUMN {name} {decl}"))?;
        }
    }
    Ok(())
}

#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    /// Runs WAL checkpoints, so that the writer's commits never pay for one.
    checkpointer: Arc<Mutex<Connection>>,
    /// Analytics scans (up to a few hundred ms) run here, so they never hold up the reads of
    /// the live path (subscriptions, logins).
    reports: Arc<Mutex<Connection>>,
}

/// The writer checkpoints by itself only past this many WAL pages (~40 MB): a safety net for
/// when background checkpoints can't keep up.
const WRITER_AUTOCHECKPOINT_PAGES: i64 = 10_000;

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    // WAL: readers never block the writer; synchronous=FULL keeps a commit durable across
    // power loss, which is what `202` promises. Group commit amortises the fsync.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Converts an events table from before the column layout (each event's wire JSON in `data`,
/// maybe without `client_id`) in one transaction: every event keeps its sequence number, so
/// cursors held by clients stay valid. Rows without `client_id` keep their id checked. A no-op
/// on a current or new database.
fn migrate_json_events(conn: &mut Connection) -> Result<(), StoreError> {
    // looked at inside the write transaction: a second process opening the database at the
    // same moment waits, then finds the conversion done
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let column = |name: &str| -> Result<bool, StoreError> {
        Ok(tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('events') WHERE name = ?1)",
            [name],
            |r| r.get(0),
        )?)
    };
    if !column("data")? {
        return Ok(());
    }
    let client_id = if column("client_id")? { "client_id" } else { "1" };
    tx.execute_batch(
        "DROP INDEX IF EXISTS events_by_time; DROP INDEX IF EXISTS events_client_id;
         DROP INDEX IF EXISTS events_by_global_time; ALTER TABLE events RENAME TO events_json;",
    )?;
    tx.execute_batch(EVENTS_TABLE)?;
    let mut converted = 0u64;
    {
        let mut read = tx.prepare(&format!("SELECT seq, data, {client_id} FROM events_json ORDER BY seq"))?;
        let mut write = tx.prepare(event_row::INSERT_WITH_SEQ)?;
        let mut rows = read.query([])?;
        while let Some(r) = rows.next()? {
            let (seq, data, client_id): (i64, String, bool) = (r.get(0)?, r.get(1)?, r.get(2)?);
            // one unreadable row stops the conversion (nothing is changed) and says which
            let event: crate::model::Event = serde_json::from_str(&data).map_err(|e| {
                StoreError::Open(format!("converting the events table: event {seq} is unreadable ({e}); nothing was changed"))
            })?;
            let mut values: Vec<rusqlite::types::ToSqlOutput<'_>> = event_row::params(&event, client_id)?.into();
            values.push(rusqlite::types::ToSqlOutput::Owned(rusqlite::types::Value::Integer(seq)));
            write.execute(rusqlite::params_from_iter(values))?;
            converted += 1;
        }
    }
    tx.execute_batch("DROP TABLE events_json")?;
    tx.commit()?;
    tracing::info!(events = converted, "converted the events table to the column layout");
    Ok(())
}

impl SqliteStore {
    /// Opens (and creates) `dir/pulse.db`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
        let path = dir.join("pulse.db");
        let mut writer = open(&path)?;
        migrate_json_events(&mut writer)?;
        writer.execute_batch(EVENTS_TABLE)?;
        writer.execute_batch(ACCOUNT_TABLES)?;
        migrate_websites(&writer)?;
        writer.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)?;
        let reader = open(&path)?;
        let checkpointer = open(&path)?;
        let reports = open(&path)?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
            checkpointer: Arc::new(Mutex::new(checkpointer)),
            reports: Arc::new(Mutex::new(reports)),
        })
    }

    async fn with<T, F>(conn: &Arc<Mutex<Connection>>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| StoreError::Task("connection lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        Self::with(&self.reader, f).await
    }

    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        Self::with(&self.writer, f).await
    }
}

/// A row read as `seq, <event_row::COLUMNS>`.
fn stored_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent { seq: r.get::<_, i64>(0)? as Seq, event: event_row::from_row(r, 1)? })
}

fn query_page(
    conn: &Connection,
    website_id: &str,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
    before: Option<PageCursor>,
) -> Result<Vec<StoredEvent>, StoreError> {
    let (b_time, b_seq) = before.map_or((i64::MAX, i64::MAX), |c| (c.time_ms, c.seq as i64));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT seq, {} FROM events
         WHERE website_id = ?1 AND time_ms >= ?2 AND time_ms < ?3
           AND (time_ms < ?4 OR (time_ms = ?4 AND seq < ?5))
         ORDER BY time_ms DESC, seq DESC LIMIT ?6",
        event_row::COLUMNS
    ))?;
    let rows = stmt
        .query_map(params![website_id, from_ms, to_ms, b_time, b_seq, (limit + 1) as i64], stored_event)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(&self, events: &[EncodedEvent]) -> Result<Vec<Appended>, StoreError> {
        // Runs right here, on the ingest writer's own thread (see the trait): no hop to a
        // blocking pool and back per commit. Account writes share the connection through the
        // same lock, from the blocking pool.
        let mut conn = self.writer.lock().map_err(|_| StoreError::Task("connection lock poisoned".into()))?;
        let tx = conn.transaction()?;
        let mut out = Vec::with_capacity(events.len());
        {
            let mut stmt = tx.prepare_cached(event_row::INSERT)?;
            for EncodedEvent { event, client_id, .. } in events {
                let n = stmt.execute(rusqlite::params_from_iter(event_row::params(event, *client_id)?))?;
                out.push(if n == 1 {
                    Appended::Stored(tx.last_insert_rowid() as Seq)
                } else {
                    Appended::Duplicate
                });
            }
        }
        tx.commit()?;
        Ok(out)
    }

    async fn newest(
        &self,
        website_id: &str,
        limit: usize,
        before: Option<PageCursor>,
    ) -> Result<EventPage, StoreError> {
        let site = website_id.to_string();
        self.read(move |c| Ok(page_from_rows(query_page(c, &site, i64::MIN, i64::MAX, limit, before)?, limit)))
            .await
    }

    async fn range(
        &self,
        website_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
        before: Option<PageCursor>,
    ) -> Result<EventPage, StoreError> {
        let site = website_id.to_string();
        let (f, t) = (from.timestamp_millis(), to.timestamp_millis());
        self.read(move |c| Ok(page_from_rows(query_page(c, &site, f, t, limit, before)?, limit))).await
    }

    async fn since(
        &self,
        website_id: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let site = website_id.map(str::to_string);
        let since_ms = since.timestamp_millis();
        self.read(move |c| {
            // both read the per-website time index (all websites: one index range each)
            let rows = match &site {
                Some(site) => c
                    .prepare_cached(&format!(
                        "SELECT seq, {} FROM events WHERE website_id = ?1 AND time_ms >= ?2 ORDER BY seq",
                        event_row::COLUMNS
                    ))?
                    .query_map(params![site, since_ms], stored_event)?
                    .collect::<Result<Vec<_>, _>>()?,
                None => c
                    .prepare_cached(&format!(
                        "SELECT seq, {} FROM events
                         WHERE website_id IN (SELECT id FROM websites) AND time_ms >= ?1 ORDER BY seq",
                        event_row::COLUMNS
                    ))?
                    .query_map(params![since_ms], stored_event)?
                    .collect::<Result<Vec<_>, _>>()?,
            };
            Ok(rows)
        })
        .await
    }

    async fn last_seq_before(&self, website_id: &str, before: DateTime<Utc>) -> Result<Seq, StoreError> {
        let site = website_id.to_string();
        let ms = before.timestamp_millis();
        self.read(move |c| {
            let seq: Option<i64> = c.query_row(
                "SELECT max(seq) FROM events WHERE website_id = ?1 AND time_ms < ?2",
                params![site, ms],
                |r| r.get(0),
            )?;
            Ok(seq.unwrap_or(0) as Seq)
        })
        .await
    }

    async fn stats(&self, q: &StatsQuery) -> Result<StatsReport, StoreError> {
        let q = q.clone();
        Self::with(&self.reports, move |c| {
            // the column filters narrow the scan here; the aggregate checks every filter again
            // (URL and property filters only there)
            let f = &q.filters;
            let mut sql = String::from(
                "SELECT time_ms, kind, pathname, url, source, visitor_id, session_id, device, browser, os, country, props
                 FROM events WHERE website_id = ?1 AND time_ms >= ?2 AND time_ms < ?3",
            );
            let mut values: Vec<rusqlite::types::Value> = vec![
                q.website_id.clone().into(),
                q.from.timestamp_millis().into(),
                q.to.timestamp_millis().into(),
            ];
            for (column, value) in [
                ("kind", &f.kind),
                ("pathname", &f.pathname),
                ("source", &f.source),
                ("device", &f.device),
                ("browser", &f.browser),
                ("os", &f.os),
                ("country", &f.country),
            ] {
                if let Some(v) = value {
                    values.push(v.clone().into());
                    sql.push_str(&format!(" AND {column} = ?{}", values.len()));
                }
            }
            sql.push_str(" ORDER BY time_ms, seq");
            let mut agg = Aggregator::new(&q);
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
            while let Some(r) = rows.next()? {
                let text = |i: usize| r.get_ref(i).ok().and_then(|v| v.as_str().ok());
                agg.add(&AggRow {
                    time_ms: r.get(0)?,
                    kind: text(1).unwrap_or(""),
                    pathname: text(2).unwrap_or(""),
                    url: text(3).unwrap_or(""),
                    source: text(4),
                    visitor_id: text(5).unwrap_or(""),
                    session_id: text(6),
                    device: text(7).unwrap_or(""),
                    browser: text(8),
                    os: text(9),
                    country: text(10),
                    props: text(11),
                });
            }
            Ok(agg.finish())
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())?)).await
    }

    async fn maintain(&self) -> Result<(), StoreError> {
        // PASSIVE never blocks the writer or readers; it copies what it can.
        Self::with(&self.checkpointer, |c| {
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Event;

    fn encoded(site: &str, path: &str) -> EncodedEvent {
        let mut e = Event::test_pageview(path, "v", Utc::now());
        e.website_id = site.into();
        EncodedEvent::new(e).unwrap()
    }

    async fn outcomes(store: &SqliteStore, batch: &[EncodedEvent]) -> Vec<bool> {
        let out = store.append(batch).await.unwrap();
        out.into_iter().map(|a| matches!(a, Appended::Stored(_))).collect()
    }

    #[tokio::test]
    async fn a_client_id_is_stored_once_and_server_ids_skip_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let client = encoded("w", "/a");
        assert_eq!(outcomes(&store, &[client.clone(), client.clone()]).await, [true, false]);
        assert_eq!(outcomes(&store, &[client]).await, [false], "and in a later batch");
        let server = encoded("w", "/b").server_made();
        assert_eq!(outcomes(&store, &[server]).await, [true]);
        let plan: String = store
            .writer
            .lock()
            .unwrap()
            .query_row("SELECT group_concat(name) FROM pragma_index_list('events')", [], |r| r.get(0))
            .unwrap();
        assert!(plan.contains("events_client_id") && !plan.contains("autoindex"), "{plan}");
    }

    /// Both earlier layouts: the wire JSON in `data` with a table-level `UNIQUE`, and later with
    /// `client_id` and the partial index.
    #[tokio::test]
    async fn a_database_from_before_is_converted_keeping_sequence_numbers_and_dedupe() {
        let layouts = [
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, website_id TEXT NOT NULL, id TEXT NOT NULL,
             time_ms INTEGER NOT NULL, kind TEXT NOT NULL, pathname TEXT NOT NULL, visitor_id TEXT NOT NULL,
             data TEXT NOT NULL, UNIQUE (website_id, id));
             CREATE INDEX events_by_global_time ON events (time_ms);",
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, website_id TEXT NOT NULL, id TEXT NOT NULL,
             time_ms INTEGER NOT NULL, kind TEXT NOT NULL, pathname TEXT NOT NULL, visitor_id TEXT NOT NULL,
             data TEXT NOT NULL, client_id INTEGER NOT NULL DEFAULT 1);
             CREATE INDEX events_by_time ON events (website_id, time_ms, seq);
             CREATE UNIQUE INDEX events_client_id ON events (website_id, id) WHERE client_id = 1;",
        ];
        for layout in layouts {
            let dir = tempfile::tempdir().unwrap();
            let mut old = Vec::new();
            {
                let c = Connection::open(dir.path().join("pulse.db")).unwrap();
                c.execute_batch(layout).unwrap();
                for (seq, path) in [(5, "/a"), (9, "/b")] {
                    let mut e = encoded("w", path).event;
                    e.props.insert("k".into(), crate::model::PropValue::Text("v".into()));
                    e.time = DateTime::from_timestamp_millis(e.time.timestamp_millis()).unwrap();
                    c.execute(
                        "INSERT INTO events (seq, website_id, id, time_ms, kind, pathname, visitor_id, data)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![seq, e.website_id, e.id.to_string(), e.time.timestamp_millis(), e.kind, e.pathname,
                            e.visitor_id, serde_json::to_string(&e).unwrap()],
                    )
                    .unwrap();
                    old.push(e);
                }
            }
            let store = SqliteStore::open(dir.path()).unwrap();
            let page = store.newest("w", 10, None).await.unwrap();
            let back: Vec<(Seq, Event)> = page.events.into_iter().map(|e| (e.seq, e.event)).collect();
            assert_eq!(back, vec![(9, old[1].clone()), (5, old[0].clone())], "{layout}");
            // an old id is still checked, and new events continue after the old sequence numbers
            let again = EncodedEvent::new(old[0].clone()).unwrap();
            assert_eq!(store.append(&[again]).await.unwrap(), [Appended::Duplicate]);
            assert_eq!(store.append(&[encoded("w", "/c").server_made()]).await.unwrap(), [Appended::Stored(10)]);
            drop(store);
            // opening again is a no-op
            let store = SqliteStore::open(dir.path()).unwrap();
            assert_eq!(store.newest("w", 10, None).await.unwrap().events.len(), 3);
        }
    }
}
