//! Who is asking: short-lived HS256 access tokens (claims `sub`, `role`, `exp`, `iat`, `jti`
//! and the login session `sid`; algorithm pinned on verify, no leeway) carried in an HttpOnly
//! cookie, an `Authorization: Bearer` header or `?access_token=` (live streams only, since a
//! browser's EventSource cannot send headers) — and share-link tokens, which open one
//! website's live stream and nothing else. A token stays valid only while its login session
//! exists, so logout, a password change or removing the account ends it at once. The signing
//! secret comes from config or is generated once into the data directory (owner-only).

use std::path::Path;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Uri};
use chrono::{DateTime, Duration, TimeZone, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::server::error::AppError;
use crate::server::state::AppState;
use crate::server::store::UserRow;

/// The access token's cookie.
pub const SESSION_COOKIE: &str = "pulse_session";
/// Share-link tokens start with this, so they are told apart from JWTs without parsing.
pub const SHARE_TOKEN_PREFIX: &str = "pshare_";

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
    pub sub: String,
    /// `admin` or `member` (global role).
    pub role: String,
    pub exp: i64,
    pub iat: i64,
    /// Unique per token.
    pub jti: String,
    /// The login session it was issued for.
    pub sid: String,
}

pub struct AuthKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access: Duration,
    refresh: Duration,
}

impl AuthKeys {
    /// Uses `configured`, else `data_dir/jwt-secret`, creating it (0600) on first start.
    /// Access tokens live `access_secs`, login sessions (the refresh cookie) `session_hours`.
    pub fn load(
        data_dir: &Path,
        configured: Option<&str>,
        access_secs: i64,
        session_hours: i64,
    ) -> Result<Self, AuthError> {
        let secret = match configured {
            Some(s) if !s.is_empty() => s.as_bytes().to_vec(),
            _ => load_or_create_secret(&data_dir.join("jwt-secret"))?,
        };
        // HS256 only: a token naming another algorithm (`none`, RS256 with our secret as a
        // "public key") is refused before its signature is looked at
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
            access: Duration::seconds(access_secs.max(5)),
            refresh: Duration::hours(session_hours.max(1)),
        })
    }

    /// A new access token for `user` in login session `sid`, and when it expires.
    pub fn issue(&self, user: &UserRow, sid: &str) -> Result<(String, DateTime<Utc>), AppError> {
        let now = Utc::now();
        let exp = now + self.access;
        let claims = Claims {
            sub: user.id.to_string(),
            role: if user.is_admin { "admin" } else { "member" }.into(),
            iat: now.timestamp(),
            exp: exp.timestamp(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            sid: sid.to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("cannot sign token: {e}")))?;
        Ok((token, Utc.timestamp_opt(claims.exp, 0).single().unwrap_or(exp)))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims).map_err(|e| {
            AppError::Unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => "the access token has expired; refresh it or log in again".into(),
                _ => "the access token is invalid; log in again".into(),
            })
        })
    }

    pub fn access_secs(&self) -> i64 {
        self.access.num_seconds()
    }

    pub fn refresh_secs(&self) -> i64 {
        self.refresh.num_seconds()
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
    let secret = random_hex(48).into_bytes();
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

/// `bytes` random bytes from the OS generator, hex-encoded.
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// SHA-256 (hex) of a bearer secret: what the store keeps of refresh, share and setup tokens.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
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

/// A cookie's value from the request.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

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
    cookie_value(headers, SESSION_COOKIE)
}

/// A logged-in user, through one login session.
#[derive(Clone, Debug)]
pub struct UserAuth {
    pub user: UserRow,
    pub session_id: String,
    /// When the access token presented expires.
    pub expires_at: DateTime<Utc>,
}

/// Whoever a request speaks for.
#[derive(Clone, Debug)]
pub enum Principal {
    User(UserAuth),
    /// A share link: read-only, one website's live stream and Realtime page.
    Share { website_id: String, token_hash: String },
}

impl Principal {
    /// The user a request speaks for (`None` for a share link).
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Principal::User(u) => Some(u.user.id),
            Principal::Share { .. } => None,
        }
    }
}

/// Resolves an access token (JWT) to its user, while its login session lasts.
pub async fn user_of_token(state: &AppState, token: &str) -> Result<UserAuth, AppError> {
    let claims = state.auth.verify(token)?;
    let gone = || AppError::Unauthorized("this login has ended (logged out, password changed or account removed); log in again".into());
    let (session, user) = state.accounts.session(&claims.sid, Utc::now().timestamp_millis()).await?.ok_or_else(gone)?;
    if session.user_id.to_string() != claims.sub {
        return Err(gone());
    }
    let expires_at = Utc.timestamp_opt(claims.exp, 0).single().unwrap_or_else(Utc::now);
    Ok(UserAuth { user, session_id: session.id, expires_at })
}

/// Resolves a share-link token to its website, while the link exists.
pub async fn share_of_token(state: &AppState, token: &str) -> Result<Principal, AppError> {
    let token_hash = secret_hash(token);
    match state.accounts.share_website(&token_hash).await? {
        Some(website_id) => Ok(Principal::Share { website_id, token_hash }),
        None => Err(AppError::Unauthorized("this share link was revoked or never existed".into())),
    }
}

/// Resolves a request to a user or a share link.
pub async fn authenticate(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Principal, AppError> {
    let token = token_from(headers, uri).ok_or_else(|| AppError::Unauthorized("log in first".into()))?;
    if token.starts_with(SHARE_TOKEN_PREFIX) {
        return share_of_token(state, &token).await;
    }
    user_of_token(state, &token).await.map(Principal::User)
}

/// Resolves a request to a logged-in user: a share link is refused (`403`), as it opens only
/// its website's live stream and Realtime page.
pub async fn authenticate_user(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<UserAuth, AppError> {
    match authenticate(state, headers, uri).await? {
        Principal::User(u) => Ok(u),
        Principal::Share { .. } => {
            Err(AppError::Forbidden("a share link opens only its website's live stream and Realtime page".into()))
        }
    }
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

/// The website itself, if the user may see it (as `website_visible` answers).
pub async fn visible_website(state: &AppState, user: &UserRow, website_id: &str) -> Result<crate::model::Website, AppError> {
    website_visible(state, user, website_id).await?;
    state.accounts.website(website_id).await?.ok_or_else(|| AppError::UnknownWebsite(website_id.to_string()))
}

/// The website is visible to `user` and they may manage it (settings, members, share link):
/// a global admin, its owner or an `admin` member.
pub async fn website_managed(state: &AppState, user: &UserRow, website_id: &str) -> Result<(), AppError> {
    website_visible(state, user, website_id).await?;
    if !state.accounts.can_manage(user, website_id).await? {
        return Err(AppError::Forbidden(format!("this needs the admin role on website {website_id:?}")));
    }
    Ok(())
}

/// The principal may watch the website live: a user with access, or its own share link.
pub async fn may_watch(state: &AppState, principal: &Principal, website_id: &str) -> Result<(), AppError> {
    match principal {
        Principal::User(u) => website_visible(state, &u.user, website_id).await,
        Principal::Share { website_id: shared, .. } if shared == website_id => Ok(()),
        Principal::Share { .. } => Err(AppError::Forbidden(format!("this share link does not open website {website_id:?}"))),
    }
}

/// Extractor for handlers that need a logged-in user.
pub struct AuthUser(pub UserRow);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        authenticate_user(state, &parts.headers, &parts.uri).await.map(|u| AuthUser(u.user))
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password("s3cret").unwrap();
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("S3cret", &h));
        assert!(!verify_password("s3cret", ""), "an account waiting for setup has no password");
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

    fn keys() -> AuthKeys {
        let dir = tempfile::tempdir().unwrap();
        AuthKeys::load(dir.path(), Some("0123456789abcdef0123456789abcdef"), 60, 1).unwrap()
    }

    fn user() -> UserRow {
        UserRow { id: 7, email: "a@b.c".into(), password_hash: String::new(), is_admin: false }
    }

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let k = keys();
        let (token, exp) = k.issue(&user(), "s1").unwrap();
        let c = k.verify(&token).unwrap();
        assert_eq!((c.sub.as_str(), c.role.as_str(), c.sid.as_str()), ("7", "member", "s1"));
        assert_eq!(c.exp, exp.timestamp());
        assert!(c.exp - c.iat == 60 && !c.jti.is_empty());
        let (other, _) = k.issue(&user(), "s1").unwrap();
        assert_ne!(k.verify(&other).unwrap().jti, c.jti, "each token has its own jti");
    }

    #[test]
    fn forged_expired_and_foreign_tokens_are_refused() {
        let k = keys();
        let now = Utc::now().timestamp();
        let claims = |exp: i64| Claims {
            sub: "7".into(),
            role: "admin".into(),
            exp,
            iat: now,
            jti: "j".into(),
            sid: "s".into(),
        };
        let secret = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let expired = jsonwebtoken::encode(&Header::default(), &claims(now - 1), &secret).unwrap();
        assert!(k.verify(&expired).unwrap_err().to_string().contains("expired"));
        let other_key = EncodingKey::from_secret(b"another secret entirely, 32 bytes!");
        let forged = jsonwebtoken::encode(&Header::default(), &claims(now + 60), &other_key).unwrap();
        assert!(k.verify(&forged).is_err(), "bad signature");
        let hs512 = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims(now + 60), &secret).unwrap();
        assert!(k.verify(&hs512).is_err(), "the algorithm is pinned");
        // alg none: header {"alg":"none"}, no signature
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#.as_slice()), b64(serde_json::to_vec(&claims(now + 60)).unwrap().as_slice()));
        assert!(k.verify(&none).is_err(), "alg none");
    }
}
