//! One website: tabs Realtime and Analytics (`?tab=analytics`). The Realtime panel stays
//! mounted under Analytics, and its live connection drives both.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::analytics::AnalyticsPanel;
use super::realtime::RealtimePanel;
use crate::app::json_codec::resource;

/// The Analytics tab, loaded lazily: its code is a separate WASM module (`cargo leptos
/// --split`) fetched the first time the tab opens, so the Realtime page's first load does not
/// carry it.
#[lazy]
fn analytics_tab(website_id: String, ticks: RwSignal<u64>) -> AnyView {
    view! { <AnalyticsPanel website_id ticks=ticks.into()/> }.into_any()
}
use super::{AppHeader, LoadError};
use crate::app::server_fns::website_live;

#[component]
pub fn WebsitePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let analytics = move || query.with(|q| q.get("tab").as_deref() == Some("analytics"));
    let data = resource(id, website_live);
    // every live event of the website, counted: the Analytics tab refreshes on it
    let ticks = RwSignal::new(0u64);
    // the Analytics tab renders in the browser only (its code is a lazily loaded module: the
    // server sends a placeholder, which the page hydrates, then the tab loads and renders)
    let in_browser = RwSignal::new(false);
    Effect::new(move |_| in_browser.set(true));
    let tab = move |active: bool| {
        if active {
            "border-b-2 border-indigo-600 px-1 pb-2 font-semibold text-indigo-700 dark:border-indigo-400 dark:text-indigo-300"
        } else {
            "border-b-2 border-transparent px-1 pb-2 text-slate-500 hover:text-slate-800 dark:text-slate-400 dark:hover:text-slate-200"
        }
    };
    view! {
        <AppHeader/>
        <main class="mx-auto max-w-6xl px-4 py-6">
            <Suspense fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                        Ok((site, snapshot)) => {
                            let site_id = site.id.clone();
                            let analytics_id = StoredValue::new(site.id.clone());
                            view! {
                                <div class="mb-4 flex flex-wrap items-end justify-between gap-3">
                                    <div>
                                        <a href="/" class="text-sm text-slate-500 hover:underline dark:text-slate-400">"← Websites"</a>
                                        <h1 class="text-2xl font-bold tracking-tight" data-testid="site-name">{site.name.clone()}</h1>
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
                                    <RealtimePanel website_id=site.id.clone() snapshot=snapshot.clone() ticks/>
                                </div>
                                <Show when=move || analytics() && in_browser.get()
                                    fallback=move || analytics().then(|| view! { <p class="text-slate-500">"Loading Analytics…"</p> })>
                                    <Suspense fallback=|| view! { <p class="text-slate-500">"Loading Analytics…"</p> }>
                                        {move || {
                                            let id = analytics_id.get_value();
                                            Suspend::new(async move { analytics_tab(id, ticks).await })
                                        }}
                                    </Suspense>
                                </Show>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </main>
    }
}
