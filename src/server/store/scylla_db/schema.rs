//! The keyspace's tables and their versioned migrations. Each migration is a list of
//! idempotent statements (`IF NOT EXISTS`); a process claims a version with a lightweight
//! transaction before applying it, so two processes starting at once apply it once, and the
//! loser waits for the winner to record it. ScyllaDB-only options sit behind `Dialect`.

use std::time::Duration;

use scylla::client::session::Session;

use super::{cql_err, Dialect};
use crate::server::store::StoreError;

/// Hours per events partition: `(website_id, bucket)` with `bucket = time_ms / HOUR_MS`.
pub const BUCKET_MS: i64 = 3_600_000;
/// Sequence numbers per `event_seq_runs` (and `event_seqs`) partition.
pub const SEQ_BLOCK_BITS: u32 = 16;

/// What the events table's options depend on.
pub struct EventOptions {
    pub dialect: Dialect,
    /// 0: no TTL, default compaction.
    pub retention_days: u32,
}

/// The migrations, oldest first. Never edit one that has shipped: add the next version.
fn migrations(opts: &EventOptions) -> Vec<(i32, &'static str, Vec<String>)> {
    let event_table_options = if opts.retention_days > 0 {
        // ~30 windows over the retention (ScyllaDB's and Cassandra's TWCS guidance), at least
        // one day each
        let window_days = (opts.retention_days / 30).max(1);
        let ttl = u64::from(opts.retention_days) * 86_400;
        format!(
            " AND default_time_to_live = {ttl} AND compaction = {{'class': 'TimeWindowCompactionStrategy', \
             'compaction_window_unit': 'DAYS', 'compaction_window_size': {window_days}}}"
        )
    } else {
        String::new()
    };
    let tombstone_gc = match opts.dialect {
        // ScyllaDB repairs-based tombstone GC; Cassandra has no such option
        Dialect::Scylla => " AND tombstone_gc = {'mode': 'timeout'}",
        Dialect::Cassandra => "",
    };
    vec![(
        1,
        "events, sequence numbers and accounts",
        vec![
            // Events: one partition per website and hour (ScyllaDB's guidance keeps partitions
            // under ~100 MB; at ~300 B per event an hour holds ~300k events), newest first,
            // unique by (time, seq). `props` is JSON text: no collection tombstones.
            format!(
                "CREATE TABLE IF NOT EXISTS events (
                    website_id text, bucket bigint, time timestamp, seq bigint,
                    id uuid, kind text, pathname text, url text, referrer text, source text, title text,
                    visitor_id text, session_id text, device text, browser text, os text, country text,
                    props text, client_id boolean,
                    PRIMARY KEY ((website_id, bucket), time, seq)
                ) WITH CLUSTERING ORDER BY (time DESC, seq DESC){event_table_options}{tombstone_gc}"
            ),
            // Which hour buckets of a website hold events: paging walks these, not empty hours.
            "CREATE TABLE IF NOT EXISTS event_buckets (
                website_id text, bucket bigint, PRIMARY KEY (website_id, bucket)
            ) WITH CLUSTERING ORDER BY (bucket DESC)"
                .into(),
            // Each stored event by sequence number (commit order), with its time: what
            // `last_seq_before` walks newest first.
            "CREATE TABLE IF NOT EXISTS event_seqs (
                website_id text, block bigint, seq bigint, time timestamp,
                PRIMARY KEY ((website_id, block), seq)
            ) WITH CLUSTERING ORDER BY (seq DESC)"
                .into(),
            // Client-given event ids, claimed with a lightweight transaction (dedupe).
            "CREATE TABLE IF NOT EXISTS event_ids (
                website_id text, id uuid, seq bigint, time timestamp, PRIMARY KEY ((website_id, id))
            )"
            .into(),
            // The next unclaimed sequence number per website (blocks claimed by LWT).
            "CREATE TABLE IF NOT EXISTS seq_leases (website_id text PRIMARY KEY, next bigint)".into(),
            "CREATE TABLE IF NOT EXISTS users (
                id bigint PRIMARY KEY, email text, password_hash text, is_admin boolean, created_at timestamp
            )"
            .into(),
            // Lower-cased email → id; the unique constraint (LWT `IF NOT EXISTS`).
            "CREATE TABLE IF NOT EXISTS users_by_email (email text PRIMARY KEY, id bigint)".into(),
            "CREATE TABLE IF NOT EXISTS sessions (
                id text PRIMARY KEY, user_id bigint, secret_hash text, expires_at_ms bigint
            )"
            .into(),
            "CREATE TABLE IF NOT EXISTS sessions_by_user (user_id bigint, id text, PRIMARY KEY (user_id, id))".into(),
            "CREATE TABLE IF NOT EXISTS setup_links (
                token_hash text PRIMARY KEY, user_id bigint, expires_at_ms bigint
            )"
            .into(),
            "CREATE TABLE IF NOT EXISTS setup_links_by_user (user_id bigint, token_hash text, PRIMARY KEY (user_id, token_hash))".into(),
            "CREATE TABLE IF NOT EXISTS websites (
                id text PRIMARY KEY, domain text, name text, owner_id bigint, created_at timestamp,
                timezone text, allowed_hostnames text, url_params text
            )"
            .into(),
            "CREATE TABLE IF NOT EXISTS members (website_id text, user_id bigint, role text, PRIMARY KEY (website_id, user_id))".into(),
            "CREATE TABLE IF NOT EXISTS members_by_user (user_id bigint, website_id text, role text, PRIMARY KEY (user_id, website_id))".into(),
            "CREATE TABLE IF NOT EXISTS share_links (website_id text PRIMARY KEY, token_hash text)".into(),
            "CREATE TABLE IF NOT EXISTS share_by_token (token_hash text PRIMARY KEY, website_id text)".into(),
            "CREATE TABLE IF NOT EXISTS settings (key text PRIMARY KEY, value text)".into(),
        ],
    ), (
        2,
        "hour rollups for reports",
        vec![
            // one row per website and closed hour: the report columns of its events as JSON
            // text (`rows`), the `last_write` mark it was computed after (`as_of`), and the
            // latest late write into the hour (`last_write`)
            format!(
                "CREATE TABLE IF NOT EXISTS event_hours (
                    website_id text, bucket bigint, rows text, events int, as_of bigint, last_write bigint,
                    PRIMARY KEY ((website_id, bucket))
                ){}",
                if opts.retention_days > 0 {
                    format!(" WITH default_time_to_live = {}", u64::from(opts.retention_days) * 86_400 + 3_600)
                } else {
                    String::new()
                }
            ),
        ],
    ), (
        3,
        "sequence numbers by batch",
        vec![
            // What `last_seq_before` walks, one row per website and batch instead of one per
            // event (half the node's writes per event): a run of consecutive numbers, and the
            // times of its numbers from `last_seq` down to `first_seq`. Keyed by the run's
            // last and first number, so the one-event run a repaired duplicate writes never
            // replaces a batch's run. `event_seqs` keeps the rows written before this version
            // and is still read. (Early builds of this version also wrote the numbers
            // themselves, in a `seqs` column; keyspaces that have it keep it unused.)
            "CREATE TABLE IF NOT EXISTS event_seq_runs (
                website_id text, block bigint, last_seq bigint, first_seq bigint,
                times frozen<list<bigint>>,
                PRIMARY KEY ((website_id, block), last_seq, first_seq)
            ) WITH CLUSTERING ORDER BY (last_seq DESC, first_seq DESC)"
                .into(),
        ],
    )]
}

/// A failure worth trying again (the statements here are idempotent): a dropped connection,
/// a timeout or an overloaded node, not a refused statement.
fn transient(e: &StoreError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    ["connection", "timed out", "timeout", "overloaded", "unavailable", "broken"].iter().any(|w| text.contains(w))
}

/// Runs one schema statement, again after a transient failure (5 tries, backing off).
async fn ddl(session: &Session, q: &str) -> Result<(), StoreError> {
    let mut wait = Duration::from_millis(200);
    for attempt in 1.. {
        match session.query_unpaged(q, ()).await.map(|_| ()).map_err(cql_err) {
            Err(e) if attempt < 5 && transient(&e) => {
                tracing::warn!(error = %e, attempt, "schema statement failed; trying again");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            other => return other,
        }
    }
    Ok(())
}

/// Creates the keyspace if needed and brings its tables to the newest version.
pub async fn migrate(session: &Session, keyspace: &str, replication: &str, opts: &EventOptions) -> Result<(), StoreError> {
    let ddl = |q: String| async move { ddl(session, &super::qualify(&q, keyspace)).await };
    let q = |cql: &str| super::qualify(cql, keyspace);
    ddl(format!("CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}")).await?;
    ddl("CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, state text, owner uuid, at timestamp)".into())
        .await?;
    let me = uuid::Uuid::new_v4();
    for (version, what, statements) in migrations(opts) {
        // `true`: another process applied it already; `false`: this one applies it
        let done = loop {
            let claim = session
                .query_unpaged(
                    q("INSERT INTO schema_migrations (version, state, owner, at) VALUES (?, 'applying', ?, toTimestamp(now())) IF NOT EXISTS"),
                    (version, me),
                )
                .await
                .map_err(cql_err)?;
            if super::lwt_applied(claim)? {
                break false;
            }
            // another process holds it: done, or wait for it (a claim older than a minute was
            // left by a process that died; its statements are idempotent, so take it over)
            let row = session
                .query_unpaged(q("SELECT state, at FROM schema_migrations WHERE version = ?"), (version,))
                .await
                .map_err(cql_err)?
                .into_rows_result()
                .map_err(cql_err)?
                .maybe_first_row::<(Option<String>, Option<chrono::DateTime<chrono::Utc>>)>()
                .map_err(cql_err)?;
            match row {
                Some((Some(state), _)) if state == "done" => break true,
                Some((_, Some(at))) if chrono::Utc::now() - at > chrono::Duration::minutes(1) => {
                    tracing::warn!(version, "taking over a schema migration left unfinished");
                    break false;
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        if done {
            continue;
        }
        for q in statements {
            ddl(q).await?;
        }
        session.await_schema_agreement().await.map_err(cql_err)?;
        session
            .query_unpaged(q("UPDATE schema_migrations SET state = 'done', at = toTimestamp(now()) WHERE version = ?"), (version,))
            .await
            .map_err(cql_err)?;
        tracing::info!(version, what, "schema migration applied");
    }
    Ok(())
}
