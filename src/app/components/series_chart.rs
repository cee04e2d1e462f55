//! `SeriesChart`: the Analytics time series — pageviews as bars, visitors as a line on the
//! same scale — with a tooltip per bucket (hover or keyboard focus) and a summary for screen
//! readers. Plain SVG and Tailwind, like the Realtime chart.

use leptos::prelude::*;

use super::minute_chart::line_points;
use crate::model::{Interval, SeriesPoint};

/// "1234 pageviews over 7 days; busiest: Tue, Nov 3 (412 pageviews, 98 visitors)."
/// `labels` name the buckets (the server writes them in the website's time zone).
pub fn series_summary(points: &[SeriesPoint], labels: &[String], interval: Interval) -> String {
    let pageviews: u64 = points.iter().map(|p| p.pageviews).sum();
    let unit = match interval {
        Interval::Day => "days",
        Interval::Hour => "hours",
    };
    match points.iter().enumerate().max_by_key(|(i, p)| (p.pageviews, std::cmp::Reverse(*i))) {
        Some((i, p)) if p.pageviews > 0 => format!(
            "{pageviews} pageviews over {} {unit}; busiest: {} ({} pageviews, {} visitors).",
            points.len(),
            labels.get(i).map_or(p.start.as_str(), String::as_str),
            p.pageviews,
            p.visitors
        ),
        _ => format!("No pageviews over these {} {unit}.", points.len()),
    }
}

#[component]
pub fn SeriesChart(points: Vec<SeriesPoint>, labels: Vec<String>, interval: Interval) -> impl IntoView {
    let n = points.len().max(1);
    let max = points.iter().map(|p| p.pageviews.max(p.visitors)).max().unwrap_or(0).max(1);
    let visitors: Vec<u64> = points.iter().map(|p| p.visitors).collect();
    let summary = series_summary(&points, &labels, interval);
    let hovered = RwSignal::new(None::<usize>);
    let label = |i: usize| labels.get(i).cloned().unwrap_or_default();
    let readout = {
        let (points, labels) = (points.clone(), labels.clone());
        move || {
            hovered.get().and_then(|i| {
                let p = points.get(i)?;
                Some(format!("{}: {} pageviews, {} visitors", labels.get(i)?, p.pageviews, p.visitors))
            })
        }
    };
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let height = (p.pageviews as f64 / max as f64 * 100.0).max(if p.pageviews > 0 { 2.0 } else { 0.5 });
            let tip = format!("{}: {} pageviews, {} visitors", label(i), p.pageviews, p.visitors);
            view! {
                <div class="flex h-full flex-1 items-end" title=tip.clone() tabindex="0" aria-label=tip
                    data-testid="series-bar" data-pageviews=p.pageviews.to_string()
                    on:mouseenter=move |_| hovered.set(Some(i)) on:focus=move |_| hovered.set(Some(i))
                    on:mouseleave=move |_| hovered.set(None) on:blur=move |_| hovered.set(None)>
                    <div class="w-full rounded-t bg-indigo-500/80 hover:bg-indigo-600 dark:bg-indigo-400/80 dark:hover:bg-indigo-300"
                        style=format!("height: {height:.1}%")></div>
                </div>
            }
        })
        .collect_view();
    let first = labels.first().cloned().unwrap_or_default();
    let last = labels.last().cloned().unwrap_or_default();
    view! {
        <figure class="relative" data-testid="series-chart">
            <div class="mb-2 flex h-5 items-center justify-between text-xs text-slate-500 dark:text-slate-400">
                <span class="flex items-center gap-3">
                    <span class="flex items-center gap-1"><span class="inline-block h-2 w-3 rounded-sm bg-indigo-500"></span>"Pageviews"</span>
                    <span class="flex items-center gap-1"><span class="inline-block h-0.5 w-3 bg-emerald-500"></span>"Visitors"</span>
                </span>
                <span class="font-medium text-slate-700 dark:text-slate-200" aria-live="polite" data-testid="series-readout">{readout}</span>
            </div>
            <div class="relative h-48" role="img" aria-label=summary.clone()>
                <div class="absolute inset-0 flex items-end gap-px">{bars}</div>
                <svg class="pointer-events-none absolute inset-0 h-full w-full overflow-visible" viewBox=format!("0 0 {n} 100")
                    preserveAspectRatio="none" aria-hidden="true">
                    <polyline points=line_points(&visitors, n, max) fill="none" stroke-width="2" vector-effect="non-scaling-stroke"
                        class="stroke-emerald-500 dark:stroke-emerald-400" data-testid="series-visitors-line"/>
                </svg>
            </div>
            <figcaption class="mt-1 flex justify-between text-xs text-slate-500 dark:text-slate-400">
                <span>{first}</span><span class="sr-only">{summary}</span><span>{last}</span>
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_the_busiest_bucket() {
        let labels = vec!["Tue, Nov 3".to_string(), "Wed, Nov 4".to_string()];
        let pts = vec![
            SeriesPoint { start: "2026-11-02T23:00:00.000Z".into(), visitors: 3, pageviews: 5 },
            SeriesPoint { start: "2026-11-03T23:00:00.000Z".into(), visitors: 2, pageviews: 2 },
        ];
        assert_eq!(
            series_summary(&pts, &labels, Interval::Day),
            "7 pageviews over 2 days; busiest: Tue, Nov 3 (5 pageviews, 3 visitors)."
        );
    }
}
