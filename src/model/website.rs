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

/// `GET /api/live/stats`: what the live layer is carrying right now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveStats {
    pub connections: TransportCounts,
    /// (connection, website) pairs.
    pub subscriptions: u64,
    /// Websites whose live state is held in memory.
    pub websites_live: u64,
    /// Messages written since start.
    pub messages_sent: TransportCounts,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportCounts {
    pub websocket: u64,
    pub sse: u64,
    pub total: u64,
}

/// Every error body: `{"error": "<code>", "message": "<human text>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
    pub message: String,
}

/// A user's role on one website (contract §4): `viewer` watches it, `admin` also manages its
/// members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Viewer,
    Admin,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Viewer => "viewer",
            MemberRole::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(MemberRole::Viewer),
            "admin" => Some(MemberRole::Admin),
            _ => None,
        }
    }
}

/// `PUT /api/websites/{id}/members/{email}` body; the role defaults to `viewer`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRequest {
    #[serde(default)]
    pub role: Option<MemberRole>,
}

/// A user's access to a website, as granted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub website_id: String,
    pub email: String,
    pub role: MemberRole,
}
