//! The hub: per-website live state and fan-out to live connections.
//!
//! A cheap `Clone` handle (mini-redis `Db` style). Each website is a `Topic` behind its own std
//! `Mutex`, never held across `.await`. `publish` is called by the single writer after commit,
//! in commit order, so every connection queue receives a website's frames in cursor order.
//! Publishers never wait on a client: a full connection queue marks that subscription lagged,
//! and the connection answers it with `gap` + a fresh `snapshot`.

mod live_state;
mod ring;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_tungstenite::tungstenite::Utf8Bytes;
use chrono::{Duration, Utc};
use tokio::sync::{mpsc, Notify};

pub use live_state::LiveState;
pub use ring::{Ring, RingPolicy};

use crate::model::{Cursor, Event, LiveMessage, Stats};
use crate::server::config::LiveConfig;
use crate::server::store::{EventStore, Seq, StoreError, StoredEvent};

/// Minimum spacing of `stats` messages per website while events stream in.
const STATS_EVERY_MS: i64 = 250;
/// How often `tick` should run.
pub const TICK: std::time::Duration = std::time::Duration::from_millis(250);

/// One serialized server → client message, shared by every subscriber that receives it.
#[derive(Debug)]
pub struct Frame {
    pub website_id: Arc<str>,
    /// Cursor the message carries; 0 for messages without one (`notice`).
    pub seq: Seq,
    /// The `type` tag (SSE `event:` name).
    pub kind: &'static str,
    /// Serialized once; each WebSocket send clones the handle, not the bytes.
    pub json: Utf8Bytes,
}

impl Frame {
    pub fn encode(msg: &LiveMessage, seq: Seq) -> Arc<Frame> {
        let json = serde_json::to_string(msg).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot serialize live message");
            String::from(r#"{"type":"error","code":"bad_request","message":"unserializable"}"#)
        });
        Arc::new(Frame {
            website_id: msg.website_id().unwrap_or_default().into(),
            seq,
            kind: msg.kind(),
            json: json.into(),
        })
    }
}

/// Signals from the hub to one connection, outside its (possibly full) frame queue.
#[derive(Default)]
pub struct ConnSignal {
    pub notify: Notify,
    /// Websites whose frames were dropped because the queue was full.
    pub lagged: Mutex<Vec<String>>,
    /// Set when an admin closed the streams of a website this connection watches.
    pub closed: AtomicBool,
}

/// What a connection registers with each topic it subscribes to.
#[derive(Clone)]
pub struct Subscriber {
    pub id: u64,
    pub tx: mpsc::Sender<Arc<Frame>>,
    pub signal: Arc<ConnSignal>,
}

struct SubEntry {
    sub: Subscriber,
    /// Frames are withheld from a lagged subscription until it resyncs (no silent holes).
    lagged: bool,
}

struct Topic {
    website_id: Arc<str>,
    state: LiveState,
    ring: Ring,
    subs: HashMap<u64, SubEntry>,
    last_stats: Option<Stats>,
    /// When `stats` were last computed, and whether events arrived since.
    stats_at_ms: i64,
    stats_dirty: bool,
    /// When events were last published.
    last_event_ms: i64,
    /// The serialized snapshot, shared by every subscriber until the state moves on: a
    /// reconnect storm serializes it once, not once per client. Keyed by `(cursor, stats_at_ms)`.
    snapshot_cache: Option<(Seq, i64, Arc<Frame>)>,
}

impl Topic {
    fn snapshot(&self, now_ms: i64) -> (LiveMessage, Seq) {
        let seq = self.ring.last_seq();
        let msg = LiveMessage::Snapshot {
            website_id: self.website_id.to_string(),
            cursor: Cursor(seq).to_string(),
            stats: self.state.stats(now_ms),
            recent: self.state.recent(),
        };
        (msg, seq)
    }

    /// The current snapshot as a frame, serialized at most once per state.
    fn snapshot_frame(&mut self, now_ms: i64) -> (Arc<Frame>, Seq) {
        let seq = self.ring.last_seq();
        if let Some((s, at, frame)) = &self.snapshot_cache
            && *s == seq
            && *at == self.stats_at_ms
        {
            return (frame.clone(), seq);
        }
        let (msg, seq) = self.snapshot(now_ms);
        let frame = Frame::encode(&msg, seq);
        self.snapshot_cache = Some((seq, self.stats_at_ms, frame.clone()));
        (frame, seq)
    }

    fn fan_out(&mut self, frame: &Arc<Frame>) {
        let mut closed = Vec::new();
        for (id, entry) in self.subs.iter_mut() {
            if entry.lagged {
                continue;
            }
            match entry.sub.tx.try_send(frame.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    entry.lagged = true;
                    if let Ok(mut l) = entry.sub.signal.lagged.lock() {
                        l.push(self.website_id.to_string());
                    }
                    entry.sub.signal.notify.notify_one();
                }
                Err(mpsc::error::TrySendError::Closed(_)) => closed.push(*id),
            }
        }
        for id in closed {
            self.subs.remove(&id);
        }
    }

    /// Nobody watches, nothing is live, and no cursor of the last minutes points into the ring.
    fn is_droppable(&self, now_ms: i64) -> bool {
        self.subs.is_empty() && self.state.is_idle() && self.ring.is_quiet(now_ms)
    }

    /// After events: `stats` at most every `STATS_EVERY_MS` per website (events themselves go
    /// out at once), written right behind an event so connections send both with one flush;
    /// the tick sends what was held back once events pause.
    fn stats_after_events(&mut self, now_ms: i64) {
        self.last_event_ms = now_ms;
        if now_ms - self.stats_at_ms >= STATS_EVERY_MS {
            self.push_stats_if_changed(now_ms);
        } else {
            self.stats_dirty = true;
        }
    }

    /// On the tick: push when events were held back, visitors expired or the minute rolled.
    /// While events are flowing the change rides with the next event instead: a separate burst
    /// to every subscriber would delay the events behind it.
    fn stats_on_tick(&mut self, now_ms: i64) {
        let expired = self.state.expire(now_ms);
        let minute_rolled = now_ms.div_euclid(60_000) != self.stats_at_ms.div_euclid(60_000);
        if expired || minute_rolled || self.stats_dirty {
            if now_ms - self.last_event_ms >= STATS_EVERY_MS {
                self.push_stats_if_changed(now_ms);
            } else {
                self.stats_dirty = true;
            }
        }
    }

    /// Pushes `stats` when the numbers changed since the last push.
    fn push_stats_if_changed(&mut self, now_ms: i64) {
        self.stats_at_ms = now_ms;
        self.stats_dirty = false;
        let stats = self.state.stats(now_ms);
        if self.last_stats.as_ref() == Some(&stats) {
            return;
        }
        let seq = self.ring.last_seq();
        let msg = LiveMessage::Stats {
            website_id: self.website_id.to_string(),
            cursor: Cursor(seq).to_string(),
            stats: stats.clone(),
        };
        self.last_stats = Some(stats);
        if !self.subs.is_empty() {
            let frame = Frame::encode(&msg, seq);
            self.fan_out(&frame);
        }
    }
}

/// How a subscription starts (built once per subscribe, consumed at once).
#[allow(clippy::large_enum_variant)]
pub enum Start {
    /// The cursor was served: these frames follow it, then live frames.
    Replay { frames: Vec<Arc<Frame>>, cursor: Seq, stats: Arc<Frame> },
    /// No usable cursor: a snapshot (after `gap` when the client had asked to resume).
    Snapshot { gap: bool, snapshot: Arc<Frame>, cursor: Seq },
}

#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

struct Shared {
    topics: Mutex<HashMap<String, Arc<Mutex<Topic>>>>,
    next_sub: AtomicU64,
    cfg: LiveConfig,
    /// Lets `subscribe` load a cold website's history.
    store: Arc<dyn EventStore>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a hub lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl Hub {
    pub fn new(cfg: LiveConfig, store: Arc<dyn EventStore>) -> Self {
        Self {
            shared: Arc::new(Shared {
                topics: Mutex::new(HashMap::new()),
                next_sub: AtomicU64::new(1),
                cfg,
                store,
            }),
        }
    }

    fn policy(&self) -> RingPolicy {
        let c = &self.shared.cfg;
        RingPolicy {
            min_events: c.ring_min_events,
            min_age_ms: c.ring_min_minutes * 60_000,
            max_events: c.ring_max_events.max(c.ring_min_events),
        }
    }

    fn new_topic(&self, website_id: &str, floor: Seq) -> Topic {
        Topic {
            website_id: website_id.into(),
            state: LiveState::new(self.shared.cfg.recent_events),
            ring: Ring::new(floor, self.policy()),
            subs: HashMap::new(),
            last_stats: None,
            stats_at_ms: 0,
            stats_dirty: false,
            last_event_ms: 0,
            snapshot_cache: None,
        }
    }

    pub fn next_subscriber_id(&self) -> u64 {
        self.shared.next_sub.fetch_add(1, Ordering::Relaxed)
    }

    /// Rebuilds every website's live state from the last 30 minutes in the store, so a restart
    /// shows the same numbers and cursors issued before it still resume.
    pub async fn rebuild(&self) -> Result<usize, StoreError> {
        let window_start = Utc::now() - Duration::minutes(crate::model::PER_MINUTE_BUCKETS as i64);
        let events = self.shared.store.since(None, window_start).await?;
        let mut by_site: HashMap<String, Vec<StoredEvent>> = HashMap::new();
        for e in events {
            by_site.entry(e.event.website_id.clone()).or_default().push(e);
        }
        let sites = by_site.len();
        for (site, events) in by_site {
            let floor = self.shared.store.last_seq_before(&site, window_start).await?;
            let older = self.shared.store.newest(&site, self.shared.cfg.recent_events, None).await?;
            let mut topic = self.new_topic(&site, floor);
            // the feed: newest events overall, even those older than the window
            let in_window: std::collections::HashSet<_> = events.iter().map(|e| e.seq).collect();
            let mut seed: Vec<Event> =
                older.events.into_iter().filter(|e| !in_window.contains(&e.seq)).map(|e| e.event).collect();
            seed.truncate(self.shared.cfg.recent_events);
            topic.state.seed_recent(seed);
            let now = now_ms();
            for StoredEvent { seq, event } in events {
                topic_apply(&mut topic, seq, event, now);
            }
            topic.state.expire(now);
            topic.last_stats = Some(topic.state.stats(now));
            topic.stats_at_ms = now;
            lock(&self.shared.topics).insert(site, Arc::new(Mutex::new(topic)));
        }
        Ok(sites)
    }

    fn topic(&self, website_id: &str) -> Option<Arc<Mutex<Topic>>> {
        lock(&self.shared.topics).get(website_id).cloned()
    }

    /// The topic of a website, loading its recent history from the store if nobody has
    /// touched it since start.
    async fn warm_topic(&self, website_id: &str) -> Result<Arc<Mutex<Topic>>, StoreError> {
        if let Some(t) = self.topic(website_id) {
            return Ok(t);
        }
        let last = self.shared.store.last_seq_before(website_id, Utc::now() + Duration::days(1)).await?;
        let recent = self.shared.store.newest(website_id, self.shared.cfg.recent_events, None).await?;
        let mut topic = self.new_topic(website_id, last);
        topic.state.seed_recent(recent.events.into_iter().map(|e| e.event));
        let mut topics = lock(&self.shared.topics);
        // a publish may have created it meanwhile; that one is authoritative
        Ok(topics.entry(website_id.to_string()).or_insert_with(|| Arc::new(Mutex::new(topic))).clone())
    }

    /// Registers `sub` for a website and says how the stream starts, atomically with respect
    /// to `publish`: nothing is missed or doubled between the start and the live frames.
    pub async fn subscribe(
        &self,
        website_id: &str,
        sub: Subscriber,
        resume: Option<Cursor>,
    ) -> Result<Start, StoreError> {
        let topic = self.warm_topic(website_id).await?;
        let mut t = lock(&topic);
        let start = match resume.and_then(|c| t.ring.after(c.0).map(|f| (f, c))) {
            Some((frames, c)) => {
                let cursor = frames.last().map_or(c.0, |f| f.seq);
                // the numbers may have moved (visitors expired) while the client was away
                let stats = LiveMessage::Stats {
                    website_id: website_id.to_string(),
                    cursor: Cursor(cursor).to_string(),
                    stats: t.state.stats(now_ms()),
                };
                Start::Replay { frames, cursor, stats: Frame::encode(&stats, cursor) }
            }
            None => {
                let (snapshot, cursor) = t.snapshot_frame(now_ms());
                Start::Snapshot { gap: resume.is_some(), snapshot, cursor }
            }
        };
        t.subs.insert(sub.id, SubEntry { sub, lagged: false });
        Ok(start)
    }

    /// After a lag: lifts the hold and returns a fresh snapshot (the client gets `gap` first).
    pub fn resync(&self, website_id: &str, sub_id: u64) -> Option<(Arc<Frame>, Seq)> {
        let topic = self.topic(website_id)?;
        let mut t = lock(&topic);
        let entry = t.subs.get_mut(&sub_id)?;
        entry.lagged = false;
        Some(t.snapshot_frame(now_ms()))
    }

    pub fn unsubscribe(&self, website_id: &str, sub_id: u64) {
        if let Some(topic) = self.topic(website_id) {
            lock(&topic).subs.remove(&sub_id);
        }
    }

    /// The current snapshot of a website (SSR first paint, SSE `Accept: application/json`).
    pub async fn snapshot(&self, website_id: &str) -> Result<LiveMessage, StoreError> {
        let topic = self.warm_topic(website_id).await?;
        let t = lock(&topic);
        Ok(t.snapshot(now_ms()).0)
    }

    /// Called by the writer after each committed batch, in commit order.
    pub fn publish(&self, batch: Vec<(Seq, Event)>) {
        let now = now_ms();
        let mut touched: Vec<Arc<Mutex<Topic>>> = Vec::new();
        for (seq, event) in batch {
            let topic = {
                let mut topics = lock(&self.shared.topics);
                topics
                    .entry(event.website_id.clone())
                    // first event since start: everything after the previous seq is in the ring
                    .or_insert_with(|| Arc::new(Mutex::new(self.new_topic(&event.website_id, seq - 1))))
                    .clone()
            };
            {
                let mut t = lock(&topic);
                let frame = topic_apply(&mut t, seq, event, now);
                if !t.subs.is_empty() {
                    t.fan_out(&frame);
                }
            }
            if !touched.iter().any(|x| Arc::ptr_eq(x, &topic)) {
                touched.push(topic);
            }
        }
        for topic in touched {
            lock(&topic).stats_after_events(now);
        }
    }

    /// Every `TICK` (250 ms): expire visitors and minutes, push `stats` where they changed, and drop
    /// topics nobody watches that have nothing live left.
    pub fn tick(&self) {
        let now = now_ms();
        let topics: Vec<(String, Arc<Mutex<Topic>>)> =
            lock(&self.shared.topics).iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut idle = Vec::new();
        for (site, topic) in topics {
            let mut t = lock(&topic);
            t.stats_on_tick(now);
            if t.is_droppable(now) {
                idle.push(site);
            }
        }
        if !idle.is_empty() {
            let mut topics = lock(&self.shared.topics);
            for site in idle {
                let drop_it = topics.get(&site).is_some_and(|t| lock(t).is_droppable(now));
                if drop_it {
                    topics.remove(&site);
                }
            }
        }
    }

    /// Sends a `notice` to everyone watching the website.
    pub fn broadcast(&self, website_id: &str, message: &str) -> usize {
        let Some(topic) = self.topic(website_id) else { return 0 };
        let mut t = lock(&topic);
        let msg = LiveMessage::Notice { website_id: Some(website_id.to_string()), message: message.to_string() };
        let frame = Frame::encode(&msg, 0);
        let n = t.subs.len();
        t.fan_out(&frame);
        n
    }

    /// Closes every live stream watching the website. Returns how many were told.
    pub fn close_website(&self, website_id: &str) -> usize {
        let Some(topic) = self.topic(website_id) else { return 0 };
        let mut t = lock(&topic);
        for entry in t.subs.values() {
            entry.sub.signal.closed.store(true, Ordering::Release);
            entry.sub.signal.notify.notify_one();
        }
        let n = t.subs.len();
        t.subs.clear();
        n
    }

    /// `(websites held live, subscriptions)`.
    pub fn counts(&self) -> (usize, usize) {
        let topics = lock(&self.shared.topics);
        let subs = topics.values().map(|t| lock(t).subs.len()).sum();
        (topics.len(), subs)
    }
}

/// Applies a stored event to a topic and returns its `event` frame (serialized once).
fn topic_apply(t: &mut Topic, seq: Seq, event: Event, now_ms: i64) -> Arc<Frame> {
    t.state.apply(&event);
    let time_ms = event.time.timestamp_millis();
    let msg = LiveMessage::Event { website_id: t.website_id.to_string(), cursor: Cursor(seq).to_string(), event };
    let frame = Frame::encode(&msg, seq);
    t.ring.push(time_ms, frame.clone(), now_ms);
    frame
}
