//! Server functions of the Analytics tab: the report for the tab's URL query (period, range,
//! filters), and its raw events a page at a time. Parameters are checked by
//! `server::analytics`, exactly as the REST endpoint checks them.

use leptos::prelude::*;

use crate::model::{AnalyticsView, EventList, UiError};

#[server(prefix = "/rpc")]
pub async fn analytics_report(website_id: String, query: String) -> Result<AnalyticsView, UiError> {
    let (state, user) = super::server_fns::current_user().await?;
    let site = crate::server::auth::visible_website(&state, &user, &website_id).await?;
    Ok(crate::server::analytics::view::build(&state, &site, &query).await?)
}

#[server(prefix = "/rpc")]
pub async fn analytics_events(website_id: String, query: String, cursor: Option<String>) -> Result<EventList, UiError> {
    let (state, user) = super::server_fns::current_user().await?;
    let site = crate::server::auth::visible_website(&state, &user, &website_id).await?;
    let cursor = cursor.as_deref().filter(|c| !c.is_empty()).map(crate::server::history::decode_cursor).transpose()?;
    Ok(crate::server::analytics::view::events(&state, &site, &query, cursor, 25).await?)
}
