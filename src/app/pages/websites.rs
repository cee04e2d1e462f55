//! The website list: every website the user may watch, with its tracking snippet.

use leptos::prelude::*;

use super::{AppHeader, LoadError};
use crate::app::server_fns::{list_websites, public_base_url};
use crate::app::json_codec::resource;

super::lazy_page!(WebsitesRoute, WebsitesPage);

#[component]
fn WebsitesPage() -> impl IntoView {
    let sites = resource(|| (), |_| list_websites());
    let base = resource(|| (), |_| public_base_url());
    view! {
        <AppHeader/>
        <main class="mx-auto max-w-6xl px-4 py-8">
            <h1 class="text-2xl font-bold tracking-tight">"Websites"</h1>
            <Suspense fallback=|| view! { <p class="mt-6 text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    // without it the snippet still works when pasted on a page of this server
                    let base = base.await.unwrap_or_default();
                    match sites.await {
                        Err(e) => view! { <div class="mt-6"><LoadError message=e.to_string()/></div> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <p class="mt-6 text-slate-600 dark:text-slate-300">
                                "No websites yet. Add one in "
                                <a href="/settings" class="font-semibold text-indigo-600 hover:underline dark:text-indigo-400">"Settings"</a>
                                " (or with "<code class="rounded bg-slate-100 px-1 dark:bg-slate-800">"pulse site add --domain example.com"</code>")."
                            </p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul class="mt-6 grid gap-4 sm:grid-cols-2 lg:grid-cols-3" data-testid="websites">
                                {list.into_iter().map(|site| {
                                    let snippet = format!(r#"<script defer src="{base}/tracker.js" data-website-id="{}"></script>"#, site.id);
                                    view! {
                                        <li class="rounded-2xl border border-slate-200 bg-white p-5 shadow-sm transition hover:shadow-md dark:border-slate-800 dark:bg-slate-900">
                                            <a href=format!("/websites/{}", site.id) class="block">
                                                <h2 class="text-lg font-semibold">{site.name.clone()}</h2>
                                                <p class="text-sm text-slate-500 dark:text-slate-400">{site.domain.clone()}</p>
                                            </a>
                                            <label class="mt-4 block text-xs font-medium text-slate-500 dark:text-slate-400">
                                                "Tracking snippet"
                                                <input readonly class="mt-1 w-full truncate rounded-lg border border-slate-200 bg-slate-50 px-2 py-1 font-mono text-xs text-slate-700 dark:border-slate-700 dark:bg-slate-950 dark:text-slate-300"
                                                    value=snippet/>
                                            </label>
                                            <a href=format!("/websites/{}", site.id)
                                                class="mt-4 inline-flex items-center gap-1 text-sm font-semibold text-indigo-600 hover:underline dark:text-indigo-400">
                                                "Open realtime →"
                                            </a>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}
