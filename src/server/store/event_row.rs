//! An event as one SQLite row: each field in a column of its own (the id as 16 bytes, custom
//! properties as JSON text, NULL when there are none) and nothing stored twice. Reading a row
//! rebuilds the typed `Event`; the wire JSON is made from it when needed.

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::Row;
use uuid::Uuid;

use crate::model::{Device, Event, Props};

/// The event columns, in the order `params` binds and `from_row` reads them: written once, for
/// the constants below.
macro_rules! columns {
    () => {
        "id, website_id, time_ms, kind, pathname, url, referrer, source, title, visitor_id, session_id, device, browser, os, country, props"
    };
}

/// The event columns in the order `from_row` reads them, after any leading columns.
pub const COLUMNS: &str = columns!();

/// The INSERT for one event (`client_id` last).
pub const INSERT: &str = concat!(
    "INSERT OR IGNORE INTO events (",
    columns!(),
    ", client_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
);

/// `INSERT` keeping a given sequence number (`?18`), for converting older databases.
pub const INSERT_WITH_SEQ: &str = concat!(
    "INSERT INTO events (",
    columns!(),
    ", client_id, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
);

/// The values for `INSERT`, borrowing the event's strings.
pub fn params(e: &Event, client_id: bool) -> Result<[rusqlite::types::ToSqlOutput<'_>; 17], serde_json::Error> {
    use rusqlite::types::ToSqlOutput::{Borrowed, Owned};
    use rusqlite::types::ValueRef;
    fn text(s: &str) -> rusqlite::types::ToSqlOutput<'_> {
        Borrowed(ValueRef::Text(s.as_bytes()))
    }
    fn opt(s: &Option<String>) -> rusqlite::types::ToSqlOutput<'_> {
        s.as_deref().map_or(Owned(Value::Null), text)
    }
    let props = if e.props.is_empty() { Owned(Value::Null) } else { Owned(Value::Text(serde_json::to_string(&e.props)?)) };
    Ok([
        Borrowed(ValueRef::Blob(e.id.as_bytes())),
        text(&e.website_id),
        Owned(Value::Integer(e.time.timestamp_millis())),
        text(&e.kind),
        text(&e.pathname),
        text(&e.url),
        opt(&e.referrer),
        opt(&e.source),
        opt(&e.title),
        text(&e.visitor_id),
        opt(&e.session_id),
        text(e.device.as_str()),
        opt(&e.browser),
        opt(&e.os),
        opt(&e.country),
        props,
        Owned(Value::Integer(i64::from(client_id))),
    ])
}

/// Why a stored row could not be read back as an event.
fn corrupt(column: usize, what: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, what.to_string().into())
}

/// Reads the event whose columns (`COLUMNS`) start at index `at`.
pub fn from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<Event> {
    let id: [u8; 16] = r.get(at)?;
    let time_ms: i64 = r.get(at + 2)?;
    let device: String = r.get(at + 11)?;
    let props: Option<String> = r.get(at + 15)?;
    Ok(Event {
        id: Uuid::from_bytes(id),
        website_id: r.get(at + 1)?,
        time: DateTime::<Utc>::from_timestamp_millis(time_ms).ok_or_else(|| corrupt(at + 2, "time out of range"))?,
        kind: r.get(at + 3)?,
        pathname: r.get(at + 4)?,
        url: r.get(at + 5)?,
        referrer: r.get(at + 6)?,
        source: r.get(at + 7)?,
        title: r.get(at + 8)?,
        visitor_id: r.get(at + 9)?,
        session_id: r.get(at + 10)?,
        device: Device::parse(&device).ok_or_else(|| corrupt(at + 11, format!("unknown device {device:?}")))?,
        browser: r.get(at + 12)?,
        os: r.get(at + 13)?,
        country: r.get(at + 14)?,
        props: match props {
            None => Props::new(),
            Some(json) => serde_json::from_str(&json).map_err(|e| corrupt(at + 15, e))?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PropValue;

    #[test]
    fn every_field_survives_a_row() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(super::super::sqlite::EVENTS_TABLE).unwrap();
        let mut e = Event::test_pageview("/a", "v1", Utc::now());
        e.kind = "signup".into();
        e.referrer = Some("https://www.google.com/".into());
        e.source = Some("google.com".into());
        e.title = Some("Ünïcode <b>".into());
        e.session_id = Some("s".into());
        e.device = Device::Tablet;
        e.browser = Some("Firefox".into());
        e.os = Some("Linux".into());
        e.country = Some("DE".into());
        e.props.insert("plan".into(), PropValue::Text("pro".into()));
        e.props.insert("n".into(), PropValue::Number(3.into()));
        e.props.insert("ok".into(), PropValue::Bool(true));
        let bare = Event::test_pageview("/b", "v2", Utc::now());
        for ev in [&e, &bare] {
            c.execute(INSERT, rusqlite::params_from_iter(params(ev, true).unwrap())).unwrap();
        }
        let back: Vec<Event> = c
            .prepare(&format!("SELECT {COLUMNS} FROM events ORDER BY seq"))
            .unwrap()
            .query_map([], |r| from_row(r, 0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // times are kept to the millisecond, as on the wire
        let ms = |mut x: Event| {
            x.time = DateTime::from_timestamp_millis(x.time.timestamp_millis()).unwrap();
            x
        };
        assert_eq!(back, vec![ms(e), ms(bare)]);
    }
}
