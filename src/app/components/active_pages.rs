//! `ActivePages`: where current visitors are right now, largest first; rows move as it changes.

use leptos::prelude::*;

use super::CARD;
use crate::app::realtime_state::Realtime;

#[component]
pub fn ActivePages(rt: Realtime) -> impl IntoView {
    let pages = move || rt.feed.with(|f| f.stats.active_pages.clone());
    let total = move || rt.feed.with(|f| f.stats.current_visitors.max(1));
    view! {
        <section class=CARD aria-labelledby="pages-title">
            <h2 id="pages-title" class="text-sm font-medium text-slate-500 dark:text-slate-400">"Active pages"</h2>
            <Show
                when=move || rt.feed.with(|f| !f.stats.active_pages.is_empty())
                fallback=|| view! { <p class="mt-4 text-sm text-slate-400">"Nobody is on the site right now."</p> }
            >
                <ul class="mt-3 space-y-2" data-testid="active-pages">
                    <For each=pages key=|p| (p.path.clone(), p.visitors) let:page>
                        <li class="relative overflow-hidden rounded-lg" data-path=page.path.clone()>
                            <div
                                class="absolute inset-y-0 left-0 rounded-lg bg-emerald-100 transition-all duration-500 dark:bg-emerald-900/40"
                                style=move || format!("width: {:.1}%", page.visitors as f64 / total() as f64 * 100.0)
                            ></div>
                            <div class="relative flex items-center justify-between px-3 py-1.5 text-sm">
                                <span class="truncate font-mono text-slate-700 dark:text-slate-200">{page.path.clone()}</span>
                                <span class="ml-3 font-semibold tabular-nums">{page.visitors}</span>
                            </div>
                        </li>
                    </For>
                </ul>
            </Show>
        </section>
    }
}
