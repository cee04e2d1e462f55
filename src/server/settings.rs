//! What the Settings pages do, checked here once: websites (create, edit, delete), users
//! (create with a password or a one-time setup link, delete), and a user's own password. The
//! server functions of `app::settings_fns` are thin wrappers around these.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

use crate::model::{UserInfo, Website, WebsiteForm};
use crate::server::auth;
use crate::server::error::AppError;
use crate::server::live::Revoked;
use crate::server::login;
use crate::server::state::AppState;
use crate::server::store::{StoreError, UserRow};

/// Setup links are valid this long.
const SETUP_LINK_DAYS: i64 = 7;
const SETUP_TOKEN_PREFIX: &str = "psetup_";

fn invalid(msg: impl Into<String>) -> AppError {
    AppError::InvalidPayload(msg.into())
}

fn list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// A hostname as typed: lower-case letters, digits, dots and dashes (`*` or a `*.` prefix in
/// allowed hostnames).
fn is_hostname(h: &str) -> bool {
    let h = h.strip_prefix("*.").unwrap_or(h);
    !h.is_empty() && h.len() <= 253 && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// The website a form describes, checked field by field.
pub fn website_from_form(id: String, form: &WebsiteForm) -> Result<Website, AppError> {
    let domain = form.domain.trim().trim_end_matches('/').to_ascii_lowercase();
    let domain = domain.strip_prefix("https://").or_else(|| domain.strip_prefix("http://")).unwrap_or(&domain).to_string();
    if !is_hostname(&domain) || domain.starts_with("*.") {
        return Err(invalid("domain: give the website's host name, e.g. example.com"));
    }
    let name = form.name.trim();
    if name.chars().count() > 100 {
        return Err(invalid("name: at most 100 characters"));
    }
    let timezone = match form.timezone.trim() {
        "" => "UTC".to_string(),
        tz => tz.parse::<chrono_tz::Tz>().map_err(|_| invalid(format!("timezone: {tz:?} is not an IANA time zone such as Europe/Berlin")))?.name().to_string(),
    };
    let allowed_hostnames = list(&form.allowed_hostnames).into_iter().map(|h| h.to_ascii_lowercase()).collect::<Vec<_>>();
    if let Some(bad) = allowed_hostnames.iter().find(|h| *h != "*" && !is_hostname(h)) {
        return Err(invalid(format!("allowed hostnames: {bad:?} is not a host name")));
    }
    let url_params = list(&form.url_params);
    if let Some(bad) = url_params.iter().find(|p| p.len() > 64 || p.contains(['=', '&', '?', '#'])) {
        return Err(invalid(format!("kept URL parameters: {bad:?} is not a parameter name")));
    }
    Ok(Website {
        id,
        name: if name.is_empty() { domain.clone() } else { name.to_string() },
        domain,
        timezone,
        allowed_hostnames,
        url_params,
    })
}

/// Any logged-in user may add a website; they own it.
pub async fn create_website(state: &AppState, user: &UserRow, form: &WebsiteForm) -> Result<Website, AppError> {
    let site = website_from_form(uuid::Uuid::new_v4().to_string(), form)?;
    state.accounts.create_website(&site, Some(user.id)).await?;
    tracing::info!(by = user.id, website_id = %site.id, "website created");
    Ok(site)
}

pub async fn update_website(state: &AppState, user: &UserRow, id: &str, form: &WebsiteForm) -> Result<Website, AppError> {
    auth::website_managed(state, user, id).await?;
    let site = website_from_form(id.to_string(), form)?;
    state.accounts.update_website(&site).await?;
    state.sites.forget(id);
    tracing::info!(by = user.id, website_id = id, "website changed");
    Ok(site)
}

/// Deletes the website and its events; everyone watching it is told `forbidden`.
pub async fn delete_website(state: &AppState, user: &UserRow, id: &str) -> Result<(), AppError> {
    auth::website_managed(state, user, id).await?;
    state.accounts.delete_website(id).await?;
    state.sites.forget(id);
    state.revocations.announce(Revoked::Website { website_id: id.to_string() });
    tracing::info!(by = user.id, website_id = id, "website deleted");
    Ok(())
}

/// Websites the user may manage, for Settings.
pub async fn manageable_websites(state: &AppState, user: &UserRow) -> Result<Vec<Website>, AppError> {
    let all = state.accounts.websites_for(user).await?;
    if user.is_admin {
        return Ok(all); // a global admin manages every website: no check per website
    }
    let mut out = Vec::new();
    for site in all {
        if state.accounts.can_manage(user, &site.id).await? {
            out.push(site);
        }
    }
    Ok(out)
}

fn require_admin(user: &UserRow) -> Result<(), AppError> {
    if user.is_admin { Ok(()) } else { Err(AppError::Forbidden("managing users needs a global admin account".into())) }
}

pub async fn list_users(state: &AppState, admin: &UserRow) -> Result<Vec<UserInfo>, AppError> {
    require_admin(admin)?;
    Ok(state
        .accounts
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserInfo { id: u.id, pending_setup: u.password_hash.is_empty(), email: u.email, is_admin: u.is_admin })
        .collect())
}

/// Creates a user. Without a password the answer is a one-time setup link (valid
/// `SETUP_LINK_DAYS`) for them to choose one.
pub async fn create_user(
    state: &AppState,
    headers: &HeaderMap,
    admin: &UserRow,
    email: &str,
    password: Option<&str>,
    is_admin: bool,
) -> Result<Option<String>, AppError> {
    require_admin(admin)?;
    let email = email.trim();
    if !email.contains('@') || email.len() > 254 || email.contains(char::is_whitespace) {
        return Err(invalid(format!("email: {email:?} is not an email address")));
    }
    let hash = match password.filter(|p| !p.is_empty()) {
        Some(p) => {
            login::check_new_password(p)?;
            let p = p.to_string();
            tokio::task::spawn_blocking(move || auth::hash_password(&p))
                .await
                .map_err(|e| AppError::Internal(e.to_string()))?
                .map_err(|e| AppError::Internal(e.to_string()))?
        }
        None => String::new(),
    };
    let id = match state.accounts.create_user(email, &hash, is_admin).await {
        Ok(id) => id,
        Err(StoreError::AlreadyExists(_)) => return Err(AppError::Conflict(format!("a user with email {email:?} exists already"))),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(by = admin.id, user_id = id, is_admin, "user created");
    if !hash.is_empty() {
        return Ok(None);
    }
    let token = format!("{SETUP_TOKEN_PREFIX}{}", auth::random_hex(24));
    let expires = Utc::now().timestamp_millis() + SETUP_LINK_DAYS * 86_400_000;
    state.accounts.create_setup_link(id, &auth::secret_hash(&token), expires).await?;
    Ok(Some(format!("{}/setup/{token}", crate::server::public_url::base(&state.cfg, headers))))
}

/// Removes a user; their logins and live streams end at once.
pub async fn delete_user(state: &AppState, admin: &UserRow, user_id: i64) -> Result<(), AppError> {
    require_admin(admin)?;
    if user_id == admin.id {
        return Err(AppError::Conflict("you cannot delete your own account".into()));
    }
    if !state.accounts.delete_user(user_id).await? {
        return Err(AppError::NotFound(format!("no user with id {user_id}")));
    }
    state.revocations.announce(Revoked::User { user_id });
    tracing::info!(by = admin.id, user_id, "user deleted");
    Ok(())
}

/// The account a setup link is for, while it is valid.
pub async fn setup_link_user(state: &AppState, token: &str) -> Result<UserRow, AppError> {
    state
        .accounts
        .setup_link_user(&auth::secret_hash(token), Utc::now().timestamp_millis())
        .await?
        .ok_or_else(|| AppError::NotFound("this setup link was used, has expired or never existed; ask an admin for a new one".into()))
}

/// `POST /api/auth/setup` (form `token`, `password`): sets the first password of an account
/// created with a setup link, logs in and goes to the website list.
pub async fn setup_handler(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut token = String::new();
    let mut password = String::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        match &*k {
            "token" => token = v.into_owned(),
            "password" => password = v.into_owned(),
            _ => {}
        }
    }
    let back = |error: &str| {
        let e: String = url::form_urlencoded::byte_serialize(error.as_bytes()).collect();
        Redirect::to(&format!("/setup/{token}?error={e}")).into_response()
    };
    let user = match setup_link_user(&state, &token).await {
        Ok(u) => u,
        Err(e) => return back(&e.to_string()),
    };
    match login::set_password(&state, &headers, &user, &password).await {
        Ok(cookies) => {
            let mut r = Redirect::to("/").into_response();
            for c in cookies {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r
        }
        Err(AppError::InvalidPayload(m)) => back(&m),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(domain: &str, tz: &str, hosts: &str) -> WebsiteForm {
        WebsiteForm { domain: domain.into(), name: String::new(), timezone: tz.into(), allowed_hostnames: hosts.into(), url_params: "ref, page".into() }
    }

    #[test]
    fn forms_are_checked_and_normalised() {
        let site = website_from_form("w".into(), &form("https://Shop.Example.com/", "Europe/Berlin", "*.cdn.example, www.shop.example")).unwrap();
        assert_eq!((site.domain.as_str(), site.name.as_str(), site.timezone.as_str()), ("shop.example.com", "shop.example.com", "Europe/Berlin"));
        assert_eq!(site.allowed_hostnames, ["*.cdn.example", "www.shop.example"]);
        assert_eq!(site.url_params, ["ref", "page"]);
        assert!(website_from_form("w".into(), &form("", "UTC", "")).unwrap_err().to_string().starts_with("domain"));
        assert!(website_from_form("w".into(), &form("a.com", "Mars/Olympus", "")).unwrap_err().to_string().starts_with("timezone"));
        assert!(website_from_form("w".into(), &form("a.com", "", "bad host")).is_ok(), "split on spaces");
        assert!(website_from_form("w".into(), &form("a.com", "", "b@d")).unwrap_err().to_string().starts_with("allowed"));
    }
}
