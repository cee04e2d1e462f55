//! The hub: per-website live state and fan-out to live connections.
//!
//! A cheap `Clone` handle (mini-redis `Db` style). Each website is a `Topic` behind its own std
//! `Mutex`, never held across `.await`. `publish` is called by the single writer after commit,
//! in commit order, so every connection queue receives a website's frames in cursor order.
//! Publishers never wait on a client: a full connection queue marks that subscription lagged,
//! and the connection answers it with `gap` + a fresh `snapshot`.

mod live_state;
mod minutes;
mod ring;
mod topic;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Utf8Bytes;

pub use live_state::LiveState;
pub use ring::{Ring, RingPolicy};

use crate::model::{Cursor, LiveMessage};
use crate::server::config::LiveConfig;
use crate::server::store::{EncodedEvent, EventStore, Seq, StoreError, StoredEvent};
use topic::{SubEntry, Topic, TopicSource};

/// Longest `prepare` waits for a cold website's history before publishing without it.
const PREPARE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
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

    /// The `event` message around the event's JSON as its request already encoded it (for the
    /// store): byte for byte what `Frame::encode(&LiveMessage::Event { .. })` writes (a test
    /// holds them equal), without serializing the event a second time per publish.
    /// `website_json` is the website id as a JSON string (quoted, escaped), made once per topic.
    pub fn event(website_id: &Arc<str>, website_json: &str, seq: Seq, event_json: &str) -> Arc<Frame> {
        let json = format!(r#"{{"type":"event","website_id":{website_json},"cursor":"{seq}","event":{event_json}}}"#);
        Arc::new(Frame { website_id: website_id.clone(), seq, kind: "event", json: json.into() })
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
    /// Between `prepare` and the end of `publish`: the idle sweep then keeps every topic, so
    /// a topic `prepare` found cannot vanish before `publish` uses it. Set under the map lock.
    publishing: AtomicBool,
    cfg: LiveConfig,
    /// Every topic is built from the store's history (rebuild, first subscribe, first publish).
    store: Arc<dyn EventStore>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a hub lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Where the live window (30 minutes of per-minute pageviews) starts now.
fn window_start() -> DateTime<Utc> {
    Utc::now() - Duration::minutes(crate::model::PER_MINUTE_BUCKETS as i64)
}

impl Hub {
    pub fn new(cfg: LiveConfig, store: Arc<dyn EventStore>) -> Self {
        Self {
            shared: Arc::new(Shared {
                topics: Mutex::new(HashMap::new()),
                next_sub: AtomicU64::new(1),
                publishing: AtomicBool::new(false),
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

    fn build(&self, website_id: &str, src: TopicSource) -> Topic {
        Topic::build(website_id, src, self.shared.cfg.recent_events, self.policy(), now_ms())
    }

    pub fn next_subscriber_id(&self) -> u64 {
        self.shared.next_sub.fetch_add(1, Ordering::Relaxed)
    }

    /// Rebuilds every website's live state from the last 30 minutes in the store, so a restart
    /// shows the same numbers and cursors issued before it still resume.
    pub async fn rebuild(&self) -> Result<usize, StoreError> {
        let window_start = window_start();
        let events = self.shared.store.since(None, window_start).await?;
        let mut by_site: HashMap<String, Vec<StoredEvent>> = HashMap::new();
        for e in events {
            by_site.entry(e.event.website_id.clone()).or_default().push(e);
        }
        let sites = by_site.len();
        for (site, window) in by_site {
            let topic = self.build(&site, self.source_around(&site, window_start, window).await?);
            lock(&self.shared.topics).insert(site, Arc::new(Mutex::new(topic)));
        }
        Ok(sites)
    }

    /// What a website's topic is built from, read from the store now.
    async fn source(&self, website_id: &str) -> Result<TopicSource, StoreError> {
        let window_start = window_start();
        let window = self.shared.store.since(Some(website_id), window_start).await?;
        self.source_around(website_id, window_start, window).await
    }

    /// The rest of a topic's source around its window (already read): the floor before the
    /// window and the newest events for the feed.
    async fn source_around(
        &self,
        website_id: &str,
        window_start: DateTime<Utc>,
        window: Vec<StoredEvent>,
    ) -> Result<TopicSource, StoreError> {
        let store = &self.shared.store;
        let floor = store.last_seq_before(website_id, window_start).await?;
        let newest = store.newest(website_id, self.shared.cfg.recent_events, None).await?.events;
        Ok(TopicSource { floor, window, newest })
    }

    fn topic(&self, website_id: &str) -> Option<Arc<Mutex<Topic>>> {
        lock(&self.shared.topics).get(website_id).cloned()
    }

    /// The topic of a website, built from the store if it has none (cold since start, or swept
    /// while idle). When two paths load it at once the first insert wins; the other's copy is
    /// dropped — both came from the store, and `Topic::apply` skips what a topic already has.
    async fn load(&self, website_id: &str) -> Result<Arc<Mutex<Topic>>, StoreError> {
        if let Some(t) = self.topic(website_id) {
            return Ok(t);
        }
        let topic = self.build(website_id, self.source(website_id).await?);
        let mut topics = lock(&self.shared.topics);
        Ok(topics.entry(website_id.to_string()).or_insert_with(|| Arc::new(Mutex::new(topic))).clone())
    }

    /// Builds the topics a batch is about to need, before `publish` (called by the publisher,
    /// which may wait): a website's first event after idle then meets the same state a
    /// subscriber or a restart would have built. A store failure is logged; `publish` then
    /// starts the topic from the batch alone.
    pub async fn prepare(&self, batch: &[(Seq, EncodedEvent)]) {
        {
            let _topics = lock(&self.shared.topics);
            self.shared.publishing.store(true, Ordering::SeqCst);
        }
        // each website once, in order of first appearance (batches are small)
        let mut websites: Vec<&str> = Vec::new();
        for (_, e) in batch {
            if !websites.contains(&e.event.website_id.as_str()) {
                websites.push(&e.event.website_id);
            }
        }
        for site in websites {
            if self.topic(site).is_some() {
                continue;
            }
            // bounded: live delivery of every website waits behind this read
            match tokio::time::timeout(PREPARE_TIMEOUT, self.load(site)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, website_id = site, "cannot load a website's live history; starting from new events"),
                Err(_) => tracing::warn!(website_id = site, "loading a website's live history timed out; starting from new events"),
            }
        }
    }

    /// Registers `sub` for a website and says how the stream starts, atomically with respect
    /// to `publish`: nothing is missed or doubled between the start and the live frames.
    pub async fn subscribe(
        &self,
        website_id: &str,
        sub: Subscriber,
        resume: Option<Cursor>,
    ) -> Result<Start, StoreError> {
        loop {
            let topic = self.load(website_id).await?;
            let mut t = lock(&topic);
            if t.dead {
                continue; // swept between the lookup and the lock: look again
            }
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
            return Ok(start);
        }
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
        loop {
            let topic = self.load(website_id).await?;
            let t = lock(&topic);
            if !t.dead {
                return Ok(t.snapshot(now_ms()).0);
            }
        }
    }

    /// Called by the publisher after each committed batch, in commit order (after `prepare`).
    pub fn publish(&self, batch: Vec<(Seq, EncodedEvent)>) {
        let now = now_ms();
        let mut touched: Vec<Arc<Mutex<Topic>>> = Vec::new();
        for (seq, EncodedEvent { event, json, .. }) in batch {
            let topic = loop {
                let topic = {
                    let mut topics = lock(&self.shared.topics);
                    topics
                        .entry(event.website_id.clone())
                        // only when `prepare` could not read the store: everything after the
                        // previous seq is in the ring
                        .or_insert_with(|| {
                            let policy = self.policy();
                            Arc::new(Mutex::new(Topic::empty(&event.website_id, seq - 1, self.shared.cfg.recent_events, policy)))
                        })
                        .clone()
                };
                let mut t = lock(&topic);
                if t.dead {
                    continue; // swept between the lookup and the lock: look again
                }
                if let Some(frame) = t.apply(seq, event, Some(&json), now)
                    && !t.subs.is_empty()
                {
                    t.fan_out(&frame);
                }
                drop(t);
                break topic;
            };
            if !touched.iter().any(|x| Arc::ptr_eq(x, &topic)) {
                touched.push(topic);
            }
        }
        for topic in touched {
            lock(&topic).stats_after_events(now);
        }
        self.shared.publishing.store(false, Ordering::SeqCst);
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
            if self.shared.publishing.load(Ordering::SeqCst) {
                return; // a batch is between `prepare` and `publish`: sweep on a later tick
            }
            for site in idle {
                // under both locks: a publish or subscribe holding the topic sees `dead` and
                // looks again instead of using an orphan
                let drop_it = topics.get(&site).is_some_and(|t| {
                    let mut t = lock(t);
                    let droppable = t.is_droppable(now);
                    t.dead |= droppable;
                    droppable
                });
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

    /// Sends a `notice` without a website to every live subscription (store health changes).
    pub fn notice_all(&self, message: &str) -> usize {
        let topics: Vec<Arc<Mutex<Topic>>> = lock(&self.shared.topics).values().cloned().collect();
        let frame = Frame::encode(&LiveMessage::Notice { website_id: None, message: message.to_string() }, 0);
        let mut told = 0;
        for topic in topics {
            let mut t = lock(&topic);
            told += t.subs.len();
            t.fan_out(&frame);
        }
        told
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_frame_around_stored_json_equals_the_typed_encoding() {
        let mut event = crate::model::Event::test_pageview("/ü \"q\"", "v", Utc::now());
        event.website_id = "site \"1\"".into();
        let encoded = EncodedEvent::new(event.clone()).unwrap();
        let site: Arc<str> = event.website_id.as_str().into();
        let fast = Frame::event(&site, &serde_json::to_string(&*site).unwrap(), 42, &encoded.json);
        let msg = LiveMessage::Event { website_id: event.website_id.clone(), cursor: "42".into(), event };
        let typed = Frame::encode(&msg, 42);
        assert_eq!(fast.json.as_str(), typed.json.as_str());
        assert_eq!((fast.kind, fast.seq, &*fast.website_id), (typed.kind, typed.seq, &*typed.website_id));
    }
}
