//! `UiError`: what a server function answers on failure — typed, so a page can tell "log in
//! again" from "no access" from "fix this field" and say it plainly.

use serde::{Deserialize, Serialize};
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "code", content = "message", rename_all = "snake_case")]
pub enum UiError {
    /// Not logged in (or the login ended).
    #[error("{0}")]
    Unauthorized(String),
    /// Logged in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The input is wrong; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// Anything else (store down, network); details are in the server log.
    #[error("{0}")]
    Failed(String),
}

/// `{"code": …, "message": …}` through one flat struct (serde's derive for adjacently tagged
/// enums brings buffering code into the browser bundle).
impl<'de> Deserialize<'de> for UiError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Code {
            Unauthorized,
            Forbidden,
            NotFound,
            Invalid,
            Conflict,
            Failed,
        }
        #[derive(Deserialize)]
        struct Wire {
            code: Code,
            message: String,
        }
        let Wire { code, message } = Wire::deserialize(d)?;
        Ok(match code {
            Code::Unauthorized => UiError::Unauthorized(message),
            Code::Forbidden => UiError::Forbidden(message),
            Code::NotFound => UiError::NotFound(message),
            Code::Invalid => UiError::Invalid(message),
            Code::Conflict => UiError::Conflict(message),
            Code::Failed => UiError::Failed(message),
        })
    }
}

impl FromServerFnError for UiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        UiError::Failed(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_decodes_to_what_was_encoded() {
        for e in [
            UiError::Unauthorized("a".into()),
            UiError::Forbidden("b".into()),
            UiError::NotFound("c".into()),
            UiError::Invalid("d".into()),
            UiError::Conflict("e".into()),
            UiError::Failed("f".into()),
        ] {
            let text = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<UiError>(&text).unwrap(), e, "{text}");
        }
        assert!(serde_json::from_str::<UiError>(r#"{"code":"weird","message":"x"}"#).is_err());
    }
}
