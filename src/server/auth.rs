//! Authentication: argon2 password hashes, HS256 JWTs carried in an HttpOnly session cookie,
//! an `Authorization: Bearer` header or `?access_token=` (EventSource cannot send headers),
//! and `POST /api/auth/login` / `logout`. The signing secret comes from config or is generated
//! once into the data directory with owner-only permissions.

use std::path::Path;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::model::LoginResponse;
use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::server::store::UserRow;

pub const SESSION_COOKIE: &str = "pulse_session";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot hash password: {0}")]
    Hash(String),
    #[error("cannot read or write the signing secret {path}: {source}")]
    Secret { path: String, source: std::io::Error },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: i64,
    pub email: String,
    pub exp: i64,
    pub iat: i64,
}

pub struct AuthKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    session: Duration,
}

impl AuthKeys {
    /// Uses `configured`, else `data_dir/jwt-secret`, creating it (0600) on first start.
    pub fn load(data_dir: &Path, configured: Option<&str>, session_hours: i64) -> Result<Self, AuthError> {
        let secret = match configured {
            Some(s) if !s.is_empty() => s.as_bytes().to_vec(),
            _ => load_or_create_secret(&data_dir.join("jwt-secret"))?,
        };
        Ok(Self {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            session: Duration::hours(session_hours.max(1)),
        })
    }

    pub fn issue(&self, user: &UserRow) -> Result<(String, DateTime<Utc>), AppError> {
        let now = Utc::now();
        let exp = now + self.session;
        let claims = Claims { sub: user.id, email: user.email.clone(), iat: now.timestamp(), exp: exp.timestamp() };
        let token = jsonwebtoken::encode(&Header::default(), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("cannot sign token: {e}")))?;
        Ok((token, exp))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &Validation::default())
            .map(|d| d.claims)
            .map_err(|_| AppError::Unauthorized("the token is invalid or expired; log in again".into()))
    }

    pub fn session_secs(&self) -> i64 {
        self.session.num_seconds()
    }
}

fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, AuthError> {
    let err = |source| AuthError::Secret { path: path.display().to_string(), source };
    match std::fs::read(path) {
        Ok(s) if s.len() >= 32 => return Ok(s),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    use rand::RngCore;
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes).into_bytes();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    opts.open(path).and_then(|mut f| f.write_all(&secret)).map_err(err)?;
    Ok(secret)
}

pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Where `?access_token=` is accepted: the live streams only (a browser's EventSource cannot
/// send headers). Anywhere else a token in the URL would end up in logs and histories.
const QUERY_TOKEN_PREFIX: &str = "/api/live/";

/// The token of a request: Bearer header, then `access_token` query (live streams only), then
/// session cookie.
pub fn token_from(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(t) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
    {
        return Some(t.trim().to_string());
    }
    if uri.path().starts_with(QUERY_TOKEN_PREFIX)
        && let Some(q) = uri.query()
        && let Some((_, t)) = url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "access_token")
    {
        return Some(t.into_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_string())
}

/// Resolves a request to a live user account.
pub async fn authenticate(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<UserRow, AppError> {
    let token = token_from(headers, uri).ok_or_else(|| AppError::Unauthorized("log in first".into()))?;
    let claims = state.auth.verify(&token)?;
    state
        .accounts
        .user_by_id(claims.sub)
        .await?
        .ok_or_else(|| AppError::Unauthorized("this account no longer exists".into()))
}

/// The website exists and the user may see it. A global admin is told `404` for an unknown
/// id; anyone else gets `403` for an unknown id and a foreign one alike, so ids of websites
/// they cannot see cannot be probed.
pub async fn website_visible(state: &AppState, user: &UserRow, website_id: &str) -> Result<(), AppError> {
    if state.accounts.can_access(user, website_id).await? {
        return Ok(());
    }
    if user.is_admin {
        return Err(AppError::UnknownWebsite(website_id.to_string()));
    }
    Err(AppError::Forbidden(format!("no access to website {website_id:?}")))
}

/// Extractor for handlers that need a logged-in user.
pub struct AuthUser(pub UserRow);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate(state, &parts.headers, &parts.uri).await.map(AuthUser)
    }
}

/// A global admin, for the operations endpoints.
pub struct AdminUser(pub UserRow);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        if !user.is_admin {
            return Err(AppError::Forbidden("this needs an admin account".into()));
        }
        Ok(AdminUser(user))
    }
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
    /// Form logins only: where to go afterwards (a local path).
    #[serde(default)]
    next: Option<String>,
}

/// Whether the browser reached Pulse over HTTPS: `public_url` says so, or a trusted proxy does
/// (`X-Forwarded-Proto`). Then the session cookie is `Secure`.
fn served_over_https(state: &AppState, headers: &HeaderMap) -> bool {
    state.cfg.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
        || crate::server::public_url::forwarded_https(&state.cfg, headers)
}

fn session_cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let c = format!("{SESSION_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("pulse_session=; Max-Age=0; Path=/"))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") => p,
        _ => "/",
    }
}

/// `POST /api/auth/login`: JSON for API clients (`200 {token, expires_at}`), or an HTML form
/// post from the login page (redirects), so logging in works before the page hydrates.
pub async fn login_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let ip = state.client_ip(&headers, Some(peer));
    if let Err(secs) = state.login_limiter.check(ip) {
        tracing::warn!(%ip, "login rate limit hit");
        return AppError::RateLimited { retry_after_secs: secs.max(1) }.into_response();
    }
    let form = is_form(&headers);
    let parsed: Result<LoginBody, String> = if form {
        parse_login_form(&body)
    } else {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    };
    let body = match parsed {
        Ok(b) => b,
        Err(e) => return AppError::InvalidPayload(format!("expected {{email, password}}: {e}")).into_response(),
    };
    match login(&state, &body.email, &body.password).await {
        Ok((token, exp)) => {
            let cookie = session_cookie(&token, state.auth.session_secs(), served_over_https(&state, &headers));
            if form {
                let mut r = Redirect::to(local_path(body.next.as_deref())).into_response();
                r.headers_mut().insert(header::SET_COOKIE, cookie);
                return r;
            }
            let expires_at = exp.to_rfc3339_opts(SecondsFormat::Millis, true);
            let mut r = (StatusCode::OK, Json(LoginResponse { token, expires_at })).into_response();
            r.headers_mut().insert(header::SET_COOKIE, cookie);
            r
        }
        Err(e) if form && matches!(e, AppError::InvalidCredentials) => {
            Redirect::to("/login?error=invalid_credentials").into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn parse_login_form(body: &[u8]) -> Result<LoginBody, String> {
    let mut email = None;
    let mut password = None;
    let mut next = None;
    for (k, v) in url::form_urlencoded::parse(body) {
        match &*k {
            "email" => email = Some(v.into_owned()),
            "password" => password = Some(v.into_owned()),
            "next" => next = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok(LoginBody {
        email: email.ok_or("missing field `email`")?,
        password: password.ok_or("missing field `password`")?,
        next,
    })
}

async fn login(state: &AppState, email: &str, password: &str) -> Result<(String, DateTime<Utc>), AppError> {
    let user = state.accounts.user_by_email(email.trim()).await?;
    let password = password.to_string();
    // argon2 is deliberately slow: keep it off the async workers. Unknown emails are verified
    // against a dummy hash so timing doesn't reveal which emails exist.
    let (user, ok) = tokio::task::spawn_blocking(move || {
        let hash = user.as_ref().map_or(DUMMY_HASH, |u| u.password_hash.as_str());
        let ok = verify_password(&password, hash);
        (user, ok)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;
    match user {
        Some(u) if ok => {
            // ids, never email addresses, in logs
            tracing::info!(user_id = u.id, "login");
            state.auth.issue(&u)
        }
        _ => Err(AppError::InvalidCredentials),
    }
}

/// argon2id hash of a random string nobody knows.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Cq2Tf6yK0o1bwTQ1Xv0n5rC0t3U4rZ6mX2y9xq8h1jE";

/// `POST /api/auth/logout`: clears the session cookie.
pub async fn logout_handler(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut r = if is_form(&headers) {
        Redirect::to("/login").into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    r.headers_mut().insert(header::SET_COOKIE, session_cookie("", 0, served_over_https(&state, &headers)));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password("s3cret").unwrap();
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("S3cret", &h));
        assert!(!verify_password("s3cret", DUMMY_HASH));
    }

    #[test]
    fn token_sources_in_order() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; pulse_session=cookie"));
        let uri: Uri = "/api/live/ws?access_token=query".parse().unwrap();
        assert_eq!(token_from(&h, &uri).as_deref(), Some("query"));
        assert_eq!(token_from(&h, &"/x".parse().unwrap()).as_deref(), Some("cookie"));
        let elsewhere: Uri = "/api/websites?access_token=query".parse().unwrap();
        assert_eq!(token_from(&h, &elsewhere).as_deref(), Some("cookie"), "a URL token only on the live streams");
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer header"));
        assert_eq!(token_from(&h, &uri).as_deref(), Some("header"));
    }

    #[test]
    fn form_redirects_stay_local() {
        assert_eq!(local_path(Some("/websites/x")), "/websites/x");
        assert_eq!(local_path(Some("//evil.com")), "/");
        assert_eq!(local_path(Some("https://evil.com")), "/");
    }
}
