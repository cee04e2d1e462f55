//! `ActivePages`: where current visitors are right now, largest first. Rows are keyed by path,
//! so a page whose count changes keeps its row and its bar animates to the new width.

use leptos::prelude::*;

use super::{BarRow, KeyedList, CARD};
use crate::app::realtime_state::Realtime;

#[component]
pub fn ActivePages(rt: Realtime) -> impl IntoView {
    let pages = Memo::new(move |_| rt.stats.with(|s| s.active_pages.clone()));
    let total = Memo::new(move |_| rt.stats.with(|s| s.current_visitors.max(1)));
    // a memo, so the list is rebuilt only when it appears or goes, not on every update
    let empty = Memo::new(move |_| pages.with(|p| p.is_empty()));
    let visitors_on = move |path: &str| pages.with(|p| p.iter().find(|x| x.path == path).map_or(0, |x| x.visitors));
    let paths = Signal::derive(move || pages.with(|p| p.iter().map(|x| x.path.clone()).collect()));
    let row = Callback::new(move |path: String| {
        let count = {
            let path = path.clone();
            Memo::new(move |_| visitors_on(&path))
        };
        let label = path.clone();
        view! {
            <li class="relative overflow-hidden rounded-lg" data-path=path>
                <BarRow
                    percent=Signal::derive(move || count.get() as f64 / total.get() as f64 * 100.0)
                    bar="bg-emerald-100 dark:bg-emerald-900/40"
                >
                    <span class="truncate font-mono text-slate-800 dark:text-slate-200">{label}</span>
                    <span class="font-semibold tabular-nums" data-testid="page-visitors">{move || count.get()}</span>
                </BarRow>
            </li>
        }
        .into_any()
    });
    view! {
        <section class=CARD aria-labelledby="pages-title">
            <h2 id="pages-title" class="text-sm font-medium text-slate-600 dark:text-slate-400">"Active pages"</h2>
            {move || if empty.get() {
                view! { <p class="mt-4 text-sm text-slate-500 dark:text-slate-400">"Nobody is on the site right now."</p> }.into_any()
            } else { view! {
                <ul class="mt-3 space-y-2" data-testid="active-pages">
                    <KeyedList keys=paths row/>
                </ul>
            }.into_any() }}
        </section>
    }
}
