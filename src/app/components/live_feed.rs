//! `LiveFeed`: the newest events, newest first; a row that arrives live flashes for ~2 s.

use leptos::prelude::*;

use super::{relative_time, KeyedList, CARD};
use crate::app::realtime_state::Realtime;
use crate::model::Event;

fn country_flag(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphabetic)
        .filter_map(|c| char::from_u32(0x1F1E6 + (c.to_ascii_uppercase() as u32 - 'A' as u32)))
        .collect()
}

#[component]
fn FeedItem(event: Event, fresh: bool, now: RwSignal<i64>) -> impl IntoView {
    let t = event.time.timestamp_millis();
    let is_pageview = event.is_pageview();
    let badge = if is_pageview {
        "bg-sky-100 text-sky-800 dark:bg-sky-900/50 dark:text-sky-200"
    } else {
        "bg-violet-100 text-violet-800 dark:bg-violet-900/50 dark:text-violet-200"
    };
    let row_class = if fresh { "feed-row animate-flash" } else { "feed-row" };
    let country = event.country.clone().map(|c| format!("{} {c}", country_flag(&c)));
    let client = [event.browser.clone(), event.os.clone()].into_iter().flatten().collect::<Vec<_>>().join(" · ");
    view! {
        <li class=format!("{row_class} grid grid-cols-[auto_1fr_auto] items-center gap-3 rounded-lg px-3 py-2 text-sm")
            data-testid="feed-row" data-path=event.pathname.clone() data-fresh=fresh.to_string()>
            <span class=format!("rounded-full px-2 py-0.5 text-xs font-medium {badge}")>{event.kind.clone()}</span>
            <div class="min-w-0">
                <p class="truncate font-mono text-slate-800 dark:text-slate-100">{event.pathname.clone()}</p>
                <p class="truncate text-xs text-slate-500 dark:text-slate-400">
                    {event.source.clone().map(|s| format!("from {s} · "))}
                    {event.device.as_str()}
                    {(!client.is_empty()).then(|| format!(" · {client}"))}
                    {country.map(|c| format!(" · {c}"))}
                </p>
            </div>
            <time class="whitespace-nowrap text-xs tabular-nums text-slate-500 dark:text-slate-400"
                datetime=event.time.to_rfc3339()>
                {move || relative_time(t, now.get())}
            </time>
        </li>
    }
}

#[component]
pub fn LiveFeed(rt: Realtime, now: RwSignal<i64>) -> impl IntoView {
    let ids = Signal::derive(move || rt.rows.with(|r| r.iter().map(|x| x.event.id.to_string()).collect()));
    let row = Callback::new(move |id: String| {
        let id = id.parse::<uuid::Uuid>().ok();
        rt.rows
            .with_untracked(|r| r.iter().find(|x| Some(x.event.id) == id).cloned())
            .map(|row| view! { <FeedItem event=row.event fresh=row.fresh now=now/> })
            .into_any()
    });
    // a memo, so the list is rebuilt only when it appears or goes, not on every event
    let empty = Memo::new(move |_| rt.rows.with(|r| r.is_empty()));
    view! {
        <section class=CARD aria-labelledby="feed-title">
            <h2 id="feed-title" class="text-sm font-medium text-slate-600 dark:text-slate-400">"Live feed"</h2>
            {move || if empty.get() { view! {
                <p class="mt-4 text-sm text-slate-500 dark:text-slate-400">"No events yet. Add the snippet to your site, or open the demo page."</p>
            }.into_any() } else { view! {
                <ol class="mt-3 space-y-1" data-testid="live-feed" aria-live="polite" aria-relevant="additions">
                    <KeyedList keys=ids row/>
                </ol>
            }.into_any() }}
            <p class="mt-3 text-right text-[11px] text-slate-500 dark:text-slate-400">
                "Countries: ip-location-db (CC BY 4.0, NRO)"
            </p>
        </section>
    }
}
