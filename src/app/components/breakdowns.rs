//! `Breakdowns`: the live top lists of the 30-minute window — sources, countries, devices and
//! custom events — as pushed in `stats`. Rows are keyed by value, so a value whose count
//! changes keeps its row and its bar animates to the new width.

use leptos::prelude::*;

use super::{BarRow, KeyedList, CARD};
use crate::app::realtime_state::Realtime;
use crate::model::{Breakdown, Stats};

/// How a breakdown value reads on screen.
#[derive(Clone, Copy)]
enum Label {
    Plain,
    /// An ISO 3166-1 alpha-2 code: shown with its flag.
    Country,
    /// `desktop` → `Desktop`.
    Capitalized,
}

/// 🇩🇪 for `DE` (regional indicator symbols); nothing for anything that is not two letters.
pub fn flag(code: &str) -> String {
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return String::new();
    }
    code.to_ascii_uppercase().chars().filter_map(|c| char::from_u32(0x1F1E6 + (c as u32 - 'A' as u32))).collect()
}

fn shown(label: Label, value: &str) -> String {
    match label {
        Label::Plain => value.to_string(),
        Label::Country => format!("{} {value}", flag(value)).trim().to_string(),
        Label::Capitalized => {
            let mut c = value.chars();
            c.next().map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
        }
    }
}

#[component]
fn BreakdownList(
    rt: Realtime,
    title: &'static str,
    /// `data-testid` of the list, and the id its heading is named by.
    id: &'static str,
    /// What `count` counts: "pageviews" or "events".
    unit: &'static str,
    /// What the card says when the list is empty.
    none: &'static str,
    pick: fn(&Stats) -> &Vec<Breakdown>,
    label: Label,
) -> impl IntoView {
    let rows = Memo::new(move |_| rt.stats.with(|s| pick(s).clone()));
    // a memo, so the list is rebuilt only when it appears or goes, not on every update
    let empty = Memo::new(move |_| rows.with(|r| r.is_empty()));
    let top = Memo::new(move |_| rows.with(|r| r.iter().map(|b| b.count).max().unwrap_or(0).max(1)));
    let (heading, labelled_by) = (format!("{id}-title"), format!("{id}-title"));
    let values = Signal::derive(move || rows.with(|r| r.iter().map(|b| b.value.clone()).collect()));
    let row = Callback::new(move |value: String| {
        // two `Memo<u64>`s, a type the page has anyway: a memo of a new type (a tuple) would
        // carry its own copy of the memo code
        let of_row = |value: String, field: fn(&Breakdown) -> u64| {
            Memo::new(move |_| rows.with(|r| r.iter().find(|b| b.value == value).map_or(0, field)))
        };
        let (count, visitors) = (of_row(value.clone(), |b| b.count), of_row(value.clone(), |b| b.visitors));
        let text = shown(label, &value);
        view! {
            <li class="relative overflow-hidden rounded-lg" data-value=value.clone()>
                <BarRow
                    percent=Signal::derive(move || count.get() as f64 / top.get() as f64 * 100.0)
                    bar="bg-sky-100 dark:bg-sky-900/40"
                >
                    <span class="truncate text-slate-800 dark:text-slate-200" title=text.clone()>{text.clone()}</span>
                    <span
                        class="shrink-0 font-semibold tabular-nums text-slate-900 dark:text-slate-100"
                        data-testid="breakdown-count"
                        aria-label=move || format!("{} {unit}, {} visitors", count.get(), visitors.get())
                    >
                        {count}
                    </span>
                </BarRow>
            </li>
        }
        .into_any()
    });
    view! {
        <section class=CARD aria-labelledby=labelled_by>
            <div class="flex items-baseline justify-between">
                <h2 id=heading class="text-sm font-medium text-slate-600 dark:text-slate-400">{title}</h2>
                <span class="text-xs text-slate-500 dark:text-slate-400">{unit}</span>
            </div>
            {move || if empty.get() {
                view! { <p class="mt-3 text-sm text-slate-500 dark:text-slate-400">{none}</p> }.into_any()
            } else { view! {
                <ul class="mt-3 space-y-1.5" data-testid=id>
                    <KeyedList keys=values row/>
                </ul>
            }.into_any() }}
        </section>
    }
}

#[component]
pub fn Breakdowns(rt: Realtime) -> impl IntoView {
    view! {
        <div class="grid gap-4 sm:grid-cols-2" data-testid="breakdowns">
            <BreakdownList rt title="Top sources" id="breakdown-sources" unit="pageviews"
                none="No referrers in the last 30 minutes." pick=|s| &s.sources label=Label::Plain/>
            <BreakdownList rt title="Countries" id="breakdown-countries" unit="pageviews"
                none="No known countries in the last 30 minutes." pick=|s| &s.countries label=Label::Country/>
            <BreakdownList rt title="Devices" id="breakdown-devices" unit="pageviews"
                none="No pageviews in the last 30 minutes." pick=|s| &s.devices label=Label::Capitalized/>
            <BreakdownList rt title="Custom events" id="breakdown-events" unit="events"
                none="No custom events in the last 30 minutes." pick=|s| &s.event_names label=Label::Plain/>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_people_expect() {
        assert_eq!(flag("de"), "🇩🇪");
        assert_eq!(flag("D1"), "");
        assert_eq!(shown(Label::Country, "DE"), "🇩🇪 DE");
        assert_eq!(shown(Label::Country, "ZZZ"), "ZZZ");
        assert_eq!(shown(Label::Capitalized, "mobile"), "Mobile");
        assert_eq!(shown(Label::Plain, "google.com"), "google.com");
    }
}
