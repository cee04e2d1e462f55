//! Logging in and staying logged in: `POST /api/auth/login` starts a login session (a row in
//! the store, named by the HttpOnly `pulse_refresh` cookie) and issues a short-lived access
//! token (`pulse_session` cookie and the JSON answer); `POST /api/auth/refresh` issues a new
//! access token from the refresh cookie; `POST /api/auth/logout` ends the session, which ends
//! its access tokens and live streams at once. Attempts are throttled per IP and per account.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use crate::model::LoginResponse;
use crate::server::auth::{self, UserAuth, SESSION_COOKIE};
use crate::server::error::AppError;
use crate::server::live::Revoked;
use crate::server::state::AppState;
use crate::server::store::{SessionRow, UserRow};

/// The login session's cookie: `<session id>.<secret>`.
pub const REFRESH_COOKIE: &str = "pulse_refresh";

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
    /// Form logins only: where to go afterwards (a local path).
    #[serde(default)]
    next: Option<String>,
}

/// Whether the browser reached Pulse over HTTPS: `public_url` says so, or a trusted proxy does
/// (`X-Forwarded-Proto`). Then the cookies are `Secure`.
fn served_over_https(state: &AppState, headers: &HeaderMap) -> bool {
    state.cfg.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
        || crate::server::public_url::forwarded_https(&state.cfg, headers)
}

fn cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let c = format!("{name}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("pulse_session=; Max-Age=0; Path=/"))
}

/// `Set-Cookie` for a fresh access token (it expires with the token).
pub fn access_cookie(state: &AppState, headers: &HeaderMap, token: &str) -> HeaderValue {
    cookie(SESSION_COOKIE, token, state.auth.access_secs(), served_over_https(state, headers))
}

fn refresh_cookie(state: &AppState, headers: &HeaderMap, value: &str) -> HeaderValue {
    cookie(REFRESH_COOKIE, value, state.auth.refresh_secs(), served_over_https(state, headers))
}

fn clear_cookies(state: &AppState, headers: &HeaderMap) -> [HeaderValue; 2] {
    let secure = served_over_https(state, headers);
    [cookie(SESSION_COOKIE, "", 0, secure), cookie(REFRESH_COOKIE, "", 0, secure)]
}

/// A new login session for `user`: its access token, expiry and the `Set-Cookie` headers.
pub async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    user: &UserRow,
) -> Result<(String, DateTime<Utc>, [HeaderValue; 2]), AppError> {
    let id = auth::random_hex(16);
    let secret = auth::random_hex(32);
    let expires_at_ms = Utc::now().timestamp_millis() + state.auth.refresh_secs() * 1000;
    let row = SessionRow { id: id.clone(), user_id: user.id, secret_hash: auth::secret_hash(&secret), expires_at_ms };
    state.accounts.create_session(&row).await?;
    let (token, exp) = state.auth.issue(user, &id)?;
    let cookies = [access_cookie(state, headers, &token), refresh_cookie(state, headers, &format!("{id}.{secret}"))];
    Ok((token, exp, cookies))
}

/// The login session named by the request's refresh cookie, if it is still valid.
async fn session_of_cookie(state: &AppState, headers: &HeaderMap) -> Result<(SessionRow, UserRow), AppError> {
    let invalid = || AppError::Unauthorized("no valid login; log in again".into());
    let value = auth::cookie_value(headers, REFRESH_COOKIE).ok_or_else(invalid)?;
    let (id, secret) = value.split_once('.').ok_or_else(invalid)?;
    let (session, user) = state.accounts.session(id, Utc::now().timestamp_millis()).await?.ok_or_else(invalid)?;
    if session.secret_hash != auth::secret_hash(secret) {
        return Err(invalid());
    }
    Ok((session, user))
}

/// A new access token from the refresh cookie.
pub async fn refresh_from_cookie(state: &AppState, headers: &HeaderMap) -> Result<(UserAuth, String), AppError> {
    let (session, user) = session_of_cookie(state, headers).await?;
    let (token, expires_at) = state.auth.issue(&user, &session.id)?;
    Ok((UserAuth { user, session_id: session.id, expires_at }, token))
}

fn login_response(token: String, exp: DateTime<Utc>) -> Json<LoginResponse> {
    let expires_in = (exp - Utc::now()).num_seconds().max(0);
    Json(LoginResponse { token, expires_at: exp.to_rfc3339_opts(SecondsFormat::Millis, true), expires_in })
}

/// `POST /api/auth/refresh`: `200 {token, expires_at}` and a new access cookie, from the
/// refresh cookie; `401` when the login ended.
pub async fn refresh_handler(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let (auth, token) = refresh_from_cookie(&state, &headers).await?;
    let cookie = access_cookie(&state, &headers, &token);
    let mut r = login_response(token, auth.expires_at).into_response();
    r.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(r)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// `next` if it is a path on this server, else `/`. Browsers read `/\host` and a path with a
/// tab or newline in it as another host, so backslashes and control characters are refused.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control) =>
        {
            p
        }
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
    let form = is_form(&headers);
    let throttled = |secs| {
        if form {
            Redirect::to("/login?error=rate_limited").into_response()
        } else {
            AppError::RateLimited { retry_after_secs: secs }.into_response()
        }
    };
    if let Err(secs) = state.login_limiter.check(&ip) {
        tracing::warn!(%ip, "login rate limit hit (per IP)");
        return throttled(secs);
    }
    let parsed: Result<LoginBody, String> = if form {
        parse_login_form(&body)
    } else {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    };
    let body = match parsed {
        Ok(b) => b,
        Err(e) => return AppError::InvalidPayload(format!("expected {{email, password}}: {e}")).into_response(),
    };
    // guessing one account's password from many addresses is throttled too: failures use up
    // the account's budget, and an account over it is refused for a few seconds (until its
    // budget refills), so a guesser cannot keep its owner out for longer
    let account = body.email.trim().to_lowercase();
    if let Some(secs) = state.account_lockouts.remaining(&account) {
        tracing::warn!("login refused: too many failures for this account");
        return throttled(secs);
    }
    let user = match check_password(&state, &body.email, &body.password).await {
        Ok(u) => u,
        Err(e) => {
            if matches!(e, AppError::InvalidCredentials)
                && let Err(secs) = state.account_login_limiter.check(&account)
            {
                state.account_lockouts.lock(&account, secs);
            }
            return match e {
                AppError::InvalidCredentials if form => Redirect::to("/login?error=invalid_credentials").into_response(),
                e => e.into_response(),
            };
        }
    };
    let (token, exp, cookies) = match start_session(&state, &headers, &user).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    // ids, never email addresses, in logs
    tracing::info!(user_id = user.id, "login");
    let mut r = if form {
        Redirect::to(local_path(body.next.as_deref())).into_response()
    } else {
        (StatusCode::OK, login_response(token, exp)).into_response()
    };
    for c in cookies {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
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

/// The user whose email and password these are.
pub async fn check_password(state: &AppState, email: &str, password: &str) -> Result<UserRow, AppError> {
    let user = state.accounts.user_by_email(email.trim()).await?;
    let password = password.to_string();
    // argon2 is deliberately slow: keep it off the async workers. Unknown emails are verified
    // against a dummy hash so timing doesn't reveal which emails exist.
    let (user, ok) = tokio::task::spawn_blocking(move || {
        let hash = user.as_ref().map_or(DUMMY_HASH, |u| u.password_hash.as_str());
        let ok = auth::verify_password(&password, hash);
        (user, ok)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;
    match user {
        Some(u) if ok => Ok(u),
        _ => Err(AppError::InvalidCredentials),
    }
}

/// argon2id hash of a random string nobody knows.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Cq2Tf6yK0o1bwTQ1Xv0n5rC0t3U4rZ6mX2y9xq8h1jE";

/// `POST /api/auth/logout`: ends the login session (its access tokens and live streams stop)
/// and clears the cookies.
pub async fn logout_handler(State(state): State<AppState>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let session = match session_of_cookie(&state, &headers).await {
        Ok((s, _)) => Some(s.id),
        // an API client logs out with its access token
        Err(_) => match auth::token_from(&headers, &uri) {
            Some(t) => auth::user_of_token(&state, &t).await.ok().map(|u| u.session_id),
            None => None,
        },
    };
    if let Some(id) = session {
        if let Err(e) = state.accounts.delete_session(&id).await {
            return AppError::from(e).into_response();
        }
        state.revocations.announce(Revoked::Session { session_id: id });
    }
    let mut r = if is_form(&headers) {
        Redirect::to("/login").into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    for c in clear_cookies(&state, &headers) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// Sets a new password: every login of the user ends (sessions, access tokens, live streams)
/// and the caller gets a fresh session, whose `Set-Cookie` headers are returned.
pub async fn set_password(
    state: &AppState,
    headers: &HeaderMap,
    user: &UserRow,
    password: &str,
) -> Result<[HeaderValue; 2], AppError> {
    check_new_password(password)?;
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| AppError::Internal(e.to_string()))?;
    state.accounts.set_password(user.id, &hash).await?;
    state.revocations.announce(Revoked::User { user_id: user.id });
    tracing::info!(user_id = user.id, "password set; other logins ended");
    let (_, _, cookies) = start_session(state, headers, user).await?;
    Ok(cookies)
}

/// Passwords are at least 8 characters (and at most 1 KiB, which argon2 hashes quickly).
pub fn check_new_password(password: &str) -> Result<(), AppError> {
    match password.chars().count() {
        n if n < 8 => Err(AppError::InvalidPayload("password: use at least 8 characters".into())),
        _ if password.len() > 1024 => Err(AppError::InvalidPayload("password: at most 1024 bytes".into())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_redirects_stay_local() {
        assert_eq!(local_path(Some("/websites/x")), "/websites/x");
        assert_eq!(local_path(Some("//evil.com")), "/");
        assert_eq!(local_path(Some("https://evil.com")), "/");
        assert_eq!(local_path(Some("/\\evil.com")), "/");
        assert_eq!(local_path(Some("/\t/evil.com")), "/");
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_new_password("1234567").is_err());
        assert!(check_new_password("12345678").is_ok());
    }
}
