//! `MinuteChart`: pageviews per minute over the last 30 minutes as bars, with distinct visitors
//! per minute as a line over them (one scale for both). The 30 bars are made once; a change
//! moves only their heights and the line's points. Screen readers get a summary of the numbers.

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
            let when = match ago {
                0 => "this minute".to_string(),
                1 => "1 minute ago".to_string(),
                _ => format!("{ago} minutes ago"),
            };
            format!("{total} pageviews in the last 30 minutes; busiest minute {peak} ({when}); {now} this minute.")
        }
        _ => "No pageviews in the last 30 minutes.".to_string(),
    }
}

/// "Visitors: 5 this minute, at most 9 in a minute."
pub fn visitors_summary(per_minute: &[u64]) -> String {
    let now = per_minute.last().copied().unwrap_or(0);
    let peak = per_minute.iter().copied().max().unwrap_or(0);
    format!("Visitors: {now} this minute, at most {peak} in a minute.")
}

/// SVG polyline points for `values` in a 0..buckets × 0..100 box (100 at the bottom), bucket
/// `i` at the middle of its bar.
pub fn line_points(values: &[u64], buckets: usize, max: u64) -> String {
    let max = max.max(1) as f64;
    // the newest `buckets` values, should there be more
    values[values.len().saturating_sub(buckets)..]
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 + 0.5, 100.0 - *v as f64 / max * 100.0))
        .collect::<Vec<_>>()
        .join(" ")
}

#[component]
pub fn MinuteChart(rt: Realtime) -> impl IntoView {
    let per_minute = Memo::new(move |_| rt.stats.with(|s| s.per_minute.clone()));
    let visitors = Memo::new(move |_| rt.stats.with(|s| s.visitors_per_minute.clone()));
    let max = Memo::new(move |_| {
        let pv = per_minute.with(|p| p.iter().copied().max().unwrap_or(0));
        let vi = visitors.with(|v| v.iter().copied().max().unwrap_or(0));
        pv.max(vi).max(1)
    });
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
                let who = visitors.with(|p| p.get(i).copied().unwrap_or(0));
                if ago == 0 {
                    format!("{v} pageviews, {who} visitors this minute")
                } else {
                    format!("{v} pageviews, {who} visitors, {ago} min ago")
                }
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
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <h2 id="chart-title" class="text-sm font-medium text-slate-600 dark:text-slate-400">
                    "Pageviews and visitors per minute"
                </h2>
                <div class="flex items-center gap-3 text-xs text-slate-500 dark:text-slate-400" aria-hidden="true">
                    <span class="flex items-center gap-1"><span class="inline-block h-2.5 w-2.5 rounded-sm bg-indigo-500/80 dark:bg-indigo-400/80"></span>"Pageviews"</span>
                    <span class="flex items-center gap-1"><span class="inline-block h-0.5 w-3 rounded bg-amber-500"></span>"Visitors"</span>
                </div>
            </div>
            <div class="relative mt-4 h-28" role="img" data-testid="minute-chart"
                aria-label=move || format!(
                    "Per minute, last 30 minutes: {} {}",
                    per_minute.with(|p| chart_summary(p)),
                    visitors.with(|v| visitors_summary(v)),
                )>
                <div class="flex h-full items-end gap-[3px]">{bars}</div>
                <svg class="pointer-events-none absolute inset-0 h-full w-full overflow-visible" aria-hidden="true"
                    viewBox=format!("0 0 {PER_MINUTE_BUCKETS} 100") preserveAspectRatio="none">
                    <polyline
                        data-testid="visitors-line"
                        fill="none"
                        class="stroke-amber-500"
                        stroke-width="2"
                        stroke-linejoin="round"
                        vector-effect="non-scaling-stroke"
                        points=move || visitors.with(|v| line_points(v, PER_MINUTE_BUCKETS, max.get()))
                    ></polyline>
                </svg>
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
        p[29] = 0;
        p[28] = 9;
        assert!(chart_summary(&p).contains("busiest minute 9 (1 minute ago)"), "{}", chart_summary(&p));
    }

    #[test]
    fn the_visitor_line_shares_the_bars_scale() {
        assert_eq!(super::line_points(&[0, 2, 4], 3, 4), "0.5,100.0 1.5,50.0 2.5,0.0");
        assert_eq!(super::line_points(&[0, 0], 2, 0), "0.5,100.0 1.5,100.0");
        assert_eq!(super::line_points(&[9, 0, 4], 2, 4), "0.5,100.0 1.5,0.0", "the newest values");
        let mut v = vec![0u64; 30];
        v[29] = 5;
        v[10] = 9;
        assert_eq!(super::visitors_summary(&v), "Visitors: 5 this minute, at most 9 in a minute.");
    }
}
