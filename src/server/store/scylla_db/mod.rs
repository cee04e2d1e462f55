//! The ScyllaDB backend (contract §5): events and accounts in one keyspace, so any number of
//! `pulse serve` processes on it serve the same users and data. Speaks CQL, so it runs on
//! ScyllaDB and on Apache Cassandra alike (the tests use Cassandra 5.0; `Dialect` keeps the
//! ScyllaDB-only table options out of Cassandra's way).
//!
//! One `Session` per process. Every statement goes through the driver's prepared-statement
//! cache (prepared once per process, then executed by id with bound values, so token- and
//! shard-aware routing see the partition key). Writes are idempotent upserts with fixed keys,
//! marked so the driver may retry them.

mod accounts;
mod events;
mod rollups;
mod schema;
mod seq;

use std::sync::Arc;
use std::time::Duration;

use scylla::client::caching_session::CachingSession;
use scylla::client::session_builder::SessionBuilder;
use scylla::response::query_result::QueryResult;
use scylla::statement::unprepared::Statement;
use scylla::statement::{Consistency, SerialConsistency};

use super::StoreError;
use crate::server::config::StoreConfig;

/// `cql` with its table names qualified by `keyspace` (after `FROM`, `INTO`, `UPDATE` and
/// `CREATE TABLE IF NOT EXISTS`; names that have a dot already are left alone). Statements
/// name their keyspace instead of relying on `USE`, which Cassandra warns about for prepared
/// statements (a keyspace changed under a prepared statement is ambiguous).
pub(crate) fn qualify(cql: &str, keyspace: &str) -> String {
    let mut out = String::with_capacity(cql.len() + 4 * keyspace.len());
    let mut qualify_next = false;
    let mut words = cql.split(' ').peekable();
    while let Some(word) = words.next() {
        if qualify_next && !word.is_empty() && !word.contains('.') {
            out.push_str(keyspace);
            out.push('.');
        }
        out.push_str(word);
        if words.peek().is_some() {
            out.push(' ');
        }
        if !word.is_empty() {
            let w = word.to_ascii_uppercase();
            qualify_next = matches!(w.as_str(), "FROM" | "INTO" | "UPDATE")
                || (w == "EXISTS" && out.trim_start().to_ascii_uppercase().starts_with("CREATE TABLE"));
        }
    }
    out
}

/// Which server speaks CQL on the other end (from `system.local`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Scylla,
    Cassandra,
}

/// Any driver error, with its cause, as a store error.
pub(crate) fn cql_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Cql(e.to_string())
}

/// Whether a lightweight transaction (`IF …`) was applied: the `[applied]` column.
pub(crate) fn lwt_applied(result: QueryResult) -> Result<bool, StoreError> {
    let rows = result.into_rows_result().map_err(cql_err)?;
    let row = rows.maybe_first_row::<scylla::value::Row>().map_err(cql_err)?;
    Ok(matches!(
        row.as_ref().and_then(|r| r.columns.first()).and_then(Option::as_ref),
        Some(scylla::value::CqlValue::Boolean(true))
    ))
}

fn consistency(name: &str) -> Result<Consistency, StoreError> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "one" => Consistency::One,
        "two" => Consistency::Two,
        "three" => Consistency::Three,
        "quorum" => Consistency::Quorum,
        "all" => Consistency::All,
        "local_quorum" => Consistency::LocalQuorum,
        "each_quorum" => Consistency::EachQuorum,
        "local_one" => Consistency::LocalOne,
        other => {
            return Err(StoreError::Open(format!(
                "consistency {other:?} is not one of one, two, three, quorum, all, local_quorum, each_quorum, local_one"
            )))
        }
    })
}

/// TLS that verifies the nodes' certificates against the CA file `ca`.
fn tls_context(ca: &str) -> Result<openssl::ssl::SslContext, StoreError> {
    use openssl::ssl::{SslContextBuilder, SslMethod, SslVerifyMode};
    let bad = |e: openssl::error::ErrorStack| StoreError::Open(format!("TLS CA file {ca}: {e}"));
    if !std::path::Path::new(ca).is_file() {
        return Err(StoreError::Open(format!("TLS CA file {ca} does not exist")));
    }
    let mut ctx = SslContextBuilder::new(SslMethod::tls()).map_err(bad)?;
    ctx.set_ca_file(ca).map_err(bad)?;
    ctx.set_verify(SslVerifyMode::PEER);
    Ok(ctx.build())
}

/// `cql` on `keyspace`'s tables at `consistency`, with the request timeout; `idempotent` lets
/// the driver retry it.
fn statement(cql: &str, keyspace: &str, consistency: Consistency, idempotent: bool) -> Statement {
    let mut s = Statement::new(qualify(cql, keyspace));
    s.set_consistency(consistency);
    s.set_is_idempotent(idempotent);
    s.set_request_timeout(Some(REQUEST_TIMEOUT));
    s
}

/// ` USING TTL n` for rows beside `events` when events expire after `ttl_secs` (0: never):
/// they outlive their event by an hour, so no index row points at nothing.
fn ttl_clause(ttl_secs: u32) -> String {
    if ttl_secs > 0 { format!(" USING TTL {}", ttl_secs.saturating_add(3_600)) } else { String::new() }
}

/// How long start-up waits for the cluster before it gives up with a clear error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Every request's client-side limit: a dead node fails a write in bounded time (the writer
/// answers `503`), never a hang.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct ScyllaStore {
    db: Arc<CachingSession>,
    consistency: Consistency,
    seqs: Arc<seq::SeqLeases>,
    /// Numbers batches in the order the writer started them (see `appends_in_flight`).
    turnstile: Arc<seq::Turnstile>,
    /// Batches being written exclude live-state reads of their websites (see `seq::SiteLocks`).
    site_locks: Arc<seq::SiteLocks>,
    ttl_secs: u32,
    keyspace: Arc<str>,
    rollups: Arc<rollups::Schedule>,
    /// (website, hour) pairs this process has recorded in `event_buckets` (bounded).
    hours: Arc<std::sync::Mutex<std::collections::HashSet<(String, i64)>>>,
    /// The ingest path's statements, prepared once.
    writes: Arc<events::WriteStatements>,
}

impl ScyllaStore {
    /// Connects, creates the keyspace and applies migrations; an unreachable cluster, a wrong
    /// credential or keyspace fails within ~20 s with the address and the cause.
    pub async fn open(cfg: &StoreConfig) -> Result<Self, StoreError> {
        let consistency = consistency(&cfg.consistency)?;
        if !cfg.keyspace.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || cfg.keyspace.is_empty() {
            return Err(StoreError::Open(format!("keyspace {:?}: letters, digits and _ only", cfg.keyspace)));
        }
        let nodes = cfg.nodes.join(", ");
        let mut builder = SessionBuilder::new()
            .known_nodes(&cfg.nodes)
            .connection_timeout(Duration::from_secs(5))
            // the schema metadata of other keyspaces is not needed
            .keyspaces_to_fetch([cfg.keyspace.clone()]);
        if let Some(ca) = cfg.tls.as_deref().map(str::trim).filter(|t| !t.is_empty() && *t != "off") {
            builder = builder.tls_context(Some(tls_context(ca)?));
        }
        if let Some(user) = &cfg.username {
            let password = cfg.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
            builder = builder.user(user.clone(), password);
        }
        let session = tokio::time::timeout(CONNECT_TIMEOUT, builder.build())
            .await
            .map_err(|_| StoreError::Open(format!("no answer from the ScyllaDB nodes {nodes} within {}s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(|e| StoreError::Open(format!("cannot connect to the ScyllaDB nodes {nodes}: {e}")))?;
        let dialect = Self::dialect(&session).await;
        let opts = schema::EventOptions { dialect, retention_days: cfg.retention_days };
        tokio::time::timeout(
            Duration::from_secs(60),
            schema::migrate(&session, &cfg.keyspace, &cfg.replication.cql(), &opts),
        )
        .await
        .map_err(|_| StoreError::Open(format!("keyspace {}: schema migration did not finish within 60 s", cfg.keyspace)))?
        .map_err(|e| StoreError::Open(format!("keyspace {} on {nodes}: {e}", cfg.keyspace)))?;
        tracing::info!(nodes, keyspace = cfg.keyspace, ?dialect, consistency = cfg.consistency, "ScyllaDB store open");
        let db = Arc::new(CachingSession::from(session, 256));
        let ttl_secs = cfg.retention_days.saturating_mul(86_400);
        let seqs = Arc::new(seq::SeqLeases::new(db.clone(), &cfg.keyspace));
        let writes = Arc::new(
            events::WriteStatements::prepare(&db, &cfg.keyspace, consistency, ttl_secs)
                .await
                .map_err(|e| StoreError::Open(format!("keyspace {} on {nodes}: {e}", cfg.keyspace)))?,
        );
        Ok(Self {
            db,
            consistency,
            seqs,
            turnstile: Default::default(),
            site_locks: Default::default(),
            ttl_secs,
            keyspace: cfg.keyspace.as_str().into(),
            rollups: Default::default(),
            hours: Default::default(),
            writes,
        })
    }

    async fn dialect(session: &scylla::client::session::Session) -> Dialect {
        // ScyllaDB answers this table; Cassandra does not have it
        match session.query_unpaged("SELECT version FROM system.versions", ()).await {
            Ok(_) => Dialect::Scylla,
            Err(_) => Dialect::Cassandra,
        }
    }

    /// A statement at the configured consistency; `idempotent` lets the driver retry it.
    fn stmt(&self, cql: &str, idempotent: bool) -> Statement {
        statement(cql, &self.keyspace, self.consistency, idempotent)
    }

    /// A lightweight transaction (`IF …`): serial consistency for the condition.
    fn lwt(&self, cql: &str) -> Statement {
        let mut s = self.stmt(cql, false);
        s.set_serial_consistency(Some(SerialConsistency::LocalSerial));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::qualify;

    #[test]
    fn table_names_get_the_keyspace() {
        assert_eq!(qualify("SELECT id FROM users WHERE id = ?", "ks"), "SELECT id FROM ks.users WHERE id = ?");
        assert_eq!(
            qualify("INSERT INTO settings (key, value) VALUES (?, ?) IF NOT EXISTS USING TTL 5", "ks"),
            "INSERT INTO ks.settings (key, value) VALUES (?, ?) IF NOT EXISTS USING TTL 5"
        );
        assert_eq!(qualify("UPDATE users SET a = ? WHERE id = ?", "ks"), "UPDATE ks.users SET a = ? WHERE id = ?");
        assert_eq!(qualify("DELETE FROM events WHERE website_id = ?", "ks"), "DELETE FROM ks.events WHERE website_id = ?");
        assert_eq!(qualify("SELECT release_version FROM system.local", "ks"), "SELECT release_version FROM system.local");
        assert_eq!(
            qualify("CREATE TABLE IF NOT EXISTS events (\n a int PRIMARY KEY)", "ks"),
            "CREATE TABLE IF NOT EXISTS ks.events (\n a int PRIMARY KEY)"
        );
    }
}
