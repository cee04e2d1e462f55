//! `/share/{token}`: a website's Realtime page opened with a read-only share link — no login,
//! no navigation to anything else.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::realtime::RealtimePanel;
use super::LoadError;
use crate::app::server_fns::shared_live;
use crate::app::json_codec::resource;

#[component]
pub fn SharedPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.with(|p| p.get("token").unwrap_or_default());
    let data = resource(token, shared_live);
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
        <main class="mx-auto max-w-6xl px-4 py-6">
            <Suspense fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                        Ok((site, snapshot)) => view! {
                            <div class="mb-4">
                                <h1 class="text-2xl font-bold tracking-tight" data-testid="site-name">{site.name.clone()}</h1>
                                <p class="text-sm text-slate-500 dark:text-slate-400">{site.domain.clone()}" · Realtime"</p>
                            </div>
                            <RealtimePanel website_id=site.id.clone() snapshot share_token=token()/>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}
