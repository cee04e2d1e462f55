//! The Realtime tab: first painted on the server from the current snapshot, then connected
//! live through `live_client` (resuming from the snapshot's cursor, so nothing falls between
//! the first paint and the live stream).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::app::components::{ActivePages, Breakdowns, LiveFeed, MinuteChart, StatusBar, Toasts, VisitorCounter};
use crate::app::realtime_state::Realtime;
use crate::live_client::{self, Access, LinkState, LiveStatus};
use crate::model::LiveMessage;

#[component]
pub fn RealtimePanel(
    website_id: String,
    snapshot: LiveMessage,
    /// A share page's link token; a logged-in page uses its cookies.
    #[prop(optional)]
    share_token: Option<String>,
    /// Bumped for every live event (the Analytics tab listens).
    #[prop(optional)]
    ticks: Option<RwSignal<u64>>,
) -> impl IntoView {
    let shared = share_token.is_some();
    let access = share_token.map_or(Access::Login, Access::Share);
    let query = use_query_map();
    let force_sse = query.with_untracked(|q| q.get("transport").as_deref() == Some("sse"));
    let cursor = snapshot.cursor().map(str::to_string);
    let login_next = format!("/websites/{website_id}");
    let rt = Realtime::new(snapshot);
    let status = LiveStatus::new(force_sse);
    let now = RwSignal::new(chrono::Utc::now().timestamp_millis());
    // Only client code sets this: end-to-end tests wait for it before interacting.
    let hydrated = RwSignal::new(false);

    // Browser only: effects don't run during SSR.
    Effect::new(move |started: Option<()>| {
        if started.is_some() {
            return;
        }
        let handle =
            live_client::connect(website_id.clone(), cursor.clone(), force_sse, access.clone(), status, move |m| {
                if let (Some(t), LiveMessage::Event { .. }) = (ticks, &m) {
                    t.update(|n| *n += 1);
                }
                rt.apply(m)
            });
        let clock = set_interval_with_handle(
            move || now.set(chrono::Utc::now().timestamp_millis()),
            std::time::Duration::from_secs(1),
        )
        .ok();
        hydrated.set(true);
        on_cleanup(move || {
            handle.stop();
            if let Some(c) = clock {
                c.clear();
            }
        });
    });

    // an expired or revoked login: to the login page (and back here after), not retries
    // forever; a revoked share link says so where the page is
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if !shared
            && status.link.get() == LinkState::Unauthorized
            && let Some(w) = web_sys::window()
        {
            let next = String::from(js_sys::encode_uri_component(&login_next));
            let _ = w.location().set_href(&format!("/login?next={next}"));
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (login_next, LinkState::Unauthorized);

    let link_ended = move || shared && status.link.get() == LinkState::Unauthorized;
    view! {
        <div class="space-y-4" data-testid="realtime" data-hydrated=move || hydrated.get().to_string()>
            {move || link_ended().then(|| view! {
                <div role="alert" data-testid="share-ended"
                    class="rounded-xl border border-amber-300 bg-amber-50 p-4 text-sm text-amber-900 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100">
                    "This share link was revoked: the numbers below are no longer live. Ask the website's owner for a new link."
                </div>
            })}
            <StatusBar status now/>
            <div class="grid gap-4 lg:grid-cols-3">
                <div class="space-y-4 lg:col-span-1">
                    <VisitorCounter rt/>
                    <ActivePages rt/>
                </div>
                <div class="space-y-4 lg:col-span-2">
                    <MinuteChart rt/>
                    <Breakdowns rt/>
                    <LiveFeed rt now/>
                </div>
            </div>
            <Toasts rt/>
        </div>
    }
}
