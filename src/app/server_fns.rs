//! Server functions the pages call (under `/rpc`, clear of the hand-written `/api` routes).
//! Each one authenticates the request itself.

use leptos::prelude::*;

use crate::model::{LiveMessage, Website};

#[cfg(feature = "ssr")]
async fn current_user() -> Result<(crate::server::state::AppState, crate::server::store::UserRow), ServerFnError> {
    let state = use_context::<crate::server::state::AppState>()
        .ok_or_else(|| ServerFnError::new("server state missing"))?;
    let parts: axum::http::request::Parts = leptos_axum::extract().await?;
    let user = crate::server::auth::authenticate(&state, &parts.headers, &parts.uri)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    Ok((state, user))
}

/// The email of the logged-in user.
#[server(prefix = "/rpc")]
pub async fn whoami() -> Result<String, ServerFnError> {
    let (_, user) = current_user().await?;
    Ok(user.email)
}

/// Websites the logged-in user may watch.
#[server(prefix = "/rpc")]
pub async fn list_websites() -> Result<Vec<Website>, ServerFnError> {
    let (state, user) = current_user().await?;
    state.accounts.websites_for(&user).await.map_err(|e| ServerFnError::new(e.to_string()))
}

/// The address tracked sites reach this server at, for the tracking snippet (see
/// `server::public_url`).
#[server(prefix = "/rpc")]
pub async fn public_base_url() -> Result<String, ServerFnError> {
    let state = use_context::<crate::server::state::AppState>()
        .ok_or_else(|| ServerFnError::new("server state missing"))?;
    let parts: axum::http::request::Parts = leptos_axum::extract().await?;
    Ok(crate::server::public_url::base(&state.cfg, &parts.headers))
}

/// One website and its current live snapshot, for the first paint of the Realtime tab.
#[server(prefix = "/rpc")]
pub async fn website_live(website_id: String) -> Result<(Website, LiveMessage), ServerFnError> {
    let (state, user) = current_user().await?;
    let site = state
        .accounts
        .website(&website_id)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?
        .ok_or_else(|| ServerFnError::new("no such website"))?;
    if !state.accounts.can_access(&user, &website_id).await.map_err(|e| ServerFnError::new(e.to_string()))? {
        return Err(ServerFnError::new("you have no access to this website"));
    }
    let snapshot = state.hub.snapshot(&website_id).await.map_err(|e| ServerFnError::new(e.to_string()))?;
    Ok((site, snapshot))
}
