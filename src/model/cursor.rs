//! Live cursors. Opaque to clients; here they are the store's sequence number of the newest
//! event a message reflects.
//!
//! A `Cursor` names a position in one website's stream. A `StreamCursor` covers several
//! websites at once (the SSE `id:` of a multiplexed stream): `site:seq,site:seq`. With a
//! single website it is written exactly like that website's `Cursor`, so an SSE `id:` and a
//! WebSocket `cursor` are interchangeable.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(pub u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor {0:?}: use a cursor exactly as the server sent it")]
pub struct CursorError(pub String);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for Cursor {
    type Err = CursorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.trim();
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CursorError(s.chars().take(64).collect()));
        }
        digits.parse().map(Cursor).map_err(|_| CursorError(s.chars().take(64).collect()))
    }
}

/// Per-website positions of one multiplexed stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamCursor(pub BTreeMap<String, Cursor>);

impl StreamCursor {
    /// Parses an SSE `Last-Event-ID`. A plain cursor applies to every website of the stream.
    pub fn parse(s: &str, websites: &[String]) -> Result<Self, CursorError> {
        if !s.contains(':') {
            let c: Cursor = s.parse()?;
            return Ok(Self(websites.iter().map(|w| (w.clone(), c)).collect()));
        }
        let mut map = BTreeMap::new();
        for part in s.split(',') {
            let (site, seq) = part.split_once(':').ok_or_else(|| CursorError(s.into()))?;
            if site.is_empty() {
                return Err(CursorError(s.chars().take(64).collect()));
            }
            map.insert(site.to_string(), seq.parse()?);
        }
        Ok(Self(map))
    }

    pub fn get(&self, website_id: &str) -> Option<Cursor> {
        self.0.get(website_id).copied()
    }

    pub fn set(&mut self, website_id: &str, cursor: Cursor) {
        self.0.insert(website_id.to_string(), cursor);
    }
}

impl StreamCursor {
    /// Always the `site:seq,…` form, even for one website: what a multi-website stream sends,
    /// so a website missing from the list is resumed with a snapshot, not with another's seq.
    pub fn to_list_string(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(site, c)| format!("{site}:{c}")).collect();
        parts.join(",")
    }
}

impl fmt::Display for StreamCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() == 1
            && let Some(c) = self.0.values().next()
        {
            return write!(f, "{c}");
        }
        f.write_str(&self.to_list_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        assert_eq!("42".parse::<Cursor>().unwrap(), Cursor(42));
        assert_eq!(Cursor(42).to_string(), "42");
        for bad in ["", "abc", "-1", "1.5", "999999999999999999999999"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn stream_cursor_single_site_looks_like_a_cursor() {
        let sites = vec!["a".to_string()];
        let c = StreamCursor::parse("7", &sites).unwrap();
        assert_eq!(c.get("a"), Some(Cursor(7)));
        assert_eq!(c.to_string(), "7");
    }

    #[test]
    fn stream_cursor_multi_site_round_trips() {
        let mut c = StreamCursor::default();
        c.set("a", Cursor(3));
        c.set("b", Cursor(9));
        let s = c.to_string();
        assert_eq!(s, "a:3,b:9");
        let back = StreamCursor::parse(&s, &[]).unwrap();
        assert_eq!(back, c);
        let mut one = StreamCursor::default();
        one.set("a", Cursor(3));
        assert_eq!(one.to_list_string(), "a:3");
        let sites = vec!["a".to_string(), "b".to_string()];
        let parsed = StreamCursor::parse("a:3", &sites).unwrap();
        assert_eq!((parsed.get("a"), parsed.get("b")), (Some(Cursor(3)), None), "b resumes with a snapshot");
        assert!(StreamCursor::parse("a:x", &[]).is_err());
        assert!(StreamCursor::parse(":3", &[]).is_err());
    }
}
