//! Small REST shapes: websites, login answers and the uniform error body.

use serde::{Deserialize, Serialize};

/// A tracked website as listed to its viewers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Website {
    pub id: String,
    pub domain: String,
    pub name: String,
    /// IANA name; day boundaries of reports follow it.
    #[serde(default = "utc")]
    pub timezone: String,
    /// Page hosts accepted by `/api/track` besides `domain` and its subdomains; `*` accepts any.
    #[serde(default)]
    pub allowed_hostnames: Vec<String>,
    /// Query parameters kept in stored URLs besides the `utm_*` ones.
    #[serde(default)]
    pub url_params: Vec<String>,
}

fn utc() -> String {
    "UTC".into()
}

impl Website {
    /// A website with the defaults: UTC, its domain and subdomains, `utm_*` only.
    pub fn new(id: impl Into<String>, domain: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            domain: domain.into(),
            name: name.into(),
            timezone: utc(),
            allowed_hostnames: Vec::new(),
            url_params: Vec::new(),
        }
    }

    /// Whether a page on `host` may send events: the website's domain, its subdomains, or one
    /// of `allowed_hostnames` (`*` allows any, `*.example.com` a domain and its subdomains).
    pub fn accepts_host(&self, host: &str) -> bool {
        // runs per tracked event: comparisons in place, no allocation
        let host = host.trim_end_matches('.');
        let under = |domain: &str| {
            let d = host_of(domain);
            if d.is_empty() || host.len() < d.len() {
                return false;
            }
            let split = host.len() - d.len();
            host.is_char_boundary(split)
                && host[split..].eq_ignore_ascii_case(d)
                && (split == 0 || host.as_bytes()[split - 1] == b'.')
        };
        under(&self.domain) || self.allowed_hostnames.iter().any(|h| h.trim() == "*" || under(h))
    }
}

/// The host a domain setting names: `https://Example.com:8080/` (as older versions stored
/// typed input) → `Example.com`; a leading `*.` and a trailing dot dropped.
fn host_of(domain: &str) -> &str {
    let d = domain.trim();
    let d = d.strip_prefix("https://").or_else(|| d.strip_prefix("http://")).unwrap_or(d);
    let d = d.split(['/', ':']).next().unwrap_or("");
    d.trim_start_matches("*.").trim_end_matches('.')

}

#[cfg(test)]
mod tests {
    use super::Website;

    #[test]
    fn hosts_are_the_domain_its_subdomains_and_the_allowed_ones() {
        let site = Website { allowed_hostnames: vec!["*.cdn.example".into(), "shop.example.net".into()], ..Website::new("w", "example.com", "E") };
        for ok in ["example.com", "www.example.com", "a.b.example.com", "EXAMPLE.com.", "cdn.example", "x.cdn.example", "shop.example.net"] {
            assert!(site.accepts_host(ok), "{ok}");
        }
        for no in ["notexample.com", "example.com.evil", "example.net", "other.example.net", ""] {
            assert!(!site.accepts_host(no), "{no}");
        }
        // a domain stored with a scheme, path or port (older CLI input) still means its host
        let typed = Website::new("w", "https://Example.com:8080/", "E");
        assert!(typed.accepts_host("example.com") && typed.accepts_host("www.example.com"));
        let any = Website { allowed_hostnames: vec!["*".into()], ..Website::new("w", "localhost", "Demo") };
        assert!(any.accepts_host("anything.example"));
    }
}

/// What the Settings page sends to create or change a website.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebsiteForm {
    pub domain: String,
    pub name: String,
    pub timezone: String,
    /// Comma- or whitespace-separated.
    pub allowed_hostnames: String,
    /// Comma- or whitespace-separated.
    pub url_params: String,
}

/// A user as listed in Settings (global admins only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: i64,
    pub email: String,
    pub is_admin: bool,
    /// The account still waits for its one-time setup link to be used.
    pub pending_setup: bool,
}

/// `POST /api/websites/{id}/share` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareLink {
    pub token: String,
    pub url: String,
}

/// `200` answer of `POST /api/auth/login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: String,
    /// Seconds the token is valid from now: a client schedules its refresh with this, not
    /// with its own clock against `expires_at`.
    #[serde(default)]
    pub expires_in: i64,
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
