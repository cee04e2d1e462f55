//! Storage behind two traits whose methods mirror the query patterns a ScyllaDB backend will
//! serve (append a batch; newest N by cursor; a day-spanning range; events since T), so the
//! rest of the server never sees SQL. Row types live here, apart from the wire types.

mod event_row;
mod scylla_db;
mod sqlite;
mod sqlite_accounts;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{Event, MemberRole, Membership, Website};

pub use scylla_db::ScyllaStore;
pub use sqlite::SqliteStore;

/// The configured backend's store, as both traits.
#[derive(Clone)]
pub struct Stores {
    pub events: std::sync::Arc<dyn EventStore>,
    pub accounts: std::sync::Arc<dyn AccountStore>,
    pub backend: crate::server::config::Backend,
}

/// Opens the store `cfg.store` names: SQLite in `cfg.data_dir`, or the ScyllaDB keyspace.
pub async fn open(cfg: &crate::server::config::Config) -> Result<Stores, StoreError> {
    use crate::server::config::Backend;
    match cfg.store.backend {
        Backend::Sqlite => {
            let store = std::sync::Arc::new(SqliteStore::open(&cfg.data_dir)?);
            Ok(Stores { events: store.clone(), accounts: store, backend: Backend::Sqlite })
        }
        Backend::Scylla => {
            let store = std::sync::Arc::new(ScyllaStore::open(&cfg.store).await?);
            Ok(Stores { events: store.clone(), accounts: store, backend: Backend::Scylla })
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored event is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("store task failed: {0}")]
    Task(String),
    #[error("cannot open store: {0}")]
    Open(String),
    #[error("scylla: {0}")]
    Cql(String),
}

/// The store's sequence number: strictly increasing in commit order, never reused.
pub type Seq = u64;

/// An event as read back, with its commit position.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub seq: Seq,
    pub event: Event,
}

/// An event ready to append: the typed event and its JSON, serialized once by the request that
/// produced it, so the single writer doesn't spend its time encoding.
#[derive(Clone, Debug)]
pub struct EncodedEvent {
    pub event: Event,
    pub json: String,
    /// The id came from the client (`event_id`), so it is an idempotency key the store must
    /// check. A server-made id (UUIDv7, fresh) cannot repeat, so the store skips the check.
    pub client_id: bool,
}

impl EncodedEvent {
    /// An event whose id must be deduplicated (the safe default).
    pub fn new(event: Event) -> Result<Self, serde_json::Error> {
        let json = serde_json::to_string(&event)?;
        Ok(Self { event, json, client_id: true })
    }

    /// Marks the id as made by this server: no idempotency check needed.
    pub fn server_made(mut self) -> Self {
        self.client_id = false;
        self
    }
}

/// What `append` did with one event of the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    Stored(Seq),
    /// Same `(website_id, id)` already stored: acknowledged, not stored twice.
    Duplicate,
}

/// Keyset position for newest-first paging: `(time, seq)` of the last row returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageCursor {
    pub time_ms: i64,
    pub seq: Seq,
}

#[derive(Clone, Debug, Default)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    pub next: Option<PageCursor>,
}

/// A page from `limit + 1` rows read newest first: a next page exists only if the extra row
/// came back.
pub(crate) fn page_from_rows(mut rows: Vec<StoredEvent>, limit: usize) -> EventPage {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|e| PageCursor { time_ms: e.event.time.timestamp_millis(), seq: e.seq })
    } else {
        None
    };
    EventPage { next, events: rows }
}

#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Durably stores a batch in one transaction (one fsync); order is kept. Called only by the
    /// ingest writer, which runs on a thread of its own: an implementation may block in it.
    async fn append(&self, events: &[EncodedEvent]) -> Result<Vec<Appended>, StoreError>;
    /// Newest first, `limit` at most, strictly older than `before`.
    async fn newest(
        &self,
        website_id: &str,
        limit: usize,
        before: Option<PageCursor>,
    ) -> Result<EventPage, StoreError>;
    /// Newest first within `[from, to)`, which may span many days.
    async fn range(
        &self,
        website_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
        before: Option<PageCursor>,
    ) -> Result<EventPage, StoreError>;
    /// Every event with `time >= since`, of one website or of all, in commit order.
    async fn since(
        &self,
        website_id: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// The highest sequence number of a website's events older than `before` (0 if none):
    /// everything after it is what `since(before)` returns.
    async fn last_seq_before(&self, website_id: &str, before: DateTime<Utc>) -> Result<Seq, StoreError>;
    /// The aggregate report of a query (see `analytics`): totals, sessions, series and top
    /// lists of the matching events. A store with hourly rollups may answer from them.
    async fn stats(&self, query: &crate::server::analytics::StatsQuery) -> Result<crate::model::StatsReport, StoreError>;
    /// Answers when the store is reachable (for `/health`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// How many `append` calls the writer may have in flight at once (1: one after another).
    /// A store allowing more numbers each batch's events in the order the calls were first
    /// polled (the writer polls each call once as it starts it), so publishing in that order
    /// stays in sequence order; their writes may overlap.
    fn appends_in_flight(&self) -> usize {
        1
    }
    /// Periodic housekeeping off the write path (SQLite: a WAL checkpoint). Called every second.
    async fn maintain(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    /// Empty while the account waits for its one-time setup link (no password logs in).
    pub password_hash: String,
    pub is_admin: bool,
}

/// A login on one device: what the refresh cookie names. Access tokens carry its id, so ending
/// it (logout, password change, account removal) ends them too.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub id: String,
    pub user_id: i64,
    /// SHA-256 (hex) of the refresh secret; the secret itself is only in the cookie.
    pub secret_hash: String,
    pub expires_at_ms: i64,
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn create_user(&self, email: &str, password_hash: &str, is_admin: bool) -> Result<i64, StoreError>;
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError>;
    async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, StoreError>;
    async fn count_users(&self) -> Result<u64, StoreError>;
    /// Every user, by email.
    async fn list_users(&self) -> Result<Vec<UserRow>, StoreError>;
    /// Removes the user with their memberships, sessions and setup links (websites they own
    /// stay, ownerless); `false` if there was none.
    async fn delete_user(&self, id: i64) -> Result<bool, StoreError>;
    /// Sets a new password hash and ends every session and setup link of the user.
    async fn set_password(&self, id: i64, password_hash: &str) -> Result<(), StoreError>;

    async fn create_session(&self, session: &SessionRow) -> Result<(), StoreError>;
    /// The session if it exists and has not expired at `now_ms`, with its user.
    async fn session(&self, id: &str, now_ms: i64) -> Result<Option<(SessionRow, UserRow)>, StoreError>;
    async fn delete_session(&self, id: &str) -> Result<(), StoreError>;
    /// A one-time link to set the first password: `token_hash` → user until `expires_at_ms`.
    async fn create_setup_link(&self, user_id: i64, token_hash: &str, expires_at_ms: i64) -> Result<(), StoreError>;
    async fn setup_link_user(&self, token_hash: &str, now_ms: i64) -> Result<Option<UserRow>, StoreError>;

    async fn create_website(&self, site: &Website, owner: Option<i64>) -> Result<(), StoreError>;
    async fn website(&self, id: &str) -> Result<Option<Website>, StoreError>;
    /// Changes name, domain, timezone and tracking settings; `false` if there is no such website.
    async fn update_website(&self, site: &Website) -> Result<bool, StoreError>;
    /// Removes the website with its events, memberships and share link.
    async fn delete_website(&self, id: &str) -> Result<bool, StoreError>;
    /// Websites the user may watch: all for a global admin, else owned or shared ones.
    async fn websites_for(&self, user: &UserRow) -> Result<Vec<Website>, StoreError>;
    async fn can_access(&self, user: &UserRow, website_id: &str) -> Result<bool, StoreError>;
    /// May manage the website's members: a global admin, its owner, or a member with role
    /// `admin`.
    async fn can_manage(&self, user: &UserRow, website_id: &str) -> Result<bool, StoreError>;
    /// Gives `user_id` `role` on the website (replacing an earlier role).
    async fn grant(&self, website_id: &str, user_id: i64, role: MemberRole) -> Result<(), StoreError>;
    /// Takes the user's membership away; `false` if they had none.
    async fn revoke(&self, website_id: &str, user_id: i64) -> Result<bool, StoreError>;
    /// The website's members, by email.
    async fn members(&self, website_id: &str) -> Result<Vec<Membership>, StoreError>;

    /// Makes `token_hash` the website's one share link (replacing an earlier one).
    async fn set_share(&self, website_id: &str, token_hash: &str) -> Result<(), StoreError>;
    /// The website a share link opens, if it is still the current one.
    async fn share_website(&self, token_hash: &str) -> Result<Option<String>, StoreError>;
    async fn has_share(&self, website_id: &str) -> Result<bool, StoreError>;
    /// `false` if the website had no share link.
    async fn delete_share(&self, website_id: &str) -> Result<bool, StoreError>;

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Stores `value` unless the key has one already, and answers the stored value: processes
    /// starting at once on one store agree on it (salts, the signing secret).
    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError>;
    /// Deletes settings whose key starts with `prefix` and sorts before `before` (old salts).
    async fn delete_settings_before(&self, prefix: &str, before: &str) -> Result<(), StoreError>;
}
