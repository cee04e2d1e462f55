//! Sequence numbers (the live cursors of contract §2) on ScyllaDB: strictly increasing per
//! website across restarts, kill -9 included, and never reused. A process claims a block of
//! numbers with a lightweight transaction on `seq_leases` (compare-and-set of the website's
//! next unclaimed number) and hands them out in commit order; numbers of a block left unused
//! when a process stops are skipped, never handed out again. See the README ("Cursors on
//! ScyllaDB") for why this design also carries a later multi-node step.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use scylla::client::caching_session::CachingSession;
use scylla::statement::unprepared::Statement;
use scylla::statement::SerialConsistency;
use tokio::sync::Mutex;

use super::{cql_err, lwt_applied};
use crate::server::store::{Seq, StoreError};

/// Numbers claimed per lightweight transaction: one LWT per this many events of a website.
const BLOCK: i64 = 4_096;

pub struct SeqLeases {
    db: Arc<CachingSession>,
    keyspace: String,
    /// Per website: the next number to hand out and the end of the claimed block (exclusive).
    blocks: Mutex<HashMap<String, (i64, i64)>>,
}

impl SeqLeases {
    pub fn new(db: Arc<CachingSession>, keyspace: &str) -> Self {
        Self { db, keyspace: keyspace.to_string(), blocks: Mutex::new(HashMap::new()) }
    }

    fn statement(&self, cql: &str) -> Statement {
        Statement::new(super::qualify(cql, &self.keyspace))
    }

    /// The next sequence number of `website_id`, claiming a new block when this one is used up.
    pub async fn next(&self, website_id: &str) -> Result<Seq, StoreError> {
        let mut blocks = self.blocks.lock().await;
        if let Some((next, end)) = blocks.get_mut(website_id)
            && *next < *end
        {
            *next += 1;
            return Ok((*next - 1) as Seq);
        }
        let start = self.claim(website_id).await?;
        blocks.insert(website_id.to_string(), (start + 1, start + BLOCK));
        Ok(start as Seq)
    }

    /// The highest number ever claimed for the website (0 if none): no stored event has a
    /// higher one.
    pub async fn high_water(&self, website_id: &str) -> Result<Seq, StoreError> {
        Ok(self.current(website_id).await?.map_or(0, |next| (next - 1).max(0) as Seq))
    }

    async fn current(&self, website_id: &str) -> Result<Option<i64>, StoreError> {
        let mut read = self.statement("SELECT next FROM seq_leases WHERE website_id = ?");
        // linearizable with the compare-and-set below
        read.set_consistency(scylla::statement::Consistency::LocalSerial);
        let rows = self.db.execute_unpaged(read, (website_id,)).await.map_err(cql_err)?;
        let row = rows.into_rows_result().map_err(cql_err)?.maybe_first_row::<(Option<i64>,)>().map_err(cql_err)?;
        Ok(row.and_then(|(n,)| n))
    }

    /// Claims `[start, start + BLOCK)` and returns `start`.
    async fn claim(&self, website_id: &str) -> Result<i64, StoreError> {
        for _ in 0..64 {
            let current = self.current(website_id).await?;
            let (start, mut stmt, applied) = match current {
                None => {
                    let s = self.statement("INSERT INTO seq_leases (website_id, next) VALUES (?, ?) IF NOT EXISTS");
                    (1, s, None)
                }
                Some(next) => {
                    let s = self.statement("UPDATE seq_leases SET next = ? WHERE website_id = ? IF next = ?");
                    (next, s, Some(next))
                }
            };
            stmt.set_serial_consistency(Some(SerialConsistency::LocalSerial));
            let result = match applied {
                None => self.db.execute_unpaged(stmt, (website_id, start + BLOCK)).await,
                Some(expected) => self.db.execute_unpaged(stmt, (start + BLOCK, website_id, expected)).await,
            }
            .map_err(cql_err)?;
            if lwt_applied(result)? {
                return Ok(start);
            }
            // another process claimed a block in between: read again
        }
        Err(StoreError::Cql(format!("could not claim sequence numbers for website {website_id}: too much contention")))
    }
}

/// Several appends in flight, numbered in the order they started: each takes a ticket on its
/// first poll (no await before it) and numbers its events when its turn comes; the writes that
/// follow overlap.
pub struct Turnstile {
    next: AtomicU64,
    serving: tokio::sync::watch::Sender<u64>,
}

impl Default for Turnstile {
    fn default() -> Self {
        Self { next: AtomicU64::new(0), serving: tokio::sync::watch::Sender::new(0) }
    }
}

/// A place in line; passes the turn on when dropped (also on an error).
pub struct Turn<'a> {
    line: &'a Turnstile,
    ticket: u64,
}

impl Turnstile {
    /// A ticket, synchronously: call it before any await.
    pub fn ticket(&self) -> Turn<'_> {
        Turn { line: self, ticket: self.next.fetch_add(1, Ordering::SeqCst) }
    }
}

impl Turn<'_> {
    /// Waits until every earlier ticket has numbered its events.
    pub async fn wait(&self) {
        let mut rx = self.line.serving.subscribe();
        let _ = rx.wait_for(|s| *s >= self.ticket).await;
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // only the holder of the turn passes it on
        self.line.serving.send_if_modified(|s| {
            if *s == self.ticket {
                *s += 1;
                true
            } else {
                false
            }
        });
    }
}
