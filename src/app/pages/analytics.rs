//! The Analytics tab: date presets and a custom range, filters that combine and live in the
//! URL (so a link reproduces the view), metric cards with the change against the previous
//! period, the time series, top lists whose rows add filters, a page-by-page table of the raw
//! events and CSV export of every list. When the range reaches the present, each event the
//! live connection of the Realtime tab receives refreshes the report (at most once a second):
//! pushed, not polled.

use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::NavigateOptions;

use super::LoadError;
use crate::app::analytics_fns::{analytics_events, analytics_report};
use crate::app::components::{relative_time, ListSpec, SeriesChart, TopList, CARD};
use crate::model::{AnalyticsView, Event, PERIODS};
use crate::app::json_codec::resource;

/// Query parameters of the tab's URL that are filters, with their labels.
const FILTER_LABELS: [(&str, &str); 10] = [
    ("type", "Event"),
    ("pathname", "Page"),
    ("source", "Source"),
    ("utm_medium", "UTM medium"),
    ("utm_campaign", "UTM campaign"),
    ("device", "Device"),
    ("browser", "Browser"),
    ("os", "OS"),
    ("country", "Country"),
    ("prop", "Property"),
];

/// `(name, value)` pairs of a query string.
fn pairs(search: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(search.trim_start_matches('?').as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The query string with `name` set to `value` (or removed for `None`), other pairs kept.
pub fn with_param(search: &str, name: &str, value: Option<&str>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    let mut placed = false;
    for (k, v) in pairs(search) {
        if k == name {
            if let (Some(val), false) = (value, placed) {
                out.append_pair(&k, val);
                placed = true;
            }
        } else {
            out.append_pair(&k, &v);
        }
    }
    if let (Some(val), false) = (value, placed) {
        out.append_pair(name, val);
    }
    out.finish()
}

/// "+12%", "−5%", "new", or nothing when both are zero.
pub fn change(now: f64, before: f64) -> Option<String> {
    if before == 0.0 {
        return (now > 0.0).then(|| "new".to_string());
    }
    let pct = (now - before) / before * 100.0;
    Some(if pct >= 0.0 { format!("+{pct:.0}%") } else { format!("−{:.0}%", -pct) })
}

/// "1m 05s", "42s".
pub fn duration_label(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 60 { format!("{}m {:02}s", s / 60, s % 60) } else { format!("{s}s") }
}

#[component]
fn MetricCard(
    label: &'static str,
    value: String,
    now: f64,
    before: f64,
    /// A smaller number is the better one (bounce rate).
    #[prop(optional)]
    lower_is_better: bool,
    testid: &'static str,
) -> impl IntoView {
    let delta = change(now, before);
    let good = if lower_is_better { now <= before } else { now >= before };
    let tone = if delta.as_deref() == Some("new") || good {
        "text-emerald-700 dark:text-emerald-400"
    } else {
        "text-red-700 dark:text-red-400"
    };
    view! {
        <div class=CARD data-testid=testid>
            <p class="text-xs font-medium uppercase tracking-wide text-slate-500 dark:text-slate-400">{label}</p>
            <p class="mt-1 text-2xl font-bold tabular-nums" data-testid=format!("{testid}-value")>{value}</p>
            <p class=format!("mt-1 text-xs font-semibold {tone}")>
                {delta.map(|d| format!("{d} vs previous period"))}
            </p>
        </div>
    }
}

#[component]
pub fn AnalyticsPanel(
    website_id: String,
    /// Bumped for every live event of this website (from the Realtime tab's connection).
    ticks: Signal<u64>,
) -> impl IntoView {
    let location = use_location();
    let search = Memo::new(move |_| location.search.get());
    let path = location.pathname;
    let refresh = RwSignal::new(0u64);
    let id = StoredValue::new(website_id);
    let data = resource(move || (search.get(), refresh.get()), move |(s, _)| analytics_report(id.get_value(), s));
    let includes_now = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(v)) = data.get() {
            includes_now.set(v.includes_now);
        }
    });
    // live: every event refreshes a range that reaches now, at most once a second
    let pending = StoredValue::new(false);
    Effect::new(move |first: Option<()>| {
        ticks.track();
        if first.is_none() || !includes_now.get_untracked() || pending.get_value() {
            return;
        }
        pending.set_value(true);
        set_timeout(
            move || {
                pending.set_value(false);
                refresh.update(|n| *n += 1);
            },
            std::time::Duration::from_millis(1_000),
        );
    });
    let navigate = use_navigate();
    let go = move |qs: String| {
        let url = format!("{}?{qs}", path.get_untracked());
        navigate(&url, NavigateOptions { scroll: false, ..Default::default() });
    };
    let href_with = move |name: &str, value: Option<&str>| format!("{}?{}", path.get(), with_param(&search.get(), name, value));
    let period = Memo::new(move |_| {
        let s = search.get();
        let p = pairs(&s);
        p.iter().find(|(k, _)| k == "period").map(|(_, v)| v.clone()).unwrap_or_else(|| {
            if p.iter().any(|(k, _)| k == "from") { "custom".into() } else { "7d".into() }
        })
    });
    let active_filters = Memo::new(move |_| {
        pairs(&search.get())
            .into_iter()
            .filter(|(k, v)| !v.is_empty() && FILTER_LABELS.iter().any(|(f, _)| f == k))
            .collect::<Vec<_>>()
    });
    let from_input = RwSignal::new(String::new());
    let to_input = RwSignal::new(String::new());
    let apply_custom = {
        let go = go.clone();
        move |_| {
            let (f, t) = (from_input.get_untracked(), to_input.get_untracked());
            let Ok(last) = chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d") else { return };
            // the picker's end date is inclusive; the URL's `to` is exclusive, as in the API
            let to = last.succ_opt().map(|d| d.to_string()).unwrap_or(t);
            let qs = with_param(&with_param(&with_param(&search.get_untracked(), "period", Some("custom")), "from", Some(&f)), "to", Some(&to));
            go(qs);
        }
    };

    view! {
        <div class="space-y-4" data-testid="analytics">
            <div class="flex flex-wrap items-center gap-2" role="group" aria-label="Date range">
                {PERIODS.iter().filter(|(k, _)| *k != "custom").map(|(key, label)| {
                    let key = *key;
                    let href = move || {
                        let s = with_param(&with_param(&with_param(&search.get(), "from", None), "to", None), "period", Some(key));
                        format!("{}?{s}", path.get())
                    };
                    view! {
                        <a href=href data-testid=format!("period-{key}") aria-current=move || (period.get() == key).then_some("true")
                            class=move || if period.get() == key {
                                "rounded-lg bg-indigo-600 px-3 py-1.5 text-sm font-semibold text-white"
                            } else {
                                "rounded-lg border border-slate-300 px-3 py-1.5 text-sm hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
                            }>{*label}</a>
                    }
                }).collect_view()}
                <form class="flex flex-wrap items-center gap-2" on:submit=move |ev| { ev.prevent_default(); apply_custom(()); }>
                    <label class="text-sm">"From "
                        <input type="date" required class="rounded-lg border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950"
                            prop:value=move || from_input.get() on:input=move |ev| from_input.set(event_target_value(&ev)) data-testid="custom-from"/>
                    </label>
                    <label class="text-sm">"to "
                        <input type="date" required class="rounded-lg border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950"
                            prop:value=move || to_input.get() on:input=move |ev| to_input.set(event_target_value(&ev)) data-testid="custom-to"/>
                    </label>
                    <button type="submit" class=move || if period.get() == "custom" {
                        "rounded-lg bg-indigo-600 px-3 py-1.5 text-sm font-semibold text-white"
                    } else {
                        "rounded-lg border border-slate-300 px-3 py-1.5 text-sm hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
                    }>"Apply"</button>
                </form>
            </div>

            <Show when=move || !active_filters.get().is_empty()>
                <div class="flex flex-wrap items-center gap-2" data-testid="filters" aria-label="Filters">
                    {move || active_filters.get().into_iter().map(|(k, v)| {
                        let label = FILTER_LABELS.iter().find(|(f, _)| *f == k).map_or("", |(_, l)| *l);
                        let remove = href_with(&k, None);
                        view! {
                            <span class="inline-flex items-center gap-1 rounded-full bg-indigo-100 px-3 py-1 text-sm text-indigo-900 dark:bg-indigo-900 dark:text-indigo-100"
                                data-testid="filter-chip" data-filter=k.clone()>
                                {format!("{label}: {v}")}
                                <a href=remove class="ml-1 font-bold hover:text-red-600" aria-label=format!("Remove filter {label} {v}")>"×"</a>
                            </span>
                        }
                    }).collect_view()}
                    <a href=move || format!("{}?{}", path.get(), FILTER_LABELS.iter().fold(search.get(), |s, (f, _)| with_param(&s, f, None)))
                        class="text-sm text-slate-500 hover:underline dark:text-slate-400">"Clear all"</a>
                </div>
            </Show>

            <Transition fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                        Ok(v) => view! { <Report view=v website_id=id.get_value() search=search.into()/> }.into_any(),
                    }
                })}
            </Transition>

            <EventsTable website_id=id.get_value() search=search.into() refresh=refresh.into()/>
        </div>
    }
}

#[component]
fn Report(view: AnalyticsView, website_id: String, search: Signal<String>) -> impl IntoView {
    let r = &view.report;
    let p = &view.previous;
    let location = use_location();
    let path = location.pathname;
    let filter_href = Callback::new(move |(name, value): (&'static str, String)| {
        format!("{}?{}", path.get_untracked(), with_param(&search.get_untracked(), name, Some(&value)))
    });
    // the export covers the exact range shown, with the same filters
    let csv_base = {
        let s = search.get_untracked();
        let mut q = FILTER_LABELS.iter().fold(String::new(), |acc, (f, _)| {
            match pairs(&s).into_iter().find(|(k, v)| k == f && !v.is_empty()) {
                Some((k, v)) => with_param(&acc, &k, Some(&v)),
                None => acc,
            }
        });
        q = with_param(&with_param(&q, "from", Some(&view.from)), "to", Some(&view.to));
        format!("/api/websites/{website_id}/stats.csv?{q}")
    };
    let csv_href = Callback::new(move |list: &'static str| format!("{csv_base}&list={list}"));
    let top = |title: &'static str, lists: Vec<ListSpec>| view! { <TopList title lists filter_href csv_href/> };
    let spec = |label, key, filter, rows: &Vec<crate::model::Breakdown>, count_label| ListSpec {
        label,
        key,
        filter,
        rows: rows.clone(),
        count_label,
    };
    view! {
        <div class="flex flex-wrap items-baseline justify-between gap-2">
            <h2 class="text-lg font-semibold" data-testid="range-label">{view.label.clone()}</h2>
            <p class="text-xs text-slate-500 dark:text-slate-400">
                {format!("Days in {}", view.timezone)}
                {view.includes_now.then(|| view! {
                    <span class="ml-2 inline-flex items-center gap-1 text-emerald-700 dark:text-emerald-400" data-testid="analytics-live">
                        <span class="inline-block h-2 w-2 animate-pulse rounded-full bg-emerald-500"></span>"live"
                    </span>
                })}
            </p>
        </div>
        <div class="grid grid-cols-2 gap-4 md:grid-cols-3 xl:grid-cols-6">
            <MetricCard label="Visitors" value=r.visitors.to_string() now=r.visitors as f64 before=p.visitors as f64 testid="metric-visitors"/>
            <MetricCard label="Pageviews" value=r.pageviews.to_string() now=r.pageviews as f64 before=p.pageviews as f64 testid="metric-pageviews"/>
            <MetricCard label="Views per visit" value=format!("{:.2}", r.views_per_visitor) now=r.views_per_visitor before=p.views_per_visitor testid="metric-views-per-visitor"/>
            <MetricCard label="Bounce rate" value=format!("{:.0}%", r.bounce_rate * 100.0) now=r.bounce_rate before=p.bounce_rate lower_is_better=true testid="metric-bounce"/>
            <MetricCard label="Visit duration" value=duration_label(r.visit_duration_s) now=r.visit_duration_s before=p.visit_duration_s testid="metric-duration"/>
            <MetricCard label="Custom events" value=r.events.to_string() now=r.events as f64 before=p.events as f64 testid="metric-events"/>
        </div>
        <section class=CARD aria-label="Visitors and pageviews over time">
            <SeriesChart points=r.series.clone() labels=view.series_labels.clone() interval=r.interval/>
        </section>
        <div class="grid gap-4 lg:grid-cols-2">
            {top("Pages", vec![
                spec("Pages", "pages", Some("pathname"), &r.pages, "pageviews"),
                spec("Entry pages", "entry_pages", Some("pathname"), &r.entry_pages, "entries"),
                spec("Exit pages", "exit_pages", Some("pathname"), &r.exit_pages, "exits"),
            ])}
            {top("Sources", vec![
                spec("Sources", "sources", Some("source"), &r.sources, "pageviews"),
                spec("UTM mediums", "utm_mediums", Some("utm_medium"), &r.utm_mediums, "pageviews"),
                spec("UTM campaigns", "utm_campaigns", Some("utm_campaign"), &r.utm_campaigns, "pageviews"),
            ])}
            {top("Devices", vec![
                spec("Devices", "devices", Some("device"), &r.devices, "pageviews"),
                spec("Browsers", "browsers", Some("browser"), &r.browsers, "pageviews"),
                spec("Operating systems", "os", Some("os"), &r.os, "pageviews"),
            ])}
            {top("Countries", vec![spec("Countries", "countries", Some("country"), &r.countries, "pageviews")])}
            {top("Custom events", vec![spec("Events", "event_names", Some("type"), &r.event_names, "events")])}
        </div>
    }
}

/// The range's events, newest first, 25 at a time ("Older events" loads the next page).
#[component]
fn EventsTable(website_id: String, search: Signal<String>, refresh: Signal<u64>) -> impl IntoView {
    let rows = RwSignal::new(Vec::<Event>::new());
    let next = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let id = StoredValue::new(website_id);
    // a new URL (range, filters) or a live refresh starts from the newest page again
    let first = resource(move || (search.get(), refresh.get()), move |(s, _)| analytics_events(id.get_value(), s, None));
    Effect::new(move |_| match first.get() {
        Some(Ok(list)) => {
            rows.set(list.events);
            next.set(list.next_cursor);
            error.set(None);
        }
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });
    let load_more = move |_| {
        let Some(cursor) = next.get_untracked() else { return };
        let s = search.get_untracked();
        leptos::task::spawn_local(async move {
            match analytics_events(id.get_value(), s, Some(cursor)).await {
                Ok(list) => {
                    rows.update(|r| r.extend(list.events));
                    next.set(list.next_cursor);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let now = chrono::Utc::now().timestamp_millis();
    view! {
        <section class=CARD aria-labelledby="events-heading">
            <h3 id="events-heading" class="mb-3 text-sm font-semibold uppercase tracking-wide text-slate-500 dark:text-slate-400">"Events"</h3>
            {move || error.get().map(|e| view! { <LoadError message=e/> })}
            <div class="overflow-x-auto">
                <table class="w-full text-left text-sm" data-testid="events-table">
                    <thead class="text-xs uppercase text-slate-500 dark:text-slate-400">
                        <tr><th class="py-1 pr-3">"Time"</th><th class="py-1 pr-3">"Event"</th><th class="py-1 pr-3">"Page"</th>
                            <th class="py-1 pr-3">"Source"</th><th class="py-1 pr-3">"Device"</th><th class="py-1 pr-3">"Country"</th></tr>
                    </thead>
                    <tbody class="divide-y divide-slate-100 dark:divide-slate-800">
                        {move || rows.get().into_iter().map(|e| view! {
                            <tr data-testid="event-row" data-path=e.pathname.clone()>
                                <td class="whitespace-nowrap py-1 pr-3 tabular-nums" title=e.time.to_rfc3339()>{relative_time(e.time.timestamp_millis(), now)}</td>
                                <td class="py-1 pr-3">{e.kind.clone()}</td>
                                <td class="max-w-xs truncate py-1 pr-3" title=e.pathname.clone()>{e.pathname.clone()}</td>
                                <td class="py-1 pr-3">{e.source.clone().unwrap_or_default()}</td>
                                <td class="py-1 pr-3">{e.device.as_str()}</td>
                                <td class="py-1 pr-3">{e.country.clone().unwrap_or_default()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <Show when=move || rows.with(Vec::is_empty) && error.with(Option::is_none)>
                <p class="py-4 text-center text-sm text-slate-500 dark:text-slate-400">"No events in this range."</p>
            </Show>
            <Show when=move || next.with(Option::is_some)>
                <button type="button" on:click=load_more data-testid="events-more"
                    class="mt-3 rounded-lg border border-slate-300 px-3 py-1.5 text-sm hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800">
                    "Older events"
                </button>
            </Show>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_set_replaced_and_removed() {
        assert_eq!(with_param("tab=analytics&source=a", "source", Some("b")), "tab=analytics&source=b");
        assert_eq!(with_param("?tab=analytics", "country", Some("DE")), "tab=analytics&country=DE");
        assert_eq!(with_param("tab=analytics&source=a", "source", None), "tab=analytics");
        assert_eq!(with_param("", "pathname", Some("/a b")), "pathname=%2Fa+b");
    }

    #[test]
    fn changes_and_durations_read_naturally() {
        assert_eq!(change(120.0, 100.0).as_deref(), Some("+20%"));
        assert_eq!(change(50.0, 100.0).as_deref(), Some("−50%"));
        assert_eq!(change(5.0, 0.0).as_deref(), Some("new"));
        assert_eq!(change(0.0, 0.0), None);
        assert_eq!(duration_label(65.4), "1m 05s");
        assert_eq!(duration_label(42.0), "42s");
    }

    #[test]
    fn every_filter_the_report_takes_has_a_label() {
        use crate::model::StatsFilters;
        for name in StatsFilters::NAMES {
            assert!(FILTER_LABELS.iter().any(|(f, _)| *f == name), "{name}");
        }
    }
}
