//! `UiError`: what a server function answers on failure — typed, so a page can tell "log in
//! again" from "no access" from "fix this field" and say it plainly.

use serde::{Deserialize, Serialize};
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
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

impl FromServerFnError for UiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        UiError::Failed(value.to_string())
    }
}
