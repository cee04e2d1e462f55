//! `VisitorCounter`: the big live number of current visitors.

use leptos::prelude::*;

use super::CARD;
use crate::app::realtime_state::Realtime;

#[component]
pub fn VisitorCounter(rt: Realtime) -> impl IntoView {
    let visitors = Memo::new(move |_| rt.stats.with(|s| s.current_visitors));
    let pageviews = Memo::new(move |_| rt.stats.with(|s| s.pageviews_last_30m));
    view! {
        <section class=CARD aria-labelledby="visitors-title">
            <h2 id="visitors-title" class="text-sm font-medium text-slate-600 dark:text-slate-400">
                "Current visitors"
            </h2>
            <p class="mt-2 flex items-baseline gap-3">
                <span
                    data-testid="visitor-count"
                    class="text-6xl font-bold tabular-nums tracking-tight text-slate-900 dark:text-white"
                >
                    {visitors}
                </span>
                <span class="text-sm text-slate-600 dark:text-slate-400">"in the last 5 minutes"</span>
            </p>
            <p class="mt-3 text-sm text-slate-600 dark:text-slate-300">
                <span data-testid="pageviews-30m" class="font-semibold tabular-nums">{pageviews}</span>
                " pageviews in the last 30 minutes"
            </p>
        </section>
    }
}
