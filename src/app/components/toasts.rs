//! `Toasts`: admin notices (`notice` messages) and stream errors, dismissable.

use leptos::prelude::*;

use super::KeyedList;
use crate::app::realtime_state::Realtime;

#[component]
pub fn Toasts(rt: Realtime) -> impl IntoView {
    let ids = Signal::derive(move || rt.toasts.with(|t| t.iter().map(|(id, _)| id.to_string()).collect()));
    let row = Callback::new(move |key: String| {
        let id = key.parse::<u64>().unwrap_or(u64::MAX);
        let text = rt.toasts.with_untracked(|t| t.iter().find(|(i, _)| *i == id).map(|(_, m)| m.clone()));
        view! {
            <div class="pointer-events-auto flex items-start gap-3 rounded-xl border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900 shadow-lg dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
                data-testid="toast">
                <span class="flex-1">{text}</span>
                <button type="button" class="font-bold opacity-60 hover:opacity-100" aria-label="Dismiss"
                    on:click=move |_| rt.toasts.update(|t| t.retain(|(i, _)| *i != id))>
                    "×"
                </button>
            </div>
        }
        .into_any()
    });
    view! {
        <div class="pointer-events-none fixed bottom-4 right-4 z-50 flex w-80 flex-col gap-2" role="status" aria-live="polite">
            <KeyedList keys=ids row/>
        </div>
    }
}
