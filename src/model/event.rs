//! `Event`: one tracked event as stored, streamed and shown.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::time::rfc3339_millis;

/// A custom property value: the contract allows strings, numbers and booleans only.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PropValue {
    Bool(bool),
    Number(serde_json::Number),
    Text(String),
}

/// By the JSON type seen, without serde's buffering of untagged enums (which costs the
/// browser bundle several KB for the same result).
impl<'de> Deserialize<'de> for PropValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PropValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_bool<E>(self, v: bool) -> Result<PropValue, E> {
                Ok(PropValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<PropValue, E> {
                Ok(PropValue::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<PropValue, E> {
                Ok(PropValue::Number(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<PropValue, E> {
                serde_json::Number::from_f64(v)
                    .map(PropValue::Number)
                    .ok_or_else(|| E::custom("a property number must be finite"))
            }
            fn visit_str<E>(self, v: &str) -> Result<PropValue, E> {
                Ok(PropValue::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<PropValue, E> {
                Ok(PropValue::Text(v))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Custom properties, sorted by key so that equal maps serialize identically.
pub type Props = BTreeMap<String, PropValue>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    Desktop,
    Mobile,
    Tablet,
}

impl Device {
    /// The device `as_str` names, if any.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "desktop" => Some(Device::Desktop),
            "mobile" => Some(Device::Mobile),
            "tablet" => Some(Device::Tablet),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Device::Desktop => "desktop",
            Device::Mobile => "mobile",
            Device::Tablet => "tablet",
        }
    }
}

/// One tracked event, enriched by the server (contract §2 "Event object").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    pub website_id: String,
    #[serde(with = "rfc3339_millis")]
    pub time: DateTime<Utc>,
    /// `pageview` or a custom event name.
    #[serde(rename = "type")]
    pub kind: String,
    pub pathname: String,
    pub url: String,
    pub referrer: Option<String>,
    /// Referrer host (without `www.`) or the URL's `utm_source`.
    pub source: Option<String>,
    pub title: Option<String>,
    /// Keyed hash; never a raw IP or a cookie.
    pub visitor_id: String,
    pub session_id: Option<String>,
    pub device: Device,
    pub browser: Option<String>,
    pub os: Option<String>,
    /// ISO 3166-1 alpha-2, or null when unknown.
    pub country: Option<String>,
    #[serde(default)]
    pub props: Props,
}

#[cfg(test)]
impl Event {
    /// A desktop pageview for unit tests.
    pub(crate) fn test_pageview(path: &str, visitor: &str, time: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            website_id: "w".into(),
            time,
            kind: Self::PAGEVIEW.into(),
            pathname: path.into(),
            url: format!("https://e.com{path}"),
            referrer: None,
            source: None,
            title: None,
            visitor_id: visitor.into(),
            session_id: None,
            device: Device::Desktop,
            browser: None,
            os: None,
            country: None,
            props: Props::new(),
        }
    }
}

impl Event {
    pub const PAGEVIEW: &'static str = "pageview";

    pub fn is_pageview(&self) -> bool {
        self.kind == Self::PAGEVIEW
    }
}
