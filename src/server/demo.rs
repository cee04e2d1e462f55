//! First start: a demo admin and a demo website, with the login and the snippet printed.
//! Also serves `/demo`, a small page that embeds the tracker so a person can click around and
//! watch themselves arrive on the Realtime page.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::model::Website;
use crate::server::auth;
use crate::server::state::AppState;
use crate::server::store::AccountStore;

pub const DEMO_EMAIL: &str = "admin@pulse.local";
const DEMO_SITE_KEY: &str = "demo_website_id";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Store(#[from] crate::server::store::StoreError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
}

/// Creates the demo admin and website when the store has no users. The password is
/// `PULSE_DEMO_PASSWORD` or a random one, printed once.
pub async fn ensure_demo(accounts: &dyn AccountStore, base_url: &str) -> Result<(), DemoError> {
    if accounts.count_users().await? > 0 {
        if let Some(site) = accounts.setting(DEMO_SITE_KEY).await? {
            println!("Pulse demo website: {site}  (demo page: {base_url}/demo)");
        }
        return Ok(());
    }
    let password = std::env::var("PULSE_DEMO_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..16].to_string());
    let hash = tokio::task::spawn_blocking({
        let p = password.clone();
        move || auth::hash_password(&p)
    })
    .await
    .map_err(|e| crate::server::store::StoreError::Task(e.to_string()))??;
    let owner = accounts.create_user(DEMO_EMAIL, &hash, true).await?;
    // the demo website takes events from any page host (the demo page, scripts, curl): a real
    // website accepts only its domain and subdomains
    let site = Website {
        allowed_hostnames: vec!["*".into()],
        ..Website::new(uuid::Uuid::new_v4().to_string(), "localhost", "Pulse demo")
    };
    accounts.create_website(&site, Some(owner)).await?;
    accounts.set_setting(DEMO_SITE_KEY, &site.id).await?;
    println!(
        "\n  Pulse is set up with a demo account (shown once; keep it):\n\n    login:    {base_url}/login\n    email:    {DEMO_EMAIL}\n    password: {password}\n\n  Demo website {id}. Click around {base_url}/demo and watch it live.\n  Snippet for your own pages:\n    <script defer src=\"{base_url}/tracker.js\" data-website-id=\"{id}\"></script>\n",
        id = site.id
    );
    Ok(())
}

#[derive(Deserialize)]
pub struct DemoQuery {
    website_id: Option<String>,
}

pub async fn demo_page(State(state): State<AppState>, Query(q): Query<DemoQuery>) -> Response {
    let site = match q.website_id {
        Some(s) => Some(s),
        None => state.accounts.setting(DEMO_SITE_KEY).await.ok().flatten(),
    };
    let Some(site) = site.filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')) else {
        return Html("<p>No demo website: pass <code>?website_id=…</code>.</p>").into_response();
    };
    Html(DEMO_HTML.replace("{WEBSITE_ID}", &site)).into_response()
}

const DEMO_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pulse demo shop</title>
<script defer src="/tracker.js" data-website-id="{WEBSITE_ID}" data-allow-localhost="true"></script>
<style>
 body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1e293b}
 nav a{margin-right:1rem} button{padding:.5rem 1rem;border-radius:.5rem;border:1px solid #94a3b8;background:#f8fafc;cursor:pointer}
 @media (prefers-color-scheme: dark){body{background:#0f172a;color:#e2e8f0} button{background:#1e293b;color:#e2e8f0}}
</style>
</head>
<body>
<h1>Demo shop</h1>
<p>This page embeds Pulse's tracker. Navigate (single-page app style, with <code>pushState</code>)
and press the button, then watch the Realtime page.</p>
<nav aria-label="Demo pages">
 <a href="/demo" data-nav>Home</a><a href="/demo/pricing" data-nav>Pricing</a><a href="/demo/blog" data-nav>Blog</a><a href="/demo/docs" data-nav>Docs</a>
</nav>
<h2 id="where">/demo</h2>
<button id="signup" type="button">Sign up (custom event)</button>
<script>
 document.querySelectorAll('[data-nav]').forEach(a => a.addEventListener('click', e => {
   e.preventDefault(); history.pushState({}, '', a.getAttribute('href'));
   document.getElementById('where').textContent = location.pathname;
 }));
 addEventListener('popstate', () => { document.getElementById('where').textContent = location.pathname; });
 document.getElementById('signup').addEventListener('click', () => window.pulse && window.pulse.track('signup', {plan: 'pro'}));
</script>
</body>
</html>
"#;
