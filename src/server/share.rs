//! Share links (contract §4): `POST /api/websites/{id}/share` → `{token, url}` makes the
//! website's one read-only link (a new one replaces the old), `DELETE` revokes it. The token
//! opens that website's live stream and its Realtime page at `/share/{token}` — nothing else:
//! no other website, no history, no admin action. Revoking ends the streams opened with it at
//! once. Only a hash of the token is stored.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::model::ShareLink;
use crate::server::auth::{self, AuthUser, SHARE_TOKEN_PREFIX};
use crate::server::error::AppError;
use crate::server::live::Revoked;
use crate::server::state::AppState;
use crate::server::store::UserRow;

/// Makes a new share link for the website (revoking the previous one).
pub async fn create(state: &AppState, headers: &HeaderMap, user: &UserRow, website_id: &str) -> Result<ShareLink, AppError> {
    auth::website_managed(state, user, website_id).await?;
    let token = format!("{SHARE_TOKEN_PREFIX}{}", auth::random_hex(24));
    state.accounts.set_share(website_id, &auth::secret_hash(&token)).await?;
    // streams opened with the old link end
    state.revocations.announce(Revoked::Share { website_id: website_id.to_string() });
    tracing::info!(by = user.id, website_id, "share link created");
    let url = format!("{}/share/{token}", crate::server::public_url::base(&state.cfg, headers));
    Ok(ShareLink { token, url })
}

/// Revokes the website's share link; `false` if it had none.
pub async fn revoke(state: &AppState, user: &UserRow, website_id: &str) -> Result<bool, AppError> {
    auth::website_managed(state, user, website_id).await?;
    let had = state.accounts.delete_share(website_id).await?;
    state.revocations.announce(Revoked::Share { website_id: website_id.to_string() });
    tracing::info!(by = user.id, website_id, had, "share link revoked");
    Ok(had)
}

/// `POST /api/websites/{website_id}/share` → `200 {token, url}`.
pub async fn create_handler(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    Path(website_id): Path<String>,
) -> Result<Json<ShareLink>, AppError> {
    Ok(Json(create(&state, &headers, &user, &website_id).await?))
}

/// `DELETE /api/websites/{website_id}/share` → `204`, or `404` when there is no link.
pub async fn revoke_handler(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(website_id): Path<String>,
) -> Result<Response, AppError> {
    if revoke(&state, &user, &website_id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::NotFound(format!("website {website_id:?} has no share link")))
    }
}
