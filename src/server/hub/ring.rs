//! The resume ring of one website: its newest serialized `event` frames with their sequence
//! numbers, so a client that reconnects with a cursor gets exactly what it missed.
//!
//! Invariant: every event of the website with `seq > floor` is in `entries`, in order. A cursor
//! below `floor` cannot be served and gets `gap` + a fresh snapshot.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Frame;
use crate::server::store::Seq;

/// Retention: at least `min_events` and at least `min_age_ms` of events, at most `max_events`.
#[derive(Clone, Copy, Debug)]
pub struct RingPolicy {
    pub min_events: usize,
    pub min_age_ms: i64,
    pub max_events: usize,
}

pub struct Ring {
    entries: VecDeque<(i64, Arc<Frame>)>,
    floor: Seq,
    policy: RingPolicy,
}

impl Ring {
    pub fn new(floor: Seq, policy: RingPolicy) -> Self {
        Self { entries: VecDeque::new(), floor, policy }
    }

    #[cfg(test)]
    pub fn floor(&self) -> Seq {
        self.floor
    }

    pub fn last_seq(&self) -> Seq {
        self.entries.back().map_or(self.floor, |(_, f)| f.seq)
    }

    pub fn push(&mut self, time_ms: i64, frame: Arc<Frame>, now_ms: i64) {
        self.entries.push_back((time_ms, frame));
        while let Some((t, f)) = self.entries.front() {
            let over_max = self.entries.len() > self.policy.max_events;
            let evictable =
                self.entries.len() > self.policy.min_events && *t < now_ms - self.policy.min_age_ms;
            if !(over_max || evictable) {
                break;
            }
            self.floor = f.seq;
            self.entries.pop_front();
        }
    }

    /// Frames after `cursor`, or `None` when the ring no longer reaches back that far (or the
    /// cursor is ahead of anything this website has: not one this server issued).
    pub fn after(&self, cursor: Seq) -> Option<Vec<Arc<Frame>>> {
        if cursor < self.floor || cursor > self.last_seq() {
            return None;
        }
        let start = self.entries.partition_point(|(_, f)| f.seq <= cursor);
        Some(self.entries.range(start..).map(|(_, f)| f.clone()).collect())
    }

    /// True when the newest event is older than the retention age: a cursor into this ring
    /// can then be answered from the store's `last_seq` alone.
    pub fn is_quiet(&self, now_ms: i64) -> bool {
        self.entries.back().is_none_or(|(t, _)| *t < now_ms - self.policy.min_age_ms)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: Seq) -> Arc<Frame> {
        Arc::new(Frame { website_id: "w".into(), seq, kind: "event", json: seq.to_string().into() })
    }

    const POLICY: RingPolicy = RingPolicy { min_events: 3, min_age_ms: 1_000, max_events: 5 };

    #[test]
    fn replays_exactly_what_follows_the_cursor() {
        let mut r = Ring::new(10, POLICY);
        for s in [12, 15, 17] {
            r.push(0, frame(s), 0);
        }
        let seqs = |v: Option<Vec<Arc<Frame>>>| v.map(|v| v.iter().map(|f| f.seq).collect::<Vec<_>>());
        assert_eq!(seqs(r.after(10)), Some(vec![12, 15, 17]));
        assert_eq!(seqs(r.after(13)), Some(vec![15, 17]));
        assert_eq!(seqs(r.after(17)), Some(vec![]));
        assert_eq!(seqs(r.after(9)), None, "older than the ring");
        assert_eq!(seqs(r.after(18)), None, "never issued");
    }

    #[test]
    fn keeps_recent_events_and_caps_old_ones() {
        let mut r = Ring::new(0, POLICY);
        for s in 1..=4 {
            r.push(0, frame(s), 500); // young: all kept up to max
        }
        assert_eq!(r.len(), 4);
        r.push(2_000, frame(5), 2_000); // the old ones may now go down to min_events
        assert_eq!(r.len(), 3);
        assert_eq!(r.floor(), 2);
        for s in 6..=12 {
            r.push(2_000, frame(s), 2_000);
        }
        assert_eq!(r.len(), 5, "max_events bounds memory");
        assert!(r.after(7).is_some() && r.after(6).is_none());
    }
}
