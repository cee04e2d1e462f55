//! `MinuteChart`: pageviews per minute over the last 30 minutes, as bars. The 30 bars are made
//! once; a change moves only their heights. Screen readers get a summary of the numbers.

use leptos::prelude::*;

use super::CARD;
use crate::app::realtime_state::Realtime;
use crate::model::PER_MINUTE_BUCKETS;

/// "42 pageviews in the last 30 minutes; busiest minute 7 (3 minutes ago); 2 this minute."
pub fn chart_summary(per_minute: &[u64]) -> String {
    let total: u64 = per_minute.iter().sum();
    let n = per_minute.len();
    let now = per_minute.last().copied().unwrap_or(0);
    match per_minute.iter().enumerate().max_by_key(|(i, v)| (**v, *i)) {
        Some((i, peak)) if *peak > 0 => {
            let ago = n - 1 - i;
            let when = if ago == 0 { "this minute".to_string() } else { format!("{ago} minutes ago") };
            format!("{total} pageviews in the last 30 minutes; busiest minute {peak} ({when}); {now} this minute.")
        }
        _ => "No pageviews in the last 30 minutes.".to_string(),
    }
}

#[component]
pub fn MinuteChart(rt: Realtime) -> impl IntoView {
    let per_minute = Memo::new(move |_| rt.stats.with(|s| s.per_minute.clone()));
    let max = Memo::new(move |_| per_minute.with(|p| p.iter().copied().max().unwrap_or(0).max(1)));
    let value = move |i: usize| per_minute.with(|p| p.get(i).copied().unwrap_or(0));
    let bars = (0..PER_MINUTE_BUCKETS)
        .map(|i| {
            let ago = PER_MINUTE_BUCKETS - 1 - i;
            let height = move || {
                let v = value(i);
                (v as f64 / max.get() as f64 * 100.0).max(if v > 0 { 4.0 } else { 1.0 })
            };
            let label = move || {
                let v = value(i);
                if ago == 0 { format!("{v} this minute") } else { format!("{v}, {ago} min ago") }
            };
            view! {
                <div class="flex h-full flex-1 items-end" title=label>
                    <div
                        class="w-full rounded-t bg-indigo-500/80 transition-all duration-500 dark:bg-indigo-400/80"
                        style=move || format!("height: {:.1}%", height())
                    ></div>
                </div>
            }
        })
        .collect_view();
    view! {
        <section class=CARD aria-labelledby="chart-title">
            <h2 id="chart-title" class="text-sm font-medium text-slate-600 dark:text-slate-400">
                "Pageviews per minute"
            </h2>
            <div class="mt-4 flex h-28 items-end gap-[3px]" role="img" data-testid="minute-chart"
                aria-label=move || format!("Pageviews per minute, last 30 minutes: {}", per_minute.with(|p| chart_summary(p)))>
                {bars}
            </div>
            <div class="mt-1 flex justify-between text-xs text-slate-500 dark:text-slate-400" aria-hidden="true">
                <span>"30 min ago"</span>
                <span>"now"</span>
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::chart_summary;

    #[test]
    fn the_summary_names_total_peak_and_now() {
        let mut p = vec![0u64; 30];
        p[26] = 7;
        p[29] = 2;
        assert_eq!(
            chart_summary(&p),
            "9 pageviews in the last 30 minutes; busiest minute 7 (3 minutes ago); 2 this minute."
        );
        assert_eq!(chart_summary(&[0; 30]), "No pageviews in the last 30 minutes.");
    }
}
