//! Pages: login, website list, a website's Realtime / Analytics tabs, Settings, and the
//! pages opened by links (share, account setup); plus the form styles they share.

/// `lazy_page!(Route, Page)`: `Route` is a lazily loaded route (`cargo leptos --split` puts
/// its code in a module of its own, fetched when the route opens) rendering `Page`.
macro_rules! lazy_page {
    ($route:ident, $page:ident) => {
        /// The route of the page, loaded lazily.
        pub struct $route;

        #[leptos_router::lazy_route]
        impl leptos_router::LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    };
}
use lazy_page;

mod analytics;
mod login;
mod realtime;
mod settings;
mod setup;
mod website;
mod website_settings;
mod websites;

pub use login::LoginRoute;
pub use settings::SettingsRoute;
pub use setup::SetupRoute;
pub use website::{SharedPage, WebsitePage};
pub use website_settings::WebsiteSettingsRoute;
pub use websites::WebsitesRoute;

use crate::app::json_codec::{resource, SliceJson};
use crate::model::UiError;

pub const INPUT: &str = "mt-1 block w-full rounded-lg border border-slate-300 bg-white px-3 py-2 text-sm text-slate-900 shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-slate-700 dark:bg-slate-950 dark:text-slate-100";
pub const BUTTON: &str = "rounded-lg bg-indigo-600 px-4 py-2 text-sm font-semibold text-white hover:bg-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/50 disabled:cursor-wait disabled:opacity-60";
pub const BUTTON_SECONDARY: &str = "rounded-lg border border-slate-300 px-4 py-2 text-sm font-semibold hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800 disabled:cursor-wait disabled:opacity-60";
pub const BUTTON_DANGER: &str = "rounded-lg border border-red-300 px-3 py-1.5 text-sm font-semibold text-red-700 hover:bg-red-50 dark:border-red-800 dark:text-red-300 dark:hover:bg-red-950 disabled:cursor-wait disabled:opacity-60";
pub const SECTION: &str = "rounded-2xl border border-slate-200 bg-white p-5 shadow-sm dark:border-slate-800 dark:bg-slate-900";

/// False until this page has hydrated. A button that acts through a click handler is disabled
/// until then (`disabled=move || !ready.get()`), so a click before the page's code has loaded
/// is not silently lost; forms need no such guard, they post natively. The button must hydrate
/// in the same pass as this call (not behind a `LocalResource` or another async boundary):
/// hydration keeps the server's `disabled`, and only a later change of `ready` removes it.
pub fn hydrated() -> RwSignal<bool> {
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));
    ready
}

/// The outcome of a form's server action: nothing yet, the success text, or the error.
#[component]
pub fn ActionResult<T, S, F>(value: S, ok: F) -> impl IntoView
where
    T: Send + Sync + 'static,
    S: With<Value = Option<Result<T, UiError>>> + Send + Sync + 'static,
    F: Fn(&T) -> String + Send + Sync + 'static,
{
    move || {
        value.with(|v| match v {
            None => None,
            Some(Ok(t)) => {
                let text = ok(t);
                (!text.is_empty()).then(|| view! {
                    <p class="mt-2 break-all rounded-lg bg-emerald-50 px-3 py-2 text-sm text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200" role="status">{text}</p>
                }.into_any())
            }
            Some(Err(e)) => Some(view! {
                <p class="mt-2 rounded-lg bg-red-50 px-3 py-2 text-sm text-red-700 dark:bg-red-950 dark:text-red-300" role="alert">{e.to_string()}</p>
            }.into_any()),
        })
    }
}

use leptos::prelude::*;

/// Who is logged in, as a page loads it.
pub type MeResource = Resource<Result<crate::app::server_fns::SessionUser, UiError>, SliceJson>;

/// Top bar of the logged-in pages, asking the server who is logged in — or showing what the
/// page asked already (`me`), so the page makes one request for it, not two. (A website's live
/// page learns that with its own data and draws [`HeaderBar`] itself: its first load carries
/// no second request and no code for this one.)
#[component]
pub fn AppHeader(#[prop(optional)] me: Option<MeResource>) -> impl IntoView {
    let me = me.unwrap_or_else(|| resource(|| (), |_| crate::app::server_fns::me()));
    view! {
        <HeaderBar>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move { me.await.ok().map(|me| view! { <Viewer email=me.email/> }) })}
            </Suspense>
        </HeaderBar>
    }
}

/// The logged-in user, beside the navigation.
#[component]
pub fn Viewer(email: String) -> impl IntoView {
    view! { <span class="hidden text-slate-500 sm:inline dark:text-slate-400">{email}</span> }
}

/// The top bar's frame: the logo, the navigation, `children` (who is logged in) and Log out.
#[component]
pub fn HeaderBar(children: Children) -> impl IntoView {
    view! {
        <header class="border-b border-slate-200 bg-white/80 backdrop-blur dark:border-slate-800 dark:bg-slate-900/80">
            <div class="mx-auto flex max-w-6xl items-center justify-between px-4 py-3">
                <a href="/" class="flex items-center gap-2 text-lg font-bold tracking-tight">
                    <span class="inline-block h-3 w-3 rounded-full bg-emerald-500"></span>
                    "Pulse"
                </a>
                <nav class="flex items-center gap-4 text-sm" aria-label="Main">
                    <a href="/" class="hover:underline">"Websites"</a>
                    <a href="/settings" class="hover:underline">"Settings"</a>
                    {children()}
                    <form method="post" action="/api/auth/logout">
                        <button type="submit" class="rounded-lg border border-slate-300 px-3 py-1 hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800">
                            "Log out"
                        </button>
                    </form>
                </nav>
            </div>
        </header>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <main class="mx-auto max-w-xl px-4 py-24 text-center">
            <h1 class="text-3xl font-bold">"Page not found"</h1>
            <p class="mt-4"><a class="text-indigo-600 underline dark:text-indigo-400" href="/">"Back to your websites"</a></p>
        </main>
    }
}

/// A failed load, said plainly.
#[component]
pub fn LoadError(message: String) -> impl IntoView {
    view! {
        <div class="rounded-xl border border-red-300 bg-red-50 p-4 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200" role="alert">
            {message}
        </div>
    }
}
