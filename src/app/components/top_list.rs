//! `TopList`: one card of the Analytics tab holding a few related top lists behind tabs
//! (e.g. pages / entry pages / exit pages). A row is a link that adds its value as a filter;
//! every list exports as CSV.

use leptos::prelude::*;

use super::{BarRow, CARD};
use crate::model::Breakdown;

/// One list of a card.
#[derive(Clone)]
pub struct ListSpec {
    pub label: &'static str,
    /// The `list=` name of the CSV export.
    pub key: &'static str,
    /// The filter a click on a row sets (`None`: rows are not filters).
    pub filter: Option<&'static str>,
    pub rows: Vec<Breakdown>,
    /// What `count` is: "pageviews", "entries", "events".
    pub count_label: &'static str,
}

#[component]
pub fn TopList(
    title: &'static str,
    lists: Vec<ListSpec>,
    /// The page URL (path and query) with a filter added.
    filter_href: Callback<(&'static str, String), String>,
    /// The CSV export URL of a list.
    csv_href: Callback<&'static str, String>,
) -> impl IntoView {
    let selected = RwSignal::new(0usize);
    let tabs = lists.len() > 1;
    let names: Vec<(usize, &'static str)> = lists.iter().map(|l| l.label).enumerate().collect();
    let lists = StoredValue::new(lists);
    let body = move || {
        let spec = lists.with_value(|l| l.get(selected.get()).cloned());
        let Some(spec) = spec else { return ().into_any() };
        let max = spec.rows.iter().map(|r| r.visitors).max().unwrap_or(0).max(1);
        let csv = csv_href.run(spec.key);
        if spec.rows.is_empty() {
            return view! {
                <p class="py-6 text-center text-sm text-slate-500 dark:text-slate-400">"Nothing in this range."</p>
            }
            .into_any();
        }
        view! {
            <div class="mb-1 flex justify-between text-xs font-medium uppercase tracking-wide text-slate-500 dark:text-slate-400">
                <span>{spec.label}</span>
                <span>"Visitors · "{spec.count_label}</span>
            </div>
            <ul class="space-y-1" data-testid=format!("top-{}", spec.key)>
                {spec.rows.into_iter().map(|r| {
                    let percent = r.visitors as f64 / max as f64 * 100.0;
                    let (value, title) = (r.value.clone(), r.value.clone());
                    let inner = view! {
                        <BarRow percent=percent bar="bg-indigo-100 dark:bg-indigo-950">
                            <span class="min-w-0 truncate" title=title>{value}</span>
                            <span class="shrink-0 tabular-nums text-slate-600 dark:text-slate-300">{r.visitors}" · "{r.count}</span>
                        </BarRow>
                    };
                    match spec.filter {
                        Some(f) => {
                            let href = filter_href.run((f, r.value.clone()));
                            let label = format!("Filter by {} {}", spec.label.to_lowercase(), r.value);
                            view! {
                                <li class="relative" data-value=r.value.clone()>
                                    <a href=href class="block rounded-lg hover:ring-2 hover:ring-indigo-300 focus:outline-none focus:ring-2 focus:ring-indigo-500 dark:hover:ring-indigo-700" aria-label=label>{inner}</a>
                                </li>
                            }.into_any()
                        }
                        None => view! { <li class="relative" data-value=r.value.clone()>{inner}</li> }.into_any(),
                    }
                }).collect_view()}
            </ul>
            <a href=csv download class="mt-3 inline-block text-xs font-semibold text-indigo-600 hover:underline dark:text-indigo-400"
                data-testid=format!("csv-{}", spec.key)>{format!("Export {} as CSV", spec.label.to_lowercase())}</a>
        }
        .into_any()
    };
    view! {
        <section class=CARD aria-label=title>
            <div class="mb-3 flex flex-wrap items-center justify-between gap-2">
                <h3 class="text-sm font-semibold uppercase tracking-wide text-slate-500 dark:text-slate-400">{title}</h3>
                {tabs.then(|| view! {
                    <div class="flex gap-1 text-xs" role="tablist">
                        {names.into_iter().map(|(i, name)| view! {
                            <button type="button" role="tab" aria-selected=move || (selected.get() == i).to_string()
                                class=move || if selected.get() == i {
                                    "rounded-md bg-indigo-600 px-2 py-1 font-semibold text-white"
                                } else {
                                    "rounded-md px-2 py-1 text-slate-600 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800"
                                }
                                on:click=move |_| selected.set(i)>{name}</button>
                        }).collect_view()}
                    </div>
                })}
            </div>
            {body}
        </section>
    }
}
