//! The one JSON reader the browser build uses. Server functions decode their responses from
//! bytes (`serde_json::from_slice`); Leptos resources decode their hydrated values from a
//! `&str` (`from_str`) unless told otherwise. Each reader monomorphizes every type's
//! deserializer again, so using both doubles the JSON code in the WASM. `SliceJson` is the
//! resources' codec reading through the byte reader, and `resource` builds a resource with it;
//! the live client reads its messages the same way (`decode`).

use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON in, JSON out, decoded through `serde_json`'s byte reader.
pub struct SliceJson;

impl<T: Serialize> Encoder<T> for SliceJson {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(val)
    }
}

impl<T: DeserializeOwned> Decoder<T> for SliceJson {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, serde_json::Error> {
        decode(val)
    }
}

/// Decodes JSON text with the byte reader the server functions use.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    serde_json::from_slice(text.as_bytes())
}

/// `Resource::new`, with values hydrated through [`SliceJson`].
#[track_caller]
pub fn resource<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, SliceJson>
where
    S: PartialEq + Clone + Send + Sync + 'static,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_byte_reader() {
        let text = <SliceJson as Encoder<Vec<(String, u32)>>>::encode(&vec![("é".into(), 3)]).unwrap();
        let back: Vec<(String, u32)> = <SliceJson as Decoder<_>>::decode(&text).unwrap();
        assert_eq!(back, vec![("é".to_string(), 3)]);
        assert!(decode::<u32>("\"x\"").is_err());
    }
}
