//! Server functions the pages call (under `/rpc`, clear of the hand-written `/api` routes).
//! Each one authenticates the request itself and fails with a typed `UiError`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::model::{LiveMessage, UiError, Website};

/// The logged-in user, as the header shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    pub email: String,
    pub is_admin: bool,
}

#[cfg(feature = "ssr")]
pub(crate) fn state() -> Result<crate::server::state::AppState, UiError> {
    use_context::<crate::server::state::AppState>().ok_or_else(|| UiError::Failed("server state missing".into()))
}

#[cfg(feature = "ssr")]
pub(crate) async fn request_parts() -> Result<axum::http::request::Parts, UiError> {
    leptos_axum::extract().await.map_err(|e| UiError::Failed(e.to_string()))
}

#[cfg(feature = "ssr")]
pub(crate) async fn current_user() -> Result<(crate::server::state::AppState, crate::server::store::UserRow), UiError> {
    let state = state()?;
    let parts = request_parts().await?;
    let auth = crate::server::auth::authenticate_user(&state, &parts.headers, &parts.uri).await?;
    Ok((state, auth.user))
}

/// Who is logged in.
#[server(prefix = "/rpc", input = server_fn::codec::Json)]
pub async fn me() -> Result<SessionUser, UiError> {
    let (_, user) = current_user().await?;
    Ok(SessionUser { email: user.email, is_admin: user.is_admin })
}

/// Websites the logged-in user may watch.
#[server(prefix = "/rpc")]
pub async fn list_websites() -> Result<Vec<Website>, UiError> {
    let (state, user) = current_user().await?;
    Ok(state.accounts.websites_for(&user).await?)
}

/// The address tracked sites reach this server at, for the tracking snippet (see
/// `server::public_url`).
#[server(prefix = "/rpc")]
pub async fn public_base_url() -> Result<String, UiError> {
    let state = state()?;
    let parts = request_parts().await?;
    Ok(crate::server::public_url::base(&state.cfg, &parts.headers))
}

/// What a live page (a website's Realtime tab, or a share link) opens with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LivePage {
    pub website: Website,
    /// Its current live snapshot, for the first paint.
    pub snapshot: LiveMessage,
    /// The logged-in user's email, for the header; none through a share link.
    pub viewer: Option<String>,
}

/// One website and its current live snapshot, for the first paint of the Realtime tab.
#[server(prefix = "/rpc", input = server_fn::codec::Json)]
pub async fn website_live(website_id: String) -> Result<LivePage, UiError> {
    let (state, user) = current_user().await?;
    let website = crate::server::auth::visible_website(&state, &user, &website_id).await?;
    live_page(&state, website, Some(user.email)).await
}

/// The website a share link opens and its live snapshot: no login needed, the link is the key.
#[server(prefix = "/rpc", input = server_fn::codec::Json)]
pub async fn shared_live(token: String) -> Result<LivePage, UiError> {
    let state = state()?;
    let crate::server::auth::Principal::Share { website_id, .. } =
        crate::server::auth::share_of_token(&state, &token).await?
    else {
        return Err(UiError::Unauthorized("not a share link".into()));
    };
    let website = state
        .accounts
        .website(&website_id)
        .await?
        .ok_or_else(|| UiError::NotFound("the shared website no longer exists".into()))?;
    live_page(&state, website, None).await
}

/// `website` with its live snapshot.
#[cfg(feature = "ssr")]
async fn live_page(
    state: &crate::server::state::AppState,
    website: Website,
    viewer: Option<String>,
) -> Result<LivePage, UiError> {
    let snapshot = state.hub.snapshot(&website.id).await.map_err(crate::server::error::AppError::from)?;
    Ok(LivePage { website, snapshot, viewer })
}
