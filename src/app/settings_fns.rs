//! Server functions of the Settings pages: thin wrappers around `server::settings`,
//! `server::members` and `server::share`, which check who may do what.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::server_fns::{current_user, request_parts};
#[cfg(feature = "ssr")]
use crate::model::{MemberRole, WebsiteForm};
use crate::model::{Membership, ShareLink, UiError, UserInfo, Website};

/// One website's settings: itself, its members and whether a share link is active.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebsiteSettings {
    pub site: Website,
    pub members: Vec<Membership>,
    pub has_share: bool,
    /// The tracking snippet, with this server's public address.
    pub snippet: String,
}

/// Websites the user may manage.
#[server(prefix = "/rpc")]
pub async fn settings_websites() -> Result<Vec<Website>, UiError> {
    let (state, user) = current_user().await?;
    Ok(crate::server::settings::manageable_websites(&state, &user).await?)
}

#[server(prefix = "/rpc")]
pub async fn add_website(domain: String, name: String, timezone: String) -> Result<Website, UiError> {
    let (state, user) = current_user().await?;
    let form = WebsiteForm { domain, name, timezone, ..WebsiteForm::default() };
    Ok(crate::server::settings::create_website(&state, &user, &form).await?)
}

#[server(prefix = "/rpc")]
pub async fn save_website(
    website_id: String,
    domain: String,
    name: String,
    timezone: String,
    allowed_hostnames: String,
    url_params: String,
) -> Result<Website, UiError> {
    let (state, user) = current_user().await?;
    let form = WebsiteForm { domain, name, timezone, allowed_hostnames, url_params };
    Ok(crate::server::settings::update_website(&state, &user, &website_id, &form).await?)
}

#[server(prefix = "/rpc")]
pub async fn remove_website(website_id: String) -> Result<(), UiError> {
    let (state, user) = current_user().await?;
    Ok(crate::server::settings::delete_website(&state, &user, &website_id).await?)
}

#[server(prefix = "/rpc")]
pub async fn website_access(website_id: String) -> Result<WebsiteSettings, UiError> {
    let (state, user) = current_user().await?;
    crate::server::auth::website_managed(&state, &user, &website_id).await?;
    let site = state.accounts.website(&website_id).await?.ok_or_else(|| UiError::NotFound("no such website".into()))?;
    let parts = request_parts().await?;
    let base = crate::server::public_url::base(&state.cfg, &parts.headers);
    Ok(WebsiteSettings {
        snippet: format!(r#"<script defer src="{base}/tracker.js" data-website-id="{}"></script>"#, site.id),
        members: state.accounts.members(&website_id).await?,
        has_share: state.accounts.has_share(&website_id).await?,
        site,
    })
}

#[server(prefix = "/rpc")]
pub async fn add_member(website_id: String, email: String, role: String) -> Result<Membership, UiError> {
    let (state, user) = current_user().await?;
    let role = MemberRole::parse(&role).ok_or_else(|| UiError::Invalid("role: viewer or admin".into()))?;
    Ok(crate::server::members::grant_member(&state, &user, &website_id, &email, role).await?)
}

#[server(prefix = "/rpc")]
pub async fn remove_member(website_id: String, email: String) -> Result<(), UiError> {
    let (state, user) = current_user().await?;
    Ok(crate::server::members::revoke_member(&state, &user, &website_id, &email).await?)
}

#[server(prefix = "/rpc")]
pub async fn make_share_link(website_id: String) -> Result<ShareLink, UiError> {
    let (state, user) = current_user().await?;
    let parts = request_parts().await?;
    Ok(crate::server::share::create(&state, &parts.headers, &user, &website_id).await?)
}

#[server(prefix = "/rpc")]
pub async fn remove_share_link(website_id: String) -> Result<(), UiError> {
    let (state, user) = current_user().await?;
    crate::server::share::revoke(&state, &user, &website_id).await?;
    Ok(())
}

#[server(prefix = "/rpc")]
pub async fn list_users() -> Result<Vec<UserInfo>, UiError> {
    let (state, user) = current_user().await?;
    Ok(crate::server::settings::list_users(&state, &user).await?)
}

/// Creates a user; without a password, answers their one-time setup link.
#[server(prefix = "/rpc")]
pub async fn add_user(email: String, password: String, #[server(default)] admin: bool) -> Result<Option<String>, UiError> {
    let (state, user) = current_user().await?;
    let parts = request_parts().await?;
    let password = Some(password.as_str()).filter(|p| !p.is_empty());
    Ok(crate::server::settings::create_user(&state, &parts.headers, &user, &email, password, admin).await?)
}

#[server(prefix = "/rpc")]
pub async fn remove_user(user_id: i64) -> Result<(), UiError> {
    let (state, user) = current_user().await?;
    Ok(crate::server::settings::delete_user(&state, &user, user_id).await?)
}

/// Changes the logged-in user's password: every other login ends; this browser gets a new one.
#[server(prefix = "/rpc")]
pub async fn change_password(current: String, new_password: String) -> Result<(), UiError> {
    let (state, user) = current_user().await?;
    let parts = request_parts().await?;
    crate::server::login::check_password(&state, &user.email, &current)
        .await
        .map_err(|_| UiError::Invalid("current password: that is not your password".into()))?;
    let cookies = crate::server::login::set_password(&state, &parts.headers, &user, &new_password).await?;
    let response = expect_context::<leptos_axum::ResponseOptions>();
    for c in cookies {
        response.append_header(axum::http::header::SET_COOKIE, c);
    }
    Ok(())
}

/// The email of the account a setup link is for.
#[server(prefix = "/rpc")]
pub async fn setup_link_email(token: String) -> Result<String, UiError> {
    let state = super::server_fns::state()?;
    Ok(crate::server::settings::setup_link_user(&state, &token).await?.email)
}
