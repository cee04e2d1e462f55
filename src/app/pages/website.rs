//! A website's live page, opened two ways: `/websites/{id}` when logged in, with tabs Realtime
//! and Analytics (`?tab=analytics`), and `/share/{token}` through a read-only share link, with
//! Realtime alone and no navigation to anything else. One component serves both routes, so
//! the browser carries its loading and hydration code once. The Realtime panel stays mounted
//! under Analytics, and its live connection drives both.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::analytics::AnalyticsPanel;
use super::realtime::RealtimePanel;
use super::{HeaderBar, LoadError, Viewer};
use crate::app::json_codec::resource;
use crate::app::server_fns::{shared_live, website_live, LivePage};
use crate::model::UiError;

/// The Analytics tab, loaded lazily: its code is a separate WASM module (`cargo leptos
/// --split`) fetched the first time the tab opens, so the Realtime page's first load does not
/// carry it.
#[lazy]
fn analytics_tab(website_id: String, ticks: RwSignal<u64>) -> AnyView {
    view! { <AnalyticsPanel website_id ticks=ticks.into()/> }.into_any()
}

/// What a live page was opened with.
#[derive(Clone, PartialEq)]
enum Opened {
    /// A website's id, by a logged-in user.
    Website(String),
    /// A share link's token.
    Share(String),
}

async fn load(opened: Opened) -> Result<LivePage, UiError> {
    match opened {
        Opened::Website(id) => website_live(id).await,
        Opened::Share(token) => shared_live(token).await,
    }
}

/// `/websites/{id}`.
#[component]
pub fn WebsitePage() -> impl IntoView {
    view! { <LiveWebsite shared=false/> }
}

/// `/share/{token}`.
#[component]
pub fn SharedPage() -> impl IntoView {
    view! { <LiveWebsite shared=true/> }
}

#[component]
fn LiveWebsite(shared: bool) -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let opened = move || {
        params.with(|p| {
            if shared {
                Opened::Share(p.get("token").unwrap_or_default())
            } else {
                Opened::Website(p.get("id").unwrap_or_default())
            }
        })
    };
    // memos: other query changes (the Analytics tab keeps its filters in the URL) leave the
    // tabs alone
    let on_analytics = Memo::new(move |_| !shared && query.with(|q| q.get("tab").as_deref() == Some("analytics")));
    let analytics = move || on_analytics.get();
    let data = resource(opened, load);
    // every live event of the website, counted: the Analytics tab refreshes on it
    let ticks = RwSignal::new(0u64);
    // the Analytics tab renders in the browser only (its code is a lazily loaded module: the
    // server sends a placeholder, which the page hydrates, then the tab loads and renders)
    let in_browser = RwSignal::new(false);
    Effect::new(move |_| in_browser.set(true));
    let show_analytics = Memo::new(move |_| analytics() && in_browser.get());
    let tab = move |active: bool| {
        if active {
            "border-b-2 border-indigo-600 px-1 pb-2 font-semibold text-indigo-700 dark:border-indigo-400 dark:text-indigo-300"
        } else {
            "border-b-2 border-transparent px-1 pb-2 text-slate-500 hover:text-slate-800 dark:text-slate-400 dark:hover:text-slate-200"
        }
    };
    let header = if shared {
        view! {
            <header class="border-b border-slate-200 bg-white/80 dark:border-slate-800 dark:bg-slate-900/80">
                <div class="mx-auto flex max-w-6xl items-center justify-between px-4 py-3">
                    <span class="flex items-center gap-2 text-lg font-bold tracking-tight">
                        <span class="inline-block h-3 w-3 rounded-full bg-emerald-500"></span>"Pulse"
                    </span>
                    <span class="rounded-full bg-slate-100 px-3 py-1 text-xs font-semibold text-slate-600 dark:bg-slate-800 dark:text-slate-300">
                        "Shared view · read-only"
                    </span>
                </div>
            </header>
        }
        .into_any()
    } else {
        view! {
            <HeaderBar>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        data.await.ok().and_then(|d| d.viewer).map(|email| view! { <Viewer email/> })
                    })}
                </Suspense>
            </HeaderBar>
        }
        .into_any()
    };
    view! {
        {header}
        <main class="mx-auto max-w-6xl px-4 py-6">
            <Suspense fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let LivePage { website: site, snapshot, .. } = match data.await {
                        Err(e) => return view! { <LoadError message=e.to_string()/> }.into_any(),
                        Ok(page) => page,
                    };
                    let heading = view! {
                        <h1 class="text-2xl font-bold tracking-tight" data-testid="site-name">{site.name.clone()}</h1>
                    };
                    if let Opened::Share(token) = opened() {
                        return view! {
                            <div class="mb-4">
                                {heading}
                                <p class="text-sm text-slate-500 dark:text-slate-400">{site.domain.clone()}" · Realtime"</p>
                            </div>
                            <RealtimePanel website_id=site.id.clone() snapshot share_token=token/>
                        }
                        .into_any();
                    }
                    let site_id = site.id.clone();
                    let analytics_id = StoredValue::new(site.id.clone());
                    view! {
                        <div class="mb-4 flex flex-wrap items-end justify-between gap-3">
                            <div>
                                <a href="/" class="text-sm text-slate-500 hover:underline dark:text-slate-400">"← Websites"</a>
                                {heading}
                                <p class="text-sm text-slate-500 dark:text-slate-400">{site.domain.clone()}</p>
                            </div>
                            <nav class="flex gap-6 text-sm" aria-label="Website views">
                                <a href=format!("/websites/{site_id}") class=move || tab(!analytics())
                                    aria-current=move || (!analytics()).then_some("page")>"Realtime"</a>
                                <a href=format!("/websites/{site_id}?tab=analytics") class=move || tab(analytics())
                                    aria-current=move || analytics().then_some("page")>"Analytics"</a>
                            </nav>
                        </div>
                        // the Realtime panel stays mounted while Analytics shows, so its
                        // live state, connection and cursor survive switching tabs
                        <div class:hidden=analytics>
                            <RealtimePanel website_id=site.id.clone() snapshot ticks/>
                        </div>
                        {move || if show_analytics.get() {
                            view! {
                                <Suspense fallback=|| view! { <p class="text-slate-500">"Loading Analytics…"</p> }>
                                    {move || {
                                        let id = analytics_id.get_value();
                                        Suspend::new(async move { analytics_tab(id, ticks).await })
                                    }}
                                </Suspense>
                            }.into_any()
                        } else {
                            analytics().then(|| view! { <p class="text-slate-500">"Loading Analytics…"</p> }).into_any()
                        }}
                    }
                    .into_any()
                })}
            </Suspense>
        </main>
    }
}
