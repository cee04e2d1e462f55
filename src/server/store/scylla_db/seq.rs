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
/// follow overlap. A ticket dropped before its turn (a cancelled append) is skipped, never
/// waited for.
#[derive(Default)]
pub struct Turnstile {
    next: AtomicU64,
    line: std::sync::Mutex<Line>,
    moved: tokio::sync::Notify,
}

#[derive(Default)]
struct Line {
    serving: u64,
    abandoned: std::collections::BTreeSet<u64>,
}

/// A place in line; passes the turn on when dropped (also on an error or a cancel).
pub struct Turn<'a> {
    line: &'a Turnstile,
    ticket: u64,
}

impl Turnstile {
    /// A ticket, synchronously: call it before any await.
    pub fn ticket(&self) -> Turn<'_> {
        Turn { line: self, ticket: self.next.fetch_add(1, Ordering::SeqCst) }
    }

    fn serving(&self) -> u64 {
        self.line.lock().map_or(u64::MAX, |l| l.serving)
    }
}

impl Turn<'_> {
    /// Waits until every earlier ticket has numbered its events (or was dropped).
    pub async fn wait(&self) {
        loop {
            let moved = self.line.moved.notified();
            if self.line.serving() >= self.ticket {
                return;
            }
            moved.await;
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let Ok(mut line) = self.line.line.lock() else { return };
        if line.serving == self.ticket {
            line.serving += 1;
            // tickets dropped while waiting are passed over
            loop {
                let next = line.serving;
                if !line.abandoned.remove(&next) {
                    break;
                }
                line.serving += 1;
            }
            drop(line);
            self.line.moved.notify_waiters();
        } else if line.serving < self.ticket {
            line.abandoned.insert(self.ticket);
        }
    }
}

/// Per website, a batch being written excludes the reads that build live state (`since`,
/// `last_seq_before`, the first page of `newest`): each of those sees whole batches, as a
/// SQLite read sees whole commits — a topic built while a batch is half written would hold a
/// later event without an earlier one and skip the earlier one when it is published. Batches
/// share a website's lock (several are written at once; a busy website is most of the load),
/// a read holds it alone; requests are served in order (tokio's lock is fair), so a read
/// waits only for the batches before it and is not starved by the ones after.
#[derive(Default)]
pub struct SiteLocks {
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::RwLock<()>>>>,
}

impl SiteLocks {
    fn lock_of(&self, website_id: &str) -> Arc<tokio::sync::RwLock<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(website_id.to_string()).or_default().clone()
    }

    /// Held while a live-state read of the website runs: no batch of it is being written.
    pub async fn read(&self, website_id: &str) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.lock_of(website_id).write_owned().await
    }

    /// Takes places in line for these websites' locks, for a batch written alongside other
    /// batches: each request is polled once, which queues it (the lock serves in order) or
    /// takes the lock at once. Queued in name order; waiting for them comes after, in
    /// `Queued::granted`. No deadlock: a read holds one lock and waits for nothing else, and
    /// every request waits only for requests queued before it.
    pub async fn queue(&self, websites: impl IntoIterator<Item = &str>) -> Queued {
        let mut sites: Vec<&str> = websites.into_iter().collect();
        sites.sort_unstable();
        sites.dedup();
        let mut places = Vec::with_capacity(sites.len());
        for site in sites {
            let mut request: PendingRead = Box::pin(self.lock_of(site).read_owned());
            places.push(match futures::poll!(request.as_mut()) {
                std::task::Poll::Ready(guard) => Place::Held(guard),
                std::task::Poll::Pending => Place::Waiting(request),
            });
        }
        Queued(places)
    }
}

type PendingRead = std::pin::Pin<Box<dyn std::future::Future<Output = tokio::sync::OwnedRwLockReadGuard<()>> + Send>>;

enum Place {
    Held(tokio::sync::OwnedRwLockReadGuard<()>),
    Waiting(PendingRead),
}

/// A batch's places in line for its websites' locks (see `SiteLocks::queue`).
pub struct Queued(Vec<Place>);

impl Queued {
    /// Waits until every lock is held; they are released when the guards drop.
    pub async fn granted(self) -> Vec<tokio::sync::OwnedRwLockReadGuard<()>> {
        let mut guards = Vec::with_capacity(self.0.len());
        for place in self.0 {
            guards.push(match place {
                Place::Held(guard) => guard,
                Place::Waiting(request) => request.await,
            });
        }
        guards
    }
}
