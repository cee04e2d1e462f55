//! `Toasts`: admin notices (`notice` messages) and stream errors, dismissable.

use leptos::prelude::*;

use crate::app::realtime_state::Realtime;

#[component]
pub fn Toasts(rt: Realtime) -> impl IntoView {
    view! {
        <div class="pointer-events-none fixed bottom-4 right-4 z-50 flex w-80 flex-col gap-2" role="status" aria-live="polite">
            <For each=move || rt.toasts.get() key=|(id, _)| *id let:toast>
                <div class="pointer-events-auto flex items-start gap-3 rounded-xl border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900 shadow-lg dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
                    data-testid="toast">
                    <span class="flex-1">{toast.1.clone()}</span>
                    <button type="button" class="font-bold opacity-60 hover:opacity-100" aria-label="Dismiss"
                        on:click=move |_| rt.toasts.update(|t| t.retain(|(id, _)| *id != toast.0))>
                        "×"
                    </button>
                </div>
            </For>
        </div>
    }
}
