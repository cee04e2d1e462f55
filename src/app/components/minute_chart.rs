//! `MinuteChart`: pageviews per minute over the last 30 minutes, as bars.

use leptos::prelude::*;

use super::CARD;
use crate::app::realtime_state::Realtime;

#[component]
pub fn MinuteChart(rt: Realtime) -> impl IntoView {
    let bars = move || {
        rt.feed.with(|f| {
            let max = f.stats.per_minute.iter().copied().max().unwrap_or(0).max(1);
            let n = f.stats.per_minute.len();
            f.stats
                .per_minute
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let pct = (*v as f64 / max as f64 * 100.0).max(if *v > 0 { 4.0 } else { 1.0 });
                    let ago = n - 1 - i;
                    let label = if ago == 0 { format!("{v} this minute") } else { format!("{v}, {ago} min ago") };
                    view! {
                        <div class="flex h-full flex-1 items-end" title=label.clone()>
                            <div
                                class="w-full rounded-t bg-indigo-500/80 transition-all duration-500 dark:bg-indigo-400/80"
                                style=format!("height: {pct:.1}%")
                            ></div>
                        </div>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <section class=CARD aria-labelledby="chart-title">
            <h2 id="chart-title" class="text-sm font-medium text-slate-500 dark:text-slate-400">
                "Pageviews per minute"
            </h2>
            <div class="mt-4 flex h-28 items-end gap-[3px]" role="img" aria-label="Pageviews per minute, last 30 minutes">
                {bars}
            </div>
            <div class="mt-1 flex justify-between text-xs text-slate-400">
                <span>"30 min ago"</span>
                <span>"now"</span>
            </div>
        </section>
    }
}
