//! Website access (contract §4): `PUT /api/websites/{id}/members/{email}` grants a role,
//! `DELETE` revokes it — and the user's open live streams of that website stop at once. Only
//! global admins, the website's owner and its `admin` members may change members.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::model::{GrantRequest, MemberRole, Membership};
use crate::server::auth::AuthUser;
use crate::server::error::AppError;
use crate::server::live::Revoked;
use crate::server::state::AppState;
use crate::server::store::UserRow;

/// The website is visible to `user` (`404`/`403`, see `auth::website_visible`) and they may manage
/// it (`403`); returns the member named.
async fn managed(state: &AppState, user: &UserRow, website_id: &str, email: &str) -> Result<UserRow, AppError> {
    crate::server::auth::website_managed(state, user, website_id).await?;
    state
        .accounts
        .user_by_email(email.trim())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user with email {email:?}; create it with `pulse user add`")))
}

/// Gives the user with `email` `role` on the website.
pub async fn grant_member(
    state: &AppState,
    user: &UserRow,
    website_id: &str,
    email: &str,
    role: MemberRole,
) -> Result<Membership, AppError> {
    let member = managed(state, user, website_id, email).await?;
    state.accounts.grant(website_id, member.id, role).await?;
    tracing::info!(by = user.id, user_id = member.id, website_id, role = role.as_str(), "access granted");
    Ok(Membership { website_id: website_id.to_string(), email: member.email, role })
}

/// Takes the membership of the user with `email` away; their live streams of the website stop
/// unless they keep access another way (owner, global admin).
pub async fn revoke_member(state: &AppState, user: &UserRow, website_id: &str, email: &str) -> Result<(), AppError> {
    let member = managed(state, user, website_id, email).await?;
    let had = state.accounts.revoke(website_id, member.id).await?;
    if !state.accounts.can_access(&member, website_id).await? {
        state.revocations.announce(Revoked::Membership { user_id: member.id, website_id: website_id.to_string() });
    }
    tracing::info!(by = user.id, user_id = member.id, website_id, had, "access revoked");
    Ok(())
}

/// `PUT /api/websites/{website_id}/members/{email}` `{role}` → `200 Membership`.
pub async fn grant(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((website_id, email)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Membership>, AppError> {
    // no body, `null` or `{}`: a viewer
    let req: GrantRequest = if body.iter().all(u8::is_ascii_whitespace) {
        GrantRequest::default()
    } else {
        serde_json::from_slice::<Option<GrantRequest>>(&body)
            .map_err(|e| AppError::InvalidPayload(format!("expected {{\"role\": \"viewer\" | \"admin\"}}: {e}")))?
            .unwrap_or_default()
    };
    let role = req.role.unwrap_or(MemberRole::Viewer);
    Ok(Json(grant_member(&state, &user, &website_id, &email, role).await?))
}

/// `DELETE /api/websites/{website_id}/members/{email}` → `204`; their streams of it stop.
pub async fn revoke(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((website_id, email)): Path<(String, String)>,
) -> Result<Response, AppError> {
    revoke_member(&state, &user, &website_id, &email).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
