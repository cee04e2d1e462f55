//! One website's live topic: its live numbers, resume ring, subscribers and stats pacing.
//!
//! The rule every path into a topic follows: an event is applied at most once, in sequence
//! order (`apply` ignores a sequence number the topic has already reached), and every way a
//! topic comes to exist — start-up rebuild, a first subscribe, a first publish after idle —
//! goes through `Topic::build` from the same store reads, so all of them yield the same state.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::live_state::LiveState;
use super::ring::{Ring, RingPolicy};
use super::{Frame, Subscriber};
use crate::model::{Cursor, Event, LiveMessage, Stats};
use crate::server::store::{Seq, StoredEvent};

/// Minimum spacing of `stats` messages per website while events stream in.
const STATS_EVERY_MS: i64 = 250;

pub(super) struct SubEntry {
    pub sub: Subscriber,
    /// Frames are withheld from a lagged subscription until it resyncs (no silent holes).
    pub lagged: bool,
}

/// What a topic is built from: the store's view of one website at one moment.
pub(super) struct TopicSource {
    /// The highest sequence number older than the live window: the ring starts after it.
    pub floor: Seq,
    /// Every event of the live window (30 minutes), in sequence order.
    pub window: Vec<StoredEvent>,
    /// The newest events overall, newest first, for the feed (may reach back before the window).
    pub newest: Vec<StoredEvent>,
}

pub(super) struct Topic {
    pub website_id: Arc<str>,
    /// The id as a JSON string, for the `event` frames built around stored JSON.
    website_json: String,
    pub state: LiveState,
    pub ring: Ring,
    pub subs: HashMap<u64, SubEntry>,
    /// Set by the idle sweep when it removes the topic from the hub's map (under this lock):
    /// whoever looked the topic up before that and locks it after must look again.
    pub dead: bool,
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
    pub fn empty(website_id: &str, floor: Seq, recent_cap: usize, policy: RingPolicy) -> Self {
        Topic {
            website_id: website_id.into(),
            website_json: serde_json::to_string(website_id).unwrap_or_else(|_| String::from("\"\"")),
            state: LiveState::new(recent_cap),
            ring: Ring::new(floor, policy),
            subs: HashMap::new(),
            dead: false,
            last_stats: None,
            stats_at_ms: 0,
            stats_dirty: false,
            last_event_ms: 0,
            snapshot_cache: None,
        }
    }

    /// The one way a topic is made from stored history.
    pub fn build(website_id: &str, src: TopicSource, recent_cap: usize, policy: RingPolicy, now_ms: i64) -> Self {
        let mut topic = Self::empty(website_id, src.floor, recent_cap, policy);
        let upto = src.window.last().map_or(src.floor, |e| e.seq.max(src.floor));
        // the feed: newest events overall, even those older than the window — but none the
        // window replays below, and none committed after the window was read
        let in_window: HashSet<Seq> = src.window.iter().map(|e| e.seq).collect();
        let seed: Vec<Event> = src
            .newest
            .into_iter()
            .filter(|e| e.seq <= upto && !in_window.contains(&e.seq))
            .map(|e| e.event)
            .take(recent_cap)
            .collect();
        topic.state.seed_recent(seed);
        for StoredEvent { seq, event } in src.window {
            if seq <= src.floor {
                // inside the window by time but not after the floor by sequence (a request's
                // time and its commit order can differ at the edge): counted, not replayable
                topic.state.apply(event);
            } else {
                topic.apply(seq, event, None, now_ms);
            }
        }
        topic.state.expire(now_ms);
        // what a snapshot shows now; no `stats` pushed yet, so the first event's go out at once
        topic.last_stats = Some(topic.state.stats(now_ms));
        topic
    }

    /// Applies a stored event and returns its `event` frame (serialized once), or `None` when
    /// the topic already reflects it (it was loaded from the store after the event was
    /// committed): an event is applied at most once, in sequence order. `json` is the event as
    /// already encoded, when the caller has it.
    pub fn apply(&mut self, seq: Seq, event: Event, json: Option<&str>, now_ms: i64) -> Option<Arc<Frame>> {
        if seq <= self.ring.last_seq() {
            return None;
        }
        let time_ms = event.time.timestamp_millis();
        let encoded;
        let json = match json {
            Some(json) => json,
            None => {
                encoded = serde_json::to_string(&event).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "cannot serialize a stored event");
                    String::from("null")
                });
                &encoded
            }
        };
        let frame = Frame::event(&self.website_id, &self.website_json, seq, json);
        self.state.apply(event);
        self.ring.push(time_ms, frame.clone(), now_ms);
        Some(frame)
    }

    pub fn snapshot(&self, now_ms: i64) -> (LiveMessage, Seq) {
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
    pub fn snapshot_frame(&mut self, now_ms: i64) -> (Arc<Frame>, Seq) {
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

    pub fn fan_out(&mut self, frame: &Arc<Frame>) {
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
    pub fn is_droppable(&self, now_ms: i64) -> bool {
        self.subs.is_empty() && self.state.is_idle() && self.ring.is_quiet(now_ms)
    }

    /// After events: `stats` at most every `STATS_EVERY_MS` per website (events themselves go
    /// out at once), written right behind an event so connections send both with one flush;
    /// the tick sends what was held back once events pause.
    pub fn stats_after_events(&mut self, now_ms: i64) {
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
    pub fn stats_on_tick(&mut self, now_ms: i64) {
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
