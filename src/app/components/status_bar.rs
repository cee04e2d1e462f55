//! `StatusBar`: LIVE (green, pulsing) / reconnecting (amber, countdown) / offline (red),
//! the transport in use, messages received and connection uptime. Only the connection state
//! is a live region: screen readers hear "connected" or "reconnecting" once per change, never
//! the countdown, the message count or the uptime ticking.

use leptos::prelude::*;

use crate::live_client::{LinkState, LiveStatus};

fn uptime(ms: f64) -> String {
    let s = (ms / 1000.0).max(0.0) as u64;
    if s < 60 { format!("{s}s") } else if s < 3600 { format!("{}m {}s", s / 60, s % 60) } else { format!("{}h {}m", s / 3600, (s % 3600) / 60) }
}

#[component]
pub fn StatusBar(status: LiveStatus, now: RwSignal<i64>) -> impl IntoView {
    let countdown = move |at: f64| (((at - now.get() as f64) / 1000.0).ceil().max(0.0)) as u64;
    let (dot, label_class) = (
        move || match status.link.get() {
            LinkState::Live => "bg-emerald-500 animate-pulse",
            LinkState::Connecting | LinkState::Reconnecting { .. } => "bg-amber-500",
            LinkState::Offline { .. } | LinkState::Unauthorized => "bg-red-500",
        },
        move || match status.link.get() {
            LinkState::Live => "text-emerald-700 dark:text-emerald-300",
            LinkState::Connecting | LinkState::Reconnecting { .. } => "text-amber-700 dark:text-amber-300",
            LinkState::Offline { .. } | LinkState::Unauthorized => "text-red-700 dark:text-red-300",
        },
    );
    let label = move || match status.link.get() {
        LinkState::Live => "LIVE".to_string(),
        LinkState::Connecting => "CONNECTING…".to_string(),
        LinkState::Reconnecting { retry_at } => format!("RECONNECTING in {}s", countdown(retry_at)),
        LinkState::Offline { retry_at } => format!("OFFLINE — retrying in {}s", countdown(retry_at)),
        LinkState::Unauthorized => "SIGNED OUT".to_string(),
    };
    // the same text while the countdown runs, so the live region speaks once per state
    let announcement = move || match status.link.get() {
        LinkState::Live => "Live updates connected.",
        LinkState::Connecting => "Connecting to live updates…",
        LinkState::Reconnecting { .. } => "Live updates interrupted; reconnecting.",
        LinkState::Offline { .. } => "Live updates offline; retrying.",
        LinkState::Unauthorized => "Your session ended; redirecting to the login page.",
    };
    let state_attr = move || match status.link.get() {
        LinkState::Live => "live",
        LinkState::Connecting => "connecting",
        LinkState::Reconnecting { .. } => "reconnecting",
        LinkState::Offline { .. } => "offline",
        LinkState::Unauthorized => "unauthorized",
    };
    view! {
        <div class="flex flex-wrap items-center gap-x-5 gap-y-2 rounded-xl border border-slate-200 bg-white px-4 py-2 text-xs shadow-sm dark:border-slate-800 dark:bg-slate-900"
            data-testid="status-bar" data-state=state_attr data-gaps=move || status.gaps.get().to_string()
            data-refreshes=move || status.refreshes.get().to_string()>
            <span class="sr-only" role="status" aria-live="polite" data-testid="link-announcement">{announcement}</span>
            <span class="flex items-center gap-2 font-semibold">
                <span class=move || format!("inline-block h-2.5 w-2.5 rounded-full {}", dot())></span>
                <span class=label_class data-testid="link-state" aria-hidden="true">{label}</span>
            </span>
            <span class="rounded bg-slate-100 px-1.5 py-0.5 font-mono font-semibold text-slate-700 dark:bg-slate-800 dark:text-slate-200"
                data-testid="transport">{move || status.transport.get().label()}</span>
            <span class="text-slate-600 dark:text-slate-400">
                <span data-testid="messages" class="tabular-nums">{move || status.messages.get()}</span>" messages"
            </span>
            <span class="text-slate-600 dark:text-slate-400">
                "up "
                <span class="tabular-nums">
                    {move || status.live_since.get().map_or("—".to_string(), |t| uptime(now.get() as f64 - t))}
                </span>
            </span>
        </div>
    }
}
