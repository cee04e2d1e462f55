//! Small REST shapes: websites, login answers and the uniform error body.

use serde::{Deserialize, Serialize};

/// A tracked website as listed to its viewers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Website {
    pub id: String,
    pub domain: String,
    pub name: String,
}

/// `200` answer of `POST /api/auth/login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: String,
}

/// Every error body: `{"error": "<code>", "message": "<human text>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
    pub message: String,
}
